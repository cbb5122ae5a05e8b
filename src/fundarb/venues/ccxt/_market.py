"""Market data of :class:`~fundarb.venues.ccxt.CcxtExchangeClient`: books (websocket
when fresh, else REST), market specs, fee rates, funding rates, the venue's clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fundarb.errors import (
    InvalidOrderError,
)
from fundarb.venues.ccxt._core import Core
from fundarb.venues.ccxt._errors import (
    BadPayloadError,
)
from fundarb.venues.ccxt._parse import as_mapping, exact, info_of, number, parse_book, timestamp
from fundarb.venues.ccxt.limiter import Priority
from fundarb.venues.markets import FeeSchedule, FundingRate, MarketSpec

__all__ = ["MarketData"]

_BINANCE_DEPTHS = (5, 10, 20, 50, 100, 500, 1000)
_MAX_LEVELS = 5000
_DEFAULT_INTERVAL = timedelta(hours=8)
_ZERO = Decimal(0)


class MarketData(Core):
    """Books, specs, fees, funding rates and the clock of the client's venue."""

    async def fetch_bbo_prices(self, symbol: str) -> tuple[Decimal, Decimal]:
        """Best bid and ask; ``Decimal(0)`` for an empty side."""
        book = await self.get_order_book_depth(symbol, 5)
        bids, asks = book["bids"], book["asks"]
        return (bids[0]["price"] if bids else _ZERO, asks[0]["price"] if asks else _ZERO)

    async def get_order_book_depth(self, symbol: str, levels: int = 20) -> dict[str, Any]:
        """``{'symbol', 'bids': [{'price', 'size'}], 'asks': [...], 'timestamp' (ms)}``,
        best first, sizes in base units; ``symbol`` is the one asked for (the venue's id
        or ccxt's unified symbol, as given)."""
        if (
            isinstance(levels, bool)
            or not isinstance(levels, int)
            or not 1 <= levels <= _MAX_LEVELS
        ):
            raise InvalidOrderError(
                f"levels must be an int from 1 to {_MAX_LEVELS}, got {levels!r}",
                venue=self._venue,
                symbol=str(symbol),
            )
        market, spec = await self._market(symbol)
        if self._streams is not None:  # websocket book if fresh (streams.py), else REST
            streamed = self._streams.book(spec.symbol, levels, spec.contract_size)
            if streamed is not None:
                streamed["symbol"] = symbol  # the caller's name (venue id or unified)
                return streamed
        limit = levels
        if self._venue.startswith("binance") or getattr(self._exchange, "id", "").startswith(
            "binance"
        ):
            limit = next((d for d in _BINANCE_DEPTHS if d >= levels), _BINANCE_DEPTHS[-1])
        raw = await self._call(
            lambda: self._exchange.fetch_order_book(market, limit),
            priority=Priority.POLL,
            symbol=spec.symbol,
        )
        # labelled with the symbol asked for (the venue's id or ccxt's unified symbol): the
        # execution layer checks that a book is the one it asked for
        return parse_book(symbol, raw, levels, spec.contract_size)

    async def get_market_spec(self, symbol: str) -> MarketSpec:
        return (await self._market(symbol))[1]

    async def get_fee_schedule(self, symbol: str) -> FeeSchedule:
        """The market's listed maker and taker rates (ccxt's market table; the account's own
        tier is not read)."""
        market, _ = await self._market(symbol)
        row = self._exchange.markets[market]
        maker, taker = number(row.get("maker")), number(row.get("taker"))
        if maker is None or taker is None:
            raise BadPayloadError(f"{market}: no fee rates listed", venue=self._venue)
        return FeeSchedule(maker_rate=maker, taker_rate=taker)

    async def get_funding_rate(self, symbol: str) -> FundingRate:
        market, _ = await self._market(symbol)
        raw = as_mapping(
            await self._call(
                lambda: self._exchange.fetch_funding_rate(market),
                priority=Priority.POLL,
                symbol=market,
            ),
            "funding rate",
        )
        info = info_of(raw)
        rate = exact(raw.get("fundingRate"), info, "lastFundingRate", "fundingRate")
        next_time = timestamp(raw.get("fundingTimestamp")) or timestamp(
            raw.get("nextFundingTimestamp")
        )
        mark = exact(raw.get("markPrice"), info, "markPrice")
        if mark is None and (getattr(self._exchange, "has", None) or {}).get("fetchMarkPrice"):
            # OKX's funding-rate answer states no mark price: its mark-price endpoint does
            ticker = as_mapping(
                await self._call(
                    lambda: self._exchange.fetch_mark_price(market),
                    priority=Priority.POLL,
                    symbol=market,
                ),
                "mark price",
            )
            mark = exact(ticker.get("markPrice"), info_of(ticker), "markPx")
        if rate is None or next_time is None or mark is None:
            raise BadPayloadError(
                "funding rate: no rate, time or mark price", venue=self._venue, symbol=market
            )
        interval = _DEFAULT_INTERVAL
        stated = raw.get("interval")
        if isinstance(stated, str) and stated.endswith("h") and stated[:-1].isdigit():
            interval = timedelta(hours=int(stated[:-1]))
        return FundingRate(
            symbol=market,
            rate=rate,
            interval=interval,
            next_funding_time=next_time,
            mark_price=mark,
            index_price=exact(raw.get("indexPrice"), info, "indexPrice") or mark,
            timestamp=timestamp(raw.get("timestamp")) or next_time,
        )

    async def get_server_time(self) -> datetime:
        raw = await self._call(self._exchange.fetch_time, priority=Priority.POLL)
        when = timestamp(raw)
        if when is None:
            raise BadPayloadError(f"server time: {type(raw).__name__} is not a time in ms")
        return when
