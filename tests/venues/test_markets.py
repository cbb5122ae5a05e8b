"""Market specs: the one place prices and quantities are rounded and checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fundarb.venues import FundingRate, MarketSpec, RejectReason, Side

D = Decimal


def _spec(**overrides: object) -> MarketSpec:
    values: dict[str, object] = {
        "symbol": "BTC-PERP",
        "tick_size": D("0.1"),
        "lot_size": D("0.001"),
        "min_quantity": D("0.002"),
        "max_quantity": D("100"),
        "min_notional": D("5"),
    }
    values.update(overrides)
    return MarketSpec(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("price", "side", "expected"),
    [
        (D("50000.05"), Side.BUY, D("50000.0")),
        (D("50000.05"), Side.SELL, D("50000.1")),
        (D("50000.01"), "buy", D("50000.0")),
        (D("50000.01"), "sell", D("50000.1")),
        (D("50000.09"), "BUY", D("50000.0")),
        (D("50000.09"), "SELL", D("50000.1")),
        (D("50000.1"), Side.BUY, D("50000.1")),
        (D("50000.1"), Side.SELL, D("50000.1")),
        (D("0.04"), Side.BUY, D("0.0")),
        (D("0.04"), Side.SELL, D("0.1")),
    ],
)
def test_round_price_never_pays_more(price: Decimal, side: Side | str, expected: Decimal) -> None:
    assert _spec().round_price(price, side) == expected


@pytest.mark.parametrize(
    ("tick", "price", "side", "expected"),
    [
        (D("0.5"), D("101.7"), Side.BUY, D("101.5")),
        (D("0.5"), D("101.7"), Side.SELL, D("102.0")),
        (D("0.01"), D("3000.005"), Side.BUY, D("3000.00")),
        (D("0.01"), D("3000.005"), Side.SELL, D("3000.01")),
    ],
)
def test_round_price_on_other_ticks(
    tick: Decimal, price: Decimal, side: Side, expected: Decimal
) -> None:
    assert _spec(tick_size=tick).round_price(price, side) == expected


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        (D("0.0019"), D("0.001")),
        (D("0.002"), D("0.002")),
        (D("0.0029999"), D("0.002")),
        (D("0.0009"), D("0")),
        (D("1.23456"), D("1.234")),
    ],
)
def test_round_quantity_floors_to_the_lot(quantity: Decimal, expected: Decimal) -> None:
    assert _spec().round_quantity(quantity) == expected


@pytest.mark.parametrize(
    ("quantity", "price", "reason", "message"),
    [
        (D("0.0015"), D("50000"), RejectReason.INVALID_QUANTITY, "not a multiple of the lot"),
        (D("0.001"), D("50000"), RejectReason.INVALID_QUANTITY, "below the minimum 0.002"),
        (D("100.001"), D("50000"), RejectReason.INVALID_QUANTITY, "above the maximum 100"),
        (D("0.002"), D("50000.05"), RejectReason.INVALID_PRICE, "not a multiple of the tick"),
        (D("0.002"), D("2000.0"), RejectReason.MIN_NOTIONAL, "below the minimum 5"),
    ],
)
def test_check_order_says_why_an_order_breaks_the_filters(
    quantity: Decimal, price: Decimal, reason: RejectReason, message: str
) -> None:
    problem = _spec().check_order(quantity, price)

    assert problem is not None
    assert problem.reason is reason
    assert message in problem.message


@pytest.mark.parametrize(
    ("quantity", "price"),
    [
        (D("0.002"), D("50000.0")),
        (D("100"), D("50000.0")),
        (D("0.002"), D("2500.0")),  # notional exactly the minimum
        (D("0.002"), None),  # market order without a reference: notional not checked
    ],
)
def test_check_order_accepts_orders_within_the_filters(
    quantity: Decimal, price: Decimal | None
) -> None:
    assert _spec().check_order(quantity, price) is None


@pytest.mark.parametrize("field", ["tick_size", "lot_size", "contract_size"])
@pytest.mark.parametrize("value", [D(0), D("-0.1"), D("NaN"), D("Infinity")])
def test_spec_refuses_non_positive_steps(field: str, value: Decimal) -> None:
    with pytest.raises(ValueError, match=field):
        _spec(**{field: value})


def test_funding_rate_per_hour() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    rate = FundingRate(
        symbol="BTC-PERP",
        rate=D("0.0001"),
        interval=timedelta(hours=8),
        next_funding_time=now,
        mark_price=D("50000"),
        index_price=D("50000"),
        timestamp=now,
    )

    assert rate.rate_per_hour == D("0.0000125")
