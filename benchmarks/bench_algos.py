"""Execution cost of a large pair: market-only pair vs pair TWAP vs maker ladder.

    .venv/bin/python benchmarks/bench_algos.py [--runs N] [--quantity BTC] [--capture PATH]

Two simulated venues (``a`` buys, ``b`` sells) both replay the real Binance USD-M BTCUSDT
capture in ../shared/data (its 1,000-level snapshot, then every depth diff and trade, in
time); passive orders fill when the recorded trades reach them, behind the recorded queue.
Binance's filters (tick 0.1, lot 0.001, min notional 100) and fees (maker 2 bp, taker 5 bp)
apply. Each run starts its algorithm at a seeded offset into the capture (0-120 s), with
seeded latency jitter (5 ms ± 5 ms one way) and, for the TWAP, a seeded slice timing. The
loop clock is fast-forwarded (looptime), so a 3-minute algorithm takes about a second.

Measured, per run, from the venues' own fills (not from what the algorithms report):
cost = Σ side × (fill price − the venue's arrival mid) × quantity + fees, in bps of the
notional traded (both legs at their arrival mids); and the unhedged exposure
|position a + position b| sampled every 100 ms of loop time: its maximum and its integral
(quantity × seconds). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import looptime

from common import DEFAULT_CAPTURE
from fundarb.execution import (
    AtomicMultiOrderExecutor,
    MakerLadder,
    MakerLadderConfig,
    OrderSpec,
    PairLeg,
    PairTwap,
    TwapConfig,
)
from fundarb.venues.sim import ReplayConfig, SimConfig, SimulatedExchange, binance_btcusdt

SYMBOL = "BTCUSDT"
DURATION_S = 180.0  # the TWAP's and the ladder's time; the capture lasts 344 s
SLICES = 20
MAX_OFFSET_S = 120.0


@dataclass(frozen=True, slots=True)
class Run:
    cost_bps: float
    max_unhedged: Decimal
    unhedged_qty_s: float
    filled: Decimal  # the smaller leg
    wall_s: float


def _venue(name: str, capture: Path, seed: int) -> SimulatedExchange:
    return SimulatedExchange(
        SimConfig(
            venue=name,
            symbols=(binance_btcusdt(),),
            market=ReplayConfig(path=capture, symbol=SYMBOL),
            initial_balance=Decimal("1e9"),
            default_leverage=20,
            latency_s=0.005,
            latency_jitter_s=0.005,
            seed=seed,
        )
    )


def _mid(venue: SimulatedExchange) -> Decimal:
    book = venue.core.depth(SYMBOL, 1)
    return (Decimal(book["bids"][0]["price"]) + Decimal(book["asks"][0]["price"])) / 2


def _cost(venue: SimulatedExchange, mid: Decimal) -> tuple[Decimal, Decimal]:
    """(cost in quote, notional at the arrival mid) of every fill on ``venue``."""
    cost = notional = Decimal(0)
    for fill in venue.core.fills:
        cost += (fill.price - mid) * fill.quantity * fill.side.sign + fill.fee
        notional += fill.quantity * mid
    return cost, notional


Algorithm = Callable[[SimulatedExchange, SimulatedExchange, Decimal, int], Awaitable[object]]


async def market_only(a: SimulatedExchange, b: SimulatedExchange, q: Decimal, seed: int) -> object:
    specs = [
        OrderSpec(a, SYMBOL, "buy", None, "market_only", 30.0, quantity=q),
        OrderSpec(b, SYMBOL, "sell", None, "market_only", 30.0, quantity=q),
    ]
    # the 0.5 % price bound of a market leg is the executor's default; pre-flight would
    # refuse a size beyond the book's comfort, which is the point of this comparison
    return await AtomicMultiOrderExecutor().execute_atomically(specs, pre_flight_check=False)


TWAP_MAX_IMBALANCE_S = 2.0  # --twap-max-imbalance-s


async def pair_twap(a: SimulatedExchange, b: SimulatedExchange, q: Decimal, seed: int) -> object:
    config = TwapConfig(
        duration_s=DURATION_S, slices=SLICES, seed=seed, max_imbalance_s=TWAP_MAX_IMBALANCE_S
    )
    twap = PairTwap(
        buy=PairLeg(a, SYMBOL), sell=PairLeg(b, SYMBOL), quantity=q, config=config, clock=_clock
    )
    return await twap.run()


async def patient_twap(a: SimulatedExchange, b: SimulatedExchange, q: Decimal, seed: int) -> object:
    """The TWAP with its slices resting most of their interval: less jitter (10 %), each
    leg's passive order 8 s of the 9 s interval, a lagging leg hurried after 8 s."""
    config = TwapConfig(
        duration_s=DURATION_S,
        slices=SLICES,
        seed=seed,
        jitter=0.1,
        slice_timeout_s=8.0,
        max_imbalance_s=8.0,
    )
    twap = PairTwap(
        buy=PairLeg(a, SYMBOL), sell=PairLeg(b, SYMBOL), quantity=q, config=config, clock=_clock
    )
    return await twap.run()


async def maker_ladder(a: SimulatedExchange, b: SimulatedExchange, q: Decimal, seed: int) -> object:
    config = MakerLadderConfig(
        max_unhedged_quantity=q / SLICES, timeout_s=DURATION_S, patient="buy"
    )
    ladder = MakerLadder(buy=PairLeg(a, SYMBOL), sell=PairLeg(b, SYMBOL), quantity=q, config=config)
    return await ladder.run()


def _clock() -> datetime:
    """UTC time that follows the fast-forwarded loop."""
    return datetime(2024, 8, 8, tzinfo=UTC) + timedelta(seconds=asyncio.get_running_loop().time())


async def one_run(algorithm: Algorithm, capture: Path, q: Decimal, seed: int) -> Run:
    rng = random.Random(seed)
    a, b = _venue("a", capture, 2 * seed), _venue("b", capture, 2 * seed + 1)
    async with a, b:
        await asyncio.sleep(rng.uniform(0, MAX_OFFSET_S))
        mids = _mid(a), _mid(b)
        integral = 0.0
        worst = Decimal(0)
        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            task = group.create_task(algorithm(a, b, q, seed))
            while not task.done():
                gap = abs(a.core.account.quantity(SYMBOL) + b.core.account.quantity(SYMBOL))
                worst = max(worst, gap)
                integral += float(gap) * 0.1
                await asyncio.sleep(0.1)
        wall = time.perf_counter() - started
        (cost_a, notional_a), (cost_b, notional_b) = _cost(a, mids[0]), _cost(b, mids[1])
        filled = min(a.core.account.quantity(SYMBOL), -b.core.account.quantity(SYMBOL))
    return Run(
        cost_bps=float((cost_a + cost_b) / (notional_a + notional_b) * 10_000),
        max_unhedged=worst,
        unhedged_qty_s=integral,
        filled=filled,
        wall_s=wall,
    )


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    global TWAP_MAX_IMBALANCE_S  # one knob of a script
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=5, help="seeded runs per algorithm (default: 5)"
    )
    parser.add_argument(
        "--quantity", type=Decimal, default=Decimal(50), help="BTC each way (default: 50)"
    )
    parser.add_argument("--capture", type=Path, default=DEFAULT_CAPTURE)
    parser.add_argument(
        "--twap-max-imbalance-s",
        type=float,
        default=2.0,
        help="how long a TWAP slice's leg may lag its partner before it is hurried "
        "(default: %(default)s, the library's)",
    )
    parser.add_argument(
        "--only",
        default="market,twap,patient,ladder",
        help="algorithms to run (default: %(default)s)",
    )
    args = parser.parse_args()
    TWAP_MAX_IMBALANCE_S = args.twap_max_imbalance_s
    if not args.capture.is_file():
        raise SystemExit(f"capture not found: {args.capture} (see shared/data/SOURCES.md)")
    algorithms: dict[str, tuple[str, Algorithm]] = {
        "market": ("market-only pair (one atomic execution)", market_only),
        "twap": (
            f"pair TWAP ({SLICES} slices over {DURATION_S:.0f} s, limit then market, "
            f"lagging leg hurried after {TWAP_MAX_IMBALANCE_S:g} s)",
            pair_twap,
        ),
        "patient": (
            f"pair TWAP, patient ({SLICES} slices, jitter 10 %, legs rest 8 s of 9, "
            "hurried after 8 s)",
            patient_twap,
        ),
        "ladder": (
            f"maker ladder (clip {args.quantity / SLICES} BTC, {DURATION_S:.0f} s)",
            maker_ladder,
        ),
    }
    print(f"Python {sys.version.split()[0]}; {args.runs} runs each; {args.quantity} BTC each way\n")
    print(
        "| algorithm | mean cost | p95 cost | worst unhedged qty x s | max unhedged | filled "
        "| wall/run |"
    )
    print("|---|---|---|---|---|---|---|")
    for key in args.only.split(","):
        name, algorithm = algorithms[key]
        runs: list[Run] = []
        for seed in range(args.runs):
            loop = looptime.new_event_loop(start=0)
            try:
                runs.append(
                    loop.run_until_complete(one_run(algorithm, args.capture, args.quantity, seed))
                )
            finally:
                loop.close()
        costs = [r.cost_bps for r in runs]
        print(
            f"| {name} | {statistics.fmean(costs):.2f} bp | {_p95(costs):.2f} bp | "
            f"{max(r.unhedged_qty_s for r in runs):.1f} BTC·s | "
            f"{max(r.max_unhedged for r in runs)} BTC | "
            f"{min(r.filled for r in runs)}–{max(r.filled for r in runs)} | "
            f"{statistics.fmean(r.wall_s for r in runs):.1f} s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
