"""``CcxtExchangeClient``: a ccxt ``async_support`` exchange behind the exchange client
interface and its optional capabilities, over REST.

Symbols are ccxt's unified symbols (``BTC/USDT:USDT``); the venue's own id (``BTCUSDT``)
is accepted as input too. Quantities are base units on our side and contracts on ccxt's
(times and divided by the market's ``contractSize``). Prices are rounded to the tick by
:meth:`MarketSpec.round_price`, a buy down and a sell up; a quantity off the lot step, below
a minimum, or any other bad input raises :class:`InvalidOrderError` before any request.

Every order carries a client order id (generated when the caller gives none), so an order
of unknown fate can be found. Every ccxt exception is translated once by
:func:`~fundarb.venues.ccxt._errors.translate`: a definitive refusal of a new order is a
failed :class:`OrderResult` (as the simulated venue answers), a retryable error is raised,
and an ambiguous one on placement is resolved at once by looking the order up by its client
order id: found, its state is returned; not found or not answerable, the ambiguous error is
raised (the order may still arrive; invariant 4). Credentials never appear in reprs, logs or
error text.

The client is assembled from its parts, each a module: :mod:`._market` (books, specs,
fees, funding rates, clock), :mod:`._orders` (place, cancel, look up), :mod:`._account`
(positions, leverage, balance, fills, funding payments), on the shared state and plumbing
of :mod:`._core`; this module builds it, owns its lifecycle and its event stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import logging
import re
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, Self

from fundarb.errors import ConfigError
from fundarb.funding.collectors.redact import redact
from fundarb.venues.ccxt._account import Account
from fundarb.venues.ccxt._core import Core
from fundarb.venues.ccxt._market import MarketData
from fundarb.venues.ccxt._orders import Orders
from fundarb.venues.ccxt.events import EventSettings, UserEvents
from fundarb.venues.ccxt.limiter import AccountRateLimiter
from fundarb.venues.ccxt.streams import DEFAULT_STALE_AFTER_S, BookStreams
from fundarb.venues.orders import Fill, OrderUpdate

__all__ = ["CcxtExchangeClient"]


class _RedactCredentials(logging.Filter):
    """Hides the credentials of every client's exchange in ccxt's own log records: ccxt
    logs each request's headers at DEBUG, the API key among them (``X-MBX-APIKEY``)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = redact(message, self.secrets)
        if hidden != message:
            record.msg, record.args = hidden, None
        return True


_REDACT = _RedactCredentials()


def _account_key(exchange: Any) -> str:
    """An opaque per-account key: the venue and a digest of the API key (never the key)."""
    api_key = getattr(exchange, "apiKey", None) or ""
    digest = hashlib.sha256(str(api_key).encode()).hexdigest()[:16]
    return f"{getattr(exchange, 'id', '?')}:{digest}"


class CcxtExchangeClient(MarketData, Orders, Account, Core):
    """The exchange client interface over a ccxt ``async_support`` exchange.

    ``exchange`` is built and closed by the caller, or use :meth:`create` and
    ``async with`` the client (it then closes the exchange). ``limiter`` defaults to the
    process-wide :class:`AccountRateLimiter` of the exchange's account.
    """

    supported_order_options = frozenset({"client_order_id", "post_only", "time_in_force"})

    def __init__(
        self,
        exchange: Any,
        *,
        venue: str | None = None,
        limiter: AccountRateLimiter | None = None,
        client_id_prefix: str = "fa",
        streams: BookStreams | None = None,
        event_settings: EventSettings | None = None,
    ) -> None:
        venue = venue if venue is not None else getattr(exchange, "id", None)
        if not isinstance(venue, str) or not venue.strip():
            raise ConfigError("venue must be a non-empty name (or the exchange's ccxt id)")
        if not re.fullmatch(r"[A-Za-z0-9]{0,8}", client_id_prefix):
            raise ConfigError("client_id_prefix must be at most 8 letters or digits")
        self._exchange = exchange
        self._venue = venue
        self._limiter = (
            limiter if limiter is not None else AccountRateLimiter.shared(_account_key(exchange))
        )
        self._prefix = client_id_prefix
        self._owns_exchange = False
        self._markets_loaded = False
        self._specs = {}
        self._symbol_of_order = {}
        self._symbol_of_client_id = {}
        self._client_id_of_order = {}
        # -- websocket books (streams.py): served when fresh, REST otherwise --
        self._streams = streams
        self._owns_streams = False
        # -- our order updates and fills (events.py), shared by every subscriber --
        self._event_settings = event_settings
        self._user_events: UserEvents | None = None
        self._event_subscribers = 0
        self._events_lock = asyncio.Lock()
        _REDACT.secrets.update(self._secrets())
        ccxt_logger = getattr(exchange, "logger", None)
        if isinstance(ccxt_logger, logging.Logger):
            ccxt_logger.addFilter(_REDACT)  # once: a logger keeps one of each filter

    @classmethod
    def create(
        cls,
        exchange_id: str,
        *,
        api_key: str | None = None,
        secret: str | None = None,
        password: str | None = None,
        options: Mapping[str, Any] | None = None,
        use_websockets: bool = False,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        **config: Any,
    ) -> CcxtExchangeClient:
        """Build the ccxt ``async_support`` exchange ``exchange_id`` with these credentials;
        the client owns it (``async with`` the client to close it).

        ``use_websockets``: build ccxt.pro's exchange instead and serve books from websocket
        streams (started by ``async with``) while they are fresh (an update within
        ``stale_after_s``), over REST otherwise."""
        module = importlib.import_module("ccxt.pro" if use_websockets else "ccxt.async_support")
        factory = getattr(module, exchange_id, None) if exchange_id.isidentifier() else None
        if factory is None:
            raise ConfigError(f"ccxt has no exchange {exchange_id!r}")
        settings: dict[str, Any] = {"enableRateLimit": True, **config}
        credentials = {"apiKey": api_key, "secret": secret, "password": password}
        settings.update({k: v for k, v in credentials.items() if v is not None})
        chosen = dict(options or {})
        if exchange_id == "hyperliquid":  # ccxt would charge its own builder fee: not ours to pay
            chosen.setdefault("builderFee", False)
        if chosen:
            settings["options"] = chosen
        client = cls(factory(settings))
        client._owns_exchange = True
        if use_websockets:
            client._streams = BookStreams(
                client._exchange, venue=client._venue, stale_after_s=stale_after_s
            )
            client._owns_streams = True
        return client

    def __repr__(self) -> str:  # never the exchange: it holds the credentials
        return f"CcxtExchangeClient(venue={self._venue!r})"

    async def __aenter__(self) -> Self:
        if self._streams is not None and self._owns_streams:
            self._streams.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the exchange if this client built it (and its streams first)."""
        if self._user_events is not None:
            await self._user_events.stop()
            self._user_events = None
        if self._streams is not None and self._owns_streams:
            await self._streams.stop()
        if self._owns_exchange:
            await self._exchange.close()

    def get_exchange_name(self) -> str:
        return self._venue

    @contextlib.asynccontextmanager
    async def events(self) -> AsyncIterator[AsyncIterator[OrderUpdate | Fill]]:
        """Our order updates and fills from now on (``async with client.events() as
        events: async for event in events``); see :mod:`~fundarb.venues.ccxt.events`.

        Over ccxt.pro they come from the websocket, with REST sweeps after a reconnect (and
        every ``sweep_every_s``) so a fill made while it was down is still delivered, once;
        over REST only, from polling. Starts with our open orders' state. The stream runs
        while anyone is subscribed. Raises :class:`VenueError` from the iteration if it died.
        """
        async with self._events_lock:
            if self._user_events is None:
                self._user_events = UserEvents(
                    self._exchange,
                    self,
                    venue=self._venue,
                    symbols=self._order_symbols,
                    client_order_id_of=lambda order_id: self._client_id_of_order.get(order_id, ""),
                    remember=self._remember,
                    settings=self._event_settings,
                )
                self._user_events.start()
            stream = self._user_events
            self._event_subscribers += 1
        try:
            async with stream.subscribe() as events:
                yield events
        finally:
            async with self._events_lock:
                self._event_subscribers -= 1
                if self._event_subscribers == 0 and self._user_events is stream:
                    self._user_events = None
                    await stream.stop()

    @property
    def user_events(self) -> UserEvents | None:
        """The running event stream (its counters), or None when nobody is subscribed."""
        return self._user_events

    def _order_symbols(self) -> set[str]:
        """ccxt's symbols of the orders we know of (placed here, or seen since)."""
        known = {*self._symbol_of_order.values(), *self._symbol_of_client_id.values()}
        return {self._specs[s].symbol if s in self._specs else s for s in known}
