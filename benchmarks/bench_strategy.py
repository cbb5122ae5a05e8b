"""Strategy benchmarks: one monitoring cycle with 50 open pairs, and the demo's three days.

    .venv/bin/python benchmarks/bench_strategy.py [--pairs N] [--cycles N] [--pg [URL]]
        [--profile] [--demo {auto,cli,equivalent,skip}] [--demo-hours H]

Prints a Markdown table.

**Monitoring cycle** (goal ≤ 20 ms outside the network): two zero-latency simulated venues
(static books, 20 levels a side) list the same N symbols (default 50); one pays more funding
than the other on every symbol. A ``FundingArbitrage`` on a SQLite file (and with ``--pg`` on
a scratch PostgreSQL database, created and dropped by the run) collects the rates, ranks
them and opens N pairs through its own ``scan()`` (the atomic executor, the journal, the
store: as in service). Then ``monitor()`` runs C times on an ordinary asyncio loop (nothing
fast-forwarded, so the database's time is real), the garbage collector on. Each cycle's wall
time is split into the time inside the venues' methods, inside the store's methods and the
rest (the strategy's own work). ``--profile`` prints cProfile's top entries over the cycles.

**The demo**: ``fundarb demo`` as a subprocess when it is the three-day strategy demo
(``auto`` looks at its ``--help``); otherwise the equivalent: the strategy on the simulated
world (``step_s=60``, BTC, ETH and SOL, the real capture when present) for 72 simulated
hours on a fast-forwarded loop, SQLite tracked (``fundarb.fastforward``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import gc
import inspect
import io
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from common import DEFAULT_CAPTURE, ROOT, Row, print_table
from fundarb.config import Config, FundingSettings, StrategySettings
from fundarb.execution import OrderBook
from fundarb.execution.core.gateway import gateway_for
from fundarb.fastforward import new_loop, track_sqlite
from fundarb.funding.collectors import ExchangeClientCollector
from fundarb.funding.service import VenueFeed, open_venues
from fundarb.funding.simworld import WorldConfig
from fundarb.storage import Store
from fundarb.storage.journal import Journal
from fundarb.strategies.funding_arbitrage import FundingArbitrage, PositionState
from fundarb.venues import FeeSchedule
from fundarb.venues.sim import FundingConfig, SimConfig, SimulatedExchange, SymbolConfig

GOAL_CYCLE_MS = 20.0
GOAL_DEMO_S = 60.0
START = datetime(2026, 3, 2, tzinfo=UTC)
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
FUNDARB = ROOT / ".venv" / "bin" / "fundarb"

# what the venues and the store are asked during a cycle (outermost calls only are timed)
VENUE_METHODS = (
    "get_positions",
    "get_position",
    "get_funding_payments",
    "get_liquidations",
    "get_funding_rate",
    "get_balance",
    "fetch_bbo_prices",
    "get_order_book_depth",
    "get_open_orders",
    "get_fills",
    "get_market_spec",
    "get_fee_schedule",
    "set_leverage",
    "place_limit_order",
    "place_market_order",
    "cancel_order",
    "get_order_info",
    "get_order_by_client_id",
    "get_server_time",
)


# -- timing inside the venues and the store --------------------------------------------------


@dataclass
class Meter:
    """Wall time spent inside metered coroutines (nested metered calls counted once)."""

    ns: int = 0
    calls: int = 0
    depth: int = 0

    def wrap(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def metered(*args: Any, **kwargs: Any) -> Any:
            outer = self.depth == 0
            self.depth += 1
            start = time.perf_counter_ns()
            try:
                return await method(*args, **kwargs)
            finally:
                self.depth -= 1
                if outer:
                    self.ns += time.perf_counter_ns() - start
                    self.calls += 1

        return metered

    def reset(self) -> None:
        self.ns = self.calls = 0


def meter_venue(venue: SimulatedExchange, meter: Meter) -> None:
    for name in VENUE_METHODS:
        setattr(venue, name, meter.wrap(getattr(venue, name)))


def meter_store(store: Store, meter: Meter) -> None:
    for name, _ in inspect.getmembers(type(store), inspect.iscoroutinefunction):
        if not name.startswith("_"):
            setattr(store, name, meter.wrap(getattr(store, name)))


class _ClientMarketData:
    """Books and fees of a simulated venue through its gateway (as ``open_venues`` does)."""

    def __init__(self, client: Any) -> None:
        self._gateway = gateway_for(client)

    async def book(self, venue_symbol: str) -> OrderBook:
        return await self._gateway.book(venue_symbol, 20)

    async def fees(self, venue_symbol: str) -> FeeSchedule:
        fees = await self._gateway.fee_schedule(venue_symbol)
        assert fees is not None
        return fees


# -- 1. the monitoring cycle -----------------------------------------------------------------


def _venue(name: str, pairs: int, rate: Decimal) -> SimulatedExchange:
    symbols = tuple(
        SymbolConfig(
            symbol=f"S{i:02d}USDT",
            tick_size=Decimal("0.01"),
            lot_size=Decimal("0.001"),
            min_notional=Decimal("5"),
            initial_price=Decimal(100 + 10 * i),
            depth_per_level=Decimal("50"),
            taker_mean_size=Decimal("1"),
            funding=FundingConfig(rate=rate, interval_s=8 * 3600),
        )
        for i in range(pairs)
    )
    return SimulatedExchange(
        SimConfig(
            venue=name,
            symbols=symbols,
            market="static",
            initial_balance=Decimal("10000000"),
            start_time=START,
        )
    )


def _books(venue: SimulatedExchange, pairs: int) -> None:
    for i in range(pairs):
        mid = Decimal(100 + 10 * i)
        venue.set_book(
            f"S{i:02d}USDT",
            bids=[(mid - Decimal("0.01") * (k + 1), "100") for k in range(20)],
            asks=[(mid + Decimal("0.01") * (k + 1), "100") for k in range(20)],
        )


def _settings(pairs: int) -> StrategySettings:
    """Enter every pair offered, never exit while the cycles are timed."""
    return StrategySettings.model_validate(
        {
            "size_usd": "1000",
            "max_positions": pairs,
            "max_total_notional_usd": str(1000 * pairs),
            "entry": {"min_net_apr": "0", "max_break_even_hours": "1000", "horizon_hours": "72"},
            "exit": {
                "min_net_spread_apr": "-10",
                "close_on_flip": False,
                "max_holding_hours": "10000",
            },
            "execution": {"mode": "market_only", "timeout_s": 30},
        }
    )


@dataclass
class CycleFigures:
    backend: str
    opened: int
    open_s: float
    wall_ns: list[int]
    process_cpu_ns: list[int]
    thread_cpu_ns: list[int]
    venue_ns: list[int]
    store_ns: list[int]
    venue_calls: int
    store_calls: int
    profile: str | None


@contextlib.asynccontextmanager
async def _database(backend: str, folder: Path, pg_url: str) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'fundarb.db'}"
        return
    import asyncpg

    admin = await asyncpg.connect(pg_url)
    name = f"fundarb_bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{pg_url.rsplit('/', 1)[0]}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def monitor_cycles(
    backend: str, pairs: int, cycles: int, *, pg_url: str, profile: bool
) -> CycleFigures:
    venues = [
        _venue("alpha", pairs, Decimal("0.0001")),
        _venue("beta", pairs, Decimal("0.0006")),
    ]
    venue_meter, store_meter = Meter(), Meter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            for venue in venues:
                await stack.enter_async_context(venue)
                _books(venue, pairs)
            url = await stack.enter_async_context(_database(backend, folder, pg_url))
            store = await stack.enter_async_context(Store.open(url))
            await store.upgrade()
            feeds = [
                VenueFeed(
                    v.get_exchange_name(),
                    ExchangeClientCollector(v, [s.symbol for s in v.config.symbols]),
                    _ClientMarketData(v),
                    v,
                )
                for v in venues
            ]
            clock = venues[0].core.venue_time
            strategy = FundingArbitrage(
                feeds,
                store,
                _settings(pairs),
                clock=clock,
                funding=FundingSettings(horizon_hours=72, notional_usd=1000),
                journal=Journal(store, spool_path=folder / "journal-spool.jsonl"),
            )
            await strategy.start()
            started = time.perf_counter()
            await strategy.scan()
            open_s = time.perf_counter() - started
            opened = sum(p.state is PositionState.OPEN for p in strategy.positions.values())
            if opened != pairs:
                raise SystemExit(f"{backend}: {opened} of {pairs} pairs opened")
            for venue in venues:
                meter_venue(venue, venue_meter)
            meter_store(store, store_meter)
            for _ in range(5):  # warm-up: caches, prepared statements, the first equity rows
                await strategy.monitor()
            wall, pcpu, tcpu, vns, sns = [], [], [], [], []
            venue_calls = store_calls = 0
            for _ in range(cycles):
                venue_meter.reset()
                store_meter.reset()
                p0, t0 = time.process_time_ns(), time.thread_time_ns()
                w0 = time.perf_counter_ns()
                await strategy.monitor()
                wall.append(time.perf_counter_ns() - w0)
                pcpu.append(time.process_time_ns() - p0)
                tcpu.append(time.thread_time_ns() - t0)
                vns.append(venue_meter.ns)
                sns.append(store_meter.ns)
                venue_calls += venue_meter.calls
                store_calls += store_meter.calls
            text = None
            if profile:  # a separate pass: the profiler slows the cycles it watches
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(cycles):
                    await strategy.monitor()
                profiler.disable()
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out).strip_dirs()
                stats.sort_stats("tottime").print_stats(10)
                stats.sort_stats("cumulative").print_stats(25)
                text = out.getvalue()
            still_open = sum(p.state is PositionState.OPEN for p in strategy.positions.values())
            if still_open != pairs:
                raise SystemExit(f"{backend}: {still_open} of {pairs} pairs still open")
    return CycleFigures(
        backend,
        opened,
        open_s,
        wall,
        pcpu,
        tcpu,
        vns,
        sns,
        venue_calls // cycles,
        store_calls // cycles,
        text,
    )


def _pct(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] / 1e6


def _ms(samples: list[int]) -> str:
    return (
        f"p50 {statistics.median(samples) / 1e6:.1f} ms, p95 {_pct(samples, 0.95):.1f} ms, "
        f"max {max(samples) / 1e6:.1f} ms"
    )


def cycle_rows(f: CycleFigures) -> list[Row]:
    n = len(f.wall_ns)
    p50 = statistics.median(f.wall_ns) / 1e6
    verdict = "met" if p50 <= GOAL_CYCLE_MS else f"**missed** ({p50 / GOAL_CYCLE_MS:.1f}× the goal)"
    own = [w - v - s for w, v, s in zip(f.wall_ns, f.venue_ns, f.store_ns, strict=True)]
    db = "SQLite file" if f.backend == "sqlite" else "PostgreSQL (local)"
    return [
        (
            f"`monitor()`, {f.opened} open pairs, {db}: wall",
            f"**{_ms(f.wall_ns)}**",
            f"{n} cycles; goal ≤ {GOAL_CYCLE_MS:.0f} ms: {verdict}",
        ),
        (
            "… CPU, whole process (the database's threads included)",
            _ms(f.process_cpu_ns),
            "`time.process_time`",
        ),
        ("… CPU, the event loop's thread", _ms(f.thread_cpu_ns), "`time.thread_time`"),
        (
            "… inside the venues' methods",
            _ms(f.venue_ns),
            f"{f.venue_calls} calls a cycle, zero latency",
        ),
        (
            "… inside the store's methods (DB writes)",
            _ms(f.store_ns),
            f"{f.store_calls} calls a cycle",
        ),
        ("… the rest: the strategy's own work", _ms(own), "wall − venues − store"),
        (
            f"opening the {f.opened} pairs through `scan()` ({db})",
            f"{f.open_s:.2f} s",
            f"{f.open_s / f.opened * 1000:.0f} ms a pair, untimed above",
        ),
    ]


# -- 2. the demo -----------------------------------------------------------------------------


def _demo_is_the_strategy() -> bool:
    """Whether ``fundarb demo`` is the three-day strategy demo (not the older venue demo)."""
    try:
        help_text = subprocess.run(
            [str(FUNDARB), "demo", "--help"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "strateg" in help_text.lower() and "day" in help_text.lower()


@contextlib.contextmanager
def _cpu_of_children() -> Iterator[list[float]]:
    before = os.times()
    out: list[float] = []
    yield out
    after = os.times()
    out.append(
        (after.children_user - before.children_user)
        + (after.children_system - before.children_system)
    )


def demo_cli(folder: Path) -> Row:
    """``fundarb demo`` with its defaults, its files (database, log, report) in ``folder``."""
    env = {**os.environ, "FUNDARB_HOME": str(folder)}
    command = [str(FUNDARB), "demo", "--database", str(folder / "demo.db")]
    command += ["--report", str(folder / "demo-report.html")]
    if DEFAULT_CAPTURE.is_file():  # the demo looks for ../shared/data from its directory
        command += ["--capture", str(DEFAULT_CAPTURE)]
    with _cpu_of_children() as cpu:
        start = time.perf_counter()
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=folder, check=False
        )
        wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"fundarb demo failed ({done.returncode}):\n{done.stderr[-2000:]}")
    verdict = "met" if wall <= GOAL_DEMO_S else "**missed**"
    return (
        "`fundarb demo` (defaults: three simulated days), subprocess: wall",
        f"**{wall:.1f} s**, CPU {cpu[0]:.1f} s",
        f"goal ≤ {GOAL_DEMO_S:.0f} s: {verdict}; start-up, imports and the HTML report "
        "included; output not a terminal",
    )


async def _demo_equivalent(hours: float, folder: Path) -> dict[str, Any]:
    capture = DEFAULT_CAPTURE if DEFAULT_CAPTURE.is_file() else None
    world = WorldConfig(
        seed=7,
        start_time=START,
        step_s=60,
        symbols=frozenset({"BTC", "ETH", "SOL"}),
        capture=capture,
    )
    async with (
        Store.open(f"sqlite+aiosqlite:///{folder / 'demo.db'}") as store,
        open_venues(Config(), world=world) as feeds,
    ):
        await store.upgrade()
        sims = {feed.name: feed.client for feed in feeds}
        clock = next(iter(sims.values())).core.venue_time
        settings = StrategySettings.model_validate({"symbols": ["BTC", "ETH", "SOL"]})
        strategy = FundingArbitrage(
            feeds,
            store,
            settings,
            clock=clock,
            funding=FundingSettings(horizon_hours=24, notional_usd=5000),
            journal=Journal(store, spool_path=folder / "journal-spool.jsonl"),
        )
        await strategy.start()
        await strategy.run(until=clock() + timedelta(hours=hours))
        await strategy.close_all("end of demo")
        rows = await store.load_positions()
        return {
            "capture": capture is not None,
            "positions": len(rows),
            "closed": sum(r.state == "closed" for r in rows),
            "executions": strategy.executions,
            "cycles": len(strategy.cycle_ms),
            "pnl": strategy.total_pnl().total,
        }


def demo_equivalent(hours: float, folder: Path) -> Row:
    with track_sqlite(), asyncio.Runner(loop_factory=new_loop) as runner:
        c0 = time.process_time()
        w0 = time.perf_counter()
        out = runner.run(_demo_equivalent(hours, folder))
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    verdict = "met" if wall <= GOAL_DEMO_S else "**missed**"
    goal = f"goal ≤ {GOAL_DEMO_S:.0f} s: {verdict}" if hours == 72 else "not the goal's 72 h"
    return (
        f"the demo's equivalent: strategy on the simulated world, {hours:g} simulated hours, "
        "fast-forwarded: wall",
        f"**{wall:.1f} s**, CPU {cpu:.1f} s",
        f"{goal}; capture {'used' if out['capture'] else 'absent'}; "
        f"{out['positions']} positions ({out['closed']} closed), "
        f"{out['executions']} executions, PnL {out['pnl']:+.2f} USD; imports not included",
    )


# -- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pairs", type=int, default=50, help="open pairs (default: %(default)s)")
    parser.add_argument(
        "--cycles", type=int, default=100, help="timed monitor() cycles (default: %(default)s)"
    )
    parser.add_argument(
        "--pg",
        nargs="?",
        const=PG_DEFAULT,
        default=None,
        metavar="URL",
        help=f"also on PostgreSQL: an admin URL for a scratch database (default: {PG_DEFAULT})",
    )
    parser.add_argument(
        "--profile", action="store_true", help="print cProfile's top entries over the cycles"
    )
    parser.add_argument(
        "--demo",
        choices=("auto", "cli", "equivalent", "skip"),
        default="auto",
        help="time `fundarb demo` (cli), the in-process equivalent, or pick by its --help "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--demo-hours",
        type=float,
        default=72.0,
        help="simulated hours of the equivalent demo (default: %(default)s)",
    )
    args = parser.parse_args()
    if args.pairs < 1 or args.pairs > 100 or args.cycles < 1:
        parser.error("--pairs must be 1..100 and --cycles at least 1")

    rows: list[Row] = []
    profiles: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as home:
        os.environ["FUNDARB_HOME"] = home  # spools and defaults land here, not in ~
        backends = ["sqlite"] + (["postgresql"] if args.pg else [])
        for backend in backends:
            figures = asyncio.run(
                monitor_cycles(
                    backend, args.pairs, args.cycles, pg_url=args.pg or "", profile=args.profile
                )
            )
            rows += cycle_rows(figures)
            if figures.profile:
                profiles.append((backend, figures.profile))
        gc.collect()
        demo = args.demo
        if demo == "auto":
            demo = "cli" if _demo_is_the_strategy() else "equivalent"
        if demo == "cli":
            rows.append(demo_cli(Path(home)))
        elif demo == "equivalent":
            rows.append(demo_equivalent(args.demo_hours, Path(home)))
    print_table(rows)
    for backend, text in profiles:
        print(f"\ncProfile over the {backend} cycles (top 10 by own time, then cumulative):\n")
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
