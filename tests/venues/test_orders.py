"""Order value types: one status enum for every venue's spelling, and sides."""

from __future__ import annotations

import pytest

from fundarb.errors import InvalidOrderError
from fundarb.venues import OrderStatus, Side, normalize_status, parse_side


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("NEW", OrderStatus.NEW),
        ("new", OrderStatus.NEW),
        ("OPEN", OrderStatus.NEW),
        ("open", OrderStatus.NEW),
        ("PARTIALLY_FILLED", OrderStatus.PARTIALLY_FILLED),
        ("partially filled", OrderStatus.PARTIALLY_FILLED),
        ("PartiallyFilled", OrderStatus.PARTIALLY_FILLED),
        ("partially-filled", OrderStatus.PARTIALLY_FILLED),
        ("FILLED", OrderStatus.FILLED),
        ("filled", OrderStatus.FILLED),
        ("CLOSED", OrderStatus.FILLED),
        ("closed", OrderStatus.FILLED),
        ("CANCELED", OrderStatus.CANCELED),
        ("CANCELLED", OrderStatus.CANCELED),
        ("canceled", OrderStatus.CANCELED),
        ("Cancelled", OrderStatus.CANCELED),
        ("PENDING_CANCEL", OrderStatus.PENDING_CANCEL),
        ("EXPIRED", OrderStatus.EXPIRED),
        ("expired", OrderStatus.EXPIRED),
        ("REJECTED", OrderStatus.REJECTED),
        ("rejected", OrderStatus.REJECTED),
        ("  FILLED  ", OrderStatus.FILLED),
        (OrderStatus.EXPIRED, OrderStatus.EXPIRED),
    ],
)
def test_normalize_status_maps_every_known_spelling(
    spelling: object, expected: OrderStatus
) -> None:
    assert normalize_status(spelling) is expected


@pytest.mark.parametrize(
    "spelling",
    [
        "",
        "FILL",
        "mostly filled",
        "filledish",
        "unknown",
        "triggered",
        None,
        0,
        1,
        2.0,
        True,
        b"FILLED",
    ],
)
def test_normalize_status_is_unknown_for_anything_else(spelling: object) -> None:
    status = normalize_status(spelling)

    assert status is OrderStatus.UNKNOWN
    assert not status.is_final
    assert not status.is_open


@pytest.mark.parametrize(
    ("status", "is_final", "is_open"),
    [
        (OrderStatus.NEW, False, True),
        (OrderStatus.PARTIALLY_FILLED, False, True),
        (OrderStatus.PENDING_CANCEL, False, True),
        (OrderStatus.FILLED, True, False),
        (OrderStatus.CANCELED, True, False),
        (OrderStatus.EXPIRED, True, False),
        (OrderStatus.REJECTED, True, False),
        (OrderStatus.UNKNOWN, False, False),
    ],
)
def test_status_is_final_or_open(status: OrderStatus, is_final: bool, is_open: bool) -> None:
    assert (status.is_final, status.is_open) == (is_final, is_open)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("buy", Side.BUY),
        ("BUY", Side.BUY),
        (" Sell ", Side.SELL),
        ("sell", Side.SELL),
        (Side.SELL, Side.SELL),
    ],
)
def test_parse_side_accepts_buy_and_sell_in_any_case(raw: object, expected: Side) -> None:
    assert parse_side(raw) is expected


@pytest.mark.parametrize("raw", ["long", "b", "", None, 1, True])
def test_parse_side_refuses_anything_else(raw: object) -> None:
    with pytest.raises(InvalidOrderError, match="side must be 'buy' or 'sell'"):
        parse_side(raw)


@pytest.mark.parametrize(
    ("side", "sign", "opposite"), [(Side.BUY, 1, Side.SELL), (Side.SELL, -1, Side.BUY)]
)
def test_side_sign_and_opposite(side: Side, sign: int, opposite: Side) -> None:
    assert (side.sign, side.opposite) == (sign, opposite)


def test_side_compares_equal_to_the_interface_strings() -> None:
    assert (Side.BUY, Side.SELL) == ("buy", "sell")
