"""Execution layer benchmarks: the library's own overhead, one row per measure.

    .venv/bin/python benchmarks/bench_execution.py [--capture PATH] [--repeats N]

Prints a Markdown table (paste it into benchmarks/README.md). Uses the REST depth snapshot
(1,000 levels a side) of the real Binance USD-M BTCUSDT capture in ../shared/data; exits
with a message if it is absent. Add a measure by writing a function ``(Snapshot, repeats)
-> Row`` and listing it in ``MEASURES``.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from common import Row, TimedVenue, latency, parse_args, print_table
from fundarb.execution import ExecutionMode, OrderBook, OrderExecutor
from fundarb.venues.sim import SimConfig, binance_btcusdt


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The capture's REST snapshot, raw (as parsed JSON) and as an :class:`OrderBook`."""

    raw: dict[str, Any]
    book: OrderBook


def load_snapshot(path: Path) -> Snapshot:
    with gzip.open(path, "rt") as lines:
        for line in lines:
            payload = line.split(" ", 1)[1]
            if '"lastUpdateId"' in payload:
                raw: dict[str, Any] = json.loads(payload)
                return Snapshot(raw, OrderBook.parse(raw))
    raise SystemExit(f"no REST depth snapshot (lastUpdateId) in {path}")


def time_calls(call: Callable[[], object], repeats: int) -> list[int]:
    """Wall time of each of ``repeats`` calls, in ns, after a few untimed warm-up calls."""
    for _ in range(min(10, repeats)):
        call()
    samples: list[int] = []
    gc.disable()  # a collection landing in one sample is noise, not the code's cost
    try:
        for _ in range(repeats):
            start = time.perf_counter_ns()
            call()
            samples.append(time.perf_counter_ns() - start)
    finally:
        gc.enable()
    return samples


def bench_walk(snapshot: Snapshot, repeats: int) -> Row:
    """A VWAP walk for 100 BTC on the parsed 1,000-level book (goal: p50 ≤ 100 µs)."""
    book = snapshot.book
    quantity = Decimal(100)
    walk = book.walk("buy", quantity=quantity)
    samples = time_calls(lambda: book.walk("buy", quantity=quantity), repeats)
    return (
        '`OrderBook.walk("buy", quantity=Decimal(100))`, 1,000-level book',
        latency(samples),
        f"{walk.levels} levels walked, VWAP {walk.vwap:.4f}; {repeats:,} walks",
    )


def bench_parse(snapshot: Snapshot, repeats: int) -> Row:
    """``OrderBook.parse`` of the raw snapshot (2 x 1,000 levels of strings)."""
    runs = max(1, repeats // 20)
    samples = time_calls(lambda: OrderBook.parse(snapshot.raw), runs)
    return (
        "`OrderBook.parse` of the snapshot (2 x 1,000 str levels)",
        latency(samples),
        f"{runs:,} parses; a walk's integer units are built later, by the first walk",
    )


def bench_parse_and_walk(snapshot: Snapshot, repeats: int) -> Row:
    """A fresh book's whole cost, as each analyzer check pays it: parse, then walk 100 BTC."""
    runs = max(1, repeats // 20)
    quantity = Decimal(100)
    samples = time_calls(lambda: OrderBook.parse(snapshot.raw).walk("buy", quantity=quantity), runs)
    return (
        "parse + first walk for 100 BTC (a fresh book, as fetched)",
        latency(samples),
        f"{runs:,} runs",
    )


def bench_execute_order(snapshot: Snapshot, repeats: int) -> list[Row]:
    """``execute_order`` in MARKET_ONLY on a zero-latency venue holding the real snapshot.

    Reports the wall time, and the library's own share: wall time minus the time spent
    inside the simulated venue's methods (goal: p50 ≤ 300 µs).
    """

    runs = max(100, repeats // 5)

    async def run() -> tuple[list[int], list[int]]:
        venue = TimedVenue(
            SimConfig(
                venue="bench",
                symbols=(binance_btcusdt(),),
                market="static",
                initial_balance=Decimal("1e9"),
            )
        )
        book = snapshot.book
        venue.set_book(
            "BTCUSDT",
            bids=[(lv.price, lv.size) for lv in book.bids],
            asks=[(lv.price, lv.size) for lv in book.asks],
        )
        executor = OrderExecutor()
        total: list[int] = []
        own: list[int] = []
        for i in range(runs + 10):
            side = "buy" if i % 2 == 0 else "sell"
            venue.inside_ns = 0
            start = time.perf_counter_ns()
            await executor.execute_order(
                venue, "BTCUSDT", side, quantity=Decimal("0.010"), mode=ExecutionMode.MARKET_ONLY
            )
            elapsed = time.perf_counter_ns() - start
            if i >= 10:  # warm-up
                total.append(elapsed)
                own.append(elapsed - venue.inside_ns)
        return total, own

    total, own = asyncio.run(run())
    return [
        (
            "`execute_order` MARKET_ONLY 0.01 BTC, zero-latency sim, 1,000-level book: wall",
            latency(total),
            f"{runs:,} orders, alternating sides; GC on",
        ),
        (
            "… of which the library's own (wall minus time inside the venue)",
            latency(own),
            "goal p50 ≤ 300 µs",
        ),
    ]


MEASURES: list[Callable[[Snapshot, int], Row | list[Row]]] = [
    bench_walk,
    bench_parse,
    bench_parse_and_walk,
    bench_execute_order,
]


def main() -> int:
    args = parse_args(
        (__doc__ or "").split("\n\n")[0], "--repeats", 5000, "timed calls per measure"
    )
    snapshot = load_snapshot(args.capture)
    rows: list[Row] = []
    for measure in MEASURES:
        produced = measure(snapshot, args.repeats)
        rows.extend(produced if isinstance(produced, list) else [produced])
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
