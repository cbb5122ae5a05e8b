"""Atomic execution benchmarks: two legs on two simulated venues.

    .venv/bin/python benchmarks/bench_atomic.py [--runs N]

Prints a Markdown table. The venues are simulated (no capture needed): a 50-level book per
side, market-mode legs. Latency is the simulated venues' one-way latency; a round trip is
twice that.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime
from decimal import Decimal

from common import Row, TimedVenue, latency, print_table
from fundarb.execution import AtomicMultiOrderExecutor, AtomicOutcome, OrderSpec
from fundarb.venues.sim import Fault, SimConfig, SimulatedExchange, SymbolConfig

SYMBOL = "BTC-PERP"


def _venue(name: str, latency_s: float) -> TimedVenue:
    symbol = SymbolConfig(
        symbol=SYMBOL,
        tick_size=Decimal("0.1"),
        lot_size=Decimal("0.001"),
        min_notional=Decimal("5"),
        initial_price=Decimal("50000.0"),
        depth_per_level=Decimal("1"),
        taker_mean_size=Decimal("0.1"),
    )
    venue = TimedVenue(
        SimConfig(
            venue=name,
            symbols=(symbol,),
            market="static",
            latency_s=latency_s,
            initial_balance=Decimal("100000000"),
        )
    )
    venue.set_book(
        SYMBOL,
        bids=[(Decimal("49999.9") - Decimal("0.1") * i, "5") for i in range(50)],
        asks=[(Decimal("50000.0") + Decimal("0.1") * i, "5") for i in range(50)],
    )
    return venue


def _pair_specs(a: SimulatedExchange, b: SimulatedExchange) -> list[OrderSpec]:
    return [
        OrderSpec(a, SYMBOL, "buy", None, "market_only", quantity=Decimal("0.01")),
        OrderSpec(b, SYMBOL, "sell", None, "market_only", quantity=Decimal("0.01")),
    ]


async def zero_latency(runs: int) -> list[Row]:
    a, b = _venue("a", 0.0), _venue("b", 0.0)
    executor = AtomicMultiOrderExecutor()
    wall: list[int] = []
    own: list[int] = []
    skew: list[int] = []
    for i in range(runs + 20):
        specs = _pair_specs(a, b) if i % 2 == 0 else list(reversed(_pair_specs(b, a)))
        a.inside_ns = b.inside_ns = 0
        start = time.perf_counter_ns()
        result = await executor.execute_atomically(specs)
        elapsed = time.perf_counter_ns() - start
        assert result.outcome is AtomicOutcome.FILLED, result.error_message
        if i >= 20:
            wall.append(elapsed)
            own.append(elapsed - a.inside_ns - b.inside_ns)
            skew.append(int((result.send_skew_ms or 0.0) * 1e6))
    return [
        (
            "two-leg market `execute_atomically`, zero-latency venues: wall",
            latency(wall),
            f"{runs:,} runs; goal p50 ≤ 1 ms",
        ),
        (
            "… of which the library's own (wall minus time inside the two venues)",
            latency(own),
            "the simulated venues' matching, books and accounting excluded",
        ),
        (
            "… leg-send skew (first send of one leg to the other's)",
            latency(skew),
            "goal p50 ≤ 100 µs",
        ),
    ]


def _venue_seconds(venue: SimulatedExchange, when: datetime) -> float:
    """A venue timestamp as event-loop seconds (the venue processed it then)."""
    core = venue.core
    return core.start + (when - core.start_time).total_seconds()


async def with_latency(runs: int, latency_s: float) -> list[Row]:
    rtt = 2 * latency_s
    a, b = _venue("a", latency_s), _venue("b", latency_s)
    executor = AtomicMultiOrderExecutor()
    loop = asyncio.get_running_loop()
    whole: list[float] = []
    placed: list[float] = []
    for _ in range(runs):
        start = loop.time()
        result = await executor.execute_atomically(_pair_specs(a, b))
        assert result.outcome is AtomicOutcome.FILLED, result.error_message
        whole.append((loop.time() - start) / rtt)
        placed.append((result.placement_ms or 0.0) / 1000 / rtt)
    to_flat: list[float] = []
    for _ in range(runs):
        b.faults.add(Fault.reject(count=None))
        fills_before = len(a.core.fills)
        result = await executor.execute_atomically(_pair_specs(a, b), on_imbalance="rollback")
        b.faults.clear()
        assert result.outcome is AtomicOutcome.ROLLED_BACK, result.outcome
        # b refused on arrival; its answer reached us one way later. a was flat when the
        # closing fill's answer reached us, one way after a processed it.
        refused_at = b.core.start + b.faults.fired[-1][0] + latency_s
        closing = a.core.fills[fills_before + 1 :]
        assert closing, "no closing fill on a"
        flat_at = _venue_seconds(a, closing[-1].timestamp) + latency_s
        to_flat.append((flat_at - refused_at) * 1000)
    return [
        (
            f"happy path, {latency_s * 1000:g} ms one-way latency: placement (first send to the "
            "last leg's answer) in round trips",
            _median(placed, "RTT"),
            f"{runs} runs; goal ≤ 1.2 RTT",
        ),
        (
            "… the whole call (pre-flight read, send, exact fees, verification) in round trips",
            _median(whole, "RTT"),
            "pre-flight 1 + send 1 + fills 1 + verify 1",
        ),
        (
            'one leg rejected → flat (`on_imbalance="rollback"`), ms',
            _median(to_flat, "ms"),
            f"goal ≤ 2 RTT + 5 ms = {2 * rtt * 1000 + 5:g} ms",
        ),
    ]


def _median(values: list[float], unit: str) -> str:
    ordered = sorted(values)
    return f"p50 {ordered[len(ordered) // 2]:.2f} {unit}, max {ordered[-1]:.2f} {unit}"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=500, help="runs (default: %(default)s)")
    args = parser.parse_args()
    rows = asyncio.run(zero_latency(args.runs))
    rows += asyncio.run(with_latency(max(5, args.runs // 50), 0.05))
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
