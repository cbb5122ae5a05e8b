"""The demo: two simulated venues, live, then a market and a limit order on each.

What it shows today (later work grows it into the full funding-arbitrage run): the books,
trades and funding rates of both venues refreshing live for a few simulated minutes; then
a delta-neutral pair (buy on one venue, sell on the other) with a market order and a
passive post-only limit order on each, the fills with their fees, and the positions left.
Nothing is left open: an unfilled limit remainder is cancelled before the demo ends, and the
pair is then closed through the execution layer's atomic executor (reduce-only legs sized
from the venues' positions).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from fundarb.errors import ConfigError
from fundarb.execution import AtomicMultiOrderExecutor
from fundarb.venues import Fill, OrderInfo, Position, Side
from fundarb.venues.sim import (
    FundingConfig,
    MarketModelConfig,
    SimConfig,
    SimulatedExchange,
)

__all__ = ["DemoConfig", "DemoReport", "run_demo"]

_BOOK_LEVELS = 5
_TAPE = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoConfig:
    """How long and how fast the demo runs, and what it trades."""

    minutes: float = 3.0  # simulated minutes of the live view
    speed: float = 20.0  # simulated seconds per real second
    seed: int = 7
    symbol: str = "BTC-PERP"
    quantity: Decimal = Decimal("0.05")  # per order, base units
    fill_wait_s: float = 90.0  # simulated seconds the limit orders may rest

    def __post_init__(self) -> None:
        if not 0 < self.minutes <= 24 * 60:
            raise ConfigError(f"minutes must be in (0, 1440], got {self.minutes}")
        if not 0 < self.speed <= 10_000:
            raise ConfigError(f"speed must be in (0, 10000], got {self.speed}")
        if not (self.quantity.is_finite() and self.quantity > 0):
            raise ConfigError(f"quantity must be greater than zero, got {self.quantity}")
        if self.fill_wait_s < 0:
            raise ConfigError(f"fill_wait_s must be zero or more, got {self.fill_wait_s}")


@dataclass(slots=True)
class DemoReport:
    """What the demo did, for the caller (and the tests) to check."""

    orders: list[tuple[str, str, OrderInfo]] = field(default_factory=list)  # venue, kind, info
    fills: list[Fill] = field(default_factory=list)
    positions: list[tuple[str, Position]] = field(default_factory=list)
    open_orders_left: int = 0
    close_outcome: str = ""  # how the atomic close of the pair ended


def _venue_config(
    name: str, seed: int, price_seed: int, speed: float, rates: tuple[Decimal, ...], interval_s: int
) -> SimConfig:
    """The default BTC and ETH markets, with this venue's funding."""
    funding = FundingConfig(rate=rates[0], rate_series=rates, interval_s=interval_s)
    return SimConfig(
        venue=name,
        symbols=tuple(replace(s, funding=funding) for s in SimConfig().symbols),
        seed=seed,
        model=MarketModelConfig(price_seed=price_seed),
        time_scale=speed,
        # a minute and a half before a funding time, so one settles during the demo
        start_time=datetime(2024, 8, 8, 7, 58, 30, tzinfo=UTC),
    )


def demo_venues(config: DemoConfig) -> tuple[SimConfig, SimConfig]:
    """Two venues quoting one market that disagree on funding (hourly vs eight-hourly)."""
    hourly = (Decimal("0.000015"), Decimal("0.000011"), Decimal("0.000019"))
    alpha = _venue_config("alpha", config.seed, config.seed, config.speed, hourly, 3600)
    beta = _venue_config(
        "beta", config.seed + 1, config.seed, config.speed, (Decimal("-0.00004"),), 8 * 3600
    )
    return alpha, beta


async def _venue_panel(venue: SimulatedExchange, symbol: str) -> Panel:
    book = await venue.get_order_book_depth(symbol, _BOOK_LEVELS)
    funding = await venue.get_funding_rate(symbol)
    depth = Table(box=None, padding=(0, 1), show_header=True, header_style="bold")
    depth.add_column("size", justify="right")
    depth.add_column("bid", justify="right", style="green")
    depth.add_column("ask", justify="right", style="red")
    depth.add_column("size", justify="right")
    for i in range(_BOOK_LEVELS):
        bid = book["bids"][i] if i < len(book["bids"]) else None
        ask = book["asks"][i] if i < len(book["asks"]) else None
        depth.add_row(
            str(bid["size"]) if bid else "",
            str(bid["price"]) if bid else "",
            str(ask["price"]) if ask else "",
            str(ask["size"]) if ask else "",
        )
    tape = Table(box=None, padding=(0, 1), show_header=True, header_style="bold")
    tape.add_column("trade", justify="right")
    tape.add_column("size", justify="right")
    tape.add_column("taker")
    for price, size, taker in reversed(venue.recent_trades(symbol, _TAPE)):
        tape.add_row(
            str(price), str(size), Text(taker.value, "green" if taker is Side.BUY else "red")
        )
    hours = int(funding.interval.total_seconds() // 3600)
    until = funding.next_funding_time - funding.timestamp
    line = Text.assemble(
        ("funding ", "bold"),
        f"{funding.rate * 100:+.4f}% / {hours}h ",
        (f"({funding.rate_per_hour * 24 * 365 * 100:+.1f}% APR)", "dim"),
        f"  next in {_duration(until.total_seconds())}",
        f"\nmark {funding.mark_price}  index {funding.index_price}",
    )
    title = f"{venue.get_exchange_name()} · {symbol} · {funding.timestamp:%H:%M:%S} UTC"
    return Panel(Group(line, depth, tape), title=title, expand=True)


def _duration(seconds: float) -> str:
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


async def _render(
    venues: list[SimulatedExchange], symbol: str, elapsed_s: float, total_s: float
) -> RenderableType:
    grid = Table.grid(expand=True, padding=(0, 1))
    for _ in venues:
        grid.add_column(ratio=1)
    grid.add_row(*[await _venue_panel(v, symbol) for v in venues])
    progress = Text(f"simulated {elapsed_s:,.0f}s of {total_s:,.0f}s", style="dim")
    return Group(grid, progress)


async def run_demo(config: DemoConfig, console: Console) -> DemoReport:
    """Run the demo, printing to ``console``. Returns what happened."""
    alpha_cfg, beta_cfg = demo_venues(config)
    report = DemoReport()
    async with SimulatedExchange(alpha_cfg) as alpha, SimulatedExchange(beta_cfg) as beta:
        venues = [alpha, beta]
        total_s = config.minutes * 60
        refresh_s = 0.25
        with Live(console=console, refresh_per_second=1 / refresh_s, transient=False) as live:
            while True:
                elapsed = alpha.core.now - alpha.core.start
                live.update(await _render(venues, config.symbol, elapsed, total_s))
                if elapsed >= total_s:
                    break
                await asyncio.sleep(refresh_s)
        console.print()
        console.rule("[bold]orders: buy on alpha, sell on beta (a delta-neutral pair)")
        sides = ((alpha, Side.BUY), (beta, Side.SELL))
        pending: list[tuple[SimulatedExchange, str]] = []
        for venue, side in sides:
            name = venue.get_exchange_name()
            market = await venue.place_market_order(
                config.symbol, config.quantity, side.value, client_order_id=f"{name}-mkt"
            )
            console.print(
                f"{name}: market {side.value} {config.quantity} -> {market.status}, "
                f"filled {market.filled_size} at {market.price}"
            )
            bid, ask = await venue.fetch_bbo_prices(config.symbol)
            limit = await venue.place_limit_order(
                config.symbol,
                config.quantity,
                bid if side is Side.BUY else ask,
                side.value,
                post_only=True,
                client_order_id=f"{name}-lmt",
            )
            console.print(
                f"{name}: post-only limit {side.value} {config.quantity} at "
                f"{limit.price} -> {limit.status}"
            )
            if market.order_id:
                pending.append((venue, market.order_id))
            if limit.order_id:
                pending.append((venue, limit.order_id))
        await _wait_for_fills(pending, config, console)
        for venue, order_id in pending:
            info = await venue.get_order_info(order_id)
            if info is not None:
                kind = "market" if info.client_order_id.endswith("mkt") else "limit"
                report.orders.append((venue.get_exchange_name(), kind, info))
        for venue in venues:
            report.fills.extend(await venue.get_fills(config.symbol))
            report.positions.extend(
                (venue.get_exchange_name(), p) for p in await venue.get_positions()
            )
            report.open_orders_left += len(await venue.get_open_orders())
        _print_report(report, console)
        if report.positions:
            console.rule("[bold]closing the pair atomically (reduce-only, sized from positions)")
            closed = await AtomicMultiOrderExecutor().close_positions(
                [(alpha, config.symbol), (beta, config.symbol)]
            )
            report.close_outcome = closed.outcome.value
            left = [await v.get_position(config.symbol) for v in venues]
            console.print(
                f"outcome: {closed.outcome.value}; positions left: "
                f"{[str(p.quantity) if p else '0' for p in left]}; "
                f"send skew {closed.send_skew_ms or 0:.3f} ms"
            )
    return report


async def _wait_for_fills(
    pending: list[tuple[SimulatedExchange, str]], config: DemoConfig, console: Console
) -> None:
    """Let the limit orders rest up to ``fill_wait_s``; cancel what is left (nothing stays open)."""
    with console.status("waiting for the passive orders to fill..."):
        waited = 0.0
        step_s = 1.0
        while waited < config.fill_wait_s:
            infos = [await venue.get_order_info(order_id) for venue, order_id in pending]
            if all(info is None or not _is_open(info) for info in infos):
                break
            await asyncio.sleep(step_s / config.speed)
            waited += step_s
    for venue, order_id in pending:
        info = await venue.get_order_info(order_id)
        if info is not None and _is_open(info):
            result = await venue.cancel_order(order_id)
            console.print(
                f"{venue.get_exchange_name()}: cancelled the rest of {order_id} "
                f"(filled {result.filled_size} of {info.size})"
            )


def _is_open(info: OrderInfo) -> bool:
    return info.status in ("NEW", "PARTIALLY_FILLED", "PENDING_CANCEL")


def _print_report(report: DemoReport, console: Console) -> None:
    orders = Table(title="orders", header_style="bold")
    for column in ("venue", "kind", "side", "size", "status", "filled", "avg price"):
        orders.add_column(column, justify="right" if column in ("size", "filled") else "left")
    for venue, kind, info in report.orders:
        orders.add_row(
            venue,
            kind,
            info.side,
            str(info.size),
            info.status,
            str(info.filled_size),
            str(info.average_fill_price or "-"),
        )
    fills = Table(title="fills", header_style="bold")
    for column in ("venue", "order", "side", "quantity", "price", "fee (USDT)", "liquidity"):
        fills.add_column(column)
    for fill in report.fills:
        fills.add_row(
            fill.venue,
            fill.client_order_id,
            fill.side.value,
            str(fill.quantity),
            str(fill.price),
            f"{fill.fee:.4f}",
            fill.liquidity.value,
        )
    positions = Table(title="positions", header_style="bold")
    for column in ("venue", "symbol", "quantity", "entry", "mark", "unrealised PnL"):
        positions.add_column(column)
    for venue, position in report.positions:
        positions.add_row(
            venue,
            position.symbol,
            str(position.quantity),
            f"{position.entry_price:.2f}",
            str(position.mark_price),
            f"{position.unrealized_pnl:.2f}",
        )
    console.print(orders, fills, positions)
    net = sum((p.quantity for _, p in report.positions), Decimal(0))
    fees = sum((f.fee for f in report.fills), Decimal(0))
    console.print(
        f"net position: {net} BTC  fees: {fees:.4f} USDT  open orders: {report.open_orders_left}"
    )
