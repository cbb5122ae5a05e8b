"""OrderExecutor against the simulated venue, with faults injected: every mode, every trap."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal as D
from typing import Any

import pytest

from fundarb.errors import InvalidOrderError
from fundarb.execution.core.leg import LegConfig
from fundarb.execution.core.order_executor import (
    ExecutionMode,
    ExecutionResult,
    ExecutorConfig,
    OrderExecutor,
)
from fundarb.venues.sim import Fault, SimulatedExchange
from tests.conftest import BOOK, BTC, static_venue

MAKER, TAKER = D("0.0002"), D("0.0005")
# 1 BTC a level: bids 49999.9 / .8 / .7, asks 50000.0 / .1 / .2


def _venue(**overrides: object) -> SimulatedExchange:
    venue = static_venue(**overrides)
    venue.set_book(BTC, **BOOK)
    return venue


def _executor(**overrides: Any) -> OrderExecutor:
    return OrderExecutor(ExecutorConfig(**overrides))


async def _position(venue: SimulatedExchange) -> D:
    position = await venue.get_position(BTC)
    return position.quantity if position is not None else D(0)


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


# -- MARKET_ONLY -----------------------------------------------------------------------------


async def test_market_only_fills_at_the_book_vwap_with_exact_taker_fees() -> None:
    venue = _venue()

    result = await OrderExecutor().execute_order(
        exchange_client=venue,
        symbol=BTC,
        side="buy",
        quantity=D("1.5"),
        mode=ExecutionMode.MARKET_ONLY,
    )

    assert result.filled
    assert result.filled_quantity == D("1.5")
    assert result.fill_price == (D("50000.0") + D("50000.1") / 2) / D("1.5")
    assert result.fees == (D("50000.0") + D("50000.1") / 2) * TAKER
    assert not result.fees_estimated
    assert result.taker_quantity == D("1.5")
    assert result.execution_mode_used is ExecutionMode.MARKET_ONLY
    assert result.slippage_pct is not None
    assert result.slippage_pct > 0  # buying above the mid is a cost
    assert await _position(venue) == D("1.5")


async def test_market_only_price_protection_stops_at_the_bound() -> None:
    venue = _venue()
    venue.set_book(BTC, bids=[("49999.9", "1")], asks=[("50000.0", "1"), ("50400.0", "5")])

    result = await _executor(max_slippage_pct=D("0.005")).execute_order(
        venue, BTC, "buy", quantity=D("2"), mode="market_only"
    )

    assert result.filled_quantity == D("1")  # 50400 is beyond 50000 x 1.005 = 50250
    assert not result.filled
    assert result.error_message is not None
    assert "price protection" in result.error_message
    assert await venue.get_open_orders() == []


async def test_size_in_usd_is_rounded_down_to_the_lot() -> None:
    venue = _venue()

    result = await OrderExecutor().execute_order(venue, BTC, "buy", D("999"), "market_only")

    assert result.target_quantity == D("0.019")  # 999 / 50000.0 = 0.01998 BTC
    assert result.filled_quantity == result.target_quantity


# -- LIMIT_ONLY and LIMIT_WITH_FALLBACK ---------------------------------------------------------


async def test_limit_only_reports_what_filled_and_leaves_nothing_open() -> None:
    venue = _venue()
    run = OrderExecutor().execute_order(
        venue, BTC, "buy", quantity=D("1"), mode="limit_only", timeout_seconds=10
    )

    # the market sells 1.4 BTC into the bid: 1 BTC queued ahead of us, then 0.4 of ours
    result = await _with_market(run, 2, lambda: venue.trade_from_market(BTC, "sell", D("1.4")))

    assert result.filled_quantity == D("0.4")
    assert not result.filled
    assert result.maker_quantity == D("0.4")
    assert result.fees == D("49999.9") * D("0.4") * MAKER
    assert await venue.get_open_orders() == []
    assert await _position(venue) == D("0.4")


async def test_fallback_sends_only_the_remainder_after_a_partial_fill() -> None:
    venue = _venue()
    run = OrderExecutor().execute_order(venue, BTC, "buy", quantity=D("1"), timeout_seconds=10)

    result = await _with_market(run, 2, lambda: venue.trade_from_market(BTC, "sell", D("1.3")))

    assert result.filled
    assert result.fallback_used
    assert result.filled_quantity == D("1")
    assert result.maker_quantity == D("0.3")
    assert result.taker_quantity == D("0.7")
    assert len(result.order_ids) == 2
    assert await _position(venue) == D("1")  # never more than the target


async def test_fill_during_the_cancel_needs_no_fallback() -> None:
    venue = _venue()
    venue.faults.add(Fault.cancel_loses_race())

    result = await OrderExecutor().execute_order(
        venue, BTC, "buy", quantity=D("1"), timeout_seconds=5
    )

    assert result.filled
    assert not result.fallback_used
    assert len(result.order_ids) == 1
    assert await _position(venue) == D("1")


async def test_fill_reported_after_the_cancel_is_counted_before_the_fallback() -> None:
    venue = _venue()
    # the cancel lands after 0.5 BTC more filled; the venue reports it 3 s later
    venue.faults.add(Fault.fill_after_cancel(D("0.5"), delay_s=3))

    result = await OrderExecutor().execute_order(
        venue, BTC, "buy", quantity=D("1"), timeout_seconds=5
    )

    assert result.filled_quantity == D("1")
    assert await _position(venue) == D("1")  # the fallback bought 0.5, not 1
    fallback = await venue.get_order_info(result.order_ids[-1])
    assert fallback is not None
    assert fallback.size == D("0.500")


async def test_accept_then_timeout_is_resolved_not_resent() -> None:
    venue = _venue()
    venue.faults.add(Fault.accept_then_timeout(on="place_limit_order"))
    run = OrderExecutor().execute_order(venue, BTC, "buy", quantity=D("1"), timeout_seconds=30)

    result = await _with_market(run, 15, lambda: venue.trade_from_market(BTC, "sell", D("2")))

    assert result.filled
    assert not result.unresolved_orders
    assert len(venue.core.orders) == 1  # the live order was found by its client id
    assert await _position(venue) == D("1")


async def test_dropped_request_is_found_missing_and_nothing_is_duplicated() -> None:
    venue = _venue()
    venue.faults.add(Fault.drop_request(on="place_limit_order"))

    result = await OrderExecutor().execute_order(
        venue, BTC, "buy", quantity=D("1"), timeout_seconds=5
    )

    assert result.filled  # the limit never existed; the fallback bought it all
    assert len(venue.core.orders) == 1
    assert await _position(venue) == D("1")


async def test_outage_is_retried_with_the_same_client_order_id() -> None:
    venue = _venue()
    venue.faults.add(Fault.outage(start_s=0, duration_s=0.3))
    executor = _executor(leg=LegConfig(send_attempts=3, retry_backoff_s=0.25))

    result = await executor.execute_order(venue, BTC, "sell", quantity=D("1"), mode="market_only")

    assert result.filled
    assert len(venue.core.orders) == 1
    assert len(result.client_order_ids) == 1


async def test_outage_longer_than_the_retries_sends_nothing() -> None:
    venue = _venue()
    venue.faults.add(Fault.outage(start_s=0, duration_s=60))

    result = await OrderExecutor().execute_order(
        venue, BTC, "sell", quantity=D("1"), mode="market_only"
    )

    assert not result.filled
    assert result.filled_quantity == 0
    assert result.error_message is not None
    assert venue.core.orders == {}


async def test_duplicate_fill_events_change_nothing() -> None:
    venue = _venue()
    venue.faults.add(Fault.duplicate_fill_events())
    async with venue.events():
        result = await OrderExecutor().execute_order(
            venue, BTC, "buy", quantity=D("1.5"), mode="market_only"
        )

    assert result.filled_quantity == D("1.5")
    assert result.fees == (D("50000.0") + D("50000.1") / 2) * TAKER


# -- POST_ONLY and AGGRESSIVE_LIMIT -------------------------------------------------------------


async def test_post_only_rests_at_the_touch_and_never_takes() -> None:
    venue = _venue()
    run = OrderExecutor().execute_order(
        venue, BTC, "sell", quantity=D("1"), mode="post_only", timeout_seconds=10
    )

    result = await _with_market(run, 1, lambda: venue.trade_from_market(BTC, "buy", D("3")))

    assert result.filled
    assert result.maker_quantity == D("1")
    assert result.taker_quantity == 0


async def test_post_only_refused_by_a_moved_market_reprices_and_rests() -> None:
    venue = _venue()
    await venue.get_order_book_depth(BTC)  # the book we will be served again, stale
    venue.set_book(BTC, bids=[("49999.7", "1")], asks=[("49999.9", "1"), ("50000.0", "1")])
    venue.faults.add(Fault.stale_book(count=1))

    result = await OrderExecutor().execute_order(
        venue, BTC, "buy", quantity=D("1"), mode="post_only", timeout_seconds=3
    )

    prices = [venue.core.orders[i].tick for i in result.order_ids]
    assert len(result.client_order_ids) == 2  # refused once, then rested
    assert prices == [499997 - 1]  # re-priced from the fresh book, one tick further away
    assert result.taker_quantity == 0
    assert await venue.get_open_orders() == []


async def test_aggressive_limit_climbs_the_ladder_then_crosses() -> None:
    venue = _venue()

    result = await OrderExecutor().execute_order(
        venue, BTC, "buy", quantity=D("0.5"), mode="aggressive_limit", timeout_seconds=8
    )

    assert result.filled
    assert len(result.order_ids) == 2  # join, (no inside in a one-tick spread), cross
    assert result.fill_price == D("50000.0")
    assert await venue.get_open_orders() == []


# -- ADAPTIVE -------------------------------------------------------------------------------------


async def test_adaptive_says_what_it_chose_and_why() -> None:
    venue = _venue()

    result = await OrderExecutor().execute_order(
        venue, BTC, "buy", quantity=D("0.5"), mode="adaptive", urgency="high"
    )

    assert result.execution_mode_used is not ExecutionMode.ADAPTIVE
    assert result.mode_reason.startswith("adaptive:")
    assert result.filled


# -- bad input, stale data, cancellation -------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"quantity": D(0)},
        {"quantity": D(-1)},
        {"quantity": D("NaN")},
        {"quantity": float("inf")},
        {"size_usd": D(1000), "quantity": D(1)},
        {},
        {"quantity": D(1), "side": "long"},
        {"quantity": D(1), "symbol": "DOGE-PERP"},
        {"quantity": D(1), "mode": "yolo"},
        {"quantity": D(1), "timeout_seconds": 0},
        {"quantity": D(1), "reduce_only": "yes"},
        {"quantity": D("0.0001")},  # rounds to zero lots
        {"size_usd": D("1")},  # below the minimum notional of 5 USDT
    ],
)
async def test_bad_input_raises_and_sends_nothing(kwargs: dict[str, Any]) -> None:
    venue = _venue()
    args: dict[str, Any] = {"symbol": BTC, "side": "buy", **kwargs}

    with pytest.raises(InvalidOrderError):
        await OrderExecutor().execute_order(venue, **args)

    assert venue.core.orders == {}


async def test_stale_book_is_refused_and_nothing_is_sent() -> None:
    venue = _venue()
    await venue.get_order_book_depth(BTC)
    venue.faults.add(Fault.stale_book(count=None))
    await asyncio.sleep(30)

    result = await OrderExecutor().execute_order(venue, BTC, "buy", quantity=D("1"))

    assert not result.filled
    assert result.error_message is not None
    assert "old" in result.error_message
    assert venue.core.orders == {}


async def test_cancelling_the_caller_cancels_the_resting_order_first() -> None:
    venue = _venue()
    task = asyncio.create_task(
        OrderExecutor().execute_order(
            venue, BTC, "buy", quantity=D("1"), mode="limit_only", timeout_seconds=60
        )
    )
    await asyncio.sleep(5)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert len(venue.core.orders) == 1
    assert await venue.get_open_orders() == []


async def test_reduce_only_closes_a_position_without_flipping_it() -> None:
    venue = _venue()
    await venue.place_market_order(BTC, D("0.5"), "buy")

    result = await OrderExecutor().execute_order(
        venue, BTC, "sell", quantity=D("0.5"), mode="market_only", reduce_only=True
    )

    assert result.filled
    assert await _position(venue) == 0
