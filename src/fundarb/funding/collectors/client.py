"""Funding samples from any exchange client that offers ``get_funding_rate``.

The simulated venues are such clients, and so is any third-party client that implements
:class:`~fundarb.venues.FundingRateProvider`. The client knows nothing of canonical names,
so the collector is told which of the venue's symbols to read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from decimal import Decimal

from fundarb.concurrency import run_all
from fundarb.errors import ConfigError
from fundarb.funding.collectors.protocol import wanted_symbols
from fundarb.funding.rates import FundingSample
from fundarb.funding.symbols import Listing, parse_listing
from fundarb.venues.interface import FundingRateProvider
from fundarb.venues.markets import FundingRate

__all__ = ["ExchangeClientCollector"]


class ExchangeClientCollector:
    """Reads ``get_funding_rate`` for each configured venue symbol, concurrently.

    ``symbols`` are the venue's own names (``BTC-PERP``, ``1000PEPEUSDT``, ``kPEPE``); their
    canonical names and multipliers come from :func:`~fundarb.funding.symbols.parse_listing`.
    ``venue`` defaults to the client's ``get_exchange_name()``. A sample's ``collected_at``
    is the client's own timestamp of the reading (the simulated world's clock for a
    simulated venue); open interest and volume are None unless the client's funding rate
    carries ``open_interest_usd`` / ``volume_24h_usd``. Any failure of the client fails the
    whole collection (the caller decides what a failed venue means).
    """

    def __init__(
        self, client: FundingRateProvider, symbols: Iterable[str], *, venue: str | None = None
    ) -> None:
        if venue is None:
            name = getattr(client, "get_exchange_name", None)
            if not callable(name):
                raise ConfigError("venue is required for a client without get_exchange_name()")
            venue = str(name())
        if not venue.strip():
            raise ConfigError("venue must not be empty")
        listings: list[Listing] = []
        for symbol in symbols:
            try:
                listings.append(parse_listing(symbol))
            except ValueError as exc:
                raise ConfigError(f"{venue}: cannot read symbol {symbol!r}: {exc}") from exc
        if not listings:
            raise ConfigError(f"{venue}: at least one symbol is required")
        self._venue = venue
        self._client = client
        self._listings = tuple(listings)

    @property
    def venue(self) -> str:
        return self._venue

    def __repr__(self) -> str:
        names = ", ".join(listing.venue_symbol for listing in self._listings)
        return f"ExchangeClientCollector(venue={self._venue!r}, symbols=[{names}])"

    async def collect(self, symbols: Collection[str] | None = None) -> list[FundingSample]:
        wanted = wanted_symbols(symbols)
        listings = [item for item in self._listings if wanted is None or item.base in wanted]
        rates = await run_all(
            [self._client.get_funding_rate(item.venue_symbol) for item in listings]
        )
        return [self._sample(item, rate) for item, rate in zip(listings, rates, strict=True)]

    def _sample(self, listing: Listing, rate: FundingRate) -> FundingSample:
        return FundingSample(
            venue=self._venue,
            symbol=listing.symbol,
            venue_symbol=listing.venue_symbol,
            rate=rate.rate,
            interval=rate.interval,
            funding_time=rate.next_funding_time,
            collected_at=rate.timestamp,
            multiplier=listing.multiplier,
            mark_price=rate.mark_price,
            index_price=rate.index_price,
            open_interest_usd=_optional_decimal(rate, "open_interest_usd"),
            volume_24h_usd=_optional_decimal(rate, "volume_24h_usd"),
        )


def _optional_decimal(rate: FundingRate, name: str) -> Decimal | None:
    value = getattr(rate, name, None)
    return value if isinstance(value, Decimal) and value.is_finite() else None
