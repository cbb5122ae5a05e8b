"""Each injected fault does what the table in ``fundarb.venues.sim.faults`` says.

Every venue here is static and starts from ``BOOK`` (1 BTC a level, touch 49999.9/50000.0);
time is the fast-forwarded loop's, so timeouts and delays are asserted in loop seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from fundarb.errors import (
    ErrorClass,
    RateLimitedError,
    RequestTimeoutError,
    VenueUnavailableError,
    classify_error,
)
from fundarb.venues import Fill, Liquidity, OrderStatus, OrderUpdate, RejectReason, VenueEvent
from fundarb.venues.sim import Fault, FaultKind, SimulatedExchange
from tests.conftest import BOOK, BTC, static_venue

PASSIVE_BID = Decimal("49990.0")  # below the touch: rests without trading


def _venue(**overrides: object) -> SimulatedExchange:
    venue = static_venue(**overrides)
    venue.set_book(BTC, **BOOK)
    return venue


async def _place_passive(
    venue: SimulatedExchange, quantity: str = "0.5", client_order_id: str | None = None
) -> str:
    opts = {"client_order_id": client_order_id} if client_order_id else {}
    result = await venue.place_limit_order(BTC, Decimal(quantity), PASSIVE_BID, "buy", **opts)
    assert result.success
    assert result.order_id is not None
    return result.order_id


async def _drain(stream: AsyncIterator[VenueEvent]) -> list[VenueEvent]:
    """Every event already delivered to ``stream`` (waits a millisecond of loop time)."""
    events: list[VenueEvent] = []
    while True:
        try:
            async with asyncio.timeout(0.001):
                events.append(await anext(stream))
        except TimeoutError:
            return events


def _elapsed_since(start: float) -> float:
    return asyncio.get_running_loop().time() - start


# -- REJECT ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["limit", "market"])
async def test_reject_refuses_the_order_and_nothing_exists(kind: str) -> None:
    venue = _venue()
    venue.faults.add(Fault.reject())

    if kind == "limit":
        result = await venue.place_limit_order(
            BTC, Decimal("0.1"), PASSIVE_BID, "buy", client_order_id="rej-1"
        )
    else:
        result = await venue.place_market_order(BTC, Decimal("0.1"), "buy", client_order_id="rej-1")

    assert result.success is False
    assert result.reject_reason is RejectReason.VENUE_REJECT
    assert result.status == OrderStatus.REJECTED
    assert result.order_id is None
    assert result.client_order_id == "rej-1"
    assert venue.core.orders == {}
    assert await venue.get_order_by_client_id("rej-1") is None
    assert await venue.get_positions() == []
    assert venue.faults.fired[0][2] is FaultKind.REJECT


@pytest.mark.parametrize(
    ("skip", "count", "accepted"),
    [
        (0, 1, [False, True, True, True, True]),
        (1, 1, [True, False, True, True, True]),
        (1, 2, [True, False, False, True, True]),
        (2, None, [True, True, False, False, False]),
        (0, None, [False, False, False, False, False]),
    ],
)
async def test_reject_honours_skip_and_count(
    skip: int, count: int | None, accepted: list[bool]
) -> None:
    venue = _venue()
    venue.faults.add(Fault.reject(skip=skip, count=count))

    results = [
        await venue.place_limit_order(BTC, Decimal("0.01"), PASSIVE_BID, "buy") for _ in accepted
    ]

    assert [r.success for r in results] == accepted
    assert len(venue.core.orders) == sum(accepted)


async def test_reject_only_hits_the_calls_it_names() -> None:
    venue = _venue()
    venue.faults.add(Fault.reject(on="place_market_order", count=None))

    limit = await venue.place_limit_order(BTC, Decimal("0.01"), PASSIVE_BID, "buy")
    market = await venue.place_market_order(BTC, Decimal("0.01"), "buy")

    assert limit.success is True
    assert market.success is False
    assert market.reject_reason is RejectReason.VENUE_REJECT


# -- PARTIAL_FILL -------------------------------------------------------------------------------


async def test_partial_fill_of_a_passive_limit_fills_the_fraction_as_maker_and_rests_the_rest() -> (
    None
):
    venue = _venue()
    venue.faults.add(Fault.partial_fill(Decimal("0.4")))

    result = await venue.place_limit_order(BTC, Decimal("1"), PASSIVE_BID, "buy")

    assert result.success is True
    assert result.status == OrderStatus.PARTIALLY_FILLED
    assert result.filled_size == Decimal("0.4")
    [fill] = await venue.get_fills()
    assert (fill.price, fill.quantity, fill.liquidity) == (
        PASSIVE_BID,
        Decimal("0.4"),
        Liquidity.MAKER,
    )
    assert fill.fee == Decimal("3.9992")  # 49990.0 x 0.4 x 0.0002 maker
    [resting] = await venue.get_open_orders(BTC)
    assert resting.order_id == result.order_id
    assert resting.remaining_size == Decimal("0.6")
    book = await venue.get_order_book_depth(BTC, 10)
    assert {"price": PASSIVE_BID, "size": Decimal("0.6")} in book["bids"]
    position = await venue.get_position(BTC)
    assert position is not None
    assert position.quantity == Decimal("0.4")


async def test_partial_fill_of_a_market_order_fills_the_fraction_and_expires_the_rest() -> None:
    venue = _venue()
    venue.faults.add(Fault.partial_fill(Decimal("0.5")))

    result = await venue.place_market_order(BTC, Decimal("1"), "buy")

    assert result.success is True
    assert result.status == OrderStatus.EXPIRED
    assert result.filled_size == Decimal("0.5")
    [fill] = await venue.get_fills()
    assert (fill.price, fill.quantity, fill.liquidity) == (
        Decimal("50000.0"),
        Decimal("0.5"),
        Liquidity.TAKER,
    )
    assert await venue.get_open_orders() == []
    book = await venue.get_order_book_depth(BTC, 3)
    assert book["asks"][0] == {"price": Decimal("50000.0"), "size": Decimal("0.5")}
    position = await venue.get_position(BTC)
    assert position is not None
    assert position.quantity == Decimal("0.5")


# -- ACCEPT_THEN_TIMEOUT ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "open_after"),
    [("limit", OrderStatus.NEW, True), ("market", OrderStatus.FILLED, False)],
)
async def test_accept_then_timeout_raises_ambiguous_yet_the_order_took_effect(
    kind: str, status: OrderStatus, open_after: bool
) -> None:
    venue = _venue()
    venue.faults.add(Fault.accept_then_timeout())
    start = asyncio.get_running_loop().time()

    place = (
        venue.place_limit_order(BTC, Decimal("0.5"), PASSIVE_BID, "buy", client_order_id="att-1")
        if kind == "limit"
        else venue.place_market_order(BTC, Decimal("0.5"), "buy", client_order_id="att-1")
    )

    with pytest.raises(RequestTimeoutError) as caught:
        await place

    assert _elapsed_since(start) == pytest.approx(venue.config.timeout_s)
    assert classify_error(caught.value) is ErrorClass.AMBIGUOUS
    assert (caught.value.venue, caught.value.symbol, caught.value.client_order_id) == (
        "static",
        BTC,
        "att-1",
    )
    info = await venue.get_order_by_client_id("att-1")
    assert info is not None
    assert info.status == status
    open_ids = [o.client_order_id for o in await venue.get_open_orders(BTC)]
    assert open_ids == (["att-1"] if open_after else [])
    expected_position = Decimal(0) if open_after else Decimal("0.5")
    position = await venue.get_position(BTC)
    assert (position.quantity if position else Decimal(0)) == expected_position


async def test_accept_then_timeout_waits_its_own_delay() -> None:
    venue = _venue()
    venue.faults.add(Fault.accept_then_timeout(delay_s=2.5))
    start = asyncio.get_running_loop().time()

    with pytest.raises(RequestTimeoutError):
        await venue.place_limit_order(BTC, Decimal("0.5"), PASSIVE_BID, "buy")

    assert _elapsed_since(start) == pytest.approx(2.5)
    assert len(await venue.get_open_orders()) == 1


# -- DROP_REQUEST -------------------------------------------------------------------------------


async def test_drop_request_times_out_and_no_order_exists_so_resending_is_safe() -> None:
    venue = _venue()
    venue.faults.add(Fault.drop_request())
    start = asyncio.get_running_loop().time()

    with pytest.raises(RequestTimeoutError) as caught:
        await venue.place_limit_order(
            BTC, Decimal("0.5"), PASSIVE_BID, "buy", client_order_id="drop-1"
        )
    elapsed = _elapsed_since(start)
    missing = await venue.get_order_by_client_id("drop-1")
    resent = await venue.place_limit_order(
        BTC, Decimal("0.5"), PASSIVE_BID, "buy", client_order_id="drop-1"
    )

    assert elapsed == pytest.approx(venue.config.timeout_s)
    assert classify_error(caught.value) is ErrorClass.AMBIGUOUS
    assert caught.value.client_order_id == "drop-1"
    assert missing is None
    assert resent.success is True
    assert resent.status == OrderStatus.NEW
    assert [o.client_order_id for o in venue.core.orders.values()] == ["drop-1"]


# -- cancels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status_after"),
    [
        (Fault.accept_then_timeout(on="cancel_order"), OrderStatus.CANCELED),
        (Fault.drop_request(on="cancel_order"), OrderStatus.NEW),
    ],
    ids=["accepted", "dropped"],
)
async def test_a_cancel_that_times_out_is_ambiguous_and_names_the_order(
    fault: Fault, status_after: OrderStatus
) -> None:
    venue = _venue()
    order_id = await _place_passive(venue, client_order_id="c-1")
    venue.faults.add(fault)

    with pytest.raises(RequestTimeoutError) as caught:
        await venue.cancel_order(order_id)
    info = await venue.get_order_info(order_id)

    assert classify_error(caught.value) is ErrorClass.AMBIGUOUS
    assert (caught.value.venue, caught.value.symbol, caught.value.client_order_id) == (
        "static",
        BTC,
        "c-1",
    )
    assert info is not None
    assert info.status == status_after


async def test_cancel_loses_race_the_order_filled_first() -> None:
    venue = _venue()
    order_id = await _place_passive(venue, "0.5")
    venue.faults.add(Fault.cancel_loses_race())

    result = await venue.cancel_order(order_id)

    assert result.success is False
    assert result.reject_reason is RejectReason.ALREADY_FINAL
    assert result.status == OrderStatus.FILLED
    assert result.filled_size == Decimal("0.5")
    info = await venue.get_order_info(order_id)
    assert info is not None
    assert info.status == OrderStatus.FILLED
    assert await venue.get_open_orders() == []
    position = await venue.get_position(BTC)
    assert position is not None
    assert position.quantity == Decimal("0.5")
    [fill] = await venue.get_fills()
    assert (fill.price, fill.liquidity) == (PASSIVE_BID, Liquidity.MAKER)


async def test_fill_after_cancel_is_reported_late_but_counted_at_once() -> None:
    venue = _venue()
    order_id = await _place_passive(venue, "1")
    venue.faults.add(Fault.fill_after_cancel(Decimal("0.3"), delay_s=2.0))

    async with venue.events() as stream:
        result = await venue.cancel_order(order_id)
        position_at_cancel = await venue.get_position(BTC)
        fills_at_cancel = await venue.get_fills()
        await asyncio.sleep(1.9)
        before_delay = await venue.get_order_info(order_id)
        await asyncio.sleep(0.2)
        after_delay = await venue.get_order_info(order_id)
        fills_after = await venue.get_fills()
        events = await _drain(stream)

    assert result.success is True
    assert result.status == OrderStatus.CANCELED
    assert result.filled_size == Decimal(0)  # the stale figure
    assert position_at_cancel is not None
    assert position_at_cancel.quantity == Decimal("0.3")
    assert fills_at_cancel == []
    assert before_delay is not None
    assert before_delay.filled_size == Decimal(0)
    assert after_delay is not None
    assert (after_delay.status, after_delay.filled_size) == (OrderStatus.CANCELED, Decimal("0.3"))
    assert [f.quantity for f in fills_after] == [Decimal("0.3")]
    # the cancel's update first, then the late fill, then the corrected update
    assert [type(e) for e in events] == [OrderUpdate, Fill, OrderUpdate]
    first, late_fill, corrected = events
    assert isinstance(first, OrderUpdate)
    assert isinstance(corrected, OrderUpdate)
    assert (first.info.status, first.info.filled_size) == (OrderStatus.CANCELED, Decimal(0))
    assert isinstance(late_fill, Fill)
    assert (late_fill.order_id, late_fill.quantity, late_fill.price) == (
        order_id,
        Decimal("0.3"),
        PASSIVE_BID,
    )
    assert corrected.info.filled_size == Decimal("0.3")


async def test_cancel_fails_and_the_order_stays_open() -> None:
    venue = _venue()
    order_id = await _place_passive(venue)
    venue.faults.add(Fault.cancel_fails())

    refused = await venue.cancel_order(order_id)
    still_open = await venue.get_open_orders(BTC)
    retried = await venue.cancel_order(order_id)

    assert refused.success is False
    assert refused.reject_reason is RejectReason.CANCEL_REJECTED
    assert refused.status == OrderStatus.NEW
    assert [o.order_id for o in still_open] == [order_id]
    assert retried.success is True
    assert retried.status == OrderStatus.CANCELED


# -- books --------------------------------------------------------------------------------------


async def _depth(venue: SimulatedExchange) -> dict[str, Any]:
    return await venue.get_order_book_depth(BTC, 5)


async def _bbo(venue: SimulatedExchange) -> tuple[Decimal, Decimal]:
    return await venue.fetch_bbo_prices(BTC)


async def test_stale_book_serves_the_previous_book_with_its_old_timestamp() -> None:
    venue = _venue()
    served = await _depth(venue)
    await asyncio.sleep(30)
    venue.trade_from_market(BTC, "buy", Decimal("1"))  # the 50000.0 ask is gone
    venue.faults.add(Fault.stale_book(count=2))

    stale = await _depth(venue)
    stale_bbo = await _bbo(venue)
    fresh = await _depth(venue)

    assert stale == served
    assert stale_bbo == (Decimal("49999.9"), Decimal("50000.0"))
    assert fresh["asks"][0]["price"] == Decimal("50000.1")
    assert fresh["timestamp"] == served["timestamp"] + 30_000


async def test_stale_book_is_not_changed_by_what_a_caller_did_to_its_copy() -> None:
    venue = _venue()
    served = await _depth(venue)
    expected = {**served, "bids": [dict(level) for level in served["bids"]]}
    served["bids"][0]["size"] = Decimal(99)
    served["bids"].clear()
    venue.faults.add(Fault.stale_book())

    stale = await _depth(venue)

    assert stale["bids"] == expected["bids"]


async def test_stale_book_before_any_book_was_served_is_a_minute_old() -> None:
    venue = _venue()
    venue.faults.add(Fault.stale_book())

    stale = await _depth(venue)
    fresh = await _depth(venue)

    assert stale["timestamp"] == fresh["timestamp"] - 60_000
    assert stale["bids"] == fresh["bids"]


def _top(answer: Any) -> object:
    """A book answer without its timestamp, so two answers compare by content."""
    if isinstance(answer, dict):
        return {k: v for k, v in answer.items() if k != "timestamp"}
    return answer


@pytest.mark.parametrize(
    ("call", "empty", "normal"),
    [
        (
            _depth,
            {"symbol": BTC, "bids": [], "asks": []},
            {
                "symbol": BTC,
                "bids": [{"price": Decimal(p), "size": Decimal(1)} for p, _ in BOOK["bids"]],
                "asks": [{"price": Decimal(p), "size": Decimal(1)} for p, _ in BOOK["asks"]],
            },
        ),
        (_bbo, (Decimal(0), Decimal(0)), (Decimal("49999.9"), Decimal("50000.0"))),
    ],
    ids=["depth", "bbo"],
)
async def test_empty_book_answers_empty_once(
    call: Callable[[SimulatedExchange], Awaitable[Any]], empty: object, normal: object
) -> None:
    venue = _venue()
    venue.faults.add(Fault.empty_book())

    answer = await call(venue)
    after = await call(venue)

    assert _top(answer) == empty
    assert _top(after) == normal


# -- gates: outage, rate limit, slow ------------------------------------------------------------


async def test_outage_window_refuses_calls_inside_it_only() -> None:
    venue = _venue()
    venue.faults.add(Fault.outage(start_s=10, duration_s=5))

    before = await venue.fetch_bbo_prices(BTC)
    await asyncio.sleep(10)
    with pytest.raises(VenueUnavailableError) as caught:
        await venue.place_limit_order(
            BTC, Decimal("0.5"), PASSIVE_BID, "buy", client_order_id="out-1"
        )
    await asyncio.sleep(2)
    with pytest.raises(VenueUnavailableError):
        await venue.get_balance()
    orders_in_window = dict(venue.core.orders)
    await asyncio.sleep(3)
    after = await venue.place_limit_order(
        BTC, Decimal("0.5"), PASSIVE_BID, "buy", client_order_id="out-1"
    )

    assert before == (Decimal("49999.9"), Decimal("50000.0"))
    assert classify_error(caught.value) is ErrorClass.RETRYABLE
    assert caught.value.venue == "static"
    assert orders_in_window == {}
    assert after.success is True


async def test_rate_limit_refuses_with_retry_after_and_then_lets_calls_through() -> None:
    venue = _venue()
    venue.faults.add(Fault.rate_limit(retry_after_s=2.5))

    with pytest.raises(RateLimitedError) as caught:
        await venue.place_market_order(BTC, Decimal("0.1"), "buy")
    orders = dict(venue.core.orders)
    retried = await venue.place_market_order(BTC, Decimal("0.1"), "buy")

    assert caught.value.retry_after_s == 2.5
    assert classify_error(caught.value) is ErrorClass.RETRYABLE
    assert orders == {}
    assert retried.success is True


async def _limit(venue: SimulatedExchange) -> object:
    return await venue.place_limit_order(BTC, Decimal("0.1"), PASSIVE_BID, "buy")


async def _balance(venue: SimulatedExchange) -> object:
    return await venue.get_balance()


@pytest.mark.parametrize("call", [_limit, _balance, _bbo], ids=["place", "balance", "bbo"])
async def test_slow_answer_takes_delay_longer(
    call: Callable[[SimulatedExchange], Awaitable[object]],
) -> None:
    venue = _venue(latency_s=0.05)
    venue.faults.add(Fault.slow(delay_s=3.0))
    loop = asyncio.get_running_loop()

    start = loop.time()
    await call(venue)
    slow = loop.time() - start
    start = loop.time()
    await call(venue)
    normal = loop.time() - start

    assert slow == pytest.approx(3.1)
    assert normal == pytest.approx(0.1)


# -- event stream -------------------------------------------------------------------------------


async def test_duplicate_fill_events_publish_every_fill_twice() -> None:
    venue = _venue()
    venue.faults.add(Fault.duplicate_fill_events())

    async with venue.events() as stream:
        await venue.place_market_order(BTC, Decimal("1.5"), "buy")  # two levels: two fills
        events = await _drain(stream)

    fills = [e for e in events if isinstance(e, Fill)]
    recorded = await venue.get_fills()
    assert len(recorded) == 2
    assert [f.trade_id for f in fills] == [
        recorded[0].trade_id,
        recorded[0].trade_id,
        recorded[1].trade_id,
        recorded[1].trade_id,
    ]
    assert fills[0] == fills[1]


# -- latency ------------------------------------------------------------------------------------


async def _durations(venue: SimulatedExchange, calls: int) -> list[float]:
    loop = asyncio.get_running_loop()
    durations = []
    for _ in range(calls):
        start = loop.time()
        await venue.fetch_bbo_prices(BTC)
        durations.append(loop.time() - start)
    return durations


async def test_a_call_takes_twice_the_one_way_latency() -> None:
    venue = _venue(latency_s=0.25)

    durations = await _durations(venue, 3)

    assert durations == pytest.approx([0.5, 0.5, 0.5])


async def test_latency_jitter_is_deterministic_for_a_seed() -> None:
    config = {"latency_s": 0.01, "latency_jitter_s": 0.02}
    first = await _durations(_venue(seed=7, **config), 8)
    again = await _durations(_venue(seed=7, **config), 8)
    other = await _durations(_venue(seed=8, **config), 8)

    assert first == pytest.approx(again, abs=2e-6)  # the loop clock's resolution is 1 µs
    assert first != pytest.approx(other, abs=2e-6)
    assert all(0.02 - 2e-6 <= d <= 0.06 + 2e-6 for d in first)
    assert len(set(first)) > 1
