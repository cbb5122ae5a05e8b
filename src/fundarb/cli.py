"""The ``fundarb`` command line.

The library never imports this module; it only wires arguments to library calls.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from fundarb import __version__
from fundarb.cli_algos import add_command as add_twap_command
from fundarb.cli_algos import run_command as run_twap_command
from fundarb.cli_funding import add_commands as add_funding_commands
from fundarb.cli_funding import run_command as run_funding_command
from fundarb.cli_report import add_command as add_report_command
from fundarb.cli_report import run_command as run_report_command
from fundarb.cli_simex import add_command as add_simex_command
from fundarb.cli_simex import run_command as run_simex_command
from fundarb.cli_strategy import add_commands as add_strategy_commands
from fundarb.cli_strategy import run_command as run_strategy_command
from fundarb.errors import ConfigError, StorageError
from fundarb.logs import setup_logging

__all__ = ["main"]

_DESCRIPTION = """\
fundarb runs delta-neutral funding-rate arbitrage on perpetual futures, on an execution
layer that never leaves a leg unhedged. Every command runs on simulated venues unless a
config says otherwise: nothing here touches a real exchange.
"""

_DB_HELP = """\
Migrate fundarb's database. SQLite by default (a file under $FUNDARB_HOME, default
~/.local/share/fundarb/fundarb.db), PostgreSQL via --url or FUNDARB_DATABASE_URL
(postgresql://user@host/db). Passwords are never printed.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fundarb",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fundarb {__version__}")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="structured logs on stderr at this level (default: %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_strategy_commands(commands)
    db = commands.add_parser(
        "db",
        help="the database: migrate it, see its revision",
        description=_DB_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    db.add_argument(
        "--url",
        help="database URL (default: $FUNDARB_DATABASE_URL, else the "
        "SQLite file under $FUNDARB_HOME)",
    )
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="apply every migration (safe to repeat)")
    down = db_commands.add_parser("downgrade", help="undo migrations down to REVISION")
    down.add_argument("revision", help="a revision id, or 'base' for an empty database")
    db_commands.add_parser("current", help="print the revision the database is at")
    add_funding_commands(commands)
    add_simex_command(commands)
    add_report_command(commands)
    add_twap_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fundarb`` command. Returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(logging, args.log_level))
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "db":
        return _db(args)
    if args.command in ("demo", "run"):
        return run_strategy_command(args)
    if args.command == "simex":
        return run_simex_command(args)
    if args.command == "report":
        return run_report_command(args)
    if args.command == "twap":
        return run_twap_command(args)
    return run_funding_command(args)


def _db(args: argparse.Namespace) -> int:
    from fundarb.storage import Store

    async def run() -> str:
        async with Store.open(args.url) as store:
            if args.db_command == "upgrade":
                await store.upgrade()
            elif args.db_command == "downgrade":
                await store.downgrade(args.revision)
            return f"{store.name}: at revision {await store.current_revision() or 'none'}"

    try:
        print(asyncio.run(run()))
    except (ConfigError, StorageError) as exc:
        print(f"fundarb db: {exc}", file=sys.stderr)
        return 2
    return 0
