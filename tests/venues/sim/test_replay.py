"""Replay of recorded Binance USD-M captures: the sync rule, the book, fills from trades."""

from __future__ import annotations

import asyncio
import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest

from fundarb.venues.sim import ReplayConfig, SimConfig, SimulatedExchange, binance_btcusdt
from fundarb.venues.sim.book import DepthBook
from fundarb.venues.sim.replay import load_capture
from tests.conftest import USDM_CAPTURE, needs_shared_data

TICK, LOT = Decimal("0.1"), Decimal("0.001")
SNAPSHOT_ID = 1000


def _write_capture(path: Path, messages: list[tuple[int, dict[str, object]]]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for stamp, message in messages:
            handle.write(f"{stamp} {json.dumps(message)}\n")
    return path


def _diff(
    first: int, last: int, prev: int, bids: list[list[str]], asks: list[list[str]]
) -> dict[str, object]:
    return {
        "stream": "btcusdt@depth@0ms",
        "data": {
            "e": "depthUpdate",
            "E": 1723161256299,
            "T": 1723161256298,
            "s": "BTCUSDT",
            "U": first,
            "u": last,
            "pu": prev,
            "b": bids,
            "a": asks,
        },
    }


def _trade(price: str, qty: str, buyer_is_maker: bool) -> dict[str, object]:
    return {
        "stream": "btcusdt@trade",
        "data": {
            "e": "trade",
            "E": 1723161256322,
            "T": 1723161256322,
            "s": "BTCUSDT",
            "t": 5266583935,
            "p": price,
            "q": qty,
            "X": "MARKET",
            "m": buyer_is_maker,
        },
    }


SNAPSHOT = {
    "lastUpdateId": SNAPSHOT_ID,
    "E": 1723161256501,
    "T": 1723161256493,
    "bids": [["100.00", "1.000"], ["99.90", "2.000"]],
    "asks": [["100.10", "1.500"], ["100.20", "3.000"]],
}


def _small_capture(tmp_path: Path) -> Path:
    """A snapshot bridged by its first diff, two chained diffs, and trades (1 s apart)."""
    second = 1_000_000_000
    return _write_capture(
        tmp_path / "capture.gz",
        [
            (
                0,
                _diff(900, 950, 899, [["100.00", "0.500"]], []),
            ),  # older than the snapshot: dropped
            (1, _diff(951, 1005, 950, [["100.00", "1.200"]], [])),  # arrives before, bridges it
            (2, SNAPSHOT),
            (2 + second, _diff(1006, 1010, 1005, [["99.90", "0.000"]], [["100.10", "1.000"]])),
            (2 + 2 * second, _trade("100.00", "0.700", True)),  # a seller takes 0.7 at 100.00
            (2 + 3 * second, _diff(1011, 1020, 1010, [["100.00", "0.500"]], [])),
            (2 + 4 * second, _trade("100.00", "0.800", True)),  # 0.5 queued ahead, then 0.3 more
        ],
    )


def test_capture_is_synced_to_its_snapshot(tmp_path: Path) -> None:
    capture = load_capture(_small_capture(tmp_path), tick_size=TICK, lot_size=LOT)

    assert capture.snapshot_id == SNAPSHOT_ID
    assert [d.last_id for d in capture.diffs] == [1005, 1010, 1020]
    assert capture.snapshot_bids == [(1000, 1000), (999, 2000)]
    assert len(capture.trades) == 2
    assert capture.trades[0].taker_is_buy is False


@pytest.mark.parametrize(
    ("diffs", "message"),
    [
        ([_diff(1001, 1005, 1000, [], [])], "does not bridge"),
        ([_diff(990, 1005, 989, [], []), _diff(1007, 1010, 1006, [], [])], "gap in the diff chain"),
    ],
)
def test_capture_with_a_broken_chain_is_refused(
    tmp_path: Path, diffs: list[dict[str, object]], message: str
) -> None:
    path = _write_capture(
        tmp_path / "c.gz", [(0, SNAPSHOT), *((i + 1, d) for i, d in enumerate(diffs))]
    )

    with pytest.raises(ValueError, match=message):
        load_capture(path, tick_size=TICK, lot_size=LOT)


def test_capture_without_a_snapshot_is_refused(tmp_path: Path) -> None:
    path = _write_capture(tmp_path / "c.gz", [(0, _diff(1, 2, 0, [], []))])

    with pytest.raises(ValueError, match="no depth snapshot"):
        load_capture(path, tick_size=TICK, lot_size=LOT)


def _replay_venue(path: Path) -> SimulatedExchange:
    symbol = binance_btcusdt(min_notional=Decimal("0"), initial_price=Decimal("100.0"))
    return SimulatedExchange(
        SimConfig(venue="replay", symbols=(symbol,), market=ReplayConfig(path=path))
    )


async def test_replayed_book_follows_the_diffs_in_time(tmp_path: Path) -> None:
    venue = _replay_venue(_small_capture(tmp_path))

    at_start = await venue.get_order_book_depth("BTCUSDT", 5)
    await asyncio.sleep(1.5)
    after_one_diff = await venue.get_order_book_depth("BTCUSDT", 5)

    assert [(lv["price"], lv["size"]) for lv in at_start["bids"]] == [
        (Decimal("100.0"), Decimal("1.200")),
        (Decimal("99.9"), Decimal("2.000")),
    ]
    assert [(lv["price"], lv["size"]) for lv in after_one_diff["bids"]] == [
        (Decimal("100.0"), Decimal("1.200"))
    ]
    assert after_one_diff["asks"][0]["size"] == Decimal("1.000")


async def test_replayed_trades_fill_our_order_behind_the_queue(tmp_path: Path) -> None:
    venue = _replay_venue(_small_capture(tmp_path))
    # 1.2 BTC of the market's bids are ahead of us at 100.00; the replayed sell takes 0.7
    placed = await venue.place_limit_order("BTCUSDT", Decimal("1"), Decimal("100.0"), "buy")

    await asyncio.sleep(3.5)
    not_reached = await venue.get_order_info(placed.order_id or "")
    await asyncio.sleep(1)
    reached = await venue.get_order_info(placed.order_id or "")

    # 0.7 traded of the 1.2 ahead; the level then shrinks to 0.5 (no move up for us)
    assert not_reached is not None
    assert not_reached.filled_size == 0
    # the next 0.8 takes the 0.5 still ahead, then 0.3 of ours
    assert reached is not None
    assert reached.filled_size == Decimal("0.300")
    assert reached.status == "PARTIALLY_FILLED"


@needs_shared_data(USDM_CAPTURE)
def test_real_capture_best_prices_match_its_book_ticker() -> None:
    """After each diff, best bid/ask equal the capture's bookTicker at the same update id."""
    capture = load_capture(USDM_CAPTURE, tick_size=TICK, lot_size=LOT)
    tickers = {t.update_id: t for t in capture.tickers}
    book = DepthBook()
    book.apply(capture.snapshot_bids, capture.snapshot_asks)
    checked = agreed = 0

    for diff in capture.diffs:
        book.apply(diff.bids, diff.asks)
        ticker = tickers.get(diff.last_id)
        if ticker is None:
            continue
        checked += 1
        agreed += (ticker.bid_tick, ticker.ask_tick, ticker.bid_lots, ticker.ask_lots) == (
            book.best_bid,
            book.best_ask,
            book.bids[book.best_bid],
            book.asks[book.best_ask],
        )

    assert checked > 600
    assert agreed / checked >= 0.99


@needs_shared_data(USDM_CAPTURE)
@pytest.mark.parametrize(
    ("side", "vwap"),
    [("buy", Decimal("61807.5764")), ("sell", Decimal("61800.0651"))],
)
async def test_market_order_walks_the_real_snapshot(side: str, vwap: Decimal) -> None:
    """10 BTC against the real 1,000-level REST snapshot: the VWAP computed by hand."""
    capture = load_capture(USDM_CAPTURE, tick_size=TICK, lot_size=LOT)
    venue = SimulatedExchange(
        SimConfig(venue="snapshot", symbols=(binance_btcusdt(),), market="static")
    )
    venue.set_book(
        "BTCUSDT",
        bids=[(t * TICK, n * LOT) for t, n in capture.snapshot_bids],
        asks=[(t * TICK, n * LOT) for t, n in capture.snapshot_asks],
    )

    result = await venue.place_market_order("BTCUSDT", Decimal("10"), side)

    assert result.filled_size == Decimal("10")
    assert result.price is not None
    assert result.price.quantize(Decimal("0.0001")) == vwap


@needs_shared_data(USDM_CAPTURE)
async def test_real_capture_replays_in_the_simulated_venue() -> None:
    venue = SimulatedExchange(
        SimConfig(
            venue="binance-replay",
            symbols=(binance_btcusdt(),),
            market=ReplayConfig(path=USDM_CAPTURE),
        )
    )

    first = await venue.fetch_bbo_prices("BTCUSDT")
    bought = await venue.place_market_order("BTCUSDT", Decimal("1"), "buy")
    await asyncio.sleep(120)
    bid, ask = await venue.fetch_bbo_prices("BTCUSDT")

    assert first == (Decimal("61800.2"), Decimal("61800.3"))
    assert bought.filled_size == Decimal("1")
    assert Decimal(0) < bid < ask
    assert (bid, ask) != first
    assert len(venue.recent_trades("BTCUSDT", 10)) == 10
