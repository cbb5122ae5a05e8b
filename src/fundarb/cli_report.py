"""``fundarb report``: the HTML report, rendered from the database.

Wired into :mod:`fundarb.cli`; the library never imports this module.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from fundarb.errors import ConfigError, StorageError

__all__ = ["add_command", "run_command"]

_HELP = """\
Render the HTML report of everything in the database: summary figures (PnL split into
funding, basis, fees and slippage; positions; executions; incidents), the equity curve by
component, funding earned per position, leg slippage per venue and execution mode, and
tables of positions, executions and incidents. One self-contained file (no script, nothing
fetched over the network); safe to run while the strategy is running. Prints the path
written and a one-line summary. Exit status 1 when the database is missing or unreachable.
"""


def add_command(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="write the HTML report (PnL, equity curve, slippage, executions) from the database",
        description=_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument(
        "-c", "--config", type=Path, help="config file whose database to read (default: none)"
    )
    report.add_argument(
        "--url",
        help="database URL (default: the config's, else $FUNDARB_DATABASE_URL, else the "
        "SQLite file under $FUNDARB_HOME)",
    )
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("fundarb-report.html"),
        help="the HTML file to write (default: %(default)s)",
    )
    report.add_argument(
        "--title", default="fundarb report", help="the page's title (default: %(default)s)"
    )


def run_command(args: argparse.Namespace) -> int:
    """Write the report; returns the exit status."""
    from fundarb.config import load_config
    from fundarb.report import ReportData
    from fundarb.storage import Store

    async def load(url: str | None) -> ReportData:
        async with Store.open(url) as store:
            await store.upgrade()
            return await ReportData.load(store)

    try:
        url = args.url or load_config(args.config).database()
        _check_exists(url)
        data = asyncio.run(load(url))
    except (ConfigError, StorageError) as exc:
        print(f"fundarb report: {exc}", file=sys.stderr)
        return 1
    try:
        path = data.write(args.output, title=args.title)
    except OSError as exc:
        print(f"fundarb report: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"{path}: report of {data.database}")
    print(data.summary.line())
    return 0


def _check_exists(url: str | None) -> None:
    """A report reads: refuse a SQLite file that is not there (opening would create it)."""
    from fundarb.storage import resolve_database_url

    resolved = resolve_database_url(url)
    database = resolved.database or ""
    is_file = resolved.drivername.startswith("sqlite") and database != ":memory:"
    if is_file and not Path(database).expanduser().is_file():
        raise StorageError(
            f"no database at {database}: nothing to report (run the strategy or "
            "`fundarb demo` first, or pass --url)"
        )
