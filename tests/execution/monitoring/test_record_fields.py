"""The per-leg figures of a record, end to end: decision and limit prices, times, retries.

Venues answer after ``latency_s`` each way, on the fast-forwarded loop clock, so the times
are exact up to float rounding.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal as D
from pathlib import Path

import pytest

from fundarb.execution import (
    AtomicMultiOrderExecutor,
    AtomicOutcome,
    ExecutionRecord,
    ExecutionResult,
    ExecutionTracker,
    LegRecord,
    OrderExecutor,
    OrderSpec,
)
from fundarb.execution.core.leg import LegConfig
from fundarb.execution.core.order_executor import ExecutorConfig
from fundarb.venues.sim import Fault, SimulatedExchange
from tests.conftest import BOOK, BTC, static_venue
from tests.execution.thirdparty import LooseClient

LATENCY_S = 0.05
ROUND_TRIP_MS = 2 * LATENCY_S * 1000
# the book: bids 49999.9 / .8 / .7, asks 50000.0 / .1 / .2, 1 BTC a level
ASK, BID = D("50000.0"), D("49999.9")


def _venue(name: str = "static", latency_s: float = LATENCY_S) -> SimulatedExchange:
    venue = static_venue(venue=name, latency_s=latency_s)
    venue.set_book(BTC, **BOOK)
    return venue


def _leg(result: ExecutionResult) -> LegRecord:
    (leg,) = ExecutionRecord.from_result(result, strategy_name="s").legs
    return leg


async def _with_market(
    run: Awaitable[ExecutionResult], after_s: float, action: Callable[[], object]
) -> ExecutionResult:
    """Run an execution while the market does ``action`` ``after_s`` seconds in."""

    async def later() -> None:
        await asyncio.sleep(after_s)
        action()

    async with asyncio.TaskGroup() as group:
        task = group.create_task(run)
        group.create_task(later())
    return task.result()


# -- times ------------------------------------------------------------------------------------


async def test_market_order_is_acknowledged_and_filled_one_round_trip_after_its_send() -> None:
    venue = _venue()

    result = await OrderExecutor().execute_order(
        venue, BTC, "buy", quantity=D("1.5"), mode="market_only"
    )

    leg = _leg(result)
    assert result.filled
    assert leg.time_to_ack_ms == pytest.approx(ROUND_TRIP_MS, abs=1e-6)
    assert leg.time_to_fill_ms == pytest.approx(ROUND_TRIP_MS, abs=1e-6)
    assert leg.elapsed_ms is not None
    assert leg.elapsed_ms > leg.time_to_fill_ms  # the book and fills are read too
    assert result.time_to_ack_s == pytest.approx(2 * LATENCY_S, abs=1e-9)


@pytest.mark.parametrize("latency_s", [0.0, 0.01, 0.2])
async def test_time_to_ack_follows_the_venue_latency(latency_s: float) -> None:
    venue = _venue(latency_s=latency_s)

    result = await OrderExecutor().execute_order(
        venue, BTC, "sell", quantity=D("0.5"), mode="market_only"
    )

    leg = _leg(result)
    assert leg.time_to_ack_ms == pytest.approx(2 * latency_s * 1000, abs=1e-6)
    assert leg.time_to_fill_ms == pytest.approx(2 * latency_s * 1000, abs=1e-6)


async def _rest_a_limit_then_trade(
    venue: SimulatedExchange, sold: D, after_s: float
) -> ExecutionResult:
    """Rest a 1 BTC limit buy at the bid; the market sells ``sold`` into the bid
    ``after_s`` seconds after the order is sent (nothing stands between prepare and send,
    so the clock starts there)."""
    executor = OrderExecutor()
    prepared = await executor.prepare(
        venue, BTC, "buy", quantity=D("1"), mode="limit_only", timeout_seconds=10
    )
    assert not isinstance(prepared, ExecutionResult)
    return await _with_market(
        executor.run(prepared), after_s, lambda: venue.trade_from_market(BTC, "sell", sold)
    )


# a fill is seen by the first poll that reaches the venue after it: within one poll
# interval and one round trip
SEEN_WITHIN_MS = LegConfig().poll_interval_s * 1000 + ROUND_TRIP_MS


async def test_resting_limit_fills_after_its_acknowledgement() -> None:
    venue = _venue()

    # 1 BTC is queued ahead of us at the bid; 2 BTC sold fills both
    result = await _rest_a_limit_then_trade(venue, D("2"), after_s=2)

    leg = _leg(result)
    assert result.filled
    assert leg.limit_price == BID == result.limit_prices[0]
    assert leg.fill_price == BID
    assert leg.time_to_ack_ms == pytest.approx(ROUND_TRIP_MS, abs=1e-6)
    assert leg.time_to_fill_ms is not None
    assert leg.time_to_fill_ms > leg.time_to_ack_ms
    assert 2000 <= leg.time_to_fill_ms <= 2000 + SEEN_WITHIN_MS


async def test_a_partial_fill_is_timed_to_its_last_fill_not_to_the_timeout() -> None:
    venue = _venue()

    result = await _rest_a_limit_then_trade(venue, D("1.4"), after_s=3)

    leg = _leg(result)
    assert leg.filled_quantity == D("0.4")
    assert leg.time_to_fill_ms is not None
    assert 3000 <= leg.time_to_fill_ms <= 3000 + SEEN_WITHIN_MS
    assert leg.elapsed_ms is not None
    assert leg.elapsed_ms > 10_000  # it waited out its timeout


async def test_nothing_filled_has_an_ack_time_and_no_fill_time() -> None:
    venue = _venue()

    result = await OrderExecutor().execute_order(
        venue, BTC, "buy", quantity=D("0.5"), mode="limit_only", timeout_seconds=2
    )

    leg = _leg(result)
    assert leg.filled_quantity == 0
    assert leg.time_to_ack_ms == pytest.approx(ROUND_TRIP_MS, abs=1e-6)
    assert leg.time_to_fill_ms is None


async def test_nothing_sent_has_no_times_and_no_prices() -> None:
    venue = _venue()
    venue.set_book(BTC, bids=[], asks=[])

    result = await OrderExecutor().execute_order(
        venue, BTC, "buy", quantity=D("0.5"), mode="market_only"
    )

    leg = _leg(result)
    assert result.client_order_ids == ()
    assert (leg.decision_price, leg.limit_price) == (None, None)
    assert (leg.time_to_ack_ms, leg.time_to_fill_ms, leg.retries) == (None, None, 0)


# -- prices -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("side", "touch"), [("buy", ASK), ("sell", BID)])
async def test_decision_price_is_the_touch_the_leg_was_sized_at(side: str, touch: D) -> None:
    venue = _venue()

    result = await OrderExecutor().execute_order(venue, BTC, side, D("999"), "market_only")

    leg = _leg(result)
    assert leg.decision_price == result.decision_price == touch
    assert leg.quantity == (D("999") / touch).quantize(D("0.001"), rounding="ROUND_DOWN")
    assert leg.arrival_mid == (ASK + BID) / 2


async def test_market_only_limit_price_is_its_price_bound() -> None:
    venue = _venue()
    executor = OrderExecutor(ExecutorConfig(max_slippage_pct=D("0.005")))

    result = await executor.execute_order(venue, BTC, "buy", quantity=D("0.5"), mode="market_only")

    assert _leg(result).limit_price == ASK * D("1.005")  # an IOC 0.5 % past the ask


async def test_every_order_sent_has_its_limit_price_in_the_result() -> None:
    venue = _venue()
    run = OrderExecutor().execute_order(venue, BTC, "buy", quantity=D("1"), timeout_seconds=10)

    # 0.3 of ours fills at the bid; the fallback takes the rest within its price bound
    result = await _with_market(run, 2, lambda: venue.trade_from_market(BTC, "sell", D("1.3")))

    assert result.fallback_used
    assert result.limit_prices == (BID, ASK * D("1.005"))
    leg = _leg(result)
    assert (leg.limit_price, leg.retries) == (BID, 1)
    assert leg.time_to_ack_ms == pytest.approx(ROUND_TRIP_MS, abs=1e-6)  # the limit's
    assert leg.time_to_fill_ms is not None
    assert leg.time_to_fill_ms > 10_000  # the fallback filled after the limit's timeout


# -- maker and taker --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "sold", "taker", "maker"),
    [
        (D("1"), D(0), D("1"), D(0)),  # the cross rung takes it all on arrival
        (D("2"), D("1"), D("1"), D("1")),  # takes the 1 BTC ask, rests, is hit
    ],
)
async def test_without_fill_records_a_limit_that_crosses_is_taker_on_arrival(
    quantity: D, sold: D, taker: D, maker: D
) -> None:
    venue = _venue(latency_s=0)
    # lists no fills (the split comes from the orders' answers) and no spec (lot of 1)
    client = LooseClient(venue)
    run = OrderExecutor().execute_order(
        client, BTC, "buy", quantity=quantity, mode="aggressive_limit", timeout_seconds=4
    )

    # 1 s slices: join the bid (nothing trades), no inside (one-tick spread), cross
    result = await _with_market(
        run, 1.5, lambda: sold and venue.trade_from_market(BTC, "sell", sold)
    )

    assert result.filled
    assert result.fees_estimated
    assert result.limit_prices == (BID, ASK)
    leg = _leg(result)
    assert (leg.taker_quantity, leg.maker_quantity) == (taker, maker)


# -- retries ----------------------------------------------------------------------------------


async def test_a_send_retried_under_the_same_client_order_id_counts_as_a_retry() -> None:
    venue = _venue()
    venue.faults.add(Fault.rate_limit(on="place_limit_order", retry_after_s=0.5))

    result = await OrderExecutor().execute_order(
        venue, BTC, "buy", quantity=D("0.5"), mode="market_only"
    )

    leg = _leg(result)
    assert result.filled
    assert len(result.client_order_ids) == 1
    assert result.send_retries == 1
    assert leg.retries == 1
    # refused on arrival (one way), 0.5 s back-off, then one round trip
    assert leg.time_to_ack_ms == pytest.approx((LATENCY_S + 0.5 + 2 * LATENCY_S) * 1000, abs=1e-6)


async def test_a_post_only_re_price_counts_as_a_retry() -> None:
    venue = _venue()
    await venue.get_order_book_depth(BTC)  # the book we will be served again, stale
    venue.set_book(BTC, bids=[("49999.7", "1")], asks=[("49999.9", "1"), ("50000.0", "1")])
    venue.faults.add(Fault.stale_book(count=1))
    run = OrderExecutor().execute_order(
        venue, BTC, "buy", quantity=D("1"), mode="post_only", timeout_seconds=10
    )

    result = await _with_market(run, 2, lambda: venue.trade_from_market(BTC, "sell", D("3")))

    leg = _leg(result)
    assert len(result.client_order_ids) == 2  # refused once (would cross), then rested
    assert leg.retries >= 1
    assert leg.limit_price == BID  # the first price sent, from the stale book
    assert result.limit_prices == (BID, D("49999.6"))
    assert leg.time_to_ack_ms is not None  # the second order's acceptance
    assert leg.time_to_ack_ms > ROUND_TRIP_MS


# -- records from the executors ---------------------------------------------------------------


async def test_atomic_record_carries_each_legs_prices_and_times() -> None:
    a, b = _venue("a", latency_s=0.05), _venue("b", latency_s=0.02)

    result = await AtomicMultiOrderExecutor().execute_atomically(
        [
            OrderSpec(a, BTC, "buy", None, "market_only", quantity=D("0.5")),
            OrderSpec(b, BTC, "sell", None, "market_only", quantity=D("0.5")),
        ]
    )
    assert result.outcome is AtomicOutcome.FILLED

    record = ExecutionRecord.from_atomic(result, strategy_name="funding_arb")

    buy, sell = record.legs
    assert (buy.decision_price, sell.decision_price) == (ASK, BID)
    assert (buy.limit_price, sell.limit_price) == (D("50250.0"), D("49750.0"))
    assert buy.time_to_ack_ms == pytest.approx(100, abs=1e-6)
    assert sell.time_to_ack_ms == pytest.approx(40, abs=1e-6)
    assert (buy.time_to_fill_ms, sell.time_to_fill_ms) == (
        buy.time_to_ack_ms,
        sell.time_to_ack_ms,
    )
    assert (buy.retries, sell.retries) == (0, 0)


async def test_tracked_record_keeps_the_figures_through_the_spool(tmp_path: Path) -> None:
    tracker = ExecutionTracker(spool_path=tmp_path / "spool.jsonl")
    executor = OrderExecutor(tracker=tracker, strategy_name="unit")

    await executor.execute_order(_venue(), BTC, "buy", quantity=D("0.5"), mode="market_only")

    (record,) = tracker.records()
    (leg,) = record.legs
    assert leg.decision_price == ASK
    assert leg.time_to_ack_ms == pytest.approx(ROUND_TRIP_MS, abs=1e-6)
    assert ExecutionRecord.from_dict(record.to_dict()) == record
