"""What every benchmark script shares: the capture's path, the command line, the table."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fundarb.venues.sim import SimulatedExchange

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CAPTURE = ROOT.parent / "shared" / "data" / "binance" / "usdm_btcusdt_20240808.gz"

Row = tuple[str, str, str]  # measure, result, detail


class TimedVenue(SimulatedExchange):
    """A simulated venue that adds up the time spent inside its own methods, so a benchmark
    can tell the library's own time from the venue's."""

    inside_ns = 0


def _timed(name: str) -> Callable[..., Any]:
    original = getattr(SimulatedExchange, name)

    async def timed(self: TimedVenue, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter_ns()
        try:
            return await original(self, *args, **kwargs)
        finally:
            self.inside_ns += time.perf_counter_ns() - start

    return timed


for _name in (
    "get_order_book_depth",
    "place_limit_order",
    "place_market_order",
    "cancel_order",
    "get_order_info",
    "get_position",
    "get_fills",
    "get_server_time",
    "get_market_spec",
    "get_balance",
    "get_open_orders",
    "get_fee_schedule",
    "get_order_by_client_id",
):
    setattr(TimedVenue, _name, _timed(_name))


def parse_args(
    description: str, count_flag: str, count_default: int, count_help: str
) -> argparse.Namespace:
    """``--capture PATH`` and one count option; exits with a message if the capture is absent."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--capture",
        type=Path,
        default=DEFAULT_CAPTURE,
        help="Binance USD-M capture (default: %(default)s)",
    )
    parser.add_argument(
        count_flag, type=int, default=count_default, help=f"{count_help} (default: %(default)s)"
    )
    args = parser.parse_args()
    if not args.capture.is_file():
        raise SystemExit(f"capture not found: {args.capture} (see shared/data/SOURCES.md)")
    return args


def latency(samples_ns: list[int]) -> str:
    """``p50 …, p99 …`` of wall-time samples in nanoseconds."""
    ordered = sorted(samples_ns)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {_duration(p50)}, p99 {_duration(p99)}"


def _duration(ns: float) -> str:
    return f"{ns / 1e6:,.2f} ms" if ns >= 1e6 else f"{ns / 1000:,.1f} µs"


def print_table(rows: list[Row]) -> None:
    """The rows as a Markdown table, under a line naming the interpreter."""
    print(f"Python {sys.version.split()[0]} on {sys.platform}, one core\n")
    print("| measure | result | detail |")
    print("|---|---|---|")
    for name, result, detail in rows:
        print(f"| {name} | {result} | {detail} |")
