"""SlippageCalculator: expected slippage from a book, actual slippage of a fill, the rating.

Positive slippage is a cost throughout; percentages are fractions (0.001 = 0.1 % = 10 bps).
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from fundarb.errors import ConfigError, InvalidOrderError, MarketDataError
from fundarb.execution import ActualSlippage, ExpectedSlippage, OrderBook, SlippageCalculator
from fundarb.venues import Side
from tests.conftest import BOOK

CALC = SlippageCalculator()
DICT_BOOK = {
    side: [{"price": D(p), "size": D(s)} for p, s in levels] for side, levels in BOOK.items()
}
LIST_BOOK = {side: [[float(p), float(s)] for p, s in levels] for side, levels in BOOK.items()}


# -- expected ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "book", [BOOK, DICT_BOOK, LIST_BOOK, OrderBook.parse(BOOK)], ids=["str", "dict", "list", "obj"]
)
def test_expected_slippage_of_a_size_inside_the_touch(book: object) -> None:
    expected = CALC.calculate_expected_slippage(order_book=book, side="buy", size_usd=D("1000"))

    assert expected == ExpectedSlippage(
        side=Side.BUY,
        reference_price=D("50000.0"),
        expected_price=D("50000.0"),
        slippage_pct=D(0),
        slippage_bps=D(0),
        quantity=D("0.02"),
        notional_usd=D("1000"),
        worst_price=D("50000.0"),
        levels_used=1,
        depth_sufficient=True,
    )


@pytest.mark.parametrize(
    ("side", "amount", "touch", "vwap", "levels"),
    [
        ("buy", {"size_usd": D("75000.05")}, "50000.0", D("75000.05") / D("1.5"), 2),
        ("buy", {"quantity": D("1.5")}, "50000.0", D("75000.05") / D("1.5"), 2),
        ("sell", {"quantity": D("1.5")}, "49999.9", D("74999.80") / D("1.5"), 2),
        ("sell", {"quantity": D("3")}, "49999.9", D("49999.8"), 3),
    ],
)
def test_expected_slippage_walking_levels_is_a_positive_cost(
    side: str, amount: dict[str, D], touch: str, vwap: D, levels: int
) -> None:
    expected = CALC.calculate_expected_slippage(order_book=BOOK, side=side, **amount)

    cost = (vwap - D(touch)) if side == "buy" else (D(touch) - vwap)
    assert expected.reference_price == D(touch)
    assert expected.expected_price == vwap
    assert expected.slippage_pct == cost / D(touch)
    assert expected.slippage_pct > 0
    assert expected.slippage_bps == expected.slippage_pct * 10_000
    assert expected.levels_used == levels
    assert expected.depth_sufficient


def test_an_incomplete_walk_says_so_and_covers_only_what_is_shown() -> None:
    expected = CALC.calculate_expected_slippage(order_book=BOOK, side="buy", quantity=D(5))

    assert not expected.depth_sufficient
    assert expected.quantity == D(3)  # the whole side, not the 5 asked for
    assert expected.notional_usd == D("150000.3")
    assert expected.worst_price == D("50000.2")
    assert expected.expected_price == D("50000.1")


@pytest.mark.parametrize(
    ("book", "error"),
    [
        ({"bids": BOOK["bids"], "asks": []}, MarketDataError),  # nothing to buy from
        ({"bids": [("2", "1")], "asks": [("1", "1")]}, MarketDataError),  # crossed
        ({"bids": "nope"}, MarketDataError),
        ([["1", "1"]], MarketDataError),
    ],
)
def test_expected_slippage_refuses_unusable_books(book: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        CALC.calculate_expected_slippage(order_book=book, side="buy", size_usd=D("1000"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"side": "buy"},
        {"side": "buy", "size_usd": D(1), "quantity": D(1)},
        {"side": "buy", "size_usd": D(0)},
        {"side": "buy", "size_usd": D(-5)},
        {"side": "buy", "size_usd": D("NaN")},
        {"side": "buy", "quantity": D("Infinity")},
        {"side": "buy", "size_usd": True},
        {"side": "long", "size_usd": D(1)},
    ],
)
def test_expected_slippage_refuses_bad_input(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidOrderError):
        CALC.calculate_expected_slippage(order_book=BOOK, **kwargs)


# -- actual ------------------------------------------------------------------------------------


def test_actual_slippage_of_the_issue_example() -> None:
    actual = CALC.calculate_actual_slippage(
        expected_price=D("50000"), actual_fill_price=D("50050"), quantity=D("0.02")
    )

    assert actual == ActualSlippage(
        side=Side.BUY,
        side_assumed=True,  # no side given: the buy convention
        expected_price=D("50000"),
        actual_fill_price=D("50050"),
        quantity=D("0.02"),
        slippage_pct=D("0.001"),
        slippage_bps=D("10"),
        cost_usd=D("1.00"),
    )


@pytest.mark.parametrize(
    ("side", "fill", "pct", "cost"),
    [
        ("buy", "50050", "0.001", "1.00"),  # paid more: cost
        ("buy", "49950", "-0.001", "-1.00"),  # paid less: gain
        ("sell", "49950", "0.001", "1.00"),  # received less: cost
        ("sell", "50050", "-0.001", "-1.00"),  # received more: gain
        ("sell", "50000", "0", "0"),
    ],
)
def test_actual_slippage_sign_is_cost_for_either_side(
    side: str, fill: str, pct: str, cost: str
) -> None:
    actual = CALC.calculate_actual_slippage(
        expected_price=D("50000"), actual_fill_price=D(fill), quantity=D("0.02"), side=side
    )

    assert not actual.side_assumed
    assert actual.side is Side(side)
    assert actual.slippage_pct == D(pct)
    assert actual.slippage_bps == D(pct) * 10_000
    assert actual.cost_usd == D(cost)


def test_actual_slippage_takes_str_and_float_as_exact_decimals() -> None:
    actual = CALC.calculate_actual_slippage(
        expected_price="50000", actual_fill_price=50050.0, quantity="0.02"
    )

    assert actual.cost_usd == D("1.00")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"expected_price": D(0)},
        {"expected_price": D(-1)},
        {"actual_fill_price": D("NaN")},
        {"actual_fill_price": None},
        {"quantity": D(0)},
        {"quantity": D("-Infinity")},
        {"side": "both"},
    ],
)
def test_actual_slippage_refuses_bad_input(kwargs: dict[str, Any]) -> None:
    values: dict[str, Any] = {
        "expected_price": D("50000"),
        "actual_fill_price": D("50050"),
        "quantity": D("0.02"),
        **kwargs,
    }
    with pytest.raises(InvalidOrderError):
        CALC.calculate_actual_slippage(**values)


# -- compare -----------------------------------------------------------------------------------


def test_compare_execution_quality_of_the_issue_example() -> None:
    expected = CALC.calculate_expected_slippage(order_book=BOOK, side="buy", size_usd=D("1000"))
    actual = CALC.calculate_actual_slippage(
        expected_price=expected.reference_price, actual_fill_price=D("50050"), quantity=D("0.02")
    )

    quality = CALC.compare_execution_quality(expected, actual, D("1000"))

    assert quality["quality_rating"] == "fair"  # 10 bps worse than the book predicted
    assert quality["expected_slippage_pct"] == D(0)
    assert quality["actual_slippage_pct"] == D("0.001")
    assert quality["slippage_difference_pct"] == D("0.001")
    assert quality["slippage_difference_bps"] == D(10)
    assert quality["cost_vs_expected_usd"] == D("1.000")
    assert quality["depth_sufficient"] is True
    assert quality["side_assumed"] is True


def test_a_fill_better_than_predicted_is_excellent_and_saves_money() -> None:
    expected = CALC.calculate_expected_slippage(order_book=BOOK, side="sell", quantity=D("1.5"))
    actual = CALC.calculate_actual_slippage(
        expected_price=expected.reference_price,
        actual_fill_price=D("49999.9"),
        quantity=D("1.5"),
        side="sell",
    )

    quality = CALC.compare_execution_quality(expected, actual, expected.notional_usd)

    assert quality["quality_rating"] == "excellent"
    assert quality["cost_vs_expected_usd"] == -expected.slippage_pct * expected.notional_usd


@pytest.mark.parametrize(
    ("excess_bps", "rating"),
    [
        ("-5", "excellent"),
        ("0", "excellent"),
        ("0.01", "good"),
        ("2", "good"),
        ("2.01", "fair"),
        ("10", "fair"),
        ("10.01", "poor"),
        ("500", "poor"),
    ],
)
def test_rating_thresholds(excess_bps: str, rating: str) -> None:
    assert CALC.rate(D(excess_bps)) == rating


def test_rating_thresholds_are_configurable() -> None:
    strict = SlippageCalculator(good_excess_bps=D("0.5"), fair_excess_bps=D(1))

    assert [strict.rate(D(x)) for x in ("0.5", "1", "1.5")] == ["good", "fair", "poor"]


@pytest.mark.parametrize(
    ("good", "fair"), [(D(-1), D(1)), (D(5), D(2)), (D("NaN"), D(1)), (D(1), "x")]
)
def test_bad_thresholds_are_config_errors(good: D, fair: D) -> None:
    with pytest.raises(ConfigError):
        SlippageCalculator(good_excess_bps=good, fair_excess_bps=fair)


def test_compare_refuses_mismatched_sides_and_bad_sizes() -> None:
    expected = CALC.calculate_expected_slippage(order_book=BOOK, side="buy", size_usd=D("1000"))
    sold = CALC.calculate_actual_slippage(
        expected_price=D("50000"), actual_fill_price=D("50000"), quantity=D("0.02"), side="sell"
    )
    bought = CALC.calculate_actual_slippage(
        expected_price=D("50000"), actual_fill_price=D("50000"), quantity=D("0.02")
    )

    with pytest.raises(InvalidOrderError, match="sell fill"):
        CALC.compare_execution_quality(expected, sold, D("1000"))
    with pytest.raises(InvalidOrderError):
        CALC.compare_execution_quality(expected, bought, D(0))
