"""Invariants of the simulated venue under random sequences of operations (Hypothesis).

Each example starts a static venue from ``BOOK`` and applies 4 to 40 operations: limit
orders around the touch (GTC, IOC, post-only, reduce-only), market orders, cancels
(including of final and unknown ids), taker flow from the market, a new book from the
market, and injected partial fills and lost cancel races. After every step:

- no order has filled more than its size, and its fills add up to what it reports;
- the position equals the signed sum of our fills;
- the wallet equals the initial balance + realised PnL - fees, recomputed from the fills;
- our resting orders never cross the market's best opposite price;
- an order is in ``open_orders`` exactly while its status is open;
- the book (the market's depth with our orders in it) is not crossed.

The tests are async: pytest-asyncio runs every example on the test's fast-forwarded loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fundarb.venues import Fill, OrderStatus, Side
from fundarb.venues.sim import Fault, SimulatedExchange
from fundarb.venues.sim.book import NO_ASK, NO_BID
from tests.conftest import BOOK, BTC, static_venue

INITIAL_BALANCE = Decimal("100000")
TOUCH = Decimal("50000.0")  # the best ask of BOOK; offsets are ticks from here
TICK = Decimal("0.1")
LOT = Decimal("0.001")
# The venue keeps the average entry price as a 28-digit Decimal quotient, so realised PnL
# can differ from the exact rational value in the last digits; nothing else is rounded.
PNL_ROUNDING = Fraction(1, 10**15)

sides = st.sampled_from(["buy", "sell"])
# small orders, and orders about the size of a level of BOOK (1 BTC) or a little more
lots = st.one_of(
    st.integers(min_value=1, max_value=200), st.integers(min_value=800, max_value=2500)
)
offsets = st.integers(min_value=-3, max_value=3)  # BOOK's touch is -1 (bid) and 0 (ask)
reduce_only = st.sampled_from([False, False, False, True])  # refused when flat: keep it rare

limit_orders = st.tuples(
    st.just("limit"),
    sides,
    offsets,
    lots,
    st.sampled_from(["GTC", "GTC", "IOC", "POST_ONLY"]),
    reduce_only,
)
operations = st.one_of(
    limit_orders,  # three times as likely as the rest: most that can go wrong starts here
    limit_orders,
    limit_orders,
    st.tuples(st.just("market"), sides, lots, reduce_only),
    st.tuples(st.just("cancel"), st.integers(min_value=-1, max_value=40)),
    st.tuples(st.just("flow"), sides, lots),
    st.tuples(st.just("book"), st.integers(min_value=-10, max_value=10)),
    st.tuples(st.just("fault"), st.sampled_from(["partial_fill", "cancel_loses_race"])),
)


def _book(shift: int) -> dict[str, list[tuple[Decimal, str]]]:
    """``BOOK`` moved by ``shift`` ticks."""
    return {
        side: [(Decimal(price) + shift * TICK, size) for price, size in levels]
        for side, levels in BOOK.items()
    }


async def _apply(venue: SimulatedExchange, op: tuple[Any, ...], order_ids: list[str]) -> None:
    """Apply one generated operation; remember the id of every order the venue created."""
    match op:
        case ("limit", side, offset, n, tif, reduce_only):
            result = await venue.place_limit_order(
                BTC, n * LOT, TOUCH + offset * TICK, side, reduce_only, time_in_force=tif
            )
        case ("market", side, n, reduce_only):
            result = await venue.place_market_order(BTC, n * LOT, side, reduce_only)
        case ("cancel", index):
            known = order_ids and index >= 0
            await venue.cancel_order(order_ids[index % len(order_ids)] if known else "unknown")
            return
        case ("flow", side, n):
            venue.trade_from_market(BTC, side, n * LOT)
            return
        case ("book", shift):
            venue.set_book(BTC, **_book(shift))
            return
        case ("fault", "partial_fill"):
            venue.faults.add(Fault.partial_fill())
            return
        case ("fault", "cancel_loses_race"):
            venue.faults.add(Fault.cancel_loses_race())
            return
        case _:
            raise AssertionError(f"unknown operation {op!r}")
    if result.order_id is not None:
        order_ids.append(result.order_id)


def _expected_wallet(fills: Sequence[Fill]) -> Fraction:
    """Initial balance + realised PnL (average cost) - fees, in exact rationals."""
    wallet = Fraction(INITIAL_BALANCE)
    position = Fraction(0)
    cost = Fraction(0)  # entry price x |position|
    for fill in fills:
        quantity = Fraction(fill.quantity) * fill.side.sign
        price = Fraction(fill.price)
        wallet -= Fraction(fill.fee)
        if position == 0 or (position > 0) == (quantity > 0):
            cost += abs(quantity) * price
            position += quantity
            continue
        entry = cost / abs(position)
        closed = min(abs(position), abs(quantity))
        wallet += (price - entry) * closed * (1 if position > 0 else -1)
        after = position + quantity
        if after == 0:
            cost = Fraction(0)
        elif (after > 0) != (position > 0):  # flipped: the rest opens at this price
            cost = abs(after) * price
        else:
            cost -= entry * closed
        position = after
    return wallet


async def _check_invariants(venue: SimulatedExchange) -> None:
    core = venue.core
    fills = await venue.get_fills(BTC)
    assert not core.liquidations  # sizes here stay far from liquidation

    # no over-fill; each order's fills add up to what it reports
    filled_by_order: dict[str, Decimal] = {}
    for fill in fills:
        filled_by_order[fill.order_id] = filled_by_order.get(fill.order_id, Decimal(0)) + (
            fill.quantity
        )
    for order in core.orders.values():
        info = core.order_info(order)
        assert 0 <= order.filled_lots <= order.lots
        assert info.filled_size <= info.size
        assert filled_by_order.get(order.order_id, Decimal(0)) == info.filled_size
    assert len({f.trade_id for f in fills}) == len(fills)

    # the position is the signed sum of our fills
    position = await venue.get_position(BTC)
    signed = sum((f.quantity * f.side.sign for f in fills), Decimal(0))
    assert (position.quantity if position is not None else Decimal(0)) == signed

    # wallet = initial + realised - fees
    balance = await venue.get_balance()
    assert abs(Fraction(balance.wallet_balance) - _expected_wallet(fills)) <= PNL_ROUNDING
    assert sum((f.fee for f in fills), Decimal(0)) == sum(
        (o.fee for o in core.orders.values()), Decimal(0)
    )

    # resting orders never cross the market's best opposite price
    engine = core.engines[BTC]
    resting = engine.resting_orders()
    for order in resting:
        if order.side is Side.BUY:
            assert engine.book.best_ask == NO_ASK or order.tick < engine.book.best_ask
        else:
            assert engine.book.best_bid == NO_BID or order.tick > engine.book.best_bid

    # open_orders holds exactly the orders whose status is open, and they are on the book
    for order_id, order in core.orders.items():
        status = OrderStatus(order.status)
        assert (order_id in core.open_orders) == status.is_open
    assert {o.order_id for o in resting} == set(core.open_orders)
    open_infos = await venue.get_open_orders(BTC)
    assert {i.order_id for i in open_infos} == set(core.open_orders)
    assert all(OrderStatus(i.status).is_open for i in open_infos)

    # the book is not crossed
    bid, ask = await venue.fetch_bbo_prices(BTC)
    if bid and ask:
        assert bid < ask


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(operations, min_size=4, max_size=40))
async def test_venue_invariants_hold_after_every_operation(ops: list[tuple[Any, ...]]) -> None:
    venue = static_venue(initial_balance=INITIAL_BALANCE)
    venue.set_book(BTC, **BOOK)
    order_ids: list[str] = []

    for op in ops:
        await _apply(venue, op, order_ids)
        await _check_invariants(venue)


@settings(max_examples=200, deadline=None)
@given(orders=st.lists(limit_orders, min_size=2, max_size=12))
async def test_limit_orders_alone_never_rest_across_the_book(
    orders: list[tuple[Any, ...]],
) -> None:
    """The same invariants, for limit orders only: the shortest road to a crossed book."""
    venue = static_venue(initial_balance=INITIAL_BALANCE)
    venue.set_book(BTC, **BOOK)
    order_ids: list[str] = []

    for op in orders:
        await _apply(venue, op, order_ids)
        await _check_invariants(venue)


@settings(max_examples=200, deadline=None)
@given(
    side=sides,
    resting=st.lists(st.tuples(sides, offsets, lots), min_size=1, max_size=6),
    taker=lots,
)
async def test_taker_flow_trades_no_more_than_it_sends_and_fills_in_price_order(
    side: str, resting: list[tuple[str, int, int]], taker: int
) -> None:
    venue = static_venue(initial_balance=INITIAL_BALANCE)
    venue.set_book(BTC, **BOOK)
    for order_side, offset, n in resting:
        await venue.place_limit_order(BTC, n * LOT, TOUCH + offset * TICK, order_side)
    before = len(venue.core.fills)

    traded = venue.trade_from_market(BTC, side, taker * LOT)

    new_fills = venue.core.fills[before:]
    assert Decimal(0) <= traded <= taker * LOT
    assert sum((f.quantity for f in new_fills), Decimal(0)) <= traded
    prices = [f.price for f in new_fills]
    # a buyer from the market lifts our asks cheapest first; a seller hits our bids highest first
    assert prices == sorted(prices, reverse=(side == "sell"))
    assert all(f.side is Side(side).opposite for f in new_fills)
    await _check_invariants(venue)
