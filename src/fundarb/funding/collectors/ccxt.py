"""Funding samples from a ccxt ``async_support`` exchange instance.

The instance is passed in, built and closed by the caller (``async with`` it): this module
never opens a connection of its own, and never logs or keeps the instance's credentials
(error text is redacted, see :mod:`~fundarb.funding.collectors.redact`).

Per collection: markets are loaded (reloaded every ``reload_markets_s``) and reduced to
linear perpetual swaps, each read into a canonical symbol with
:func:`~fundarb.funding.symbols.parse_listing`; then the rates come from the bulk
``fetch_funding_rates`` where the venue has it, else per-symbol ``fetch_funding_rate``,
else the latest print of ``fetch_funding_rate_history``. ccxt's numbers are floats; each
becomes a ``Decimal`` through ``str()`` (exact: ccxt's floats round-trip through ``repr``),
and where the venue's own payload (``info``) holds the same number its original digits
are kept. Intervals are resolved as :mod:`~fundarb.funding.collectors.intervals` says.

Venue by venue (what the payloads give):

- ``binanceusdm``: rate ``lastFundingRate`` of premiumIndex; interval from fundingInfo,
  which lists only adjusted symbols (the rest are 8 h); no open interest or volume.
- ``bybit``: rate ``fundingRate`` of tickers; interval ``fundingIntervalHour`` (newer
  payloads) or the instrument's ``fundingInterval``; open interest
  ``singleOpenInterestValue`` (else ``openInterestValue``), volume ``turnover24h``.
- ``okx``: rate ``fundingRate`` of funding-rate, settling at ``fundingTime``; interval
  ``nextFundingTime`` − ``fundingTime``; no open interest or volume.
- ``hyperliquid``: rate ``funding`` of metaAndAssetCtxs, hourly; open interest
  ``openInterest`` (coins) × mark price, volume ``dayNtlVlm``.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType, ModuleType
from typing import Any, Protocol, TypeVar

from fundarb.errors import (
    ConfigError,
    RateLimitedError,
    RequestTimeoutError,
    VenueError,
    VenueUnavailableError,
)
from fundarb.funding.collectors.intervals import (
    DEFAULT_INTERVALS,
    IntervalSource,
    resolve_interval,
)
from fundarb.funding.collectors.protocol import wanted_symbols
from fundarb.funding.collectors.redact import describe_error
from fundarb.funding.rates import FundingSample
from fundarb.funding.symbols import Listing, parse_listing
from fundarb.logs import log_event
from fundarb.numbers import to_decimal

__all__ = ["CcxtExchange", "CcxtFundingCollector"]

logger = logging.getLogger("fundarb.funding.collectors")

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CREDENTIALS = ("apiKey", "secret", "password", "uid", "privateKey", "token", "login", "twofa")
_PER_SYMBOL_CONCURRENCY = 8  # ccxt throttles too; this bounds the tasks waiting on it
_MAX_RATE = Decimal(1)  # a funding rate is a fraction of notional per interval


class CcxtExchange(Protocol):
    """The part of a ccxt ``async_support`` exchange the collector uses (ccxt is untyped:
    its payloads are ``Any`` here, and nowhere past this module)."""

    id: str
    has: Mapping[str, Any]
    markets: Mapping[str, Any] | None

    async def load_markets(self, reload: bool = False) -> Any: ...

    async def fetch_funding_rates(self, symbols: list[str] | None = None) -> Any: ...

    async def fetch_funding_rate(self, symbol: str) -> Any: ...

    async def fetch_funding_rate_history(
        self, symbol: str | None = None, since: int | None = None, limit: int | None = None
    ) -> Any: ...

    async def fetch_funding_intervals(self, symbols: list[str] | None = None) -> Any: ...


@dataclass(frozen=True, slots=True)
class _Fields:
    """Where a venue's payload (``info``) holds the numbers ccxt turns into floats."""

    rate: tuple[str, ...] = ("fundingRate", "lastFundingRate", "funding")
    mark: tuple[str, ...] = ("markPrice", "markPx")
    index: tuple[str, ...] = ("indexPrice", "oraclePx")
    predicted: tuple[str, ...] = ("nextFundingRate",)
    open_interest_usd: tuple[str, ...] = ()
    open_interest_listed: tuple[str, ...] = ()  # listed units: times the mark price
    volume_usd: tuple[str, ...] = ()


_GENERIC = _Fields()
_VENUE_FIELDS: Mapping[str, _Fields] = MappingProxyType(
    {
        # openInterestValue is documented as both sides since 2026-06; single side first
        "bybit": _Fields(
            open_interest_usd=("singleOpenInterestValue", "openInterestValue"),
            volume_usd=("turnover24h",),
        ),
        "hyperliquid": _Fields(open_interest_listed=("openInterest",), volume_usd=("dayNtlVlm",)),
    }
)


@dataclass(frozen=True, slots=True)
class _Market:
    symbol: str  # ccxt's unified symbol, e.g. 1000PEPE/USDT:USDT
    venue_symbol: str  # the venue's own name: 1000PEPEUSDT, BTC-USDT-SWAP, kPEPE
    listing: Listing
    raw: Mapping[str, Any]


@functools.cache
def _ccxt() -> ModuleType:
    # ccxt ships no type information: as a module object its classes are Any, here only
    return importlib.import_module("ccxt")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _number(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return to_decimal(value)
    except ValueError:
        return None


def _exact(unified: object, info: Mapping[str, Any], keys: Sequence[str]) -> Decimal | None:
    """ccxt's float as a Decimal, in the venue's own digits where ``info`` holds the same
    number under one of ``keys``."""
    value = _number(unified)
    if value is None:
        return None
    for key in keys:
        raw = _number(info.get(key))
        if raw is not None and float(raw) == float(value):
            return raw
    return value


def _raw(info: Mapping[str, Any], keys: Sequence[str]) -> Decimal | None:
    for key in keys:
        value = _number(info.get(key))
        if value is not None:
            return value
    return None


def _time(milliseconds: object) -> datetime | None:
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int | float):
        return None
    return _EPOCH + timedelta(milliseconds=int(milliseconds)) if milliseconds > 0 else None


def _from_history(symbol: str, entries: object) -> dict[str, Any] | None:
    """The latest settled print of a funding history, shaped like a funding structure; the
    print before it gives the interval."""
    if not isinstance(entries, list):
        return None
    rows = sorted(
        (e for e in entries if isinstance(e, Mapping) and _time(e.get("timestamp")) is not None),
        key=lambda e: e["timestamp"],
    )
    if not rows:
        return None
    latest = rows[-1]
    return {
        "symbol": symbol,
        "info": latest.get("info"),
        "fundingRate": latest.get("fundingRate"),
        "fundingTimestamp": latest["timestamp"],
        "previousFundingTimestamp": rows[-2]["timestamp"] if len(rows) > 1 else None,
    }


async def _bounded(work: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run ``work`` in a task group, at most ``limit`` at a time; results in order. The
    first failure cancels the rest and is raised as itself (to be translated)."""
    gate = asyncio.Semaphore(limit)

    async def one(make: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await make()

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(make)) for make in work]
    except* Exception as failed:  # noqa: BLE001 - re-raised unchanged, unwrapped
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


class CcxtFundingCollector:
    """Funding samples of a venue's linear perpetual swaps through a ccxt exchange.

    ``venue`` defaults to the exchange's ccxt id. ``default_interval`` replaces the venue's
    entry in :data:`~fundarb.funding.collectors.intervals.DEFAULT_INTERVALS` (for a venue
    that has none, a sample with no stated interval is dropped, and that is logged).
    ``collected_at`` of every sample is ``clock()`` (UTC) when the payload was read.
    ccxt errors are translated into fundarb's tree (rate limit, timeout, unavailable, other
    venue error), with redacted text.
    """

    def __init__(
        self,
        exchange: CcxtExchange,
        *,
        venue: str | None = None,
        default_interval: timedelta | None = None,
        reload_markets_s: float = 3600.0,
        history_limit: int = 3,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        exchange_id = getattr(exchange, "id", None)
        venue = venue if venue is not None else exchange_id
        if not isinstance(venue, str) or not venue.strip():
            raise ConfigError("venue must be a non-empty name (or the exchange's ccxt id)")
        if default_interval is not None and not timedelta(0) < default_interval:
            raise ConfigError(f"default_interval must be positive, got {default_interval}")
        if not reload_markets_s > 0:
            raise ConfigError(f"reload_markets_s must be positive, got {reload_markets_s}")
        if history_limit < 2:
            raise ConfigError(f"history_limit must be 2 or more, got {history_limit}")
        self._venue = venue
        self._exchange = exchange
        self._default = (
            default_interval
            if default_interval is not None
            else DEFAULT_INTERVALS.get(exchange_id if isinstance(exchange_id, str) else venue)
        )
        self._reload_s = reload_markets_s
        self._history_limit = history_limit
        self._clock = clock
        self._markets: tuple[_Market, ...] = ()
        self._markets_at: float | None = None
        self._table: dict[str, timedelta] = {}
        self._table_at: float | None = None
        self._table_covers: frozenset[str] = frozenset()
        self._skipped: set[tuple[str, str]] = set()
        self._defaulted: frozenset[str] = frozenset()

    @property
    def venue(self) -> str:
        return self._venue

    def __repr__(self) -> str:  # never the exchange: its repr is ccxt's business
        return f"CcxtFundingCollector(venue={self._venue!r})"

    async def collect(self, symbols: Collection[str] | None = None) -> list[FundingSample]:
        wanted = wanted_symbols(symbols)
        try:
            return await self._collect(wanted)
        except Exception as exc:
            if not isinstance(exc, _ccxt().BaseError):
                raise
            # ``from None``: the ccxt error's text can carry signed URLs and headers; its
            # class name and redacted message are kept in ours
            raise self._translate(exc) from None

    # -- reading ------------------------------------------------------------------------------

    async def _collect(self, wanted: frozenset[str] | None) -> list[FundingSample]:
        markets = await self._load_markets()
        chosen = [m for m in markets if wanted is None or m.listing.base in wanted]
        if not chosen:
            return []
        structures = await self._fetch([m.symbol for m in chosen])
        table = await self._interval_table(chosen, structures)
        collected_at = self._clock()
        samples: list[FundingSample] = []
        defaulted: set[str] = set()
        for market in chosen:
            funding = structures.get(market.symbol)
            if funding is None:
                self._skip(market, "not in the venue's answer")
                continue
            sample = self._sample(market, funding, table, collected_at, defaulted)
            if sample is not None:
                samples.append(sample)
        self._note_defaults(frozenset(defaulted))
        return samples

    async def _load_markets(self) -> tuple[_Market, ...]:
        now = asyncio.get_running_loop().time()
        if self._markets_at is None or now - self._markets_at >= self._reload_s:
            await self._exchange.load_markets(reload=self._markets_at is not None)
            self._markets = self._read_markets(self._exchange.markets or {})
            self._markets_at = now
        return self._markets

    def _read_markets(self, markets: Mapping[str, Any]) -> tuple[_Market, ...]:
        result: list[_Market] = []
        for symbol, market in markets.items():
            if not isinstance(market, Mapping) or not isinstance(symbol, str):
                continue
            if market.get("swap") is not True or market.get("linear") is not True:
                continue
            if market.get("active") is False:
                continue
            info = market.get("info")
            if isinstance(info, Mapping) and info.get("hip3") is True:
                continue  # Hyperliquid builder-deployed dexes: their names are not assets
            # Hyperliquid's market id is an index; its coin name keeps the k of kPEPE
            name = market.get("baseName")
            if isinstance(name, str) and name and ":" not in name:
                venue_symbol, source = name, name
            else:
                venue_symbol, source = str(market.get("id", symbol)), symbol
            try:
                listing = parse_listing(source)
            except ValueError:
                self._skip_name(symbol, "no asset in its name")
                continue
            result.append(_Market(symbol, venue_symbol, listing, market))
        return tuple(result)

    async def _fetch(self, symbols: list[str]) -> dict[str, Mapping[str, Any]]:
        has = self._exchange.has
        exchange = self._exchange
        if has.get("fetchFundingRates"):
            answer = await exchange.fetch_funding_rates(symbols)
            rows = answer.values() if isinstance(answer, Mapping) else answer
            return {
                row["symbol"]: row
                for row in rows
                if isinstance(row, Mapping) and isinstance(row.get("symbol"), str)
            }
        if has.get("fetchFundingRate"):
            answers = await _bounded(
                [functools.partial(exchange.fetch_funding_rate, s) for s in symbols],
                _PER_SYMBOL_CONCURRENCY,
            )
            return {
                s: row for s, row in zip(symbols, answers, strict=True) if isinstance(row, Mapping)
            }
        if has.get("fetchFundingRateHistory"):
            histories = await _bounded(
                [
                    functools.partial(
                        exchange.fetch_funding_rate_history, s, None, self._history_limit
                    )
                    for s in symbols
                ],
                _PER_SYMBOL_CONCURRENCY,
            )
            shaped = (_from_history(s, h) for s, h in zip(symbols, histories, strict=True))
            return {row["symbol"]: row for row in shaped if row is not None}
        raise VenueError("the exchange offers no funding-rate endpoint", venue=self._venue)

    async def _interval_table(
        self, markets: Sequence[_Market], structures: Mapping[str, Mapping[str, Any]]
    ) -> Mapping[str, timedelta]:
        """The venue's per-symbol interval table, fetched when some rate states none (again
        after ``reload_markets_s``, or at once for a symbol the last table did not cover)."""
        if self._exchange.has.get("fetchFundingIntervals") is not True:
            return {}
        unstated = {
            m.symbol
            for m in markets
            if m.symbol in structures
            and resolve_interval(self._venue, structures[m.symbol], m.raw, {}, None) is None
        }
        now = asyncio.get_running_loop().time()
        fresh = self._table_at is not None and now - self._table_at < self._reload_s
        if not unstated or (fresh and unstated <= self._table_covers):
            return self._table
        answer = await self._exchange.fetch_funding_intervals()
        rows = answer.values() if isinstance(answer, Mapping) else answer
        table: dict[str, timedelta] = {}
        for row in rows:
            if isinstance(row, Mapping) and isinstance(row.get("symbol"), str):
                found = resolve_interval(self._venue, row, {}, {}, None)
                if found is not None:
                    table[row["symbol"]] = found[0]
        # a symbol missing from the table is a statement too (Binance: not adjusted, 8 h)
        self._table, self._table_at = table, now
        self._table_covers = frozenset(m.symbol for m in self._markets) | unstated
        return table

    def _sample(
        self,
        market: _Market,
        funding: Mapping[str, Any],
        table: Mapping[str, timedelta],
        collected_at: datetime,
        defaulted: set[str],
    ) -> FundingSample | None:
        fields = _VENUE_FIELDS.get(self._venue, _GENERIC)
        info_value = funding.get("info")
        info: Mapping[str, Any] = info_value if isinstance(info_value, Mapping) else {}
        rate = _exact(funding.get("fundingRate"), info, fields.rate)
        if rate is None or abs(rate) >= _MAX_RATE:
            self._skip(market, "no plausible funding rate")
            return None
        funding_time = _time(funding.get("fundingTimestamp"))
        if funding_time is None:
            self._skip(market, "no funding time")
            return None
        resolved = resolve_interval(self._venue, funding, market.raw, table, self._default)
        if resolved is None:
            self._skip(market, "no funding interval stated and no default for the venue")
            return None
        interval, source = resolved
        if source is IntervalSource.DEFAULT:
            defaulted.add(market.venue_symbol)
        mark = _exact(funding.get("markPrice"), info, fields.mark)
        open_interest = _raw(info, fields.open_interest_usd)
        if open_interest is None and mark is not None:
            listed = _raw(info, fields.open_interest_listed)
            open_interest = listed * mark if listed is not None else None
        return FundingSample(
            venue=self._venue,
            symbol=market.listing.symbol,
            venue_symbol=market.venue_symbol,
            rate=rate,
            interval=interval,
            funding_time=funding_time,
            collected_at=collected_at,
            multiplier=market.listing.multiplier,
            predicted_rate=_exact(funding.get("nextFundingRate"), info, fields.predicted),
            mark_price=mark,
            index_price=_exact(funding.get("indexPrice"), info, fields.index),
            open_interest_usd=open_interest,
            volume_24h_usd=_raw(info, fields.volume_usd),
        )

    # -- telling ------------------------------------------------------------------------------

    def _skip(self, market: _Market, reason: str) -> None:
        self._skip_name(market.venue_symbol, reason)

    def _skip_name(self, name: str, reason: str) -> None:
        if (name, reason) not in self._skipped:  # once per symbol and reason, not per poll
            self._skipped.add((name, reason))
            log_event(
                logger,
                logging.WARNING,
                "funding_sample_skipped",
                venue=self._venue,
                venue_symbol=name,
                reason=reason,
            )

    def _note_defaults(self, defaulted: frozenset[str]) -> None:
        if defaulted and defaulted != self._defaulted and self._default is not None:
            names = sorted(defaulted)
            log_event(
                logger,
                logging.INFO,
                "funding_interval_default",
                venue=self._venue,
                interval_h=self._default.total_seconds() / 3600,
                symbols=len(names),
                examples=",".join(names[:5]),
            )
        self._defaulted = defaulted

    def _translate(self, exc: Exception) -> VenueError:
        ccxt = _ccxt()
        secrets = (getattr(self._exchange, name, None) for name in _CREDENTIALS)
        message = describe_error(exc, (s for s in secrets if isinstance(s, str)))
        if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            return RateLimitedError(message, venue=self._venue)
        if isinstance(exc, ccxt.RequestTimeout):
            return RequestTimeoutError(message, venue=self._venue)
        if isinstance(exc, ccxt.NetworkError):
            return VenueUnavailableError(message, venue=self._venue)
        return VenueError(message, venue=self._venue)
