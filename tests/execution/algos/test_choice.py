"""Choosing the algorithm for a pair by its size against the visible depth."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from fundarb.errors import ConfigError
from fundarb.execution.algos import Algorithm, PairLeg, choose_algorithm, choose_from_depth
from tests.conftest import BOOK, BTC, static_venue


@pytest.mark.parametrize(
    ("quantity", "depth", "urgency", "algorithm", "slices"),
    [
        (D("1"), D("10"), "normal", Algorithm.ATOMIC, 1),
        (D("2.5"), D("10"), "low", Algorithm.ATOMIC, 1),  # 25 %: still one pair
        (D("5"), D("10"), "normal", Algorithm.PAIR_TWAP, 2),
        (D("5"), D("10"), "high", Algorithm.ATOMIC, 1),
        (D("5"), D("10"), "low", Algorithm.MAKER_LADDER, 2),
        (D("50"), D("10"), "high", Algorithm.PAIR_TWAP, 20),
        (D("50"), D("10"), "normal", Algorithm.PAIR_TWAP, 20),
        (D("50"), D("0"), "normal", Algorithm.PAIR_TWAP, 10),  # nothing visible: ten slices
    ],
)
def test_the_table(quantity: D, depth: D, urgency: str, algorithm: Algorithm, slices: int) -> None:
    choice = choose_from_depth(quantity, depth, urgency=urgency)  # type: ignore[arg-type]

    assert (choice.algorithm, choice.slices) == (algorithm, slices)
    assert choice.slice_quantity * choice.slices == quantity
    assert choice.reason


def test_bad_input_is_refused() -> None:
    with pytest.raises(ConfigError):
        choose_from_depth(D("-1"), D("10"))
    with pytest.raises(ConfigError):
        choose_from_depth(D("1"), D("10"), atomic_fraction=D("2"))


async def test_from_the_venues_books() -> None:
    a, b = static_venue(venue="a"), static_venue(venue="b")
    for venue in (a, b):
        venue.set_book(BTC, **BOOK)  # 3 BTC a side within 10 bp (5 USD) of the mid

    small = await choose_algorithm(PairLeg(a, BTC), PairLeg(b, BTC), D("0.5"))
    large = await choose_algorithm(PairLeg(a, BTC), PairLeg(b, BTC), D("6"))

    assert small.algorithm is Algorithm.ATOMIC
    assert small.size_to_depth == D("0.5") / 3
    assert (large.algorithm, large.slices, large.size_to_depth) == (Algorithm.PAIR_TWAP, 8, 2)
