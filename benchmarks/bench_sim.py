"""Simulated venue benchmarks: book replay throughput, its memory, market order latency.

    .venv/bin/python benchmarks/bench_sim.py [--capture PATH] [--orders N]

Prints a Markdown table (paste it into benchmarks/README.md). Uses the real Binance
USD-M BTCUSDT capture in ../shared/data; exits with a message if it is absent.
"""

from __future__ import annotations

import asyncio
import resource
import time
from decimal import Decimal
from pathlib import Path

from common import Row, latency, parse_args, print_table
from fundarb.venues.sim import SimConfig, SimulatedExchange, binance_btcusdt
from fundarb.venues.sim.book import DepthBook
from fundarb.venues.sim.core import VenueCore
from fundarb.venues.sim.replay import Capture, ReplayFeed, load_capture

TICK, LOT = Decimal("0.1"), Decimal("0.001")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_load(path: Path) -> tuple[Capture, Row]:
    start = time.perf_counter()
    capture = load_capture(path, tick_size=TICK, lot_size=LOT)
    elapsed = time.perf_counter() - start
    detail = (
        f"{len(capture.diffs):,} diffs, {capture.level_updates:,} level updates, "
        f"{len(capture.trades):,} trades"
    )
    return capture, (
        "parse + sync the capture (gzip, JSON, exact ticks/lots)",
        f"{elapsed:.2f} s",
        detail,
    )


def bench_depth_book(capture: Capture, rounds: int = 7) -> Row:
    """Best-of-N throughput of applying every diff to a fresh book (the replay hot path)."""
    best = float("inf")
    for _ in range(rounds):
        book = DepthBook()
        book.apply(capture.snapshot_bids, capture.snapshot_asks)
        diffs = [(d.bids, d.asks) for d in capture.diffs]
        start = time.perf_counter()
        for bids, asks in diffs:
            book.apply(bids, asks)
        best = min(best, time.perf_counter() - start)
    rate = capture.level_updates / best
    return (
        "book replay: level updates/s (DepthBook.apply, best of 7)",
        f"{rate:,.0f} /s",
        f"{capture.level_updates:,} updates in {best * 1000:.1f} ms",
    )


def bench_venue_replay(capture: Capture) -> Row:
    """The whole venue replaying the capture in time: diffs and trades through the core."""
    config = SimConfig(venue="bench", symbols=(binance_btcusdt(),), market="static")
    core = VenueCore(config, start=0.0)
    engine = core.engines["BTCUSDT"]
    core.sources.append(ReplayFeed(engine, capture, start=0.0, tape=core.tapes["BTCUSDT"]))
    events = len(capture.order)
    start = time.perf_counter()
    core.advance(10_000.0)
    elapsed = time.perf_counter() - start
    return (
        "venue replay: diffs + trades through VenueCore.advance",
        f"{events / elapsed:,.0f} events/s",
        f"{capture.level_updates / elapsed:,.0f} level updates/s, {elapsed:.2f} s",
    )


def bench_market_orders(capture: Capture, orders: int) -> list[Row]:
    async def run() -> list[Row]:
        venue = SimulatedExchange(
            SimConfig(
                venue="bench",
                symbols=(binance_btcusdt(),),
                market="static",
                initial_balance=Decimal("10000000"),
            )
        )
        bids = [(t * TICK, n * LOT) for t, n in capture.snapshot_bids]
        asks = [(t * TICK, n * LOT) for t, n in capture.snapshot_asks]
        venue.set_book("BTCUSDT", bids=bids, asks=asks)
        small: list[int] = []
        for i in range(orders):
            side = "buy" if i % 2 == 0 else "sell"
            start = time.perf_counter_ns()
            await venue.place_market_order("BTCUSDT", Decimal("0.010"), side)
            small.append(time.perf_counter_ns() - start)
        walk: list[int] = []
        for i in range(max(1, orders // 10)):
            venue.set_book("BTCUSDT", bids=bids, asks=asks)
            side = "buy" if i % 2 == 0 else "sell"
            start = time.perf_counter_ns()
            await venue.place_market_order("BTCUSDT", Decimal("10"), side)
            walk.append(time.perf_counter_ns() - start)
        return [
            (
                "market order 0.01 BTC, 1,000-level book, zero latency",
                latency(small),
                f"{len(small):,} orders",
            ),
            (
                "market order 10 BTC (walks ~25 levels), 1,000-level book",
                latency(walk),
                f"{len(walk):,} orders",
            ),
        ]

    return asyncio.run(run())


def main() -> int:
    args = parse_args(__doc__.split("\n\n")[0], "--orders", 5000, "market orders to time")
    capture, row = bench_load(args.capture)
    rows = [row, bench_depth_book(capture), bench_venue_replay(capture)]
    rows.append(
        (
            "peak RSS of the process after load + replays",
            f"{peak_rss_mb():.0f} MB",
            "ru_maxrss: interpreter, imports, parsed capture",
        )
    )
    rows.extend(bench_market_orders(capture, args.orders))
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
