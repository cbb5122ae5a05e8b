"""The funding commands of the ``fundarb`` CLI: rates, opportunities, serve, funding, config.

Wired into :mod:`fundarb.cli`; the library never imports this module.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from fundarb.errors import ConfigError, FundarbError

if TYPE_CHECKING:
    from fundarb.config import StrategySettings

__all__ = ["add_commands", "run_command"]

_CONFIG_HELP = "config file (default: the three simulated venues; see `fundarb config check`)"
_RATE_SORTS = ("symbol", "venue", "apr", "rate_per_hour", "next_funding_time")
_OPPORTUNITY_SORTS = ("net_apr", "net_usd", "gross_apr", "break_even_hours", "symbol")


def _decimal_arg(minimum: Decimal | None = None) -> Callable[[str], Decimal]:
    def parse(text: str) -> Decimal:
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value.is_finite():
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
        return value

    return parse


def _names(text: str) -> frozenset[str]:
    names = frozenset(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise argparse.ArgumentTypeError("give one or more comma-separated names")
    return names


def add_commands(commands: Any) -> None:
    """Add the funding commands to the ``fundarb`` sub-parsers."""
    fmt = argparse.RawDescriptionHelpFormatter
    rates = commands.add_parser(
        "rates",
        help="current funding rates of every configured venue, normalised",
        description="Collect the current funding rate of every symbol on every configured "
        "venue once, and print them normalised per hour and as APR (a positive rate means "
        "longs pay shorts). Samples are stored in the database.",
        formatter_class=fmt,
    )
    _common(rates)
    rates.add_argument("--venue", help="only this venue")
    rates.add_argument("--symbol", help="only this canonical symbol (BTC, ETH, PEPE ...)")
    rates.add_argument("--sort", choices=_RATE_SORTS, default="symbol", help="sort column")
    rates.add_argument("--desc", action="store_true", help="sort descending")

    opps = commands.add_parser(
        "opportunities",
        help="venue pairs ranked by expected net return after fees and slippage",
        description="For every symbol on two or more venues and every venue pair: long the "
        "venue that pays less, short the one that pays more. Expected funding over the "
        "horizon on each venue's own schedule, minus entry and exit fees on both venues and "
        "the slippage of the size on the live books. See docs in fundarb.funding."
        "opportunities for the model.",
        formatter_class=fmt,
    )
    _common(opps)
    opps.add_argument("--notional", type=_decimal_arg(Decimal("0.01")), help="USD per leg")
    opps.add_argument("--horizon", type=_decimal_arg(Decimal("0.01")), help="hours held")
    opps.add_argument("--min-net-apr", type=_decimal_arg(), help="fraction: 0.1 is 10 %%")
    opps.add_argument("--min-open-interest", type=_decimal_arg(Decimal(0)), help="USD")
    opps.add_argument("--min-volume", type=_decimal_arg(Decimal(0)), help="24 h USD")
    opps.add_argument("--max-spread-bps", type=_decimal_arg(Decimal(0)), help="of each book")
    opps.add_argument("--venues", type=_names, help="allow list, comma-separated")
    opps.add_argument("--exclude-venues", type=_names, help="deny list, comma-separated")
    opps.add_argument("--symbols", type=_names, help="canonical names, comma-separated")
    opps.add_argument("--feasible-only", action="store_true", help="hide infeasible pairs")
    opps.add_argument("--sort", choices=_OPPORTUNITY_SORTS, default="net_apr")
    opps.add_argument("--limit", type=int, default=20, help="rows (default: %(default)s)")

    serve = commands.add_parser(
        "serve",
        help="the rates service: an HTTP API, collecting on a schedule",
        description="Start the rates service: collection on the config's schedule and an "
        "HTTP API (OpenAPI at /docs and /openapi.json): /health, /rates, "
        "/venues/{venue}/rates, /symbols/{symbol}/rates, /history, /stats, /opportunities. "
        "Binds to 127.0.0.1 unless told otherwise; any other address needs a token in the "
        "environment variable the config names (default FUNDARB_API_TOKEN).",
        formatter_class=fmt,
    )
    serve.add_argument("-c", "--config", type=Path, help=_CONFIG_HELP)
    serve.add_argument("--url", help="database URL (default: config, env, SQLite file)")
    serve.add_argument("--host", help="address to bind (default: config, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: config, else 8100)")

    funding = commands.add_parser(
        "funding",
        help="funding history: import the real CSVs, statistics",
        description="Funding history in the database.",
        formatter_class=fmt,
    )
    actions = funding.add_subparsers(dest="funding_command", metavar="ACTION", required=True)
    imp = actions.add_parser(
        "import",
        help="load funding-history CSVs (Symbol,Date,Funding Rate)",
        description="Load funding-history CSV files such as ../shared/data/funding_history/"
        "*.csv. The venue comes from the file name (BTC-USDT_<venue>_...csv) or --venue; "
        "each source's timestamps are converted to UTC by its known offset. Importing a "
        "file twice adds nothing.",
    )
    imp.add_argument("paths", nargs="+", type=Path, help="CSV files or directories of them")
    imp.add_argument("--venue", help="venue of every file (default: from each file name)")
    imp.add_argument("--url", help="database URL")
    stats = actions.add_parser("stats", help="mean, volatility, share positive, persistence")
    stats.add_argument("symbol", help="canonical symbol (BTC)")
    stats.add_argument("--venue", help="only this venue")
    stats.add_argument("--hours", type=int, default=24 * 365, help="window (default: a year)")
    stats.add_argument("--url", help="database URL")
    stats.add_argument("--json", action="store_true", help="JSON for scripts")

    recover = commands.add_parser(
        "recover",
        help="reconcile the journal against the venues after a crash",
        description="Find every execution the journal shows as unfinished (a crash or kill "
        "interrupted it), and reconcile it against its venues: our open orders are "
        "cancelled, the fills the journal missed are recorded, and any exposure left is "
        "closed reduce-only through the atomic executor (a whole, balanced pair is kept). "
        "Prints what it found and what it did. An execution whose orders cannot all be "
        "checked (a venue unreachable or not configured) is escalated and left unfinished "
        "for the next run. Exit status 0: all reconciled; 1: something escalated.",
        formatter_class=fmt,
    )
    recover.add_argument("-c", "--config", type=Path, help=_CONFIG_HELP)
    recover.add_argument("--url", help="database URL (default: config, env, SQLite file)")

    config = commands.add_parser(
        "config",
        help="validate a config file without trading",
        description="Check a config file: every error names the field and what is allowed; "
        "credentials are looked up (never printed).",
    )
    config_actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_actions.add_parser("check", help="validate a config file")
    check.add_argument("-c", "--config", type=Path, required=True, help="the file")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, help=_CONFIG_HELP)
    parser.add_argument("--url", help="database URL (default: config, env, SQLite file)")
    parser.add_argument("--json", action="store_true", help="JSON for scripts")


def run_command(args: argparse.Namespace) -> int:
    """Run one of the funding commands; returns the exit status."""
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "rates": _rates,
        "opportunities": _opportunities,
        "serve": _serve,
        "funding": _funding,
        "config": _config,
        "recover": _recover,
    }
    try:
        return handlers[args.command](args)
    except (ConfigError, FundarbError) as exc:
        print(f"fundarb {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


# -- rates and opportunities ------------------------------------------------------------------


def _rates(args: argparse.Namespace) -> int:
    from fundarb.funding.api import to_json

    async def run() -> list[dict[str, Any]]:
        async with _service(args) as service:
            await service.collect()
            _warn_degraded(service)
            return [v.as_dict() for v in service.rates(venue=args.venue, symbol=args.symbol)]

    rows = asyncio.run(run())
    rows.sort(key=lambda r: (r[args.sort] is None, r[args.sort]), reverse=args.desc)
    if args.json:
        print(json.dumps(to_json(rows), indent=2))
        return 0
    table = Table(title="funding rates (positive: longs pay shorts)")
    for column in ("symbol", "venue", "listed as", "rate", "every", "per hour", "APR"):
        left = column in ("symbol", "venue", "listed as")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    table.add_column("next (UTC)", no_wrap=True)
    for r in rows:
        table.add_row(
            r["symbol"],
            r["venue"] + (" (degraded)" if r["degraded"] else ""),
            r["venue_symbol"],
            f"{r['rate'] * 100:.4f}%",
            f"{r['interval_hours']:g}h",
            f"{r['rate_per_hour'] * 100:.5f}%",
            f"{r['apr'] * 100:.2f}%",
            r["next_funding_time"].strftime("%m-%d %H:%M"),
        )
    Console().print(table)
    return 0


def _opportunities(args: argparse.Namespace) -> int:
    from fundarb.funding.api import opportunity_json
    from fundarb.funding.opportunities import Opportunity, OpportunityFilters

    filters = OpportunityFilters(
        min_net_apr=args.min_net_apr,
        min_open_interest_usd=args.min_open_interest,
        min_volume_24h_usd=args.min_volume,
        max_spread_bps=args.max_spread_bps,
        allow_venues=args.venues,
        deny_venues=args.exclude_venues or frozenset(),
        symbols=frozenset(s.upper() for s in args.symbols) if args.symbols else None,
        feasible_only=args.feasible_only,
    )

    async def run() -> list[Opportunity]:
        async with _service(args) as service:
            await service.collect()
            _warn_degraded(service)
            found: list[Opportunity] = await service.opportunities(
                filters=filters, notional_usd=args.notional, horizon_hours=args.horizon
            )
            return found

    found = asyncio.run(run())
    key: dict[str, Callable[[Any], Any]] = {
        "net_apr": lambda o: (o.net_apr is None, -(o.net_apr or 0)),
        "net_usd": lambda o: (
            -(o.net_return_usd if o.net_return_usd is not None else Decimal("-1e18"))
        ),
        "gross_apr": lambda o: -o.gross_apr,
        "break_even_hours": lambda o: (o.break_even_hours is None, o.break_even_hours),
        "symbol": lambda o: (o.symbol, o.long_venue, o.short_venue),
    }
    found.sort(key=key[args.sort])
    shown = found[: max(args.limit, 0)]
    if args.json:
        print(json.dumps([opportunity_json(o) for o in shown], indent=2))
        return 0
    if not shown:
        Console().print("no opportunity passes the filters")
        return 0
    first = shown[0]
    table = Table(
        title=f"opportunities: {first.notional_usd:,} USD per leg, held {first.horizon_hours} h"
    )
    for column in ("symbol", "long", "short", "spread APR", "funding", "fees", "slippage"):
        table.add_column(
            column, justify="left" if column in ("symbol", "long", "short") else "right"
        )
    for column in ("net USD", "net %", "net APR", "break-even"):
        table.add_column(column, justify="right")
    for o in shown:
        net = o.net_return_usd
        table.add_row(
            o.symbol,
            o.long_venue,
            o.short_venue,
            f"{o.spread_apr * 100:.2f} %",
            f"{o.expected_funding_usd:,.2f}",
            f"{o.fees_usd:,.2f}",
            "—" if o.slippage_usd is None else f"{o.slippage_usd:,.2f}",
            "—" if net is None else f"{net:,.2f}",
            "—" if o.net_return_pct is None else f"{o.net_return_pct * 100:.3f} %",
            "—" if o.net_apr is None else f"{o.net_apr * 100:.2f} %",
            "—" if o.break_even_hours is None else f"{o.break_even_hours:.1f} h",
            style=None if o.feasible else "dim",
        )
    console = Console()
    console.print(table)
    infeasible = [o for o in shown if not o.feasible]
    if infeasible:
        console.print(f"dim rows are infeasible: {'; '.join(infeasible[0].reasons)}")
    return 0


def _warn_degraded(service: Any) -> None:
    for venue, status in service.status().items():
        if status.state.value != "ok":
            print(f"warning: {venue} is degraded: {status.last_error}", file=sys.stderr)


def _service(args: argparse.Namespace) -> Any:
    """An async context manager: the store, the venues and the service over them."""
    import contextlib

    from fundarb.config import load_config
    from fundarb.funding.service import RatesService, open_venues
    from fundarb.storage import Store

    @contextlib.asynccontextmanager
    async def opened() -> Any:
        config = load_config(args.config)
        async with Store.open(args.url or config.database()) as store:
            await store.upgrade()
            async with open_venues(config) as feeds:
                yield RatesService(feeds, settings=config.funding, store=store)

    return opened()


# -- serve ------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from fundarb.config import is_loopback, load_config
    from fundarb.funding.api import create_app
    from fundarb.funding.service import RatesService, open_venues
    from fundarb.storage import Store

    config = load_config(args.config)
    host = args.host or config.service.host
    port = args.port or config.service.port
    if not 0 < port < 65_536:
        raise ConfigError(f"--port must be in 1..65535, got {port}")
    secret = config.service.token()
    token = secret.get_secret_value() if secret is not None else None
    if not is_loopback(host) and token is None:
        raise ConfigError(
            f"binding to {host} exposes the API beyond this machine: set "
            f"{config.service.token_env} to a token first (clients send it as a bearer token)"
        )

    async def run() -> None:
        async with Store.open(args.url or config.database()) as store:
            await store.upgrade()
            async with open_venues(config) as feeds:
                service = RatesService(feeds, settings=config.funding, store=store)
                app = create_app(service, token=token)
                print(
                    f"fundarb rates service on http://{host}:{port} "
                    f"(venues: {', '.join(service.venues)}; database: {store.name}; "
                    f"token {'required' if token else 'off: loopback only'}); Ctrl-C stops",
                    file=sys.stderr,
                )
                server = uvicorn.Server(
                    uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
                )
                await server.serve()

    asyncio.run(run())
    return 0


# -- funding history --------------------------------------------------------------------------


def _funding(args: argparse.Namespace) -> int:
    if args.funding_command == "import":
        return _import(args)
    return _stats(args)


def _import(args: argparse.Namespace) -> int:
    from fundarb.funding.history import import_csv
    from fundarb.storage import Store

    files: list[Path] = []
    for path in args.paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.csv")))
        elif path.exists():
            files.append(path)
        else:
            raise ConfigError(f"no such file or directory: {path}")
    if not files:
        raise ConfigError("no CSV files found in the paths given")
    console = Console(stderr=True)

    async def run() -> list[tuple[Path, int]]:
        done: list[tuple[Path, int]] = []
        async with Store.open(args.url) as store:
            await store.upgrade()
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
            with Progress(*columns, console=console, transient=True) as progress:
                for file in files:
                    task = progress.add_task(file.name, total=None)

                    def report(rows: int, total: int, task: Any = task) -> None:
                        progress.update(task, completed=rows, total=total)

                    done.append(
                        (file, await import_csv(file, args.venue, store=store, progress=report))
                    )
        return done

    for file, inserted in asyncio.run(run()):
        print(f"{file.name}: {inserted} new prints")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from fundarb.funding.api import to_json
    from fundarb.funding.history import stats_from_store
    from fundarb.storage import Store

    async def run() -> list[Any]:
        async with Store.open(args.url) as store:
            await store.upgrade()
            venues = (
                [args.venue]
                if args.venue
                else sorted(
                    {
                        s.venue
                        for s in await store.latest_samples()
                        if s.symbol == args.symbol.upper()
                    }
                )
            )
            found = []
            for venue in venues:
                stats = await stats_from_store(store, args.symbol.upper(), venue, args.hours)
                if stats is not None:
                    found.append(stats)
            return found

    found = asyncio.run(run())
    if args.json:
        print(json.dumps(to_json(found), indent=2))
        return 0
    if not found:
        print(f"no stored prints for {args.symbol.upper()}: import some first", file=sys.stderr)
        return 1
    table = Table(title=f"{args.symbol.upper()} funding over the last {args.hours} h of prints")
    for column in ("venue", "prints", "mean APR", "vol / h", "positive", "autocorr", "from", "to"):
        table.add_column(column, justify="left" if column == "venue" else "right")
    for s in found:
        table.add_row(
            s.venue,
            str(s.count),
            f"{s.mean_apr * 100:.2f} %",
            "—" if s.volatility_per_hour is None else f"{s.volatility_per_hour * 100:.5f} %",
            f"{s.positive_share * 100:.1f} %",
            "—" if s.autocorrelation is None else f"{s.autocorrelation:.3f}",
            f"{s.first_time:%Y-%m-%d}",
            f"{s.last_time:%Y-%m-%d}",
        )
    Console().print(table)
    return 0


# -- recover ----------------------------------------------------------------------------------


def _recover(args: argparse.Namespace) -> int:
    from fundarb.config import load_config
    from fundarb.execution.recovery import recover
    from fundarb.funding.service import open_venues
    from fundarb.storage import Store
    from fundarb.storage.journal import Journal

    config = load_config(args.config)

    async def run() -> list[str]:
        async with Store.open(args.url or config.database()) as store:
            await store.upgrade()
            journal = Journal(store)
            unfinished = await journal.unfinished()
            print(f"{store.name}: {len(unfinished)} unfinished execution(s) in the journal")
            async with open_venues(config) as feeds:
                clients = {feed.name: feed.client for feed in feeds if feed.client is not None}
                report = await recover(journal, clients)
            return report.lines()

    lines = asyncio.run(run())
    for line in lines:
        print(line)
    return 1 if any("escalated" in line for line in lines) else 0


# -- config -----------------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> int:
    from fundarb.config import CcxtVenueConfig, load_config

    config = load_config(args.config)
    for venue in config.venues:
        if isinstance(venue, CcxtVenueConfig):
            found = venue.credentials()
            state = "credentials found" if found else "no credentials: market data only"
            print(f"  {venue.name}: ccxt {venue.exchange} ({state})")
        else:
            print(f"  {venue.name}: simulated ({venue.world_venue})")
    for line in _strategy_summary(config.strategy):
        print(f"  {line}")
    print(f"{args.config}: valid")
    return 0


def _strategy_summary(strategy: StrategySettings) -> list[str]:
    def pct(value: Decimal) -> str:
        return f"{(value * 100).normalize():f}%"

    leverage = ", ".join(f"{venue} {lev}x" for venue, lev in sorted(strategy.leverage.items()))
    entry, exit_, run = strategy.entry, strategy.exit, strategy.execution
    return [
        f"strategy: {', '.join(strategy.symbols) or 'every symbol on two venues'}; "
        f"{strategy.size_usd:f} USD a leg, at most {strategy.max_positions} pairs and "
        f"{strategy.max_total_notional_usd:f} USD in all; leverage {strategy.default_leverage}x"
        + (f" ({leverage})" if leverage else ""),
        f"  entry: net APR >= {pct(entry.min_net_apr)}, "
        f"break-even <= {entry.max_break_even_hours:f} h",
        f"  exit: spread APR < {pct(exit_.min_net_spread_apr)}"
        + (", on flip" if exit_.close_on_flip else "")
        + f", after {exit_.max_holding_hours:f} h"
        + (f", at {exit_.profit_target_usd:f} USD profit" if exit_.profit_target_usd else ""),
        f"  execution: open {run.mode}, close {run.close_mode}, timeout {run.timeout_s:g} s, "
        f"on imbalance {run.on_imbalance}",
    ]
