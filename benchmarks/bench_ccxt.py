"""Place-and-cancel round trips through ``CcxtExchangeClient`` to a local simex server.

    .venv/bin/python benchmarks/bench_ccxt.py [--runs N]

Prints a Markdown table. Each run places a passive limit buy far below the touch (it rests)
through :class:`CcxtExchangeClient`, then cancels it. Per run: the whole round trip, the
time inside ccxt's own ``create_order`` and ``cancel_order`` (the exchange instance's
methods wrapped with a timer: request building, signing, HTTP, the server's answer, ccxt's
parsing) and our adapter's share, (total − ccxt) / ccxt: validation, rounding, client
order id, the account's rate limiter (set wide here, so it never waits), logging, and
parsing ccxt's dicts into ``OrderResult``.

Two servers: ``fundarb simex`` in its own process (the default deployment; the server's
work does not run on the client's event loop), and simex in the benchmark's own event loop
(the server's work then lands inside ccxt's awaits). ccxt's throttle is off (simex has no
limit to respect; live, it only waits). Garbage is collected and frozen after the warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from common import Row, latency, print_table
from fundarb.funding.simworld import WorldConfig, sim_world
from fundarb.venues.ccxt import CcxtExchangeClient
from fundarb.venues.ccxt.limiter import AccountRateLimiter
from fundarb.venues.simex import binanceusdm_client, serve

SYMBOL = "BTC/USDT:USDT"
QUANTITY = Decimal("0.01")
API_KEY = "bench-key"
API_SECRET = "bench-secret"
WARM_UP = 20


class CcxtTimer:
    """Adds up the wall time spent inside the wrapped methods of one ccxt instance."""

    def __init__(self, exchange: Any, names: tuple[str, ...]) -> None:
        self.inside_ns = 0
        for name in names:
            setattr(exchange, name, self._timed(getattr(exchange, name)))

    def _timed(self, method: Callable[..., Any]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter_ns()
            try:
                return await method(*args, **kwargs)
            finally:
                self.inside_ns += time.perf_counter_ns() - start

        return timed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def process_server() -> AsyncIterator[str]:
    """``fundarb simex`` (preset alpha) in a child process; its base URL."""
    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fundarb",
        "simex",
        "--port",
        str(port),
        "--api-key",
        API_KEY,
        "--api-secret",
        API_SECRET,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=dict(os.environ),
    )
    try:
        assert server.stdout is not None
        async with asyncio.timeout(60):
            banner = (await server.stdout.readline()).decode()
        if f":{port}" not in banner:
            raise SystemExit(f"simex did not start: {banner!r}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        await server.wait()


@asynccontextmanager
async def inline_server() -> AsyncIterator[str]:
    """The same venue served from this event loop; its base URL."""
    world = WorldConfig(start_time=datetime.now(UTC))
    venue = next(v for v in sim_world(world) if v.config.venue == "alpha")
    async with (
        venue,
        serve(venue, api_key=API_KEY, api_secret=API_SECRET) as address,
    ):
        yield address.url


async def round_trips(url: str, runs: int) -> tuple[list[int], list[int]]:
    """``runs`` place-and-cancel round trips: (total ns, inside-ccxt ns) per run."""
    exchange = binanceusdm_client(
        url, api_key=API_KEY, secret=API_SECRET, config={"enableRateLimit": False}
    )
    client = CcxtExchangeClient(
        exchange, venue="simex", limiter=AccountRateLimiter(rate_per_s=1e6, burst=1_000_000)
    )
    try:
        bid, _ = await client.fetch_bbo_prices(SYMBOL)
        price = (bid * Decimal("0.9")).quantize(Decimal("0.1"))  # far below the touch: rests
        timer = CcxtTimer(exchange, ("create_order", "cancel_order"))
        totals: list[int] = []
        inside: list[int] = []
        for run in range(WARM_UP + runs):
            if run == WARM_UP:
                gc.collect()
                gc.freeze()
            before = timer.inside_ns
            start = time.perf_counter_ns()
            placed = await client.place_limit_order(SYMBOL, QUANTITY, price, "buy")
            if not placed.success or placed.order_id is None or placed.status != "NEW":
                raise SystemExit(f"the order did not rest: {placed}")
            cancelled = await client.cancel_order(placed.order_id)
            elapsed = time.perf_counter_ns() - start
            if not cancelled.success:
                raise SystemExit(f"the cancel failed: {cancelled}")
            if run >= WARM_UP:
                totals.append(elapsed)
                inside.append(timer.inside_ns - before)
        if await client.get_open_orders(SYMBOL):
            raise SystemExit("an order was left open")
        return totals, inside
    finally:
        gc.unfreeze()
        await exchange.close()


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def rows_for(label: str, totals: list[int], inside: list[int]) -> list[Row]:
    ours = [t - c for t, c in zip(totals, inside, strict=True)]
    shares = [o / c for o, c in zip(ours, inside, strict=True)]
    p50_share = (statistics.median(totals) - statistics.median(inside)) / statistics.median(inside)
    verdict = "within" if statistics.median(shares) <= 0.10 else "OVER"
    return [
        (f"{label}: place + cancel, whole round trip", latency(totals), f"{len(totals)} runs"),
        (f"{label}: inside ccxt (create_order + cancel_order)", latency(inside), "HTTP included"),
        (f"{label}: our adapter (total − ccxt)", latency(ours), "CPU on our side"),
        (
            f"**{label}: adapter share (total − ccxt) / ccxt**",
            f"**p50 {statistics.median(shares):.1%}, p99 {_p(shares, 0.99):.1%}**",
            f"goal ≤ 10 %: {verdict}; of the p50s: {p50_share:.1%}",
        ),
    ]


async def main(runs: int) -> list[Row]:
    rows: list[Row] = []
    async with process_server() as url:
        rows += rows_for("simex in a process", *await round_trips(url, runs))
    async with inline_server() as url:
        rows += rows_for("simex in this loop", *await round_trips(url, runs))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="round trips (default: 200)")
    print_table(asyncio.run(main(parser.parse_args().runs)))
