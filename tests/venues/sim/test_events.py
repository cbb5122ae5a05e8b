"""The event stream: order updates, fills, funding payments and liquidations, in order.

``async with venue.events() as stream`` subscribes; with ``async with SimulatedExchange(...)``
a driver task advances the market in loop time, so events flow without any call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fundarb.venues import (
    Fill,
    FundingPayment,
    Liquidation,
    Liquidity,
    OrderStatus,
    OrderUpdate,
    Side,
    VenueEvent,
)
from fundarb.venues.sim import Fault, MarketModelConfig, SimConfig, SimulatedExchange
from tests.conftest import BOOK, BTC, btc_symbol, static_venue


def _venue(**overrides: object) -> SimulatedExchange:
    venue = static_venue(**overrides)
    venue.set_book(BTC, **BOOK)
    return venue


async def _drain(stream: AsyncIterator[VenueEvent]) -> list[VenueEvent]:
    """Every event already delivered to ``stream`` (waits a millisecond of loop time)."""
    events: list[VenueEvent] = []
    while True:
        try:
            async with asyncio.timeout(0.001):
                events.append(await anext(stream))
        except TimeoutError:
            return events


def _shape(events: list[VenueEvent]) -> list[tuple[str, object]]:
    """Each event as (type, status or quantity) for comparing sequences."""
    shape: list[tuple[str, object]] = []
    for event in events:
        if isinstance(event, OrderUpdate):
            shape.append(("update", event.info.status))
        elif isinstance(event, Fill):
            shape.append(("fill", event.quantity))
        elif isinstance(event, FundingPayment):
            shape.append(("funding", event.amount))
        else:
            shape.append(("liquidation", event.quantity))
    return shape


def _live_venue(name: str = "live", seed: int = 11) -> SimulatedExchange:
    """A synthetic market with a steady price and brisk taker flow."""
    model = MarketModelConfig(volatility_per_sqrt_s=0.0, jump_rate_per_s=0.0, taker_rate_per_s=4.0)
    return SimulatedExchange(SimConfig(venue=name, symbols=(btc_symbol(),), model=model, seed=seed))


def _drivers() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("sim-driver-")]


# -- orders -------------------------------------------------------------------------------------


async def test_resting_order_is_acknowledged_filled_in_part_then_cancelled() -> None:
    venue = _venue()

    async with venue.events() as stream:
        placed = await venue.place_limit_order(BTC, Decimal("1"), Decimal("49999.9"), "buy")
        # 1 BTC of the market's bids is queued ahead of us: 1.4 sold takes it and 0.4 of ours
        venue.trade_from_market(BTC, "sell", Decimal("1.4"))
        await venue.cancel_order(placed.order_id or "")
        events = await _drain(stream)

    assert _shape(events) == [
        ("update", OrderStatus.NEW),
        ("fill", Decimal("0.4")),
        ("update", OrderStatus.PARTIALLY_FILLED),
        ("update", OrderStatus.CANCELED),
    ]
    ack, fill, partial, cancelled = events
    assert isinstance(ack, OrderUpdate)
    assert ack.info.order_id == placed.order_id
    assert isinstance(fill, Fill)
    assert (fill.order_id, fill.side, fill.price, fill.liquidity) == (
        placed.order_id,
        Side.BUY,
        Decimal("49999.9"),
        Liquidity.MAKER,
    )
    assert fill.fee == Decimal("3.999992")  # 49999.9 x 0.4 x 0.0002
    assert isinstance(partial, OrderUpdate)
    assert partial.info.filled_size == Decimal("0.4")
    assert isinstance(cancelled, OrderUpdate)
    assert (cancelled.info.filled_size, cancelled.info.remaining_size) == (
        Decimal("0.4"),
        Decimal(0),
    )
    assert all(e.venue == "static" for e in events)


async def test_market_order_through_two_levels_reports_each_fill() -> None:
    venue = _venue()

    async with venue.events() as stream:
        await venue.place_market_order(BTC, Decimal("1.5"), "buy")
        events = await _drain(stream)

    assert _shape(events) == [
        ("update", OrderStatus.NEW),
        ("fill", Decimal("1")),
        ("update", OrderStatus.PARTIALLY_FILLED),
        ("fill", Decimal("0.5")),
        ("update", OrderStatus.FILLED),
    ]
    fills = [e for e in events if isinstance(e, Fill)]
    assert [(f.price, f.fee, f.liquidity) for f in fills] == [
        (Decimal("50000.0"), Decimal("25.0000"), Liquidity.TAKER),
        (Decimal("50000.1"), Decimal("12.500025"), Liquidity.TAKER),
    ]
    assert len({f.trade_id for f in fills}) == 2


async def test_ioc_remainder_expires() -> None:
    venue = _venue()

    async with venue.events() as stream:
        await venue.place_limit_order(
            BTC, Decimal("1.5"), Decimal("50000.0"), "buy", time_in_force="IOC"
        )
        events = await _drain(stream)

    assert _shape(events) == [
        ("update", OrderStatus.NEW),
        ("fill", Decimal("1")),
        ("update", OrderStatus.PARTIALLY_FILLED),
        ("update", OrderStatus.EXPIRED),
    ]


async def test_every_subscriber_gets_every_event_and_nothing_is_kept_for_latecomers() -> None:
    venue = _venue()
    await venue.place_market_order(BTC, Decimal("0.1"), "buy")  # nobody is listening

    async with venue.events() as first, venue.events() as second:
        await venue.place_market_order(BTC, Decimal("0.2"), "buy")
        seen_first = await _drain(first)
        seen_second = await _drain(second)

    assert seen_first == seen_second
    assert [e.quantity for e in seen_first if isinstance(e, Fill)] == [Decimal("0.2")]


# -- funding and liquidation --------------------------------------------------------------------


async def test_funding_payment_is_published_at_the_funding_time() -> None:
    venue = _venue()
    await venue.place_market_order(BTC, Decimal("0.1"), "buy")

    async with venue.events() as stream:
        await asyncio.sleep(8 * 3600)  # the venue starts at 00:00 UTC; funding at 08:00
        await venue.get_balance()  # without a driver the market advances at each call
        events = await _drain(stream)

    [payment] = events
    assert isinstance(payment, FundingPayment)
    assert payment.funding_time == datetime(2024, 1, 1, 8, tzinfo=UTC)
    assert (payment.rate, payment.position_quantity, payment.mark_price) == (
        Decimal("0.0001"),
        Decimal("0.1"),
        Decimal("49999.95"),
    )
    assert payment.amount == Decimal("-0.4999995")  # a long pays: -0.1 x 49999.95 x 0.0001
    assert venue.core.funding_payments == [payment]


async def test_liquidation_cancels_open_orders_then_closes_the_position() -> None:
    venue = _venue(initial_balance=Decimal("1000"))
    await venue.set_leverage(BTC, 50)
    bought = await venue.place_market_order(BTC, Decimal("0.9"), "buy")  # 900 USDT margin
    resting = await venue.place_limit_order(BTC, Decimal("0.01"), Decimal("50010.0"), "sell")
    assert bought.success
    assert resting.success

    async with venue.events() as stream:
        venue.set_book(BTC, bids=[("48000.0", "5")], asks=[("48000.1", "5")])
        events = await _drain(stream)

    assert _shape(events) == [("update", OrderStatus.CANCELED), ("liquidation", Decimal("0.9"))]
    cancelled, liquidation = events
    assert isinstance(cancelled, OrderUpdate)
    assert cancelled.info.order_id == resting.order_id
    assert cancelled.info.cancel_reason == "cancelled by liquidation"
    assert isinstance(liquidation, Liquidation)
    assert (liquidation.symbol, liquidation.price) == (BTC, Decimal("48000.05"))
    assert liquidation.fee == Decimal("216.000225")  # 0.9 x 48000.05 x 0.005
    assert await venue.get_positions() == []
    assert (await venue.get_balance()).wallet_balance == 0  # the insurance fund took the rest


# -- the driver ---------------------------------------------------------------------------------


async def test_taker_flow_fills_a_resting_order_with_no_call_made() -> None:
    async with _live_venue() as venue, venue.events() as stream:
        bid, _ = await venue.fetch_bbo_prices(BTC)
        placed = await venue.place_limit_order(BTC, Decimal("0.05"), bid, "buy")
        start = asyncio.get_running_loop().time()
        ours: list[VenueEvent] = []
        async with asyncio.timeout(600):
            async for event in stream:  # no call from here on: the driver moves the market
                ours.append(event)
                if isinstance(event, OrderUpdate) and event.info.status == OrderStatus.FILLED:
                    break
        waited = asyncio.get_running_loop().time() - start

    assert 0 < waited < 600
    ack = ours[0]
    assert isinstance(ack, OrderUpdate)
    assert (ack.venue, ack.info.order_id, ack.info.status) == ("live", placed.order_id, "NEW")
    fills = [e for e in ours if isinstance(e, Fill)]
    assert fills
    assert all(f.order_id == placed.order_id for f in fills)
    assert all((f.price, f.liquidity) == (bid, Liquidity.MAKER) for f in fills)
    assert sum(f.quantity for f in fills) == Decimal("0.05")
    assert _drivers() == []


async def test_driver_reports_a_late_fill_without_a_call() -> None:
    venue = _venue()
    placed = await venue.place_limit_order(BTC, Decimal("1"), Decimal("49990.0"), "buy")
    venue.faults.add(Fault.fill_after_cancel(Decimal("0.5"), delay_s=3.0))

    async with venue, venue.events() as stream:
        await venue.cancel_order(placed.order_id or "")
        cancelled_at = asyncio.get_running_loop().time()
        cancel_update = await anext(stream)
        late = await anext(stream)
        reported_at = asyncio.get_running_loop().time()
        corrected = await anext(stream)

    assert isinstance(cancel_update, OrderUpdate)
    assert (cancel_update.info.status, cancel_update.info.filled_size) == (
        OrderStatus.CANCELED,
        Decimal(0),
    )
    assert isinstance(late, Fill)
    assert late.quantity == Decimal("0.5")
    assert reported_at - cancelled_at == pytest.approx(3.0)
    assert isinstance(corrected, OrderUpdate)
    assert corrected.info.filled_size == Decimal("0.5")


async def test_driver_publishes_funding_with_no_call_made() -> None:
    venue = _venue()
    await venue.place_market_order(BTC, Decimal("0.1"), "sell")

    async with venue, venue.events() as stream:
        async with asyncio.timeout(8 * 3600 + 1):
            payment = await anext(stream)

    assert isinstance(payment, FundingPayment)
    assert payment.funding_time == datetime(2024, 1, 1, 8, tzinfo=UTC)
    assert payment.amount == Decimal("0.4999995")  # a short receives
    assert asyncio.get_running_loop().time() == pytest.approx(8 * 3600, abs=1)


async def test_leaving_the_context_cancels_the_driver() -> None:
    venue = _live_venue("leaving")

    async with venue:
        await asyncio.sleep(5)
        [driver] = _drivers()
        assert driver.get_name() == "sim-driver-leaving"
        assert not driver.done()

    assert driver.cancelled()
    assert _drivers() == []


async def test_an_error_inside_the_context_still_cancels_the_driver_and_propagates() -> None:
    venue = _live_venue("failing")
    seen: list[asyncio.Task[object]] = []

    async def fail_inside() -> None:
        async with venue:
            await asyncio.sleep(1)
            seen.extend(_drivers())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_inside()

    [driver] = seen
    assert driver.cancelled()
    assert _drivers() == []


async def test_the_venue_can_be_entered_again_and_lazily_advances_between() -> None:
    venue = _live_venue("again")

    async with venue:
        await asyncio.sleep(1)
    between = await venue.fetch_bbo_prices(BTC)  # no driver now: the call advances the market
    async with venue:
        await asyncio.sleep(1)
        [driver] = _drivers()

    assert Decimal(0) < between[0] < between[1]
    assert driver.cancelled()
    assert _drivers() == []


async def test_cancelling_the_owner_cancels_the_driver_too() -> None:
    venue = _live_venue("owner")
    entered = asyncio.Event()

    async def owner() -> None:
        async with venue:
            entered.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(owner())
    await entered.wait()
    [driver] = _drivers()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert driver.cancelled()
    assert _drivers() == []
