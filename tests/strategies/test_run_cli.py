"""``fundarb run -c`` as a user runs it: its own process, real time, the control API,
SIGUSR1 and SIGTERM; and the control API in-process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from fundarb.strategies.funding_arbitrage.api import create_strategy_app
from tests.strategies.conftest import world


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_control_api_shows_the_strategy_and_flips_the_kill_switch(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        strategy = w.strategy()
        await strategy.start()
        app = create_strategy_app(strategy, token="s3cret")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/strategy")).status_code == 401
            auth = {"Authorization": "Bearer s3cret"}
            state = (await client.get("/strategy", headers=auth)).json()
            assert state["entries_stopped"] is None
            assert state["pairs"] == []
            stopped = await client.post(
                "/strategy/stop-entries", params={"reason": "maintenance"}, headers=auth
            )
            assert stopped.json() == {"entries_stopped": "API: maintenance"}
            assert await strategy.scan() == []  # no entry while stopped
            resumed = await client.post("/strategy/resume-entries", headers=auth)
            assert resumed.json() == {"entries_stopped": None}


@pytest.mark.looptime(False)
async def test_fundarb_run_serves_its_api_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
database_url: sqlite+aiosqlite:///{tmp_path / "run.db"}
service: {{host: 127.0.0.1, port: {port}}}
strategy:
  symbols: [BTC, ETH, SOL]
  scan_every_s: 5
  monitor_every_s: 2
""",
        encoding="utf-8",
    )
    env = {**os.environ, "FUNDARB_JOURNAL_SPOOL": str(tmp_path / "spool.jsonl")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fundarb",
        "run",
        "-c",
        str(config),
        "--api",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    try:
        state = None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(300):  # up to 60 s on a loaded machine
                try:
                    state = (await client.get("/strategy")).json()
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
            assert state is not None, "the API never answered"
            assert state["entries_stopped"] is None
            process.send_signal(signal.SIGUSR1)
            for _ in range(100):
                state = (await client.get("/strategy")).json()
                if state["entries_stopped"]:
                    break
                await asyncio.sleep(0.1)
            assert state["entries_stopped"] == "SIGUSR1"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    out = stdout.decode()
    assert process.returncode == 0, stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert "stopped at" in out, (out, stderr.decode())
    assert "left open as they are" in out
    assert json.dumps(state)  # the API answered in plain JSON
