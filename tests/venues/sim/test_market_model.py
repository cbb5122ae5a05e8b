"""The synthetic market: deterministic for a seed, moving, never crossed, filling passive
orders through taker flow in queue order."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from fundarb.venues import Liquidity, OrderStatus, Side
from fundarb.venues.sim import MarketModelConfig, SimulatedExchange

BTC = "BTC-PERP"  # the default config's symbols: BTC-PERP and ETH-PERP
Trace = tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal, Side]]]


async def _traces(*venues: SimulatedExchange, seconds: int) -> list[Trace]:
    """Each venue's BBO sampled every second, and its public tape at the end."""
    starts = {venue.core.start for venue in venues}  # build every venue now
    assert len(starts) == 1
    bbos: list[list[tuple[Decimal, Decimal]]] = [[] for _ in venues]
    for _ in range(seconds):
        await asyncio.sleep(1)
        for venue, samples in zip(venues, bbos, strict=True):
            samples.append(await venue.fetch_bbo_prices(BTC))
    return [
        (samples, venue.recent_trades(BTC, limit=500))
        for venue, samples in zip(venues, bbos, strict=True)
    ]


async def test_the_same_seed_gives_the_same_market() -> None:
    first, second = SimulatedExchange(venue="a", seed=7), SimulatedExchange(venue="b", seed=7)

    trace_a, trace_b = await _traces(first, second, seconds=120)

    assert trace_a == trace_b
    assert len(trace_a[1]) > 100  # the tape really has trades in it


async def test_a_different_seed_gives_a_different_market() -> None:
    first, second = SimulatedExchange(venue="a", seed=7), SimulatedExchange(venue="b", seed=8)

    (bbo_a, tape_a), (bbo_b, tape_b) = await _traces(first, second, seconds=120)

    assert bbo_a != bbo_b
    assert tape_a != tape_b


async def test_the_market_is_the_same_however_often_it_is_looked_at() -> None:
    watched, unwatched = SimulatedExchange(venue="a", seed=3), SimulatedExchange(venue="b", seed=3)
    assert watched.core.start == unwatched.core.start

    for _ in range(240):
        await asyncio.sleep(0.25)
        await watched.fetch_bbo_prices(BTC)

    assert await watched.fetch_bbo_prices(BTC) == await unwatched.fetch_bbo_prices(BTC)
    assert watched.recent_trades(BTC, limit=500) == unwatched.recent_trades(BTC, limit=500)


async def test_the_mid_moves() -> None:
    venue = SimulatedExchange(seed=1)

    ((bbos, _),) = await _traces(venue, seconds=120)

    mids = {(bid + ask) / 2 for bid, ask in bbos}
    assert len(mids) > 10


async def test_the_book_is_never_crossed() -> None:
    venue = SimulatedExchange(seed=2)

    for _ in range(1200):
        await asyncio.sleep(0.25)
        book = await venue.get_order_book_depth(BTC, levels=5)
        best_bid, best_ask = book["bids"][0]["price"], book["asks"][0]["price"]
        assert best_bid < best_ask
        assert [b["price"] for b in book["bids"]] == sorted(
            (b["price"] for b in book["bids"]), reverse=True
        )
        assert [a["price"] for a in book["asks"]] == sorted(a["price"] for a in book["asks"])


async def test_a_passive_order_at_the_touch_fills_after_the_queue_ahead_trades() -> None:
    # a still fair price: the book does not move, so only taker flow can fill us
    still = MarketModelConfig(volatility_per_sqrt_s=0.0, jump_rate_per_s=0.0)
    venue = SimulatedExchange(seed=5, model=still)
    await asyncio.sleep(1)
    best_bid, _ = await venue.fetch_bbo_prices(BTC)
    core = venue.core
    tick = int(best_bid / core.specs[BTC].tick_size)
    queue_ahead = core.engines[BTC].book.bids[tick]
    placed_at = core.now
    placed = await venue.place_limit_order(BTC, Decimal("0.01"), best_bid, "buy", post_only=True)
    assert placed.order_id is not None
    assert placed.status == OrderStatus.NEW

    await asyncio.sleep(0.5)
    soon = await venue.get_order_info(placed.order_id)
    await asyncio.sleep(60)

    assert soon is not None
    assert soon.filled_size == 0
    (fill,) = await venue.get_fills()  # filled whole, by one taker order
    assert (fill.price, fill.quantity, fill.liquidity) == (
        best_bid,
        Decimal("0.01"),
        Liquidity.MAKER,
    )
    # the fill's time in loop seconds (datetimes keep microseconds: allow for that)
    filled_at = core.start + (fill.timestamp - core.start_time).total_seconds()
    assert filled_at - placed_at > 1

    def sold_at_our_price(until: float) -> int:
        return sum(
            lots
            for t, trade_tick, lots, taker_is_buy in core.tapes[BTC]
            if trade_tick == tick and not taker_is_buy and placed_at <= t <= until
        )

    ours = 10  # lots
    assert sold_at_our_price(filled_at - 1e-3) <= queue_ahead  # before: only the queue ahead
    assert sold_at_our_price(filled_at + 1e-3) >= queue_ahead + ours  # the fill: through it


async def test_the_driver_fills_resting_orders_without_any_call() -> None:
    async with SimulatedExchange(seed=5) as venue:
        best_bid, _ = await venue.fetch_bbo_prices(BTC)
        placed = await venue.place_limit_order(BTC, Decimal("0.01"), best_bid, "buy")

        await asyncio.sleep(600)

        assert any(f.order_id == placed.order_id for f in venue.core.fills)
