"""Helpers for the strategy's end-to-end tests: drive the clock, open one pair, check books."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from fundarb.strategies.funding_arbitrage import FundingArbitrage, PairPosition, PositionState
from fundarb.venues.orders import Side
from fundarb.venues.sim import SimulatedExchange
from tests.strategies.conftest import World

CENT = Decimal("0.01")


async def open_one(strategy: FundingArbitrage, *, start: bool = True) -> PairPosition:
    """Start the strategy (once: a second start would reload what it holds) and open
    exactly one pair with a scan."""
    if start:
        await strategy.start()
    opened = await strategy.scan()
    assert len(opened) == 1, [e.text for e in strategy.events]
    position = opened[0]
    assert position.state is PositionState.OPEN
    return position


async def hold(strategy: FundingArbitrage, seconds: float, *, every_s: float = 600) -> None:
    """Let ``seconds`` of venue time pass, monitoring every ``every_s``."""
    left = seconds
    while left > 0:
        step = min(every_s, left)
        await asyncio.sleep(step)
        left -= step
        await strategy.monitor()


async def assert_flat(sim_world: World) -> None:
    """No open order and no position on any venue."""
    for name, client in sim_world.sims.items():
        assert not await client.get_open_orders(), name
        assert all(p.quantity == 0 for p in await client.get_positions()), name


def assert_books_balance(
    strategy: FundingArbitrage, before: Decimal, after: Decimal, *, taken_out: Decimal = Decimal(0)
) -> None:
    """The strategy's PnL is the venues' change in equity (plus what the test withdrew)."""
    pnl = strategy.total_pnl()
    change = after - before + taken_out
    assert abs(change - pnl.total) < CENT, (change, pnl)
    assert pnl.total == pnl.funding + pnl.basis - pnl.fees - pnl.slippage


def withdraw_to(client: SimulatedExchange, wallet: Decimal) -> Decimal:
    """Set a simulated venue's wallet to ``wallet`` (a withdrawal); returns what was taken."""
    account = client.core.account
    taken: Decimal = account.wallet - wallet
    account.wallet = wallet
    return taken


async def reduce_outside(client: SimulatedExchange, symbol: str, fraction: Decimal) -> Decimal:
    """Reduce our position on ``symbol`` by ``fraction`` with a reduce-only market order sent
    straight to the venue (not through fundarb); returns the quantity traded."""
    listed = await client.get_position(symbol)
    assert listed is not None
    assert listed.quantity != 0
    spec = await client.get_market_spec(symbol)
    quantity = (abs(listed.quantity) * fraction / spec.lot_size).to_integral_value() * spec.lot_size
    side = Side.SELL if listed.quantity > 0 else Side.BUY
    result = await client.place_market_order(symbol, quantity, side.value, reduce_only=True)
    assert result.success, result
    return quantity


async def move_book(client: SimulatedExchange, symbol: str, fraction: Decimal) -> Decimal:
    """Replace ``symbol``'s book by one around the mid moved by ``fraction`` (0.02: up 2 %),
    deep enough to close our legs in; returns the new mid."""
    spec = await client.get_market_spec(symbol)
    bid, ask = await client.fetch_bbo_prices(symbol)
    tick = spec.tick_size
    new_bid = ((bid + ask) / 2 * (1 + fraction) / tick).to_integral_value() * tick
    size = spec.lot_size * 1_000_000
    client.set_book(
        symbol,
        bids=[(new_bid - i * tick, size) for i in range(5)],
        asks=[(new_bid + (i + 1) * tick, size) for i in range(5)],
    )
    return new_bid + tick / 2
