"""OrderBook: parsing any client's book shape, and exact walks (golden values on a real book)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest

from fundarb.execution import BookLevel, OrderBook
from fundarb.venues import Side
from tests.conftest import USDM_CAPTURE, needs_shared_data

# 1 BTC at each of three levels a side, touch 49999.9 / 50000.0 (as conftest.BOOK).
LEVELS = {
    "bids": [["49999.9", "1"], ["49999.8", "1"], ["49999.7", "1"]],
    "asks": [["50000.0", "1"], ["50000.1", "1"], ["50000.2", "1"]],
}


def _book(**raw: Any) -> OrderBook:
    return OrderBook.parse({**LEVELS, **raw})


# -- parse -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bids", "asks"),
    [
        pytest.param(
            [{"price": D("100.5"), "size": D("2")}],
            [{"price": D("100.6"), "size": D("3")}],
            id="dicts of Decimal",
        ),
        pytest.param(
            [{"price": "100.5", "size": "2"}], [{"price": "100.6", "size": "3"}], id="dicts of str"
        ),
        pytest.param(
            [{"price": 100.5, "amount": 2.0}], [{"price": 100.6, "amount": 3}], id="amount key"
        ),
        pytest.param([[100.5, 2.0]], [[100.6, 3.0]], id="ccxt lists of float"),
        pytest.param([("100.5", "2")], [("100.6", "3")], id="tuples of str"),
        pytest.param([[100.5, 2, 7]], [[100.6, 3, 8]], id="extra fields ignored"),
    ],
)
def test_parse_accepts_every_client_shape(bids: object, asks: object) -> None:
    book = OrderBook.parse({"bids": bids, "asks": asks})

    assert book.bids == (BookLevel(D("100.5"), D("2")),)
    assert book.asks == (BookLevel(D("100.6"), D("3")),)
    assert all(isinstance(lv.price, D) and isinstance(lv.size, D) for lv in book.bids + book.asks)


def test_floats_keep_their_decimal_spelling() -> None:
    book = OrderBook.parse({"bids": [[0.1, 0.3]], "asks": [[0.2, 0.7]]})

    assert book.bids[0] == BookLevel(D("0.1"), D("0.3"))  # not 0.1000000000000000055...


def test_zero_size_levels_are_dropped() -> None:
    book = OrderBook.parse(
        {"bids": [["10", "0"], ["9", "1"]], "asks": [["11", "2"], ["12", "0.000"]]}
    )

    assert book.bids == (BookLevel(D("9"), D("1")),)
    assert book.asks == (BookLevel(D("11"), D("2")),)


def test_missing_sides_are_empty() -> None:
    book = OrderBook.parse({"asks": [["11", "2"]]})

    assert book.bids == ()
    assert book.best_bid is None
    assert book.mid is None
    assert book.spread_bps is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param([["1", "1"]], "mapping", id="a bare list"),
        pytest.param(None, "mapping", id="None"),
        pytest.param({"bids": "10,1", "asks": []}, "list of levels", id="side is a str"),
        pytest.param({"bids": 5, "asks": []}, "list of levels", id="side is a number"),
        pytest.param({"bids": [["10"]], "asks": []}, "a level must be", id="level of one"),
        pytest.param({"bids": ["10 1"], "asks": []}, "a level must be", id="level is a str"),
        pytest.param({"bids": [["x", "1"]], "asks": []}, "number", id="price not a number"),
        pytest.param({"bids": [["10", None]], "asks": []}, "number", id="size missing"),
        pytest.param({"bids": [[True, "1"]], "asks": []}, "bool", id="bool price"),
        pytest.param({"bids": [["NaN", "1"]], "asks": []}, "finite", id="NaN price"),
        pytest.param({"bids": [[float("inf"), 1]], "asks": []}, "finite", id="infinite price"),
        pytest.param({"bids": [["-10", "1"]], "asks": []}, "non-positive", id="negative price"),
        pytest.param({"bids": [["0", "1"]], "asks": []}, "non-positive", id="zero price"),
        pytest.param({"bids": [["10", "-1"]], "asks": []}, "non-positive", id="negative size"),
        pytest.param(
            {"bids": [["9", "1"], ["10", "1"]], "asks": []}, "not sorted", id="bids ascending"
        ),
        pytest.param(
            {"bids": [], "asks": [["11", "1"], ["10", "1"]]}, "not sorted", id="asks descending"
        ),
        pytest.param(
            {"bids": [["10", "1"], ["10", "2"]], "asks": []}, "not sorted", id="duplicate price"
        ),
        pytest.param({"bids": [["11", "1"]], "asks": [["10", "1"]]}, "crossed", id="crossed"),
        pytest.param({"bids": [["10", "1"]], "asks": [["10", "1"]]}, "crossed", id="locked"),
    ],
)
def test_parse_refuses_what_it_cannot_trust(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OrderBook.parse(raw)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"timestamp": 1_723_161_256_501}, datetime(2024, 8, 8, 23, 54, 16, 501_000, tzinfo=UTC)),
        ({"datetime": "2024-08-08T23:54:16.501Z"}, datetime(2024, 8, 8, 23, 54, 16, 501_000, UTC)),
        ({"timestamp": None, "datetime": None}, None),
        ({"datetime": "yesterday"}, None),
        ({}, None),
    ],
)
def test_timestamp_is_read_when_the_book_has_one(
    extra: dict[str, object], expected: datetime | None
) -> None:
    assert _book(**extra).timestamp == expected


def test_symbol_comes_from_the_book_before_the_caller() -> None:
    assert _book(symbol="ETH-PERP").symbol == "ETH-PERP"
    assert OrderBook.parse(LEVELS, symbol="BTC-PERP").symbol == "BTC-PERP"


def test_touch_mid_spread_and_depth() -> None:
    book = _book()

    assert (book.touch("buy"), book.touch(Side.SELL)) == (D("50000.0"), D("49999.9"))
    assert book.mid == D("49999.95")
    assert book.spread_bps == D("0.1") / D("49999.95") * 10_000
    assert book.depth("buy") == (D(3), D("150000.3"))
    assert book.depth("sell") == (D(3), D("149999.4"))


# -- walk --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "quantity", "notional", "levels", "worst", "complete"),
    [
        pytest.param("buy", "0.5", "25000.00", 1, "50000.0", True, id="inside the first level"),
        pytest.param("buy", "1", "50000.0", 1, "50000.0", True, id="exactly one level"),
        pytest.param("buy", "1.5", "75000.05", 2, "50000.1", True, id="partial last level"),
        pytest.param("buy", "3", "150000.3", 3, "50000.2", True, id="the whole side"),
        pytest.param("buy", "0.001", "50.0000", 1, "50000.0", True, id="one lot"),
        pytest.param("sell", "1.5", "74999.80", 2, "49999.8", True, id="sell partial"),
        pytest.param("sell", "2.25", "112499.625", 3, "49999.7", True, id="sell into 3rd"),
    ],
)
def test_quantity_walks(
    side: str, quantity: str, notional: str, levels: int, worst: str, complete: bool
) -> None:
    walk = _book().walk(side, quantity=D(quantity))

    assert walk.side is Side(side)
    assert walk.quantity == D(quantity)
    assert walk.notional == D(notional)
    assert walk.vwap == D(notional) / D(quantity)
    assert (walk.levels, walk.worst_price, walk.complete) == (levels, D(worst), complete)


@pytest.mark.parametrize(
    ("side", "notional", "quantity", "levels"),
    [
        pytest.param("buy", "100", "0.002", 1, id="inside the first level"),
        pytest.param("buy", "75000.05", "1.5", 2, id="partial last level"),
        pytest.param("buy", "50000.0", "1", 1, id="exactly one level"),
        pytest.param("sell", "74999.80", "1.5", 2, id="sell"),
        pytest.param("buy", "50000.1", D(1) + D("0.1") / D("50000.1"), 2, id="a division"),
    ],
)
def test_notional_walks(side: str, notional: str, quantity: str | D, levels: int) -> None:
    walk = _book().walk(side, notional=D(notional))

    assert walk.notional == D(notional)
    assert walk.quantity == D(quantity)
    assert walk.levels == levels
    assert walk.complete


@pytest.mark.parametrize(
    ("side", "amount"),
    [
        ("buy", {"quantity": D("3.001")}),
        ("sell", {"quantity": D("100")}),
        ("buy", {"notional": D("150000.31")}),
    ],
)
def test_incomplete_walks_take_what_is_shown_and_say_so(side: str, amount: dict[str, D]) -> None:
    walk = _book().walk(side, **amount)

    assert not walk.complete
    assert walk.levels == 3
    assert walk.quantity == D(3)  # all the side shows, nothing guessed beyond it
    assert walk.notional == _book().depth(side)[1]


def test_walking_an_empty_side() -> None:
    walk = OrderBook.parse({"bids": [["10", "1"]]}).walk("buy", quantity=D(1))

    assert (walk.complete, walk.levels, walk.quantity, walk.worst_price) == (False, 0, 0, None)
    assert walk.vwap is None


def test_walks_mix_price_and_size_steps_exactly() -> None:
    book = OrderBook.parse({"asks": [["100.25", "0.5"], ["100.3", "0.125"], ["101", "2"]]})

    walk = book.walk("buy", quantity=D("0.7"))

    assert walk.notional == D("100.25") * D("0.5") + D("100.3") * D("0.125") + D(101) * D("0.075")
    assert walk.quantity == D("0.7")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"quantity": D(1), "notional": D(1)},
        {"quantity": D(0)},
        {"quantity": D(-1)},
        {"notional": D("NaN")},
        {"quantity": D("Infinity")},
    ],
)
def test_walk_refuses_bad_amounts(kwargs: dict[str, D]) -> None:
    with pytest.raises(ValueError):
        _book().walk("buy", **kwargs)


def test_walk_refuses_a_bad_side() -> None:
    with pytest.raises(ValueError, match="side"):
        _book().walk("long", quantity=D(1))


# -- golden values on the real Binance USD-M BTCUSDT snapshot ----------------------------------


def _snapshot() -> dict[str, Any]:
    """The capture's REST depth snapshot (the line holding ``lastUpdateId``): 1,000 levels."""
    with gzip.open(USDM_CAPTURE, "rt") as lines:
        for line in lines:
            payload = line.split(" ", 1)[1]
            if '"lastUpdateId"' in payload:
                snapshot: dict[str, Any] = json.loads(payload)
                return snapshot
    raise AssertionError(f"no REST snapshot in {USDM_CAPTURE}")


@pytest.fixture(scope="module")
def real_book() -> OrderBook:
    return OrderBook.parse(_snapshot())


@needs_shared_data(USDM_CAPTURE)
@pytest.mark.shared_data
def test_real_snapshot_parses_to_1000_levels_a_side(real_book: OrderBook) -> None:
    assert (len(real_book.bids), len(real_book.asks)) == (1000, 1000)
    assert (real_book.best_bid, real_book.best_ask) == (D("61800.20"), D("61800.30"))


@needs_shared_data(USDM_CAPTURE)
@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("side", "quantity", "vwap", "bps"),
    [
        ("buy", 10, "61807.5764", "1.18"),
        ("buy", 100, "61829.3170", "4.70"),
        ("sell", 10, "61800.0651", "0.02"),
        ("sell", 100, "61775.7596", "3.95"),
    ],
)
def test_real_snapshot_golden_vwaps(
    real_book: OrderBook, side: str, quantity: int, vwap: str, bps: str
) -> None:
    walk = real_book.walk(side, quantity=D(quantity))

    assert walk.complete
    assert walk.vwap is not None
    touch = real_book.touch(side)
    assert touch is not None
    assert walk.vwap.quantize(D("0.0001")) == D(vwap)
    away = abs(walk.vwap - touch) / touch * 10_000  # past the touch, in bps
    assert away.quantize(D("0.01")) == D(bps)
