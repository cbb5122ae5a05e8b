"""The demo: the whole funding-arbitrage strategy on three simulated venues, fast-forwarded.

Three venues (alpha, beta, gamma: 8 h / 4 h, 8 h and hourly funding, BTC, ETH and SOL;
alpha's BTCUSDT built from the real Binance capture when ``../shared/data`` is there) whose
funding rates diverge and converge over three days. The strategy scans, opens pairs
through the atomic executor, monitors them, and closes them by its exit rules; time is
fast-forwarded (the event loop's clock jumps to the next timer), so three simulated days
take the CPU they need, well under a minute. One fault is injected on purpose: a leg of an
entry is rejected, and the executor hedges it (or rolls it back). At the end every pair is
closed, a summary is printed and the HTML report is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from fundarb.config import Config, FundingSettings, StrategySettings
from fundarb.errors import ConfigError
from fundarb.fastforward import new_loop, track_sqlite
from fundarb.funding.opportunities import Opportunity
from fundarb.funding.service import open_venues
from fundarb.funding.simworld import WorldConfig
from fundarb.logs import KeyValueFormatter
from fundarb.report import write_report
from fundarb.storage import Store
from fundarb.storage.journal import Journal
from fundarb.strategies.funding_arbitrage import (
    FundingArbitrage,
    PairPosition,
    PnL,
    PositionState,
    StrategyEvent,
    StrategySnapshot,
)
from fundarb.venues.sim import Fault, SimulatedExchange

__all__ = ["DemoConfig", "DemoReport", "find_capture", "run_demo", "run_demo_blocking"]

_START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday; any fixed date replays the same run
_CAPTURE = Path("binance") / "usdm_btcusdt_20240808.gz"
_SHORT_REASONS = {  # the summary fits 80 columns
    "spread_below_threshold": "spread low",
    "spread_flipped": "flipped",
    "max_holding_time": "max hold",
    "profit_target": "target",
    "liquidation_distance": "liq. near",
    "end of demo": "end",
    "entry_failed": "entry failed",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoConfig:
    """How long the demo runs and where it writes."""

    days: float = 3.0  # simulated days
    seed: int = 7
    database: Path = Path("fundarb-demo.db")  # replaced on every run
    report: Path | None = Path("fundarb-demo-report.html")
    capture: Path | None = None  # the Binance capture; None: look for ../shared/data
    live: bool = True  # the live layout (only on a terminal)
    refresh_s: float = 1800.0  # simulated seconds between live updates
    inject_fault: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.days <= 30:
            raise ConfigError(f"days must be in (0, 30], got {self.days}")
        if self.refresh_s <= 0:
            raise ConfigError(f"refresh_s must be above zero, got {self.refresh_s}")


@dataclass(slots=True)
class DemoReport:
    """What the demo did, for the caller (and the tests) to check."""

    positions: list[PairPosition] = field(default_factory=list)
    pnl: PnL = field(default_factory=PnL.zero)
    equity_change: Decimal = Decimal(0)
    open_orders_left: int = 0
    open_positions_left: int = 0
    fault: str = ""  # what was injected, and where
    report_path: Path | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    capture_used: bool = False


def demo_settings() -> StrategySettings:
    """The strategy the demo runs: three symbols, up to three pairs of 10,000 USD a leg."""
    return StrategySettings.model_validate(
        {
            "symbols": ["BTC", "ETH", "SOL"],
            "size_usd": "10000",
            "max_positions": 3,
            "max_total_notional_usd": "30000",
            "default_leverage": 3,
            "scan_every_s": 1800,
            "monitor_every_s": 300,
            "cooldown_s": 7200,
            "entry": {"min_net_apr": "0.08", "max_break_even_hours": "24", "horizon_hours": "24"},
            "exit": {
                "min_net_spread_apr": "0.01",
                "close_on_flip": True,
                "max_holding_hours": "36",
                "wait_for_funding_s": 1800,
            },
            "execution": {"mode": "limit_with_fallback", "timeout_s": 120, "max_imbalance_s": 20},
        }
    )


def find_capture(explicit: Path | None = None) -> Path | None:
    """The Binance BTCUSDT capture: ``explicit``, else ``../shared/data`` from the current
    folder or from the project this package was installed from."""
    if explicit is not None:
        return explicit if explicit.is_file() else None
    roots = [Path.cwd(), Path(__file__).resolve().parents[2]]
    for root in roots:
        candidate = root.parent / "shared" / "data" / _CAPTURE
        if candidate.is_file():
            return candidate
    return None


def run_demo_blocking(config: DemoConfig, console: Console) -> DemoReport:
    """Run the demo on a fast-forwarded loop (what ``fundarb demo`` does); fundarb's logs
    go to ``<database>.log`` meanwhile, so they do not tear the live view."""
    with (
        _logs_to(config.database.with_suffix(".log")),
        track_sqlite(),
        asyncio.Runner(loop_factory=new_loop) as runner,
    ):
        return runner.run(run_demo(config, console))


@contextlib.contextmanager
def _logs_to(path: Path) -> Iterator[None]:
    logger = logging.getLogger("fundarb")
    saved = logger.handlers[:], logger.level, logger.propagate
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    formatter = KeyValueFormatter()
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logger.handlers[:] = [handler]
    logger.setLevel(min(logger.level or logging.INFO, logging.INFO))
    logger.propagate = False
    try:
        yield
    finally:
        handler.close()
        logger.handlers[:], level, logger.propagate = saved
        logger.setLevel(level)


async def run_demo(config: DemoConfig, console: Console) -> DemoReport:
    """The demo itself; run it on a fast-forwarded loop (:func:`run_demo_blocking`)."""
    wall, cpu = time.perf_counter(), time.process_time()
    report = DemoReport()
    capture = find_capture(config.capture)
    report.capture_used = capture is not None
    spool = config.database.with_suffix(".journal-spool.jsonl")
    _start_afresh(config.database, spool)
    world = WorldConfig(
        seed=config.seed,
        start_time=_START,
        step_s=60,
        symbols=frozenset({"BTC", "ETH", "SOL"}),
        capture=capture,
    )
    settings = demo_settings()
    async with (
        Store.open(f"sqlite+aiosqlite:///{config.database.resolve()}") as store,
        open_venues(Config(), world=world) as feeds,
    ):
        await store.upgrade()
        sims: dict[str, SimulatedExchange] = {
            f.name: f.client for f in feeds if isinstance(f.client, SimulatedExchange)
        }
        first = next(iter(sims.values()))

        def clock() -> datetime:
            return first.core.venue_time()

        strategy = FundingArbitrage(
            feeds,
            store,
            settings,
            clock=clock,
            funding=FundingSettings(collect_every_s=1800, horizon_hours=24, notional_usd=10_000),
            journal=Journal(store, spool_path=spool),
        )
        if config.inject_fault:
            strategy.before_entry = _Injector(strategy, sims, report)
        console.print(_intro(config, capture, sims))
        end = clock() + timedelta(days=config.days)
        await strategy.start()
        live = config.live and console.is_terminal
        with (
            Live(console=console, auto_refresh=False, transient=False) if live else _Quiet() as view
        ):
            async with asyncio.TaskGroup() as group:
                runner = group.create_task(strategy.run(until=end))
                group.create_task(_show(strategy, view, end, config, runner))
            await strategy.close_all("end of demo")
            view.update(_layout(strategy.snapshot(), end, config), refresh=True)
        report.positions = list(strategy.closed) + list(strategy.positions.values())
        report.pnl = strategy.total_pnl()
        for sim in sims.values():
            balance = await sim.get_balance()
            report.equity_change += balance.equity - sim.config.initial_balance
            report.open_orders_left += len(await sim.get_open_orders())
            report.open_positions_left += sum(1 for p in await sim.get_positions() if p.quantity)
        if config.report is not None:
            report.report_path = await write_report(
                store, config.report, title="fundarb demo", generated_at=clock()
            )
        report.wall_s = time.perf_counter() - wall
        report.cpu_s = time.process_time() - cpu
        console.print(_summary(report, config.database))
    return report


def _start_afresh(database: Path, spool: Path) -> None:
    """The demo's database and spool are its own: a new run starts from nothing."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    spool.unlink(missing_ok=True)


class _Injector:
    """Rejects the short leg of the first entry, once: the executor must hedge or undo."""

    def __init__(
        self, strategy: FundingArbitrage, sims: dict[str, SimulatedExchange], report: DemoReport
    ) -> None:
        self.strategy, self.sims, self.report = strategy, sims, report
        self.entries = 0

    async def __call__(self, opportunity: Opportunity) -> None:
        self.entries += 1
        if self.entries != 1:
            return
        venue = opportunity.short_venue
        symbol = opportunity.short_leg.venue_symbol
        self.sims[venue].faults.add(
            # twice: the limit order and its market fallback, so the leg fails as a whole
            Fault.reject(symbol=symbol, count=2, message="demo: this leg is rejected on purpose")
        )
        self.report.fault = f"{venue} rejects the {symbol} short leg of the first entry"
        self.strategy.events.append(
            StrategyEvent(self.strategy.clock(), "fault", f"injected: {self.report.fault}")
        )


class _Quiet:
    """Stands in for the live view when the output is not a terminal."""

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def update(self, _: RenderableType, *, refresh: bool = False) -> None:
        return None


async def _show(
    strategy: FundingArbitrage,
    view: Live | _Quiet,
    end: datetime,
    config: DemoConfig,
    runner: asyncio.Task[None],
) -> None:
    """Refresh the live view every ``refresh_s`` simulated seconds until the run ends."""
    while not runner.done():
        view.update(_layout(strategy.snapshot(), end, config), refresh=True)
        await asyncio.wait([runner], timeout=config.refresh_s)


# -- rendering --------------------------------------------------------------------------------


def _intro(config: DemoConfig, capture: Path | None, sims: dict[str, SimulatedExchange]) -> Text:
    venues = ", ".join(
        f"{name} ({', '.join(s.symbol for s in sim.config.symbols)})" for name, sim in sims.items()
    )
    source = f"alpha BTCUSDT built from {capture.name}" if capture else "synthetic markets only"
    return Text.from_markup(
        f"[bold]fundarb demo[/]: {config.days:g} simulated days of funding arbitrage on "
        f"{venues}; {source}; fast-forwarded time.\n"
    )


def _money(value: Decimal) -> str:
    return f"{value:+,.2f}"


def _layout(snapshot: StrategySnapshot, end: datetime, config: DemoConfig) -> RenderableType:
    total_s = config.days * 86400
    left = max(0.0, (end - snapshot.time).total_seconds())
    done = min(total_s, total_s - left)
    bar = ProgressBar(total=total_s, completed=done, width=40)
    header = Table.grid(padding=(0, 2))
    header.add_row(
        Text(snapshot.time.strftime("%Y-%m-%d %H:%M UTC"), style="bold"),
        bar,
        Text(f"day {done / 86400:.2f} of {config.days:g}"),
        Text(
            f"PnL {_money(snapshot.pnl.total)} USD   equity "
            + (f"{snapshot.equity_usd:,.2f}" if snapshot.equity_usd is not None else "n/a")
        ),
    )
    return Group(
        header,
        _opportunities(snapshot.opportunities),
        _pairs(snapshot.positions),
        _totals(snapshot),
        _events(snapshot),
    )


def _opportunities(opportunities: Sequence[Opportunity]) -> Panel:
    table = Table(expand=True, box=None)
    for name in ("symbol", "long", "short", "spread APR", "net APR", "break-even h"):
        table.add_column(name, justify="right" if "APR" in name or "h" in name[-1:] else "left")
    for o in opportunities[:5]:
        table.add_row(
            o.symbol,
            o.long_venue,
            o.short_venue,
            f"{o.spread_apr:.1%}",
            f"{o.net_apr:.1%}" if o.net_apr is not None else "n/a",
            f"{o.break_even_hours:.1f}" if o.break_even_hours is not None else "n/a",
        )
    return Panel(table, title="opportunities (last scan)", border_style="cyan")


def _pairs(positions: Sequence[PairPosition]) -> Panel:
    table = Table(expand=True, box=None)
    for name in ("pair", "state", "qty", "funding", "basis", "fees", "slippage", "PnL"):
        table.add_column(name, justify="left" if name in ("pair", "state") else "right")
    for p in positions[:8]:
        pnl = p.pnl()
        style = "green" if p.state is PositionState.OPEN else "dim"
        table.add_row(
            f"{p.symbol} L {p.long.venue} / S {p.short.venue}",
            Text(p.state.value + (f" ({p.exit_reason})" if p.exit_reason else ""), style=style),
            f"{p.quantity}",
            _money(pnl.funding),
            _money(pnl.basis),
            _money(-pnl.fees),
            _money(-pnl.slippage),
            Text(_money(pnl.total), style="green" if pnl.total >= 0 else "red"),
        )
    return Panel(table, title="pairs (open first)", border_style="green")


def _totals(snapshot: StrategySnapshot) -> Panel:
    pnl = snapshot.pnl
    text = Text.from_markup(
        f"funding accrued [bold]{_money(pnl.funding)}[/]   basis {_money(pnl.basis)}   "
        f"fees {_money(-pnl.fees)}   slippage {_money(-pnl.slippage)}   "
        f"= [bold]{_money(pnl.total)}[/] USD   executions {snapshot.executions}   "
        f"incidents {snapshot.incidents}"
        + (
            f"   [red]entries stopped: {snapshot.entries_stopped}[/]"
            if snapshot.entries_stopped
            else ""
        )
    )
    return Panel(text, title="totals", border_style="magenta")


def _events(snapshot: StrategySnapshot) -> Panel:
    table = Table.grid(padding=(0, 1))
    for event in list(snapshot.events)[-8:]:
        style = {"fault": "yellow", "incident": "red", "open_failed": "yellow"}.get(event.kind, "")
        table.add_row(
            event.time.strftime("%m-%d %H:%M"), Text(event.kind, style=style), Text(event.text)
        )
    return Panel(table, title="recent executions and events", border_style="blue")


def _summary(report: DemoReport, database: Path) -> RenderableType:
    table = Table(
        title="pairs (long venue/short venue)",
        expand=False,
        box=None,
        header_style="bold",
        pad_edge=False,
        padding=(0, 1),
    )
    for name in ("pair", "hours", "exit", "funding", "basis", "fees", "slip", "PnL"):
        if name in ("pair", "exit"):
            table.add_column(name, no_wrap=True)
        else:
            table.add_column(name, justify="right", no_wrap=True)
    for p in sorted(report.positions, key=lambda p: p.created_at):
        pnl = p.pnl()
        held = (
            f"{(p.closed_at - p.opened_at).total_seconds() / 3600:.1f}"
            if p.opened_at and p.closed_at
            else "-"
        )
        table.add_row(
            f"{p.symbol} {p.long.venue}/{p.short.venue}",
            held,
            _SHORT_REASONS.get(p.exit_reason or "", p.exit_reason or p.state.value),
            _money(pnl.funding),
            _money(pnl.basis),
            _money(-pnl.fees),
            _money(-pnl.slippage),
            Text(_money(pnl.total), style="green" if pnl.total >= 0 else "red"),
        )
    pnl = report.pnl
    gap = report.equity_change - pnl.total
    lines = [
        f"PnL {_money(pnl.total)} USD = funding {_money(pnl.funding)} + basis "
        f"{_money(pnl.basis)} - fees {pnl.fees:,.2f} - slippage {pnl.slippage:,.2f}",
        f"the venues' equity changed by {_money(report.equity_change)} USD "
        f"(difference {gap:+.2f}: the split adds up)",
        f"fault injected: {report.fault or 'none'}",
        f"left open: {report.open_orders_left} orders, {report.open_positions_left} positions",
        f"took {report.wall_s:.1f} s wall, {report.cpu_s:.1f} s CPU",
        f"database {database}, logs {database.with_suffix('.log')}",
    ]
    if report.report_path is not None:
        lines.append(
            f"report {report.report_path} (again at any time: fundarb report --url "
            f"sqlite+aiosqlite:///{database.resolve()})"
        )
    return Group(table, Text("\n".join(lines)))
