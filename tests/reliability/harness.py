"""Real processes for the reliability suite: two ``fundarb simex`` servers, a database, and
the bot (``fundarb run``) as a subprocess the suite kills and restarts.

The venues are watched only through what the servers publish (signed REST, as a user would
read their account); our side only through the database the bot writes. Nothing here
imports the bot's code paths: the suite sees what an operator would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import text

from fundarb.storage import Store

PG_ADMIN = os.environ.get("FUNDARB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
START_TIMEOUT_S = 120.0  # a process starting on a loaded 2-vCPU machine
STEP_TIMEOUT_S = 120.0  # one kill point's condition, one recovery, one clean stop
LONG = os.environ.get("FUNDARB_RELIABILITY_LONG", "") not in ("", "0")

# alpha pays 4 h / 8 h funding, gamma hourly, on waves of other phases: on every hour of
# the three-day cycle at least one of BTC, ETH, SOL has a spread worth entering with these
# easy rules (the scan ranks them; a year's horizon makes the fees negligible)
VENUES = (("a", "alpha"), ("b", "gamma"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _credentials(name: str) -> tuple[str, str]:
    return f"rel-key-{name}-{uuid.uuid4().hex[:8]}", f"rel-secret-{name}-{uuid.uuid4().hex}"


# -- the venues' own view ---------------------------------------------------------------------


@dataclass
class Venue:
    """One ``fundarb simex`` subprocess and a signed REST reader of its account."""

    name: str
    preset: str
    port: int
    api_key: str
    api_secret: str
    process: asyncio.subprocess.Process | None = None
    session: aiohttp.ClientSession | None = None
    lots: dict[str, Decimal] = field(default_factory=dict)  # venue symbol -> lot step
    bases: dict[str, str] = field(default_factory=dict)  # venue symbol -> base asset

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _get(self, path: str, params: dict[str, Any] | None = None, *, signed: bool) -> Any:
        assert self.session is not None
        query = dict(params or {})
        if signed:
            query["timestamp"] = int(time.time() * 1000)
            query["recvWindow"] = 60_000
            payload = urlencode(query)
            sig = hmac.new(self.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
            target = f"{self.url}{path}?{payload}&signature={sig}"
        else:
            target = f"{self.url}{path}" + (f"?{urlencode(query)}" if query else "")
        headers = {"X-MBX-APIKEY": self.api_key}
        async with asyncio.timeout(30), self.session.get(target, headers=headers) as response:
            body = await response.json(content_type=None)
            if response.status != 200:
                raise AssertionError(f"{self.name} {path}: {response.status} {body}")
            return body

    async def admin(self, method: str, path: str, body: Any) -> Any:
        assert self.session is not None
        headers = {"X-MBX-APIKEY": self.api_key}
        async with (
            asyncio.timeout(30),
            self.session.request(method, f"{self.url}{path}", json=body, headers=headers) as r,
        ):
            payload = await r.json(content_type=None)
            if r.status != 200:
                raise AssertionError(f"{self.name} {path}: {r.status} {payload}")
            return payload

    async def load_markets(self) -> None:
        info = await self._get("/fapi/v1/exchangeInfo", signed=False)
        for entry in info["symbols"]:
            lot = next(f for f in entry["filters"] if f["filterType"] == "LOT_SIZE")
            self.lots[entry["symbol"]] = Decimal(lot["stepSize"])
            self.bases[entry["symbol"]] = entry["baseAsset"]

    async def open_orders(self) -> list[dict[str, Any]]:
        return list(await self._get("/fapi/v1/openOrders", signed=True))

    async def positions(self) -> dict[str, Decimal]:
        """Venue symbol -> signed base quantity, non-zero only."""
        rows = await self._get("/fapi/v2/positionRisk", signed=True)
        found = {row["symbol"]: Decimal(row["positionAmt"]) for row in rows}
        return {symbol: q for symbol, q in found.items() if q}

    async def all_orders(self) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = []
        for symbol in self.lots:
            orders += await self._get(
                "/fapi/v1/allOrders", {"symbol": symbol, "limit": 1000}, signed=True
            )
        return orders

    async def trades(self) -> list[dict[str, Any]]:
        trades: list[dict[str, Any]] = []
        for symbol in self.lots:
            trades += await self._get(
                "/fapi/v1/userTrades", {"symbol": symbol, "limit": 1000}, signed=True
            )
        return trades


# -- processes --------------------------------------------------------------------------------


async def _spawn(args: list[str], log: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    handle = log.open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "fundarb",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=handle,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a Ctrl-C in the terminal reaches the suite only
        )
    finally:
        handle.close()


def read(log: Path) -> str:
    """A process's log so far (small files: reading them blocks for no time)."""
    return log.read_text(errors="replace") if log.exists() else ""


async def _wait_for_text(log: Path, needle: str, process: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(START_TIMEOUT_S):
        while needle not in read(log):
            if process.returncode is not None:
                raise AssertionError(f"{log.name} exited early:\n{read(log)[-3000:]}")
            await asyncio.sleep(0.1)


async def stop(process: asyncio.subprocess.Process | None, sig: int = signal.SIGTERM) -> int:
    """Signal ``process`` and wait for it (SIGKILL after a generous grace)."""
    if process is None or process.returncode is not None:
        return process.returncode if process is not None else 0
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        async with asyncio.timeout(STEP_TIMEOUT_S):
            return await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        return await process.wait()


@dataclass
class World:
    """The venues, the database, the bot's config; the bot's process when running."""

    root: Path
    url: str
    venues: list[Venue]
    env: dict[str, str]
    config: Path
    bot: asyncio.subprocess.Process | None = None
    store: Store | None = None
    starts: int = 0

    @property
    def bot_log(self) -> Path:
        return self.root / "bot.log"

    async def start_bot(self) -> None:
        self.starts += 1
        marker = f"=== start {self.starts}"
        with self.bot_log.open("a") as log:
            log.write(f"\n{marker} ===\n")
        self.bot = await _spawn(
            ["run", "-c", str(self.config), "--url", self.url], self.bot_log, self.env
        )
        # a new process has begun once it prints its banner; conditions are relative to
        # the database at the moment it started, so nothing else needs waiting for
        async with asyncio.timeout(START_TIMEOUT_S):
            while True:
                tail = read(self.bot_log).rsplit(marker, 1)[-1]
                if "fundarb run:" in tail:
                    return
                if self.bot.returncode is not None:
                    raise AssertionError(f"the bot exited at start:\n{tail[-3000:]}")
                await asyncio.sleep(0.05)

    async def kill_bot(self) -> None:
        await stop(self.bot, signal.SIGKILL)
        self.bot = None

    async def recover(self) -> str:
        """``fundarb recover -c``: its output; a failed run fails the suite."""
        log = self.root / "recover.log"
        before = log.stat().st_size if log.exists() else 0
        process = await _spawn(
            ["recover", "-c", str(self.config), "--url", self.url], log, self.env
        )
        async with asyncio.timeout(STEP_TIMEOUT_S):
            code = await process.wait()
        output = log.read_bytes()[before:].decode(errors="replace")
        if code != 0:
            raise AssertionError(f"fundarb recover exited {code}:\n{output[-3000:]}")
        return output

    async def scalar(self, sql: str, **params: Any) -> Any:
        assert self.store is not None
        async with self.store.engine.connect() as connection:
            return (await connection.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        assert self.store is not None
        async with self.store.engine.connect() as connection:
            return list((await connection.execute(text(sql), params)).all())


def _config(
    venues: list[Venue], *, size_usd: int, symbols: str, kill_switch_file: Path | None
) -> str:
    lines = ["venues:"]
    for venue in venues:
        upper = venue.name.upper()
        lines += [
            "  - kind: ccxt",
            f"    name: {venue.name}",
            "    exchange: binanceusdm",
            f"    api_key_env: FUNDARB_REL_{upper}_KEY",
            f"    api_secret_env: FUNDARB_REL_{upper}_SECRET",
            f"    urls: {{simex: '{venue.url}'}}",
        ]
    lines += [
        "funding:",
        "  collect_every_s: 1",
        f"  notional_usd: {size_usd}",
        f"  symbols: [{symbols}]",
        "strategy:",
        f"  symbols: [{symbols}]",
        f"  size_usd: {size_usd}",
        "  max_positions: 3",
        f"  max_total_notional_usd: {size_usd * 3}",
        "  default_leverage: 3",
        "  scan_every_s: 1",
        "  monitor_every_s: 1",
        "  cooldown_s: 0",
        f"  kill_switch_file: {str(kill_switch_file) if kill_switch_file else 'null'}",
        # easy entries: any positive net spread over a year's horizon
        "  entry: {min_net_apr: 0, max_break_even_hours: 1000000, horizon_hours: 8760}",
        # pairs close a few seconds after opening, so opens and closes keep coming
        "  exit: {min_net_spread_apr: -10, close_on_flip: false, max_holding_hours: 0.002,"
        " wait_for_funding_s: 0}",
        "  execution: {mode: limit_with_fallback, close_mode: market_only, timeout_s: 8,"
        " max_imbalance_s: 2}",
    ]
    return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database (dropped after), or pytest's skip with the reason."""
    import asyncpg
    import pytest

    try:
        admin = await asyncpg.connect(PG_ADMIN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}: {exc}")
    name = f"fundarb_rel_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base = PG_ADMIN.rsplit("/", 1)[0]
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.asynccontextmanager
async def world(
    root: Path,
    *,
    size_usd: int = 200,
    symbols: str = "BTC, ETH, SOL",
    kill_switch_file: Path | None = None,
) -> AsyncIterator[World]:
    """Two simex servers (admin on), a fresh database, the bot's config; everything
    stopped (and the database dropped) on the way out, whatever happened."""
    env = {**os.environ, "FUNDARB_HOME": str(root), "FUNDARB_DATABASE_URL": ""}
    venues = []
    for name, preset in VENUES:
        key, secret = _credentials(name)
        venues.append(Venue(name, preset, free_port(), key, secret))
        env[f"FUNDARB_REL_{name.upper()}_KEY"] = key
        env[f"FUNDARB_REL_{name.upper()}_SECRET"] = secret
    config = root / "config.yaml"
    config.write_text(
        _config(venues, size_usd=size_usd, symbols=symbols, kill_switch_file=kill_switch_file)
    )
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(database())
        session = await stack.enter_async_context(aiohttp.ClientSession())
        for venue in venues:
            log = root / f"simex-{venue.name}.log"
            venue.process = await _spawn(
                [
                    "simex",
                    "--port",
                    str(venue.port),
                    "--venue-name",
                    venue.name,
                    "--preset",
                    venue.preset,
                    "--api-key",
                    venue.api_key,
                    "--api-secret",
                    venue.api_secret,
                    "--admin",
                ],
                log,
                env,
            )
            stack.push_async_callback(stop, venue.process)
            venue.session = session
        for venue in venues:
            assert venue.process is not None
            await _wait_for_text(root / f"simex-{venue.name}.log", "Ctrl-C stops", venue.process)
            await venue.load_markets()
        store = await stack.enter_async_context(Store.open(url))
        await store.upgrade()
        built = World(root, url, venues, env, config, store=store)
        try:
            yield built
        finally:
            await stop(built.bot, signal.SIGKILL)


# -- database faults (part 3) -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def database_cut(url: str) -> AsyncIterator[None]:
    """The bot's database cut off while inside: new connections to it refused
    (``ALLOW_CONNECTIONS false``) and every open one terminated; allowed again on the way
    out, whatever happened. (The same moves as ``tests/storage/outages.PostgresOutage``.)"""
    import asyncpg

    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_ADMIN, timeout=10)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            # the 5 s timeout: each backend has really exited, not just been signalled
            await admin.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            yield
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    finally:
        await admin.close()
