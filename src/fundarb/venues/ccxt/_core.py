"""The state and plumbing every part of :class:`~fundarb.venues.ccxt.CcxtExchangeClient`
shares: the ccxt exchange, its markets as :class:`MarketSpec` (by unified symbol and by the
venue's id), what we remember of our orders, and :meth:`Core._call`, through which every
ccxt call goes: within the account's rate budget, its errors translated once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from fundarb.errors import FundarbError, InvalidOrderError, UnknownSymbolError, VenueError
from fundarb.logs import log_event
from fundarb.venues.ccxt._errors import BadPayloadError, is_ccxt_error, translate
from fundarb.venues.ccxt._parse import (
    parse_spec,
)
from fundarb.venues.ccxt.limiter import AccountRateLimiter, Priority
from fundarb.venues.ccxt.streams import BookStreams
from fundarb.venues.markets import MarketSpec

__all__ = ["CcxtFailure", "Core", "logger"]

logger = logging.getLogger("fundarb.venues.ccxt")

T = TypeVar("T")
_CREDENTIALS = ("apiKey", "secret", "password", "uid", "privateKey", "token", "login", "twofa")


class Core:
    """The shared state (set by the client's ``__init__``) and plumbing."""

    _exchange: Any
    _venue: str
    _limiter: AccountRateLimiter
    _prefix: str
    _markets_loaded: bool
    _specs: dict[str, MarketSpec]
    # Binance-like venues need the symbol to find an order: ours are remembered
    _symbol_of_order: dict[str, str]
    _symbol_of_client_id: dict[str, str]
    _client_id_of_order: dict[str, str]
    _streams: BookStreams | None

    async def _ensure_markets(self) -> None:
        if not self._markets_loaded:
            await self._call(self._exchange.load_markets, priority=Priority.POLL)
            if not isinstance(self._exchange.markets, Mapping):
                raise BadPayloadError("markets: the venue listed none", venue=self._venue)
            self._markets_loaded = True

    async def _market(self, symbol: object) -> tuple[str, MarketSpec]:
        """ccxt's unified symbol for ``symbol`` (or the venue's id for it), and its spec."""
        if not isinstance(symbol, str) or not symbol:
            raise UnknownSymbolError(f"unknown symbol {symbol!r}", venue=self._venue)
        spec = self._specs.get(symbol)
        if spec is not None:
            return spec.symbol, spec
        await self._ensure_markets()
        markets: Mapping[str, Any] = self._exchange.markets
        market = markets.get(symbol)
        if market is None:
            by_id = getattr(self._exchange, "markets_by_id", None) or {}
            rows = by_id.get(symbol)
            market = rows[0] if isinstance(rows, list) and rows else None
        if not isinstance(market, Mapping) or not isinstance(market.get("symbol"), str):
            raise UnknownSymbolError(
                f"unknown symbol {symbol!r} on {self._venue}", venue=self._venue, symbol=symbol
            )
        unified = market["symbol"]
        spec = parse_spec(unified, market, getattr(self._exchange, "precisionMode", None))
        self._specs[unified] = spec
        self._specs[symbol] = spec
        return unified, spec

    async def _call(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        priority: Priority,
        symbol: str | None = None,
        client_order_id: str | None = None,
        sends: bool = False,
        keep_ccxt: bool = False,
    ) -> T:
        """Await a ccxt call within the account's budget; its errors leave translated (as a
        :class:`CcxtFailure` when ``keep_ccxt``, to let the caller see ccxt's class)."""
        await self._limiter.acquire(priority)
        try:
            return await call()
        except Exception as exc:
            if isinstance(exc, FundarbError):
                raise
            if is_ccxt_error(exc):
                error = translate(
                    exc,
                    sends=sends,
                    venue=self._venue,
                    secrets=self._secrets(),
                    symbol=symbol,
                    client_order_id=client_order_id,
                )
                cause: BaseException | None = exc
            elif isinstance(exc, TypeError | KeyError | ValueError | AttributeError | IndexError):
                # ccxt parsing a payload that is not the documented shape (an HTML page)
                error = BadPayloadError(
                    f"the venue's answer could not be read ({type(exc).__name__})",
                    venue=self._venue,
                    symbol=symbol,
                    client_order_id=client_order_id,
                )
                cause = None
            else:
                raise
            if keep_ccxt:
                raise CcxtFailure(error, cause) from None
            # ``from None``: ccxt's text can carry signed URLs and headers
            raise error from None

    def _secrets(self) -> list[str]:
        values = (getattr(self._exchange, name, None) for name in _CREDENTIALS)
        return [v for v in values if isinstance(v, str) and v]

    def _check_id(self, value: object, name: str) -> None:
        if not isinstance(value, str) or not value:
            raise InvalidOrderError(
                f"{name} must be a non-empty str, got {value!r}", venue=self._venue
            )

    def _log_order(
        self,
        event: str,
        symbol: str,
        client_order_id: str | None,
        order_id: str | None,
        error: VenueError,
    ) -> None:
        log_event(
            logger,
            logging.WARNING,
            event,
            venue=self._venue,
            client_order_id=client_order_id,
            order_id=order_id,
            symbol=symbol,
            verdict=error.error_class.value,
            error=str(error),
        )


class CcxtFailure(Exception):
    """Internal: a translated error with the ccxt exception it came from (None: a bad
    payload), for callers that decide by ccxt's class (reject reason, order not found)."""

    def __init__(self, error: VenueError, cause: BaseException | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.cause = cause
