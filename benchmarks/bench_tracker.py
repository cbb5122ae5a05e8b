"""ExecutionTracker benchmarks: statistics over many records in memory.

    .venv/bin/python benchmarks/bench_tracker.py [--records N] [--repeats N]

Prints a Markdown table. Builds N two-leg records (default 100,000: goal ≤ 200 ms for
``get_execution_stats``) spread over the last 24 hours, across two strategies, three venues
and three modes, with exact decimals as the executors produce them (VWAPs and slippage with
28 significant digits); no capture needed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from common import Row, latency, print_table
from fundarb.execution import ExecutionRecord, ExecutionTracker, LegRecord

NOW = datetime(2026, 1, 1, tzinfo=UTC)
VENUES = ("binance", "bybit", "okx")
MODES = ("market_only", "limit_with_fallback", "post_only")
OUTCOMES = ("filled",) * 17 + ("hedged", "rolled_back", "residual_exposure")


def _leg(rng: random.Random, index: int, side: str, quantity: Decimal) -> LegRecord:
    """A leg filled in two parts a few ticks from the mid: a VWAP with up to 28 digits."""
    mid = Decimal(50_000) + Decimal(rng.randrange(-50_000, 50_000)) / 10 + Decimal("0.05")
    sign = 1 if side == "buy" else -1
    first = quantity * rng.randrange(1, 10) / 10
    prices = [mid + sign * Decimal(rng.randrange(-2, 8)) / 10 - sign * Decimal("0.05")]
    prices.append(prices[0] + sign * Decimal(rng.randrange(0, 3)) / 10)
    fill_price = (prices[0] * first + prices[1] * (quantity - first)) / quantity
    maker = quantity * rng.randrange(0, 11) / 10
    return LegRecord(
        venue=VENUES[rng.randrange(len(VENUES))],
        symbol="BTC-PERP",
        side=side,
        mode=MODES[rng.randrange(len(MODES))],
        quantity=quantity,
        filled_quantity=quantity if rng.random() < 0.95 else quantity / 2,
        arrival_mid=mid,
        fill_price=fill_price,
        maker_quantity=maker,
        taker_quantity=quantity - maker,
        fees=fill_price * quantity * Decimal("0.0004"),
        time_to_fill_ms=rng.uniform(5, 3_000),
        index=index,
    )


def build(count: int, seed: int = 7) -> list[ExecutionRecord]:
    """``count`` two-leg records spread over the 24 hours before ``NOW``."""
    rng = random.Random(seed)
    records = []
    for i in range(count):
        quantity = Decimal(rng.randrange(1, 500)) / 1000
        outcome = OUTCOMES[rng.randrange(len(OUTCOMES))]
        legs = (_leg(rng, 0, "buy", quantity), _leg(rng, 1, "sell", quantity))
        records.append(
            ExecutionRecord(
                execution_id=f"bench-{i:06d}",
                strategy_name="funding_arb" if rng.random() < 0.9 else "basis",
                symbol="BTC-PERP",
                filled=outcome == "filled",
                outcome=outcome,
                slippage_pct=Decimal(rng.randrange(-20, 60)) / 100_000 / 3,
                time=NOW - timedelta(microseconds=rng.randrange(24 * 3_600_000_000)),
                rollback_cost_usd=Decimal(rng.randrange(0, 5_000)) / 100
                if outcome == "rolled_back"
                else Decimal(0),
                leg_skew_ms=rng.uniform(0, 2),
                legs=legs,
            )
        )
    return records


def time_calls(call: Callable[[], object], repeats: int) -> list[int]:
    """Wall time of each call in ns, after two untimed warm-up calls; GC paused while timing."""
    for _ in range(2):
        call()
    samples: list[int] = []
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter_ns()
            call()
            samples.append(time.perf_counter_ns() - start)
    finally:
        gc.enable()
    return samples


async def run(count: int, repeats: int) -> list[Row]:
    records = sorted(build(count), key=lambda r: r.time)  # as they happen
    tracker = ExecutionTracker()
    start = time.perf_counter_ns()
    for record in records:
        await tracker.record_execution(record)
    load_ns = time.perf_counter_ns() - start
    stats = tracker.get_execution_stats("funding_arb", time_window_hours=24, now=NOW)
    measures: list[tuple[str, Callable[[], object]]] = [
        (
            '`get_execution_stats("funding_arb", 24)`',
            lambda: tracker.get_execution_stats("funding_arb", time_window_hours=24, now=NOW),
        ),
        (
            "`get_execution_stats()` (every strategy)",
            lambda: tracker.get_execution_stats(time_window_hours=24, now=NOW),
        ),
        (
            '`get_execution_stats("funding_arb", 24, venue="okx")` (leg filter)',
            lambda: tracker.get_execution_stats(
                "funding_arb", time_window_hours=24, venue="okx", now=NOW
            ),
        ),
        (
            '`get_execution_stats("funding_arb", 1)` (the last hour)',
            lambda: tracker.get_execution_stats("funding_arb", time_window_hours=1, now=NOW),
        ),
        (
            "`hourly_series(time_window_hours=24)`",
            lambda: tracker.hourly_series(time_window_hours=24, now=NOW),
        ),
    ]
    rows: list[Row] = []
    for name, call in measures:
        rows.append((name, latency(time_calls(call, repeats)), f"{count:,} records in memory"))
    rows.append(
        (
            "`record_execution` without a store",
            f"{load_ns / count / 1000:,.1f} µs per record",
            f"{count:,} records added in time order; "
            f"{stats['count']:,} in the first query's window",
        )
    )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="(default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=20, help="(default: %(default)s)")
    args = parser.parse_args()
    print_table(asyncio.run(run(args.records, args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
