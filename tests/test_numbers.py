"""Exact numbers at the edges: to_decimal and to_positive_decimal."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fundarb.numbers import to_decimal, to_positive_decimal


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.1, Decimal("0.1")),
        (61800.5, Decimal("61800.5")),
        (1e-8, Decimal("1E-8")),
        ("0.1", Decimal("0.1")),
        (" 42.50 ", Decimal("42.50")),
        ("-3", Decimal("-3")),
        ("1e3", Decimal("1000")),
        (7, Decimal("7")),
        (0, Decimal("0")),
        (Decimal("2.5"), Decimal("2.5")),
    ],
)
def test_to_decimal_converts_floats_strings_and_ints_exactly(
    value: object, expected: Decimal
) -> None:
    result = to_decimal(value)

    assert isinstance(result, Decimal)
    assert result == expected


def test_to_decimal_goes_through_str_for_floats() -> None:
    assert to_decimal(0.1) + to_decimal(0.2) == Decimal("0.3")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "must be finite"),
        (float("inf"), "must be finite"),
        (float("-inf"), "must be finite"),
        ("NaN", "must be finite"),
        ("Infinity", "must be finite"),
        (Decimal("NaN"), "must be finite"),
        (Decimal("-Infinity"), "must be finite"),
        (True, "not a bool"),
        (False, "not a bool"),
        (None, "got NoneType"),
        ("", "must be a number"),
        ("abc", "must be a number"),
        ([1], "got list"),
    ],
)
def test_to_decimal_refuses_what_is_not_a_finite_number(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_decimal(value, name="quantity")


def test_to_decimal_error_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"^price must be finite"):
        to_decimal(float("nan"), name="price")


@pytest.mark.parametrize("value", [0, "0", -1, "-0.001", Decimal("-0")])
def test_to_positive_decimal_refuses_zero_and_negatives(value: object) -> None:
    with pytest.raises(ValueError, match="size must be greater than zero"):
        to_positive_decimal(value, name="size")


def test_to_positive_decimal_accepts_a_positive_number() -> None:
    assert to_positive_decimal("0.001") == Decimal("0.001")
