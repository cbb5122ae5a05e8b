"""`fundarb simex` as a user starts it: a real ccxt client trades against the process."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

import pytest

from fundarb.venues.simex import binanceusdm_client

pytestmark = pytest.mark.looptime(False)  # a real process and sockets: real time


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_simex_serves_a_ccxt_client_and_its_state_outlives_the_client() -> None:
    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fundarb",
        "simex",
        "--port",
        str(port),
        "--venue-name",
        "a",
        "--api-key",
        "K",
        "--api-secret",
        "S",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
    try:
        assert server.stdout is not None
        async with asyncio.timeout(60):
            banner = (await server.stdout.readline()).decode()
        assert f"http://127.0.0.1:{port}" in banner
        assert "'K'" in banner  # the key it accepts is printed, as documented

        first = binanceusdm_client(f"http://127.0.0.1:{port}", api_key="K", secret="S")
        try:
            await first.load_markets()
            order = await first.create_order(
                "BTC/USDT:USDT", "market", "buy", 0.01, params={"clientOrderId": "cli-1"}
            )
            assert order["filled"] == 0.01
        finally:
            await first.close()

        # a new client (the bot restarted) finds the position and the order where they were
        second = binanceusdm_client(f"http://127.0.0.1:{port}", api_key="K", secret="S")
        try:
            await second.load_markets()
            found = await second.fetch_order(
                None, "BTC/USDT:USDT", params={"origClientOrderId": "cli-1"}
            )
            assert found["status"] == "closed"
            positions = [p for p in await second.fetch_positions() if p["contracts"]]
            assert [(p["symbol"], p["contracts"]) for p in positions] == [("BTC/USDT:USDT", 0.01)]
        finally:
            await second.close()
    finally:
        server.terminate()
        async with asyncio.timeout(30):
            await server.wait()


def test_simex_refuses_a_public_address_with_the_default_credentials() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fundarb", "simex", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--api-key" in done.stderr
