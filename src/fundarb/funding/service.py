"""The rates service: venues from the config, collection on a schedule, books and fees for
costing, history in the store, and the HTTP API of ``fundarb serve``.

:func:`open_venues` turns the config's venues into running feeds (the simulated world's
venues are started, ccxt exchanges created and closed at the end). :class:`RatesService`
collects from them (a failing venue is degraded and retried; the others carry on), keeps
each cycle in the store, and answers the questions the API and the CLI ask: current rates,
history, statistics and opportunities. :func:`create_app` is the FastAPI application.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from fundarb.config import CcxtVenueConfig, Config, FundingSettings, SimVenueConfig
from fundarb.errors import ConfigError, FundarbError
from fundarb.execution import ExecutionMode, OrderBook
from fundarb.execution.core.gateway import gateway_for
from fundarb.funding.collectors import (
    CcxtFundingCollector,
    CollectorSet,
    ExchangeClientCollector,
    FundingCollector,
    VenueStatus,
)
from fundarb.funding.history import FundingStats, funding_stats
from fundarb.funding.opportunities import Opportunity, OpportunityFilters, rank_opportunities
from fundarb.funding.rates import FundingSample
from fundarb.funding.simworld import WorldConfig, sim_world
from fundarb.logs import log_event
from fundarb.storage import Store
from fundarb.venues.markets import FeeSchedule

__all__ = ["MarketData", "RatesService", "VenueFeed", "open_venues"]

logger = logging.getLogger("fundarb.funding")

_BOOK_LEVELS = 50
# what a venue that does not publish its fees is assumed to charge (Binance's base tier)
_DEFAULT_FEES = FeeSchedule(maker_rate=Decimal("0.0002"), taker_rate=Decimal("0.0005"))


class MarketData(Protocol):
    """Books and fees of one venue, by the venue's own symbol."""

    async def book(self, venue_symbol: str) -> OrderBook: ...

    async def fees(self, venue_symbol: str) -> FeeSchedule: ...


@dataclass(slots=True)
class VenueFeed:
    """One configured venue: its funding collector and its market data."""

    name: str
    collector: FundingCollector
    market: MarketData
    client: Any = None  # the exchange client, where fundarb has one (simulated venues)


class _ClientMarket:
    """Market data of an exchange client (through its gateway: checked, fresh books)."""

    def __init__(self, client: Any) -> None:
        self._gateway = gateway_for(client)

    async def book(self, venue_symbol: str) -> OrderBook:
        return await self._gateway.book(venue_symbol, _BOOK_LEVELS)

    async def fees(self, venue_symbol: str) -> FeeSchedule:
        return await self._gateway.fee_schedule(venue_symbol) or _DEFAULT_FEES


class _CcxtMarket:
    """Market data of a ccxt exchange: ``fetch_order_book`` and the market's fee rates."""

    def __init__(self, exchange: Any) -> None:
        self._exchange = exchange

    async def book(self, venue_symbol: str) -> OrderBook:
        raw = await self._exchange.fetch_order_book(venue_symbol, _BOOK_LEVELS)
        return OrderBook.parse(
            {  # ccxt's floats are repr-exact: through str, never through binary arithmetic
                "bids": [(str(p), str(q)) for p, q, *_ in raw.get("bids") or ()],
                "asks": [(str(p), str(q)) for p, q, *_ in raw.get("asks") or ()],
            }
        )

    async def fees(self, venue_symbol: str) -> FeeSchedule:
        market = (getattr(self._exchange, "markets", None) or {}).get(venue_symbol) or {}
        maker, taker = market.get("maker"), market.get("taker")
        if maker is None or taker is None:
            return _DEFAULT_FEES
        return FeeSchedule(maker_rate=Decimal(str(maker)), taker_rate=Decimal(str(taker)))


@contextlib.asynccontextmanager
async def open_venues(
    config: Config, *, world: WorldConfig | None = None
) -> AsyncIterator[list[VenueFeed]]:
    """Start every venue of ``config``; stop them all on exit (also on error)."""
    async with contextlib.AsyncExitStack() as stack:
        feeds: list[VenueFeed] = []
        simulated = {sim.get_exchange_name(): sim for sim in sim_world(world)}
        for venue in config.venues:
            if isinstance(venue, SimVenueConfig):
                client = simulated[venue.world_venue]
                if venue.name != client.get_exchange_name():
                    client = type(client)(client.config, venue=venue.name)
                await stack.enter_async_context(client)
                symbols = [s.symbol for s in client.config.symbols]
                feeds.append(
                    VenueFeed(
                        venue.name,
                        ExchangeClientCollector(client, symbols, venue=venue.name),
                        _ClientMarket(client),
                        client,
                    )
                )
            else:
                from fundarb.venues.ccxt import CcxtExchangeClient

                exchange = _ccxt_exchange(venue)
                stack.push_async_callback(exchange.close)
                # trades over the same exchange object; closed (its streams) before it
                trading = CcxtExchangeClient(exchange, venue=venue.name)
                await stack.enter_async_context(trading)
                feeds.append(
                    VenueFeed(
                        venue.name,
                        CcxtFundingCollector(exchange, venue=venue.name),
                        _CcxtMarket(exchange),
                        trading,
                    )
                )
        yield feeds


def _ccxt_exchange(venue: CcxtVenueConfig) -> Any:
    """ccxt.pro's exchange where it has one (websocket order events), else
    ``async_support``'s. ``urls: {simex: URL}`` points ``binanceusdm`` at a local
    ``fundarb simex`` (ccxt's USD-M error table kept)."""
    import ccxt.async_support as ccxt_async
    import ccxt.pro as ccxt_pro

    options: dict[str, Any] = {"enableRateLimit": True, "options": dict(venue.options)}
    credentials = venue.credentials()
    if credentials is not None:
        options["apiKey"] = credentials[0].get_secret_value()
        options["secret"] = credentials[1].get_secret_value()
    urls = dict(venue.urls)
    simex_url = urls.pop("simex", None)
    if simex_url is not None:
        from fundarb.venues.simex import binanceusdm_client

        if venue.exchange != "binanceusdm" or not isinstance(simex_url, str):
            raise ConfigError(f"venues.{venue.name}: urls.simex needs exchange binanceusdm")
        exchange = binanceusdm_client(
            simex_url,
            api_key=options.pop("apiKey", ""),
            secret=options.pop("secret", ""),
            config=options,
            pro=True,
        )
    else:
        module = ccxt_pro if venue.exchange in ccxt_pro.exchanges else ccxt_async
        exchange = getattr(module, venue.exchange)(options)
    if urls:
        exchange.urls = {**exchange.urls, **urls}
    if venue.sandbox:
        exchange.set_sandbox_mode(True)
    return exchange


@dataclass(frozen=True, slots=True, kw_only=True)
class RateView:
    """A sample as the API and the CLI show it (normalised figures included)."""

    sample: FundingSample
    degraded: bool = False

    def as_dict(self) -> dict[str, Any]:
        s = self.sample
        return {
            "venue": s.venue,
            "symbol": s.symbol,
            "venue_symbol": s.venue_symbol,
            "rate": s.rate,
            "interval_hours": s.interval_hours,
            "rate_per_hour": s.rate_per_hour,
            "apr": s.apr,
            "next_funding_time": s.funding_time,
            "predicted_rate": s.predicted_rate,
            "mark_price": s.mark_price,
            "index_price": s.index_price,
            "open_interest_usd": s.open_interest_usd,
            "volume_24h_usd": s.volume_24h_usd,
            "multiplier": s.multiplier,
            "collected_at": s.collected_at,
            "degraded": self.degraded,
        }


@dataclass(slots=True)
class RatesService:
    """Collects funding rates from ``feeds`` and answers questions about them.

    ``await service.collect()`` runs one cycle (and stores it when a store is given);
    ``await service.run()`` collects every ``settings.collect_every_s`` until cancelled.
    """

    feeds: Sequence[VenueFeed]
    settings: FundingSettings = field(default_factory=FundingSettings)
    store: Store | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    collectors: CollectorSet = field(init=False)
    cycles: int = field(default=0, init=False)
    stored: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not self.feeds:
            raise ConfigError("the rates service needs at least one venue")
        self.collectors = CollectorSet([feed.collector for feed in self.feeds])

    @property
    def venues(self) -> tuple[str, ...]:
        return tuple(feed.name for feed in self.feeds)

    async def collect(self) -> None:
        """One collection cycle; new samples go to the store (a store that is down is
        logged and skipped: the samples stay in memory and the next cycle stores again)."""
        report = await self.collectors.collect(self.settings.symbols or None)
        self.cycles += 1
        if self.store is not None and report.succeeded:
            fresh = [s for s in self.collectors.latest() if s.venue in report.succeeded]
            try:
                self.stored += await self.store.save_samples(fresh, source="collector")
            except FundarbError as exc:
                log_event(logger, logging.WARNING, "funding.store_failed", error=exc)

    async def run(self) -> None:
        """Collect on schedule until cancelled (the caller owns this task)."""
        period = self.settings.collect_every_s
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await self.collect()
            await asyncio.sleep(max(0.0, started + period - loop.time()))

    def status(self) -> dict[str, VenueStatus]:
        return self.collectors.status()

    def rates(self, *, venue: str | None = None, symbol: str | None = None) -> list[RateView]:
        """The latest sample of every (venue, symbol); a degraded venue's are marked."""
        status = self.collectors.status()
        views = [
            RateView(sample=s, degraded=status[s.venue].state.value != "ok")
            for s in self.collectors.latest(include_degraded=True)
            if (venue is None or s.venue == venue) and (symbol is None or s.symbol == symbol)
        ]
        views.sort(key=lambda v: (v.sample.symbol, v.sample.venue))
        return views

    async def history(
        self,
        *,
        symbol: str | None = None,
        venue: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 1000,
    ) -> list[FundingSample]:
        if self.store is None:
            return []
        return await self.store.load_samples(
            symbol=symbol, venue=venue, since=since, until=until, limit=limit
        )

    async def stats(
        self, *, symbol: str, venue: str | None = None, hours: int = 24 * 30
    ) -> list[FundingStats]:
        """Statistics of the stored prints per venue over the last ``hours``."""
        samples = await self.history(symbol=symbol, venue=venue, limit=None)
        by_venue: dict[str, list[FundingSample]] = {}
        for sample in samples:
            by_venue.setdefault(sample.venue, []).append(sample)
        return [
            funding_stats(items, window=timedelta(hours=hours))
            for _, items in sorted(by_venue.items())
            if items
        ]

    async def opportunities(
        self,
        *,
        filters: OpportunityFilters | None = None,
        notional_usd: Decimal | None = None,
        horizon_hours: Decimal | None = None,
        mode: ExecutionMode = ExecutionMode.MARKET_ONLY,
        history_hours: int | None = 24 * 7,
    ) -> list[Opportunity]:
        """Every venue pair of every symbol, costed on the live books, best net APR first.

        The history mean per venue and symbol (from the store, last ``history_hours``)
        blends with the current print; without a store only the current print counts.
        """
        samples = self.collectors.latest()
        wanted = _wanted(samples, filters)
        books, fees = await self._market(wanted)
        history = await self._history_means(wanted, history_hours) if history_hours else None
        return rank_opportunities(
            wanted,
            books,
            fees,
            notional_usd=notional_usd or Decimal(str(self.settings.notional_usd)),
            horizon_hours=horizon_hours or Decimal(str(self.settings.horizon_hours)),
            now=self.clock(),
            history=history,
            filters=filters,
            mode=mode,
        )

    async def _market(
        self, samples: Sequence[FundingSample]
    ) -> tuple[dict[tuple[str, str], OrderBook], dict[str, FeeSchedule]]:
        """Books and fees of the symbols listed on two or more venues, read concurrently;
        a book that cannot be read is left out (its opportunities say so)."""
        feeds = {feed.name: feed for feed in self.feeds}
        books: dict[tuple[str, str], OrderBook] = {}
        fees: dict[str, FeeSchedule] = {}

        async def one(sample: FundingSample) -> None:
            market = feeds[sample.venue].market
            try:
                books[(sample.venue, sample.symbol)] = await market.book(sample.venue_symbol)
                if sample.venue not in fees:
                    fees[sample.venue] = await market.fees(sample.venue_symbol)
            except (FundarbError, OSError, ValueError) as exc:
                log_event(
                    logger,
                    logging.WARNING,
                    "funding.book_unavailable",
                    venue=sample.venue,
                    symbol=sample.venue_symbol,
                    error=exc,
                )

        async with asyncio.TaskGroup() as group:
            for sample in samples:
                group.create_task(one(sample))
        for sample in samples:
            fees.setdefault(sample.venue, _DEFAULT_FEES)
        return books, fees

    async def _history_means(
        self, samples: Sequence[FundingSample], hours: int
    ) -> dict[tuple[str, str], Decimal] | None:
        if self.store is None:
            return None
        now = self.clock()
        since = now - timedelta(hours=hours)
        means: dict[tuple[str, str], Decimal] = {}
        for key in {(s.venue, s.symbol) for s in samples}:
            history = await self.store.load_samples(venue=key[0], symbol=key[1], since=since)
            # funding times already past: imported prints, and the last rate collected before
            # each settlement (what the venue then paid)
            settled = [s for s in history if s.funding_time <= now]
            if len(settled) >= 2:
                means[key] = funding_stats(settled).mean_rate_per_hour
        return means


def _wanted(
    samples: Sequence[FundingSample], filters: OpportunityFilters | None
) -> list[FundingSample]:
    """The samples worth costing: symbols on two or more venues that pass the filters."""
    allowed: Collection[str] | None = filters.allow_venues if filters else None
    denied: Collection[str] = filters.deny_venues if filters else frozenset()
    symbols = filters.symbols if filters else None
    kept = [
        s
        for s in samples
        if (allowed is None or s.venue in allowed)
        and s.venue not in denied
        and (symbols is None or s.symbol in symbols)
    ]
    venues_of: dict[str, set[str]] = {}
    for sample in kept:
        venues_of.setdefault(sample.symbol, set()).add(sample.venue)
    return [s for s in kept if len(venues_of[s.symbol]) >= 2]


def venue_status_dict(status: Mapping[str, VenueStatus]) -> dict[str, Any]:
    return {
        venue: {
            "state": s.state.value,
            "consecutive_failures": s.consecutive_failures,
            "last_error": s.last_error,
            "last_success_at": s.last_success_at,
            "samples": s.samples,
        }
        for venue, s in status.items()
    }


def check_token(expected: str | None, given: str | None) -> bool:
    """Constant-time token check; no token configured means loopback-only access."""
    if expected is None:
        return True
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())
