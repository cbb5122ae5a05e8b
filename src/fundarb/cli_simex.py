"""``fundarb simex``: a simulated venue behind a local Binance USDⓈ-M futures server.

Wired into :mod:`fundarb.cli`; the library never imports this module.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

__all__ = ["add_command", "run_command"]

DEFAULT_KEY = "simex-key"
DEFAULT_SECRET = "simex-secret"  # a local test credential: printed at start on purpose

_HELP = """\
Serve one simulated venue over the subset of Binance's USD-M futures API that ccxt's
binanceusdm uses (REST, signed with HMAC-SHA256; websocket depth, bookTicker, markPrice
and the user data stream), so a real ccxt client can trade against it end to end. The
venue's state lives in this process: it survives the bot's process crashing. Several
instances on different ports make a multi-venue setup. The key and secret it accepts are
printed at start (defaults: simex-key / simex-secret). --admin enables fault injection at
/simex/admin/faults (off by default).
"""


def add_command(commands: Any) -> None:
    simex = commands.add_parser(
        "simex",
        help="a local exchange server that speaks Binance's USD-M futures API",
        description=_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    simex.add_argument("--port", type=int, default=8101, help="port (default: %(default)s)")
    simex.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    simex.add_argument("--venue-name", default="simex", help="venue name (default: %(default)s)")
    simex.add_argument(
        "--preset",
        choices=["alpha", "beta", "gamma"],
        default="alpha",
        help="which simulated venue's markets and funding (default: %(default)s: "
        "BTCUSDT, ETHUSDT, SOLUSDT, 1000PEPEUSDT)",
    )
    simex.add_argument("--seed", type=int, default=7, help="market seed (default: %(default)s)")
    simex.add_argument("--api-key", default=DEFAULT_KEY, help="the API key it accepts")
    simex.add_argument("--api-secret", default=DEFAULT_SECRET, help="the secret it accepts")
    simex.add_argument("--admin", action="store_true", help="enable the fault-injection API")


def run_command(args: argparse.Namespace) -> int:
    from fundarb.config import is_loopback
    from fundarb.funding.simworld import WorldConfig, sim_world
    from fundarb.venues.simex import serve

    if not 0 < args.port < 65_536:
        print(f"fundarb simex: --port must be in 1..65535, got {args.port}", file=sys.stderr)
        return 2
    if not is_loopback(args.host) and (
        args.api_key == DEFAULT_KEY or args.api_secret == DEFAULT_SECRET
    ):
        print(
            "fundarb simex: binding beyond this machine needs your own --api-key and "
            "--api-secret (the defaults are public)",
            file=sys.stderr,
        )
        return 2
    world = WorldConfig(seed=args.seed, start_time=datetime.now(UTC))  # the wall's clock
    preset = next(v for v in sim_world(world) if v.config.venue == args.preset)
    venue = type(preset)(replace(preset.config, venue=args.venue_name))

    async def run() -> None:
        async with (
            venue,
            serve(
                venue,
                args.host,
                args.port,
                api_key=args.api_key,
                api_secret=args.api_secret,
                admin=args.admin,
            ) as address,
        ):
            symbols = ", ".join(s.symbol for s in venue.config.symbols)
            print(
                f"simex {args.venue_name} on {address.url} ({symbols}); api key "
                f"{args.api_key!r}, secret {args.api_secret!r}; admin "
                f"{'on' if args.admin else 'off'}; Ctrl-C stops",
                flush=True,
            )
            await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        print("simex stopped", file=sys.stderr)
        return 0
    except OSError as exc:
        print(f"fundarb simex: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0
