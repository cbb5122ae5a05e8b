"""What every benchmark script shares: the capture's path, the command line, the table."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CAPTURE = ROOT.parent / "shared" / "data" / "binance" / "usdm_btcusdt_20240808.gz"

Row = tuple[str, str, str]  # measure, result, detail


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
