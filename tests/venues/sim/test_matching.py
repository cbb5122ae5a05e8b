"""Matching in the simulated venue: price-time priority, order types, fees, rejects.

Every test starts from a static book (``BOOK``: 1 BTC at each of three levels a side,
best bid 49999.9, best ask 50000.0); taker flow comes from ``trade_from_market``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from fundarb.venues import Liquidity, OrderStatus, RejectReason, Side
from fundarb.venues.sim import SimulatedExchange
from tests.conftest import BOOK, BTC, btc_symbol, static_venue

D = Decimal
BEST_BID, BEST_ASK = D("49999.9"), D("50000.0")


def _venue(**overrides: object) -> SimulatedExchange:
    venue = static_venue(**overrides)
    venue.set_book(BTC, **BOOK)
    return venue


async def _filled(venue: SimulatedExchange, order_id: str | None) -> Decimal:
    assert order_id is not None
    info = await venue.get_order_info(order_id)
    assert info is not None
    return info.filled_size


async def _status(venue: SimulatedExchange, order_id: str | None) -> str:
    assert order_id is not None
    info = await venue.get_order_info(order_id)
    assert info is not None
    return info.status


async def _position(venue: SimulatedExchange) -> Decimal:
    position = await venue.get_position(BTC)
    return position.quantity if position is not None else D(0)


# -- price-time priority --------------------------------------------------------------------


async def test_our_orders_at_one_price_fill_in_the_order_placed() -> None:
    venue = _venue()
    first = await venue.place_limit_order(BTC, D("0.3"), BEST_BID, "buy")
    second = await venue.place_limit_order(BTC, D("0.3"), BEST_BID, "buy")

    venue.trade_from_market(BTC, Side.SELL, D("1.4"))  # 1 ahead of us, then 0.4 into our queue

    assert await _filled(venue, first.order_id) == D("0.3")
    assert await _filled(venue, second.order_id) == D("0.1")


async def test_depth_already_at_the_level_is_ahead_of_us() -> None:
    venue = _venue()
    ours = await venue.place_limit_order(BTC, D("0.5"), BEST_BID, "buy")

    traded = venue.trade_from_market(BTC, "sell", D("0.9"))

    assert traded == D("0.9")
    assert await _filled(venue, ours.order_id) == D(0)
    assert venue.core.fills == []


async def test_we_fill_only_as_much_as_the_flow_exceeds_the_queue_ahead() -> None:
    venue = _venue()
    ours = await venue.place_limit_order(BTC, D("0.5"), BEST_BID, "buy")
    venue.trade_from_market(BTC, "sell", D("0.9"))

    venue.trade_from_market(BTC, "sell", D("0.3"))  # 0.1 of the queue, then 0.2 of ours

    assert await _filled(venue, ours.order_id) == D("0.2")
    assert [(f.price, f.quantity, f.liquidity) for f in venue.core.fills] == [
        (BEST_BID, D("0.2"), Liquidity.MAKER)
    ]


async def test_depth_that_joins_after_us_is_behind_us() -> None:
    venue = _venue()
    ours = await venue.place_limit_order(BTC, D("0.5"), BEST_BID, "buy")
    venue.set_book(BTC, bids=[(BEST_BID, "3")], asks=BOOK["asks"])  # 2 BTC join the back

    venue.trade_from_market(BTC, "sell", D("1.5"))

    assert await _filled(venue, ours.order_id) == D("0.5")


async def test_resetting_the_same_book_keeps_our_place_in_the_queue() -> None:
    venue = _venue()
    ours = await venue.place_limit_order(BTC, D("0.5"), BEST_BID, "buy")
    venue.set_book(BTC, **BOOK)

    venue.trade_from_market(BTC, "sell", D("0.5"))

    assert await _filled(venue, ours.order_id) == D(0)


async def test_a_better_priced_order_fills_first() -> None:
    venue = _venue()
    venue.set_book(BTC, bids=[], asks=BOOK["asks"])
    worse = await venue.place_limit_order(BTC, D("0.2"), D("49999.8"), "buy")
    better = await venue.place_limit_order(BTC, D("0.2"), D("49999.9"), "buy")

    venue.trade_from_market(BTC, "sell", D("0.3"))

    assert await _filled(venue, better.order_id) == D("0.2")
    assert await _filled(venue, worse.order_id) == D("0.1")
    assert [f.price for f in venue.core.fills] == [D("49999.9"), D("49999.8")]


async def test_market_moving_through_our_order_fills_it_in_full_at_its_price() -> None:
    venue = _venue()
    placed = await venue.place_limit_order(BTC, D("0.5"), D("50000.5"), "sell")

    venue.set_book(BTC, bids=[("50001.0", "1")], asks=[("50001.1", "1")])

    assert await _status(venue, placed.order_id) == OrderStatus.FILLED
    assert [(f.price, f.quantity, f.liquidity) for f in venue.core.fills] == [
        (D("50000.5"), D("0.5"), Liquidity.MAKER)
    ]


# -- partial and complete fills -------------------------------------------------------------


async def test_a_resting_order_fills_partially_then_completely() -> None:
    venue = _venue()
    venue.set_book(BTC, bids=[], asks=BOOK["asks"])
    placed = await venue.place_limit_order(BTC, D("0.5"), BEST_BID, "buy")
    assert placed.order_id is not None

    venue.trade_from_market(BTC, "sell", D("0.2"))
    partial = await venue.get_order_info(placed.order_id)
    venue.trade_from_market(BTC, "sell", D("0.3"))
    complete = await venue.get_order_info(placed.order_id)

    assert partial is not None
    assert (partial.status, partial.filled_size, partial.remaining_size) == (
        OrderStatus.PARTIALLY_FILLED,
        D("0.2"),
        D("0.3"),
    )
    assert complete is not None
    assert (complete.status, complete.filled_size, complete.remaining_size) == (
        OrderStatus.FILLED,
        D("0.5"),
        D(0),
    )
    assert await venue.get_open_orders() == []


# -- market orders --------------------------------------------------------------------------


async def test_market_order_walks_the_book_at_the_vwap() -> None:
    venue = _venue()

    result = await venue.place_market_order(BTC, D("1.5"), "buy")

    assert result.success
    assert result.status == OrderStatus.FILLED
    assert result.filled_size == D("1.5")
    expected_vwap = (D("50000.0") * 1 + D("50000.1") * D("0.5")) / D("1.5")
    assert result.price == expected_vwap
    assert [(f.price, f.quantity) for f in venue.core.fills] == [
        (D("50000.0"), D("1.000")),
        (D("50000.1"), D("0.500")),
    ]
    assert await venue.fetch_bbo_prices(BTC) == (BEST_BID, D("50000.1"))


async def test_market_order_larger_than_the_book_fills_what_there_is_and_expires() -> None:
    venue = _venue()

    result = await venue.place_market_order(BTC, D("5"), "sell")

    assert result.success
    assert result.status == OrderStatus.EXPIRED
    assert result.filled_size == D(3)
    assert await _position(venue) == D(-3)
    assert (await venue.get_order_book_depth(BTC))["bids"] == []


async def test_market_order_on_an_empty_side_fails_with_no_liquidity() -> None:
    venue = _venue()
    venue.set_book(BTC, bids=BOOK["bids"], asks=[])

    result = await venue.place_market_order(BTC, D("0.1"), "buy")

    assert not result.success
    assert result.status == OrderStatus.REJECTED
    assert result.reject_reason is RejectReason.NO_LIQUIDITY
    assert await venue.get_positions() == []


# -- limit, post-only, IOC -------------------------------------------------------------------


async def test_crossing_limit_takes_up_to_its_price_and_rests_the_rest() -> None:
    venue = _venue()

    result = await venue.place_limit_order(BTC, D("2.5"), D("50000.1"), "buy")

    assert result.success
    assert result.status == OrderStatus.PARTIALLY_FILLED
    assert result.filled_size == D(2)
    assert {f.liquidity for f in venue.core.fills} == {Liquidity.TAKER}
    book = await venue.get_order_book_depth(BTC)
    assert book["bids"][0] == {"price": D("50000.1"), "size": D("0.5")}
    assert book["asks"][0] == {"price": D("50000.2"), "size": D(1)}


@pytest.mark.parametrize("opts", [{"post_only": True}, {"time_in_force": "GTX"}])
async def test_post_only_that_would_cross_is_rejected(opts: dict[str, Any]) -> None:
    venue = _venue()

    result = await venue.place_limit_order(BTC, D("0.1"), BEST_ASK, "buy", **opts)

    assert not result.success
    assert result.status == OrderStatus.REJECTED
    assert result.reject_reason is RejectReason.POST_ONLY_WOULD_CROSS
    assert venue.core.fills == []
    assert await venue.get_open_orders() == []


@pytest.mark.parametrize("opts", [{"post_only": True}, {"time_in_force": "GTX"}])
async def test_post_only_that_would_not_cross_rests(opts: dict[str, Any]) -> None:
    venue = _venue()

    result = await venue.place_limit_order(BTC, D("0.1"), BEST_ASK, "sell", **opts)

    assert result.success
    assert result.status == OrderStatus.NEW
    assert [o.order_id for o in await venue.get_open_orders()] == [result.order_id]


async def test_ioc_remainder_expires() -> None:
    venue = _venue()

    result = await venue.place_limit_order(BTC, D("1.5"), BEST_ASK, "buy", time_in_force="IOC")

    assert result.success
    assert result.status == OrderStatus.EXPIRED
    assert result.filled_size == D(1)
    assert await venue.get_open_orders() == []
    assert await _position(venue) == D(1)


# -- reduce-only ----------------------------------------------------------------------------


@pytest.mark.parametrize("position", [D(0), D(1)])
async def test_reduce_only_that_would_open_or_add_is_rejected(position: Decimal) -> None:
    venue = _venue()
    if position:
        await venue.place_market_order(BTC, position, "buy")

    result = await venue.place_market_order(BTC, D("0.5"), "buy", reduce_only=True)

    assert not result.success
    assert result.reject_reason is RejectReason.REDUCE_ONLY
    assert await _position(venue) == position


async def test_reduce_only_market_order_never_flips_the_position() -> None:
    venue = _venue()
    await venue.place_market_order(BTC, D(1), "buy")

    result = await venue.place_market_order(BTC, D(2), "sell", reduce_only=True)

    assert result.success
    assert result.filled_size == D(1)
    assert result.status == OrderStatus.EXPIRED
    assert await venue.get_positions() == []


async def test_resting_reduce_only_order_fills_at_most_the_position() -> None:
    venue = _venue()
    await venue.place_market_order(BTC, D(1), "buy")
    placed = await venue.place_limit_order(BTC, D(2), D("50000.5"), "sell", reduce_only=True)

    venue.trade_from_market(BTC, "buy", D(4))  # 50000.1 and 50000.2, then 2 into ours

    assert await _filled(venue, placed.order_id) == D(1)
    assert await _status(venue, placed.order_id) == OrderStatus.EXPIRED
    assert await venue.get_positions() == []


async def test_resting_reduce_only_order_expires_unfilled_once_flat() -> None:
    venue = _venue()
    await venue.place_market_order(BTC, D(1), "buy")
    placed = await venue.place_limit_order(BTC, D(1), D("50000.5"), "sell", reduce_only=True)
    await venue.place_market_order(BTC, D(1), "sell")  # flat by another order
    expired_when_flat = await _status(venue, placed.order_id)

    venue.trade_from_market(BTC, "buy", D(3))

    assert expired_when_flat == OrderStatus.EXPIRED  # as Binance and Bybit do
    assert await _filled(venue, placed.order_id) == D(0)
    assert await _status(venue, placed.order_id) == OrderStatus.EXPIRED
    assert await venue.get_open_orders() == []
    assert await venue.get_positions() == []


# -- filters: tick, lot, minimum notional ---------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "price", "reason", "message"),
    [
        (D("0.1"), D("49999.85"), RejectReason.INVALID_PRICE, "not a multiple of the tick 0.1"),
        (D("0.0015"), BEST_BID, RejectReason.INVALID_QUANTITY, "not a multiple of the lot"),
        (D("0.001"), D("1000.0"), RejectReason.MIN_NOTIONAL, "below the minimum 5"),
    ],
)
async def test_order_off_the_filters_is_rejected_and_changes_nothing(
    quantity: Decimal, price: Decimal, reason: RejectReason, message: str
) -> None:
    venue = _venue()
    balance_before = await venue.get_balance()

    result = await venue.place_limit_order(BTC, quantity, price, "buy")

    assert not result.success
    assert result.status == "REJECTED"
    assert result.order_id is None
    assert result.reject_reason is reason
    assert result.error_message is not None
    assert message in result.error_message
    assert venue.core.orders == {}
    assert await venue.get_open_orders() == []
    assert await venue.get_positions() == []
    assert await venue.get_balance() == balance_before


async def test_market_order_below_min_notional_at_the_touch_is_rejected() -> None:
    venue = _venue(symbols=(btc_symbol(min_notional=D("100")),))

    result = await venue.place_market_order(BTC, D("0.001"), "buy")

    assert result.reject_reason is RejectReason.MIN_NOTIONAL
    assert venue.core.fills == []


# -- fees and the wallet --------------------------------------------------------------------


async def test_taker_fill_pays_the_taker_rate() -> None:
    venue = _venue()

    await venue.place_market_order(BTC, D("0.2"), "buy")

    (fill,) = await venue.get_fills()
    assert fill.liquidity is Liquidity.TAKER
    assert fill.fee == D("50000.0") * D("0.2") * D("0.0005")
    assert fill.fee == D("5")


async def test_maker_fill_pays_the_maker_rate() -> None:
    venue = _venue()
    venue.set_book(BTC, bids=[], asks=BOOK["asks"])
    await venue.place_limit_order(BTC, D("0.2"), BEST_BID, "buy")

    venue.trade_from_market(BTC, "sell", D("0.2"))

    (fill,) = await venue.get_fills()
    assert fill.liquidity is Liquidity.MAKER
    assert fill.fee == D("49999.9") * D("0.2") * D("0.0002")
    assert fill.fee == D("1.999996")


async def test_wallet_moves_by_realised_pnl_minus_fees() -> None:
    venue = _venue()
    await venue.place_market_order(BTC, D(1), "buy")  # at 50000.0, fee 25
    venue.set_book(BTC, bids=[("50100.0", "2")], asks=[("50100.1", "2")])

    await venue.place_market_order(BTC, D(1), "sell")  # at 50100.0, fee 25.05

    balance = await venue.get_balance()
    fees = sum(f.fee for f in venue.core.fills)
    assert fees == D("50.05")
    assert balance.wallet_balance == D(100000) + D(100) - fees
    assert balance.unrealized_pnl == D(0)
    assert await venue.get_positions() == []


async def test_unrealised_pnl_is_marked_to_the_mid() -> None:
    venue = _venue()
    await venue.place_market_order(BTC, D(1), "buy")  # at 50000.0
    venue.set_book(BTC, bids=[("50099.9", "1")], asks=[("50100.1", "1")])

    position = await venue.get_position(BTC)
    balance = await venue.get_balance()

    assert position is not None
    assert position.mark_price == D("50100.0")
    assert position.unrealized_pnl == D(100)
    assert balance.equity == balance.wallet_balance + D(100)


# -- client order ids and cancels -----------------------------------------------------------


async def test_duplicate_client_order_id_is_rejected() -> None:
    venue = _venue()
    await venue.place_limit_order(BTC, D("0.1"), BEST_BID, "buy", client_order_id="leg-1")

    result = await venue.place_limit_order(
        BTC, D("0.1"), D("49999.8"), "buy", client_order_id="leg-1"
    )

    assert not result.success
    assert result.reject_reason is RejectReason.DUPLICATE_CLIENT_ORDER_ID
    assert len(await venue.get_open_orders()) == 1


async def test_order_can_be_found_by_client_order_id() -> None:
    venue = _venue()
    placed = await venue.place_limit_order(BTC, D("0.1"), BEST_BID, "buy", client_order_id="leg-1")

    info = await venue.get_order_by_client_id("leg-1")

    assert info is not None
    assert info.order_id == placed.order_id


async def test_cancel_of_a_resting_order_reports_what_filled() -> None:
    venue = _venue()
    venue.set_book(BTC, bids=[], asks=BOOK["asks"])
    placed = await venue.place_limit_order(BTC, D("0.5"), BEST_BID, "buy")
    assert placed.order_id is not None
    venue.trade_from_market(BTC, "sell", D("0.2"))

    result = await venue.cancel_order(placed.order_id)

    assert result.success
    assert result.status == OrderStatus.CANCELED
    assert result.filled_size == D("0.2")
    assert await venue.get_open_orders() == []
    assert (await venue.get_order_book_depth(BTC))["bids"] == []


async def test_cancel_of_an_unknown_order_is_rejected() -> None:
    venue = _venue()

    result = await venue.cancel_order("no-such-order")

    assert not result.success
    assert result.reject_reason is RejectReason.UNKNOWN_ORDER


async def test_cancel_of_a_filled_order_is_already_final() -> None:
    venue = _venue()
    placed = await venue.place_market_order(BTC, D("0.1"), "buy")
    assert placed.order_id is not None

    result = await venue.cancel_order(placed.order_id)

    assert not result.success
    assert result.reject_reason is RejectReason.ALREADY_FINAL
    assert result.status == OrderStatus.FILLED
    assert result.filled_size == D("0.1")


# -- margin ---------------------------------------------------------------------------------


async def test_order_beyond_the_free_margin_is_rejected() -> None:
    venue = _venue(initial_balance=D(1000))  # leverage 10: 10 000 USDT of notional at most

    result = await venue.place_limit_order(BTC, D("0.3"), BEST_BID, "buy")

    assert not result.success
    assert result.reject_reason is RejectReason.INSUFFICIENT_MARGIN
    assert venue.core.orders == {}


async def test_resting_orders_use_margin() -> None:
    venue = _venue(initial_balance=D(1000))
    await venue.place_limit_order(BTC, D("0.15"), BEST_BID, "buy")  # 749.9985 of margin

    result = await venue.place_limit_order(BTC, D("0.1"), D("49999.8"), "buy")

    assert result.reject_reason is RejectReason.INSUFFICIENT_MARGIN


async def test_reducing_order_needs_no_margin() -> None:
    venue = _venue(initial_balance=D(1000))
    await venue.place_market_order(BTC, D("0.15"), "buy")

    result = await venue.place_market_order(BTC, D("0.15"), "sell")

    assert result.success
    assert await venue.get_positions() == []


# -- the book as the interface shows it -----------------------------------------------------


async def test_depth_includes_our_resting_orders() -> None:
    venue = _venue()
    await venue.place_limit_order(BTC, D("0.5"), BEST_BID, "buy")
    await venue.place_limit_order(BTC, D("0.2"), D("49999.5"), "buy")
    await venue.place_limit_order(BTC, D("0.3"), D("50000.3"), "sell")

    book = await venue.get_order_book_depth(BTC, levels=5)

    assert book["bids"] == [
        {"price": D("49999.9"), "size": D("1.5")},
        {"price": D("49999.8"), "size": D(1)},
        {"price": D("49999.7"), "size": D(1)},
        {"price": D("49999.5"), "size": D("0.2")},
    ]
    assert book["asks"][-1] == {"price": D("50000.3"), "size": D("0.3")}


async def test_bbo_agrees_with_the_depth() -> None:
    venue = _venue()
    venue.set_book(BTC, bids=[("49999.0", "1")], asks=[("50001.0", "1")])
    await venue.place_limit_order(BTC, D("0.1"), D("49999.5"), "buy")
    await venue.place_limit_order(BTC, D("0.1"), D("50000.5"), "sell")

    bbo = await venue.fetch_bbo_prices(BTC)
    book = await venue.get_order_book_depth(BTC)

    assert bbo == (book["bids"][0]["price"], book["asks"][0]["price"])
    assert bbo == (D("49999.5"), D("50000.5"))


async def test_bbo_of_an_empty_book_is_zeros() -> None:
    venue = static_venue()

    assert await venue.fetch_bbo_prices(BTC) == (D(0), D(0))
