"""Bad input on every public method of the simulated venue: a clear error and no effect.

Each case runs against a venue with a resting order, a position and faults armed for every
call. A bad call must raise before it reaches the venue: the error names the problem, no
order appears, balance, positions and book are as they were, and no fault was used up
(an armed rate limit would otherwise answer first).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from fundarb.errors import InvalidOrderError, UnknownSymbolError
from fundarb.venues import OrderResult, RejectReason
from fundarb.venues.sim import Fault, SimulatedExchange
from tests.conftest import BOOK, BTC, static_venue

Call = Callable[[SimulatedExchange], Awaitable[object]]

BAD_NUMBERS: list[object] = [
    0,
    -1,
    Decimal(0),
    Decimal("-0"),
    Decimal("-0.001"),
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    float("nan"),
    float("inf"),
    float("-inf"),
    0.0,
    None,
    True,
    False,
    "abc",
    "",
    [Decimal(1)],
]
BAD_SYMBOLS: list[object] = ["ETH-PERP", "btc-perp", "", None, 1]


def _limit(**overrides: object) -> Call:
    args: dict[str, Any] = {
        "contract_id": BTC,
        "quantity": Decimal("0.1"),
        "price": Decimal("49990.0"),
        "side": "buy",
    }
    args.update(overrides)
    return lambda venue: venue.place_limit_order(**args)


def _market(**overrides: object) -> Call:
    args: dict[str, Any] = {"contract_id": BTC, "quantity": Decimal("0.1"), "side": "buy"}
    args.update(overrides)
    return lambda venue: venue.place_market_order(**args)


def _sync(call: Callable[[SimulatedExchange], object]) -> Call:
    """An operator control (a plain method) as an awaitable call."""

    async def run(venue: SimulatedExchange) -> object:
        return call(venue)

    return run


def _cases() -> list[Any]:
    cases: list[Any] = []

    def case(id_: str, call: Call, match: str, error: type[Exception] = InvalidOrderError) -> None:
        cases.append(pytest.param(call, error, match, id=id_))

    for number in BAD_NUMBERS:
        case(f"limit-quantity-{number!r}", _limit(quantity=number), "quantity")
        case(f"market-quantity-{number!r}", _market(quantity=number), "quantity")
        case(f"limit-price-{number!r}", _limit(price=number), "price")
    for side in ["long", "short", "", None, 1, "buy sell", "BUYS"]:
        case(f"limit-side-{side!r}", _limit(side=side), "side must be 'buy' or 'sell'")
        case(f"market-side-{side!r}", _market(side=side), "side must be 'buy' or 'sell'")
    for symbol in BAD_SYMBOLS:
        unknown = "unknown symbol"
        for name, call in [
            ("limit", _limit(contract_id=symbol)),
            ("market", _market(contract_id=symbol)),
            ("bbo", lambda v, s=symbol: v.fetch_bbo_prices(s)),
            ("depth", lambda v, s=symbol: v.get_order_book_depth(s, 5)),
            ("spec", lambda v, s=symbol: v.get_market_spec(s)),
            ("fees", lambda v, s=symbol: v.get_fee_schedule(s)),
            ("funding", lambda v, s=symbol: v.get_funding_rate(s)),
            ("position", lambda v, s=symbol: v.get_position(s)),
            ("leverage", lambda v, s=symbol: v.set_leverage(s, 5)),
            ("open-orders", lambda v, s=symbol: v.get_open_orders(s)),
            ("fills", lambda v, s=symbol: v.get_fills(s)),
            ("recent-trades", _sync(lambda v, s=symbol: v.recent_trades(s))),
            ("set-book", _sync(lambda v, s=symbol: v.set_book(s, **BOOK))),
            ("trade-from-market", _sync(lambda v, s=symbol: v.trade_from_market(s, "buy", 1))),
        ]:
            if symbol is None and name in ("open-orders", "fills"):
                continue  # None means every symbol there
            case(f"{name}-symbol-{symbol!r}", call, unknown, UnknownSymbolError)
    for name, call in [
        ("limit-unknown-option", _limit(stop_price=Decimal("1"))),
        ("limit-misspelt-option", _limit(postonly=True)),
        ("market-post-only", _market(post_only=True)),
        ("market-time-in-force", _market(time_in_force="IOC")),
        ("market-price", _market(price=Decimal("50000.0"))),
    ]:
        case(name, call, "unsupported order options")
    for tif in ["FOK", "GTD", "", None, 1, "good till cancel"]:
        case(f"time-in-force-{tif!r}", _limit(time_in_force=tif), "time_in_force must be one of")
    for client_order_id in ["", " ", "a b", "x" * 37, "naïve", "id/1", 123, b"id-1"]:
        case(
            f"client-order-id-{client_order_id!r}",
            _limit(client_order_id=client_order_id),
            "client_order_id must be",
        )
        case(
            f"market-client-order-id-{client_order_id!r}",
            _market(client_order_id=client_order_id),
            "client_order_id must be",
        )
    for tif in ["IOC", "ioc"]:
        case(
            f"post-only-with-{tif}",
            _limit(post_only=True, time_in_force=tif),
            "post_only cannot be combined with IOC",
        )
    for flag in [1, 0, "yes", "true", None]:
        case(f"limit-reduce-only-{flag!r}", _limit(reduce_only=flag), "reduce_only must be a bool")
        case(f"market-reduce-only-{flag!r}", _market(reduce_only=flag), "reduce_only must be")
        case(f"post-only-{flag!r}", _limit(post_only=flag), "post_only must be a bool")
    for levels in [0, -1, True, False, "5", 2.0, None, 5001]:
        case(
            f"depth-levels-{levels!r}",
            lambda v, n=levels: v.get_order_book_depth(BTC, n),
            "levels must be an int",
        )
    for order_id in ["", None, 123, b"static-1"]:
        case(f"cancel-id-{order_id!r}", lambda v, i=order_id: v.cancel_order(i), "order_id must")
        case(f"info-id-{order_id!r}", lambda v, i=order_id: v.get_order_info(i), "order_id must")
    for client_order_id in ["", None, 5]:
        case(
            f"by-client-id-{client_order_id!r}",
            lambda v, c=client_order_id: v.get_order_by_client_id(c),
            "client_order_id must be",
        )
    for leverage in [0, -1, 51, 1000, True, 2.5, "10", None, Decimal(10)]:
        case(
            f"leverage-{leverage!r}",
            lambda v, n=leverage: v.set_leverage(BTC, n),
            "leverage must be an int from 1 to 50",
        )
    # the operator's controls: plain ValueErrors (InvalidOrderError is one)
    for level in [
        ("49999.95", "1"),
        ("50000.0", "0.0001"),
        ("abc", "1"),
        ("NaN", "1"),
        ("Infinity", "1"),
        ("50000.0", "-1"),
        ("-50000.0", "1"),
        ("0", "1"),
        ("50000.0", "sNaN"),
    ]:
        case(
            f"set-book-level-{level!r}",
            _sync(lambda v, lv=level: v.set_book(BTC, bids=[lv], asks=[("50001.0", "1")])),
            "level",
            ValueError,
        )
    for quantity in [0, -1, Decimal("NaN"), float("inf"), None, True, "abc"]:
        case(
            f"trade-from-market-quantity-{quantity!r}",
            _sync(lambda v, q=quantity: v.trade_from_market(BTC, "buy", q)),
            "quantity",
            ValueError,
        )
    for side in ["long", "", None, 1]:
        case(
            f"trade-from-market-side-{side!r}",
            _sync(lambda v, s=side: v.trade_from_market(BTC, s, Decimal(1))),
            "side must be 'buy' or 'sell'",
        )
    for limit in [0, -1, True, "5", 2.0, None]:
        case(
            f"recent-trades-limit-{limit!r}",
            _sync(lambda v, n=limit: v.recent_trades(BTC, n)),
            "limit must be an int",
        )
    return cases


async def _busy_venue() -> SimulatedExchange:
    """A venue with a resting order, a position, and faults armed on every call."""
    venue = static_venue()
    venue.set_book(BTC, **BOOK)
    resting = await venue.place_limit_order(
        BTC, Decimal("0.5"), Decimal("50010.0"), "sell", client_order_id="resting-1"
    )
    bought = await venue.place_market_order(BTC, Decimal("0.2"), "buy")
    assert resting.status == "NEW"
    assert bought.status == "FILLED"
    venue.faults.add(
        Fault.rate_limit(count=None),  # any call that gets past validation fails with this
        Fault.reject(count=None),
        Fault.cancel_fails(count=None),
        Fault.empty_book(count=None),
    )
    return venue


def _state(venue: SimulatedExchange) -> dict[str, object]:
    core = venue.core
    return {
        "orders": {k: (o.status, o.filled_lots) for k, o in core.orders.items()},
        "open_orders": sorted(core.open_orders),
        "client_ids": sorted(core.by_client_id),
        "wallet": core.account.wallet,
        "positions": {
            s: (p.lots, p.entry_price, p.leverage) for s, p in core.account.positions.items()
        },
        "book": core.depth(BTC, 100),
        "fills": list(core.fills),
        "tape": venue.recent_trades(BTC, 100),
        "faults_fired": list(venue.faults.fired),
        "faults_pending": venue.faults.pending,
    }


@pytest.mark.parametrize(("call", "error", "match"), _cases())
async def test_bad_input_is_refused_and_changes_nothing(
    call: Call, error: type[Exception], match: str
) -> None:
    venue = await _busy_venue()
    before = _state(venue)

    with pytest.raises(error, match=match) as caught:
        await call(venue)

    assert _state(venue) == before
    assert venue.faults.fired == []
    if isinstance(caught.value, InvalidOrderError):
        assert caught.value.venue == "static"


def test_bad_input_errors_are_value_errors() -> None:
    assert issubclass(InvalidOrderError, ValueError)
    assert issubclass(UnknownSymbolError, InvalidOrderError)


@pytest.mark.parametrize(
    ("quantity", "price"),
    [
        ("0.1", "49990.0"),  # Decimal given as str
        (0.1, 49990.0),  # floats go through str(): 0.1 stays 0.1
        (Decimal("1E-1"), Decimal("4.999E+4")),
    ],
)
async def test_numbers_in_other_spellings_are_accepted(quantity: object, price: object) -> None:
    venue = static_venue()
    venue.set_book(BTC, **BOOK)

    result = await venue.place_limit_order(BTC, quantity, price, "BUY")  # type: ignore[arg-type]

    assert result.success is True
    assert result.size == Decimal("0.1")
    assert result.price == Decimal(str(price))


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (_limit(quantity=Decimal("1E+30")), RejectReason.INVALID_QUANTITY),
        (_limit(quantity=Decimal("1E+999999999999")), RejectReason.INVALID_QUANTITY),
        (_market(quantity=Decimal("1E+30")), RejectReason.INVALID_QUANTITY),
        (_limit(price=Decimal("1E+30")), RejectReason.INVALID_PRICE),
        (_limit(price="1e999999999999"), RejectReason.INVALID_PRICE),
    ],
)
async def test_absurdly_large_numbers_are_refused_by_the_venue_not_crashed_on(
    call: Call, reason: RejectReason
) -> None:
    """Finite but beyond the lot/tick grid's precision: a definitive reject, no order."""
    venue = static_venue()
    venue.set_book(BTC, **BOOK)

    result = await call(venue)

    assert isinstance(result, OrderResult)
    assert result.success is False
    assert result.reject_reason is reason
    assert "too large" in (result.error_message or "")
    assert venue.core.orders == {}
