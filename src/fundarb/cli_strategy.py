"""``fundarb demo`` and ``fundarb run``: the funding-arbitrage strategy.

Wired into :mod:`fundarb.cli`; the library never imports this module.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from fundarb.cli_args import days
from fundarb.errors import ConfigError, StorageError

__all__ = ["add_commands", "run_command"]

_DEMO_HELP = """\
Run the whole funding-arbitrage strategy on three simulated venues (alpha, beta, gamma:
BTC, ETH and SOL with 8 h / 4 h, 8 h and hourly funding; alpha's BTCUSDT built from the real
Binance capture in ../shared/data when it is there), on fast-forwarded time: three simulated
days in well under a minute. A live view shows the opportunities, the open pairs, funding
accrued and recent executions. One leg of an entry is rejected on purpose to show the hedge
or the rollback. At the end every pair is closed, a summary is printed (PnL split into
funding, basis, fees and slippage, checked against the venues' equity), and an HTML report
is written. Nothing touches a real exchange; the demo's database is its own file.
"""

_RUN_HELP = """\
Run the funding-arbitrage strategy of a config file (see examples/config.yaml): scan
opportunities, open pairs through the atomic executor, monitor them, close them by the
exit rules, until stopped. At start it recovers interrupted executions and resumes the
positions in the database. Ctrl-C (or SIGTERM) stops cleanly: no order of ours is left
open, positions stay as they are, and a summary is printed. The kill switch stops new
entries and keeps managing open pairs: create the file named by strategy.kill_switch_file,
send SIGUSR1 (SIGUSR2 allows entries again), or with --api: POST /strategy/stop-entries.
"""


def add_commands(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="the strategy on three simulated venues: three days, fast-forwarded",
        description=_DEMO_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--days", type=days, default=3.0, help="simulated days, up to 30 (default: %(default)s)"
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=7,
        help="market model seed; the same seed replays the same run (default: %(default)s)",
    )
    demo.add_argument(
        "--database",
        type=Path,
        default=Path("fundarb-demo.db"),
        help="the demo's SQLite file, replaced on each run (default: %(default)s)",
    )
    demo.add_argument(
        "--report",
        type=Path,
        default=Path("fundarb-demo-report.html"),
        help="the HTML report to write (default: %(default)s)",
    )
    demo.add_argument(
        "--capture",
        type=Path,
        help="the Binance USD-M BTCUSDT capture (default: ../shared/data/binance/...)",
    )
    demo.add_argument("--no-live", action="store_true", help="no live view: print the summary only")
    demo.add_argument("--no-fault", action="store_true", help="do not inject the rejected leg")
    run = commands.add_parser(
        "run",
        help="run the funding-arbitrage strategy of a config file until stopped",
        description=_RUN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("-c", "--config", type=Path, required=True, help="the config file (YAML)")
    run.add_argument("--url", help="database URL (default: the config's, env, SQLite file)")
    run.add_argument(
        "--api",
        action="store_true",
        help="serve the control API (GET /strategy, POST /strategy/stop-entries and "
        "/strategy/resume-entries) on the config's service host and port (default "
        "127.0.0.1:8100; another host needs the token in service.token_env)",
    )


def run_command(args: argparse.Namespace) -> int:
    if args.command == "demo":
        return _demo(args)
    return _run(args)


def _demo(args: argparse.Namespace) -> int:
    from fundarb.demo import DemoConfig, run_demo_blocking

    try:
        config = DemoConfig(
            days=args.days,
            seed=args.seed,
            database=args.database,
            report=args.report,
            capture=args.capture,
            live=not args.no_live,
            inject_fault=not args.no_fault,
        )
    except ConfigError as exc:
        print(f"fundarb demo: {exc}", file=sys.stderr)
        return 2
    if args.capture is not None and not args.capture.is_file():
        print(f"fundarb demo: no capture file at {args.capture}", file=sys.stderr)
        return 2
    console = Console()
    try:
        report = run_demo_blocking(config, console)
    except KeyboardInterrupt:
        console.print("interrupted: the strategy stopped cleanly and the venues were closed")
        return 130
    clean = report.open_orders_left == 0 and report.open_positions_left == 0
    return 0 if clean else 1


def _run(args: argparse.Namespace) -> int:
    from fundarb.config import load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"fundarb run: {exc}", file=sys.stderr)
        return 2
    console = Console()
    try:
        return asyncio.run(_run_strategy(config, args.url, console, api=args.api))
    except (ConfigError, StorageError) as exc:
        print(f"fundarb run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _run_strategy(config: Any, url: str | None, console: Console, *, api: bool) -> int:
    from fundarb.funding.service import open_venues
    from fundarb.storage import Store
    from fundarb.strategies.funding_arbitrage import FundingArbitrage

    secret = config.service.token()
    token = secret.get_secret_value() if secret is not None else None
    if api and not config.service.is_loopback and token is None:
        raise ConfigError(
            f"--api on {config.service.host} exposes the kill switch beyond this machine: set "
            f"{config.service.token_env} to a token first (clients send it as a bearer token)"
        )

    async with Store.open(url or config.database()) as store:
        await store.upgrade()
        async with open_venues(config) as feeds:
            strategy = FundingArbitrage(feeds, store, config.strategy, funding=config.funding)
            console.print(
                f"fundarb run: {len(feeds)} venues ({', '.join(f.name for f in feeds)}), "
                f"database {store.name}; Ctrl-C stops cleanly"
            )
            stopping = asyncio.Event()
            with _signals(strategy, stopping.set):
                try:
                    await strategy.start()
                    async with asyncio.TaskGroup() as group:
                        runner = group.create_task(strategy.run())
                        group.create_task(_stop_on(stopping, runner))
                        group.create_task(_print_events(strategy, console, runner))
                        if api:
                            group.create_task(_serve_api(strategy, config, token, runner))
                finally:
                    _print_summary(strategy, console)
    return 0


async def _serve_api(
    strategy: Any, config: Any, token: str | None, runner: asyncio.Task[None]
) -> None:
    """The control API, until the run ends."""
    import uvicorn

    from fundarb.strategies.funding_arbitrage.api import create_strategy_app

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # Ctrl-C and SIGTERM stay ours
            yield

    app = create_strategy_app(strategy, token=token)
    server = Server(
        uvicorn.Config(
            app,
            host=config.service.host,
            port=config.service.port,
            log_level="warning",
            lifespan="off",
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        await asyncio.wait([runner, serving], return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        await asyncio.wait([serving])


async def _stop_on(stopping: asyncio.Event, runner: asyncio.Task[None]) -> None:
    """Cancel the run (it shuts down cleanly) when asked to stop; end with it."""
    waiter = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait([runner, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        await asyncio.wait([waiter])
    if stopping.is_set():
        runner.cancel()


@contextlib.contextmanager
def _signals(strategy: Any, stop: Callable[[], object]) -> Any:
    """SIGTERM stops like Ctrl-C; SIGUSR1 stops new entries, SIGUSR2 allows them again."""
    loop = asyncio.get_running_loop()
    handlers: dict[int, Callable[[], object]] = {
        signal.SIGTERM: stop,
        signal.SIGUSR1: lambda: strategy.stop_entries("SIGUSR1"),
        signal.SIGUSR2: strategy.resume_entries,
    }
    installed = []
    for number, handler in handlers.items():
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(number, handler)
            installed.append(number)
    try:
        yield
    finally:
        for number in installed:
            loop.remove_signal_handler(number)


async def _print_events(strategy: Any, console: Console, runner: asyncio.Task[None]) -> None:
    """One line per strategy event, as they happen, until the run ends."""
    shown = 0
    while not runner.done():
        events = list(strategy.events)
        for event in events[shown:] if len(events) >= shown else events:
            console.print(f"{event.time:%Y-%m-%d %H:%M:%S} {event.kind:<12} {event.text}")
        shown = len(events)
        await asyncio.wait([runner], timeout=1.0)


def _print_summary(strategy: Any, console: Console) -> None:
    pnl = strategy.total_pnl()
    console.print(
        f"stopped at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC: "
        f"{len(strategy.positions)} pair(s) left open as they are; "
        f"PnL {pnl.total:+.2f} USD (funding {pnl.funding:+.2f}, basis {pnl.basis:+.2f}, "
        f"fees {-pnl.fees:+.2f}, slippage {-pnl.slippage:+.2f}); "
        f"{strategy.executions} execution(s)"
    )
