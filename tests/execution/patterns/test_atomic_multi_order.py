"""AtomicMultiOrderExecutor against two (or three) simulated venues with faults injected.

Every scenario checks the invariants of design notes §3 through ``assert_invariants``: the
outcome matches the venues' real positions, nothing of ours is left open, no leg over-fills.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

from fundarb.errors import InvalidOrderError
from fundarb.execution import (
    AtomicExecutionResult,
    AtomicMultiOrderExecutor,
    AtomicOutcome,
    IncidentKind,
    OrderSpec,
)
from fundarb.venues.sim import Fault, SimulatedExchange
from tests.conftest import BOOK, BTC, btc_symbol, static_venue

Q = D("0.5")


def _pair() -> tuple[SimulatedExchange, SimulatedExchange]:
    long_venue, short_venue = static_venue(venue="a"), static_venue(venue="b")
    for venue in (long_venue, short_venue):
        venue.set_book(BTC, **BOOK)
    return long_venue, short_venue


async def _position(venue: SimulatedExchange, symbol: str = BTC) -> D:
    """The venue's own record (the operator's view: no faults, no latency)."""
    return venue.core.account.quantity(symbol)


async def assert_invariants(
    result: AtomicExecutionResult, *venues: SimulatedExchange, target: D = Q
) -> None:
    """Whole, balanced or flat (or residual reported with the real figures); nothing open."""
    for venue in venues:
        assert not venue.core.open_orders, f"{venue.get_exchange_name()} has open orders"
    positions = [await _position(v) for v in venues]
    assert all(abs(p) <= target for p in positions), f"over-fill: {positions}"
    if result.outcome is AtomicOutcome.FILLED:
        assert positions == [target, -target][: len(venues)]
    elif result.outcome is AtomicOutcome.ROLLED_BACK:
        assert positions == [0] * len(venues)
    elif result.outcome is AtomicOutcome.HEDGED:
        assert sum(positions) == 0
        assert result.hedged_quantity == abs(positions[0])
    elif result.outcome is AtomicOutcome.RESIDUAL_EXPOSURE:
        real = {
            (v.get_exchange_name(), BTC): p for v, p in zip(venues, positions, strict=True) if p
        }
        assert result.residual_exposure == real
    else:
        assert positions == [0] * len(venues)
        assert all(not v.core.orders for v in venues)


def _specs(
    a: SimulatedExchange,
    b: SimulatedExchange,
    mode: str = "market_only",
    timeout: float = 10.0,
    quantity: D = Q,
) -> list[OrderSpec]:
    return [
        OrderSpec(a, BTC, "buy", None, mode, timeout, quantity=quantity),
        OrderSpec(b, BTC, "sell", None, mode, timeout, quantity=quantity),
    ]


async def _sell_into(venue: SimulatedExchange, side: str, quantity: str, after_s: float) -> None:
    await asyncio.sleep(after_s)
    venue.trade_from_market(BTC, side, D(quantity))


async def test_both_legs_fill() -> None:
    a, b = _pair()

    result = await AtomicMultiOrderExecutor().execute_atomically(
        orders=[OrderSpec(a, BTC, "buy", D("25000")), OrderSpec(b, BTC, "sell", D("25000"))],
        rollback_on_partial=True,
        pre_flight_check=True,
    )

    assert result.outcome is AtomicOutcome.FILLED
    assert result.all_filled
    assert len(result.filled_orders) == 2
    assert not result.rollback_performed
    assert result.send_skew_ms is not None
    await assert_invariants(result, a, b, target=D("0.5"))  # the smaller of 25000 / ask, / bid


async def test_legs_get_one_quantity_on_every_venues_lot() -> None:
    a, _ = _pair()
    b_coarse = static_venue(venue="b", symbols=(btc_symbol(lot_size=D("0.01")),))
    b_coarse.set_book(BTC, bids=[("49999.9", "1")], asks=[("50000.0", "1")])

    result = await AtomicMultiOrderExecutor().execute_atomically(
        [
            OrderSpec(a, BTC, "buy", quantity=D("0.257")),
            OrderSpec(b_coarse, BTC, "sell", quantity=D("0.257")),
        ]
    )

    assert result.outcome is AtomicOutcome.FILLED
    assert await _position(a) == D("0.25")
    assert await _position(b_coarse) == D("-0.25")


async def test_one_leg_rejected_is_rolled_back_to_flat() -> None:
    a, b = _pair()
    b.faults.add(Fault.reject(count=None))

    result = await AtomicMultiOrderExecutor().execute_atomically(_specs(a, b))

    assert result.outcome is AtomicOutcome.ROLLED_BACK
    assert result.rollback_performed
    assert result.rollback_cost_usd > 0  # bought at the ask, sold at the bid, fees
    kinds = [i.kind for i in result.incidents]
    assert kinds == [IncidentKind.HEDGE, IncidentKind.ROLLBACK]
    await assert_invariants(result, a, b)


async def test_one_leg_rejected_once_is_hedged_whole() -> None:
    a, b = _pair()
    b.faults.add(Fault.reject(count=1))

    result = await AtomicMultiOrderExecutor().execute_atomically(_specs(a, b))

    assert result.outcome is AtomicOutcome.FILLED
    assert [i.kind for i in result.incidents] == [IncidentKind.HEDGE]
    await assert_invariants(result, a, b)


async def test_one_leg_partial_then_timeout_is_hedged_at_the_filled_quantity() -> None:
    a, b = _pair()
    run = AtomicMultiOrderExecutor().execute_atomically(_specs(a, b, "limit_only", 5))

    async with asyncio.TaskGroup() as group:
        task = group.create_task(run)
        group.create_task(_sell_into(a, "sell", "1.2", 1))  # 1 ahead of us, then 0.2 ours
    result = task.result()

    assert result.outcome is AtomicOutcome.HEDGED
    assert result.hedged_quantity == D("0.2")
    await assert_invariants(result, a, b)


async def test_both_partial_unequal_are_brought_level() -> None:
    a, b = _pair()
    run = AtomicMultiOrderExecutor().execute_atomically(_specs(a, b, "limit_only", 5))

    async with asyncio.TaskGroup() as group:
        task = group.create_task(run)
        group.create_task(_sell_into(a, "sell", "1.3", 1))
        group.create_task(_sell_into(b, "buy", "1.1", 1))
    result = task.result()

    assert result.outcome is AtomicOutcome.HEDGED
    assert result.hedged_quantity == D("0.3")
    await assert_invariants(result, a, b)


async def test_both_partial_equal_need_nothing_more() -> None:
    a, b = _pair()
    run = AtomicMultiOrderExecutor().execute_atomically(_specs(a, b, "limit_only", 5))

    async with asyncio.TaskGroup() as group:
        task = group.create_task(run)
        group.create_task(_sell_into(a, "sell", "1.2", 1))
        group.create_task(_sell_into(b, "buy", "1.2", 1))
    result = task.result()

    assert result.outcome is AtomicOutcome.HEDGED
    assert result.hedged_quantity == D("0.2")
    assert result.incidents == ()
    await assert_invariants(result, a, b)


async def test_a_leg_lagging_too_long_is_hurried_to_its_fallback() -> None:
    a, b = _pair()
    run = AtomicMultiOrderExecutor().execute_atomically(
        _specs(a, b, "limit_with_fallback", 60), max_imbalance_seconds=2
    )

    async with asyncio.TaskGroup() as group:
        task = group.create_task(run)
        group.create_task(_sell_into(a, "sell", "2", 1))  # the long leg fills at once
    result = task.result()

    assert result.outcome is AtomicOutcome.FILLED
    assert result.execution_time_ms < 60_000  # b did not wait for its 60 s timeout
    await assert_invariants(result, a, b)


@pytest.mark.parametrize(
    "fault",
    [
        Fault.cancel_loses_race(),
        Fault.fill_after_cancel(D("0.5"), delay_s=2),
        Fault.cancel_fails(count=2),
        Fault.duplicate_fill_events(),
    ],
    ids=[
        "fill during cancel",
        "fill after the cancel confirmation",
        "cancel fails, then works",
        "duplicate fill events",
    ],
)
async def test_cancel_races_end_whole(fault: Fault) -> None:
    a, b = _pair()
    a.faults.add(fault)

    async with a.events():
        result = await AtomicMultiOrderExecutor().execute_atomically(
            _specs(a, b, "limit_with_fallback", 3)
        )

    assert result.outcome is AtomicOutcome.FILLED
    await assert_invariants(result, a, b)


@pytest.mark.parametrize("on", ["place_limit_order", "place_market_order"])
async def test_accept_then_timeout_is_found_not_duplicated(on: str) -> None:
    a, b = _pair()
    a.faults.add(Fault.accept_then_timeout(on=on))

    result = await AtomicMultiOrderExecutor().execute_atomically(_specs(a, b, "market_only", 3))

    assert result.outcome is AtomicOutcome.FILLED
    assert len(a.core.orders) == 1
    await assert_invariants(result, a, b)


async def test_rollback_that_fails_once_is_retried() -> None:
    a, b = _pair()
    b.faults.add(Fault.reject(count=None))
    # the first rollback order on a is refused; the second goes through
    a.faults.add(Fault.reject(skip=1 + 0, count=1, on="place_limit_order"))

    result = await AtomicMultiOrderExecutor().execute_atomically(_specs(a, b))

    assert result.outcome is AtomicOutcome.ROLLED_BACK
    await assert_invariants(result, a, b)


async def _outage_when_rejected(
    venue: SimulatedExchange, duration_s: float, dark: SimulatedExchange | None = None
) -> None:
    """``dark`` (default: ``venue``) goes dark right after ``venue``'s first injected fault."""
    while not venue.faults.fired:  # noqa: ASYNC110 - the venue offers no event to wait on
        await asyncio.sleep(0)  # no time passes: act within the same instant
    (dark or venue).faults.add(Fault.outage(start_s=0, duration_s=duration_s))


async def test_outage_mid_hedge_that_ends_is_recovered_with_nothing_open() -> None:
    a, b = _pair()
    b.faults.add(Fault.reject(count=1))
    run = AtomicMultiOrderExecutor().execute_atomically(_specs(a, b))

    async with asyncio.TaskGroup() as group:
        task = group.create_task(run)
        group.create_task(_outage_when_rejected(b, 3))
    result = task.result()

    assert result.outcome in (AtomicOutcome.FILLED, AtomicOutcome.ROLLED_BACK)
    assert result.orders_left_open == ()
    await assert_invariants(result, a, b)


async def test_outage_mid_hedge_that_lasts_is_escalated_with_the_order_left_open() -> None:
    a, b = _pair()
    b.faults.add(Fault.reject(count=1))
    executor = AtomicMultiOrderExecutor()
    run = executor.execute_atomically(_specs(a, b))

    async def outage_once_the_hedge_rests() -> None:
        while not b.core.open_orders:  # noqa: ASYNC110 - the venue offers no event to wait on
            await asyncio.sleep(0)
        b.faults.add(Fault.outage(start_s=0, duration_s=100_000))

    async with asyncio.TaskGroup() as group:
        task = group.create_task(run)
        group.create_task(outage_once_the_hedge_rests())
    result = task.result()

    # a is flat again, but the hedge order on b could not be cancelled: never silent
    assert result.outcome is AtomicOutcome.RESIDUAL_EXPOSURE
    assert await _position(a) == 0
    assert [o.split(":")[0] for o in result.orders_left_open] == ["b"]
    assert executor.kill_switch_active


async def test_unremovable_exposure_is_reported_and_arms_the_kill_switch() -> None:
    a, b = _pair()
    b.faults.add(Fault.reject(count=None))
    executor = AtomicMultiOrderExecutor()
    run = executor.execute_atomically(_specs(a, b))

    async with asyncio.TaskGroup() as group:  # a goes dark once b has refused its leg
        task = group.create_task(run)
        group.create_task(_outage_when_rejected(b, 100_000, dark=a))
    result = task.result()

    assert result.outcome is AtomicOutcome.RESIDUAL_EXPOSURE
    assert result.residual_exposure == {("a", BTC): Q}
    assert executor.kill_switch_active
    refused = await executor.execute_atomically(_specs(a, b))
    assert refused.outcome is AtomicOutcome.ABORTED_PREFLIGHT
    assert "kill switch" in (refused.error_message or "")
    incident = next(i for i in executor.incidents if i.kind is IncidentKind.RESIDUAL)
    executor.resolve_incident(incident.incident_id, "closed by hand")
    assert not executor.kill_switch_active


async def test_caller_cancelled_mid_execution_leaves_nothing_naked() -> None:
    a, b = _pair()
    task = asyncio.create_task(
        AtomicMultiOrderExecutor().execute_atomically(_specs(a, b, "limit_only", 60))
    )
    await asyncio.sleep(1)
    a.trade_from_market(BTC, "sell", D("1.3"))  # a fills 0.3, b nothing
    await asyncio.sleep(1)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert not a.core.open_orders
    assert not b.core.open_orders
    assert await _position(a) + await _position(b) == 0  # balanced


async def test_caller_cancelled_mid_hedge_waits_for_the_hedge_to_finish() -> None:
    a, b = _pair()
    b.faults.add(Fault.reject(count=1))  # b refuses its entry: the hedge of b starts
    task = asyncio.create_task(AtomicMultiOrderExecutor().execute_atomically(_specs(a, b)))
    while not b.core.open_orders:  # noqa: ASYNC110 - the venue offers no event to wait on
        await asyncio.sleep(0)  # the hedge's first order now rests on b

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # the shielded reconciliation ran to its end before the cancellation went through
    assert not a.core.open_orders
    assert not b.core.open_orders
    assert await _position(a) == -(await _position(b))


async def test_three_legs_a_pair_and_a_lone_leg() -> None:
    a, b = _pair()
    c = static_venue(venue="c")
    c.set_book(BTC, **BOOK)
    eth = SimulatedExchange(venue="e", market="static")
    eth.set_book("ETH-PERP", bids=[("2999.99", "10")], asks=[("3000.00", "10")])

    result = await AtomicMultiOrderExecutor().execute_atomically(
        [*_specs(a, b), OrderSpec(eth, "ETH-PERP", "buy", quantity=D("1"))]
    )

    assert result.outcome is AtomicOutcome.FILLED
    assert await _position(eth, "ETH-PERP") == D("1")
    await assert_invariants(result, a, b)


async def test_closing_a_pair_after_one_leg_was_liquidated() -> None:
    a, b = _pair()
    await a.place_market_order(BTC, Q, "buy")  # b's short is gone already
    executor = AtomicMultiOrderExecutor()

    result = await executor.close_positions([(a, BTC), (b, BTC)])

    assert result.outcome is AtomicOutcome.FILLED
    assert await _position(a) == 0
    assert await _position(b) == 0


@pytest.mark.parametrize(
    ("book", "reason"),
    [
        ({"bids": [("49999.9", "0.1")], "asks": [("50000.0", "0.1")]}, "insufficient_depth"),
    ],
)
async def test_preflight_failure_sends_nothing(
    book: dict[str, list[tuple[str, str]]], reason: str
) -> None:
    a, b = _pair()
    b.set_book(BTC, **book)

    result = await AtomicMultiOrderExecutor().execute_atomically(_specs(a, b))

    assert result.outcome is AtomicOutcome.ABORTED_PREFLIGHT
    assert reason in (result.error_message or "")
    assert a.core.orders == {}
    assert b.core.orders == {}


async def test_not_enough_margin_aborts_before_sending() -> None:
    a = static_venue(venue="a", initial_balance=D("100"))
    b = static_venue(venue="b")
    for venue in (a, b):
        venue.set_book(BTC, **BOOK)

    result = await AtomicMultiOrderExecutor().execute_atomically(_specs(a, b))

    assert result.outcome is AtomicOutcome.ABORTED_PREFLIGHT
    assert "margin" in (result.error_message or "")
    assert a.core.orders == {}


@pytest.mark.parametrize(
    "orders",
    [
        [],
        "nope",
        [OrderSpec(None, BTC, "buy")],
        [OrderSpec(None, BTC, "long", D(1))],
        [OrderSpec(None, BTC, "buy", D(-1))],
    ],
)
async def test_malformed_orders_raise(orders: object) -> None:
    with pytest.raises(InvalidOrderError):
        await AtomicMultiOrderExecutor().execute_atomically(orders)  # type: ignore[arg-type]
