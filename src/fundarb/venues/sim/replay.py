"""Replay of a recorded Binance USD-M futures capture (hftbacktest's format).

Each line of the gzip file is ``<local receive time, ns> <raw JSON>``: combined-stream
messages (``depth@0ms`` diffs, ``trade``, ``bookTicker``) and one REST depth snapshot.
The book is built from the snapshot and the diffs are applied with Binance's sync rule:
drop diffs with ``u < lastUpdateId``; the first applied diff has
``U <= lastUpdateId <= u``; every later diff's ``pu`` equals the previous diff's ``u``.

Prices and sizes are parsed straight from their strings into integer ticks and lots.
Replay time is the capture's local receive time, relative to the snapshot.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from fundarb.venues.sim.matching import MatchingEngine

__all__ = ["BookTicker", "Capture", "DepthDiff", "ReplayFeed", "TradePrint", "load_capture"]

Levels = list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class DepthDiff:
    time_s: float  # seconds after the snapshot was received
    first_id: int  # U
    last_id: int  # u
    prev_id: int  # pu
    bids: Levels
    asks: Levels


@dataclass(frozen=True, slots=True)
class TradePrint:
    time_s: float
    tick: int
    lots: int
    taker_is_buy: bool


@dataclass(frozen=True, slots=True)
class BookTicker:
    time_s: float
    update_id: int
    bid_tick: int
    bid_lots: int
    ask_tick: int
    ask_lots: int


@dataclass(slots=True)
class Capture:
    """A capture parsed into integer ticks and lots, synced to its snapshot."""

    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    snapshot_id: int
    snapshot_time: datetime  # exchange time of the snapshot
    snapshot_bids: Levels
    snapshot_asks: Levels
    diffs: list[DepthDiff] = field(default_factory=list)  # only those applied after sync
    trades: list[TradePrint] = field(default_factory=list)  # after the snapshot
    tickers: list[BookTicker] = field(default_factory=list)  # after the snapshot
    order: list[tuple[int, int]] = field(default_factory=list)  # (0 diff | 1 trade, index)

    @property
    def level_updates(self) -> int:
        return sum(len(d.bids) + len(d.asks) for d in self.diffs)


class _Units:
    """Parses decimal strings into integer multiples of a step, exactly."""

    def __init__(self, step: Decimal) -> None:
        exponent = step.as_tuple().exponent
        assert isinstance(exponent, int)
        self.decimals = max(0, -exponent)
        self.step_units = int(step.scaleb(self.decimals))

    def __call__(self, text: str) -> int:
        whole, _, frac = text.partition(".")
        decimals = self.decimals
        if len(frac) > decimals:
            if frac[decimals:].strip("0"):
                raise ValueError(f"{text} is finer than the step")
            frac = frac[:decimals]
        units = int(whole + frac.ljust(decimals, "0")) if decimals else int(whole)
        steps, rest = divmod(units, self.step_units)
        if rest:
            raise ValueError(f"{text} is not a multiple of the step")
        return steps


def _lines(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            stamp, _, payload = line.partition(" ")
            yield int(stamp), json.loads(payload)


def load_capture(path: Path, *, tick_size: Decimal, lot_size: Decimal) -> Capture:
    """Parse and sync a capture. Raises ``ValueError`` if it has no snapshot or a gap.

    Messages before the snapshot are kept only while no snapshot has been seen (diffs
    received before it may still bridge it); after it, each message is parsed as it comes.
    """
    ticks = _Units(tick_size)
    lots = _Units(lot_size)

    def levels(raw: object) -> Levels:
        assert isinstance(raw, list)
        return [(ticks(p), lots(q)) for p, q in raw]

    capture: Capture | None = None
    early: list[tuple[int, dict[str, object]]] = []  # depth diffs received before the snapshot
    snapshot_ns = 0
    last_u: int | None = None
    symbol = ""

    def add(stamp: int, stream: str, data: dict[str, object]) -> None:
        nonlocal last_u
        assert capture is not None
        time_s = max(0.0, (stamp - snapshot_ns) / 1e9)
        if "@depth" in stream:
            first, last, prev = int(str(data["U"])), int(str(data["u"])), int(str(data["pu"]))
            if last < capture.snapshot_id:
                return
            if last_u is None:
                if not first <= capture.snapshot_id <= last:
                    raise ValueError(
                        f"{path}: the first diff after the snapshot does not bridge it"
                    )
            elif prev != last_u:
                raise ValueError(f"{path}: gap in the diff chain at u={last} (pu={prev})")
            last_u = last
            capture.order.append((0, len(capture.diffs)))
            capture.diffs.append(
                DepthDiff(time_s, first, last, prev, levels(data["b"]), levels(data["a"]))
            )
        elif stream.endswith("@trade") and stamp >= snapshot_ns:
            capture.order.append((1, len(capture.trades)))
            capture.trades.append(
                TradePrint(time_s, ticks(str(data["p"])), lots(str(data["q"])), not data["m"])
            )
        elif stream.endswith("@bookTicker") and stamp >= snapshot_ns:
            capture.tickers.append(
                BookTicker(
                    time_s,
                    int(str(data["u"])),
                    ticks(str(data["b"])),
                    lots(str(data["B"])),
                    ticks(str(data["a"])),
                    lots(str(data["A"])),
                )
            )

    for stamp, message in _lines(path):
        if "lastUpdateId" in message:
            snapshot_ns = stamp
            capture = Capture(
                symbol=symbol,
                tick_size=tick_size,
                lot_size=lot_size,
                snapshot_id=int(str(message["lastUpdateId"])),
                snapshot_time=datetime.fromtimestamp(int(str(message["E"])) / 1000, tz=UTC),
                snapshot_bids=levels(message["bids"]),
                snapshot_asks=levels(message["asks"]),
            )
            for early_stamp, early_data in early:
                add(early_stamp, "@depth", early_data)
            early.clear()
            continue
        stream = str(message.get("stream", ""))
        payload = message.get("data")
        if not isinstance(payload, dict):
            continue
        symbol = symbol or str(payload.get("s", ""))
        if capture is not None:
            add(stamp, stream, payload)
        elif "@depth" in stream:
            early.append((stamp, payload))
    if capture is None:
        raise ValueError(f"{path}: no depth snapshot (lastUpdateId) in the capture")
    return capture


class ReplayFeed:
    """Drives a matching engine from a capture, in time, starting at loop time ``start``."""

    def __init__(
        self,
        engine: MatchingEngine,
        capture: Capture,
        *,
        start: float,
        tape: deque[tuple[float, int, int, bool]],
    ) -> None:
        self.symbol = engine.symbol
        self._engine = engine
        self._capture = capture
        self._start = start
        self._tape = tape
        self._next = 0
        engine.book.clear()
        engine.apply_depth(capture.snapshot_bids, capture.snapshot_asks)

    @property
    def finished(self) -> bool:
        return self._next >= len(self._capture.order)

    def next_time(self) -> float:
        if self._next >= len(self._capture.order):
            return math.inf
        kind, index = self._capture.order[self._next]
        event = self._capture.diffs[index] if kind == 0 else self._capture.trades[index]
        return self._start + event.time_s

    def run_next(self) -> bool:
        kind, index = self._capture.order[self._next]
        self._next += 1
        if kind == 0:
            diff = self._capture.diffs[index]
            self._engine.apply_depth(diff.bids, diff.asks)
        else:
            trade = self._capture.trades[index]
            self._engine.market_trade(trade.tick, trade.lots, trade.taker_is_buy)
            self._tape.append(
                (self._start + trade.time_s, trade.tick, trade.lots, trade.taker_is_buy)
            )
        return True
