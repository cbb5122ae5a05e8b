"""``fundarb twap``: a pair TWAP on two simulated venues, with a live progress bar.

Wired into :mod:`fundarb.cli`; the library never imports this module.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from decimal import Decimal
from typing import Any

from fundarb.cli_args import positive_decimal, positive_float, positive_int

__all__ = ["add_command", "run_command"]

_HELP = """\
Open a delta-neutral pair in slices: buy QUANTITY BTC on the simulated venue alpha and sell
it on beta over DURATION simulated seconds, in SLICES slices. Each slice goes through the
atomic executor (both legs together; whole, balanced or flat afterwards), starts at a
random moment early in its interval, and the legs are levelled before the next slice; when
the legs fall a slice behind the schedule, the next slice starts at once. At the deadline
what is left is finished with market slices (--deadline-policy finish_aggressive) or left
undone (stop). The bar shows what each leg filled against the schedule and the cost so far
against the arrival mids (fees included). Both venues quote one simulated market (the same
seed gives the same market); nothing touches a real exchange.
"""


def add_command(commands: Any) -> None:
    twap = commands.add_parser(
        "twap",
        help="a pair TWAP on two simulated venues, with a progress bar",
        description=_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    twap.add_argument(
        "--quantity",
        type=positive_decimal,
        default=Decimal("2"),
        help="BTC each way (default: %(default)s)",
    )
    twap.add_argument(
        "--duration",
        type=positive_float,
        default=120.0,
        help="simulated seconds the TWAP may take (default: %(default)s)",
    )
    twap.add_argument(
        "--slices", type=positive_int, default=10, help="how many slices (default: %(default)s)"
    )
    twap.add_argument(
        "--speed",
        type=positive_float,
        default=5.0,
        help="simulated seconds per real second; the executor's own waits are real, so "
        "keep a slice interval above a few real seconds (default: %(default)s)",
    )
    twap.add_argument(
        "--deadline-policy",
        choices=["finish_aggressive", "stop"],
        default="finish_aggressive",
        help="what to do with the rest at the deadline (default: %(default)s)",
    )
    twap.add_argument(
        "--slice-mode",
        choices=["limit_with_fallback", "limit_only", "aggressive_limit", "market_only"],
        default="limit_with_fallback",
        help="how each slice's legs trade (default: %(default)s)",
    )
    twap.add_argument(
        "--seed",
        type=int,
        default=7,
        help="market and timing seed; the same seed replays the same run (default: %(default)s)",
    )


def run_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console()
    try:
        result = asyncio.run(_run(args, console))
    except KeyboardInterrupt:
        console.print("interrupted: the simulated venues were closed")
        return 130
    except ValueError as exc:  # ConfigError and InvalidOrderError are ValueErrors
        print(f"fundarb twap: {exc}", file=sys.stderr)
        return 2
    return 0 if result else 1


async def _run(args: argparse.Namespace, console: Any) -> bool:
    from rich.progress import BarColumn, Progress, TextColumn
    from rich.table import Table

    from fundarb.execution import PairLeg, PairTwap, TwapConfig, TwapProgress, TwapState
    from fundarb.venues.sim import MarketModelConfig, SimConfig, SimulatedExchange, SymbolConfig

    speed: float = args.speed
    symbol = SymbolConfig(
        symbol="BTC-PERP",
        tick_size=Decimal("0.1"),
        lot_size=Decimal("0.001"),
        min_notional=Decimal("5"),
        initial_price=Decimal("60000.0"),
        depth_per_level=Decimal("0.5"),
        taker_mean_size=Decimal("0.1"),
    )
    model = MarketModelConfig(price_seed=args.seed, taker_rate_per_s=3.0)
    venues = [
        SimulatedExchange(
            SimConfig(
                venue=name,
                symbols=(symbol,),
                model=model,
                seed=args.seed * 2 + i,
                time_scale=speed,
                initial_balance=Decimal("1e8"),
            )
        )
        for i, name in enumerate(("alpha", "beta"))
    ]
    # the TWAP runs on the loop's clock: simulated seconds divided by the speed
    config = TwapConfig(
        duration_s=args.duration / speed,
        slices=args.slices,
        deadline_policy=args.deadline_policy,
        slice_mode=args.slice_mode,
        max_imbalance_s=max(2.0 / speed, 0.05),
        seed=args.seed,
    )
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=20),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("TWAP", total=float(args.quantity), detail="starting")

        def show(p: TwapProgress) -> None:
            cost = f"{p.cost_bps:.2f} bp" if p.cost_bps is not None else "-"
            progress.update(
                bar,
                completed=float(min(p.filled_buy, p.filled_sell)),
                detail=(
                    f"buy {p.filled_buy} sell {p.filled_sell} "
                    f"(plan {p.scheduled.quantize(Decimal('0.01'))}) "
                    f"slice {p.slices_done}/{p.slices_planned} "
                    f"{p.elapsed_s * speed:.0f}/{args.duration:.0f}s {cost}"
                ),
            )

        async with venues[0], venues[1]:
            twap = PairTwap(
                buy=PairLeg(venues[0], "BTC-PERP"),
                sell=PairLeg(venues[1], "BTC-PERP"),
                quantity=args.quantity,
                config=config,
                on_progress=show,
            )
            result = await twap.run()
            positions = [v.core.account.quantity("BTC-PERP") for v in venues]
    table = Table(title=f"pair TWAP {result.twap_id}: {result.state.value}")
    for column in ("slice", "quantity", "outcome", "buy", "sell", "start (sim s)", "cost USD"):
        table.add_column(column, justify="right")
    for s in result.slices:
        table.add_row(
            f"{s.index}{' (deadline)' if s.aggressive else ''}",
            str(s.quantity),
            s.outcome,
            str(s.filled_buy),
            str(s.filled_sell),
            f"{s.started_s * speed:.1f}",
            f"{s.cost_usd:.2f}",
        )
    console.print(table)
    cost = f"{result.cost_bps:.2f} bp" if result.cost_bps is not None else "-"
    console.print(
        f"filled: buy {result.filled_buy} on alpha, sell {result.filled_sell} on beta "
        f"(positions {positions[0]} / {positions[1]}); cost {result.cost_usd:.2f} USD = {cost} "
        f"against the arrival mids, fees included" + (f"; {result.error}" if result.error else "")
    )
    return result.state is TwapState.COMPLETED or (
        result.state is TwapState.STOPPED and args.deadline_policy == "stop"
    )
