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
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from types import TracebackType
from typing import Any, Self, TypeVar

from fundarb.errors import (
    AmbiguousError,
    ConfigError,
    FundarbError,
    InvalidOrderError,
    OrderRejectedError,
    UnknownSymbolError,
    VenueError,
)
from fundarb.funding.collectors.redact import redact
from fundarb.logs import log_event
from fundarb.numbers import to_positive_decimal
from fundarb.venues.accounts import Balance, FundingPayment, Position
from fundarb.venues.ccxt._errors import (
    BadPayloadError,
    ccxt_module,
    is_ccxt_error,
    reject_reason,
    translate,
)
from fundarb.venues.ccxt._parse import (
    as_mapping,
    exact,
    info_of,
    number,
    parse_balance,
    parse_book,
    parse_fill,
    parse_order,
    parse_spec,
    timestamp,
)
from fundarb.venues.ccxt.events import EventSettings, UserEvents
from fundarb.venues.ccxt.limiter import AccountRateLimiter, Priority
from fundarb.venues.ccxt.streams import DEFAULT_STALE_AFTER_S, BookStreams
from fundarb.venues.markets import FeeSchedule, FundingRate, MarketSpec
from fundarb.venues.orders import (
    Fill,
    OrderInfo,
    OrderResult,
    OrderStatus,
    OrderUpdate,
    RejectReason,
    Side,
    parse_side,
)

__all__ = ["CcxtExchangeClient"]

logger = logging.getLogger("fundarb.venues.ccxt")

T = TypeVar("T")
_CREDENTIALS = ("apiKey", "secret", "password", "uid", "privateKey", "token", "login", "twofa")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,36}$")
_LIMIT_OPTS = frozenset({"post_only", "time_in_force", "client_order_id", "priority"})
_MARKET_OPTS = frozenset({"client_order_id", "priority"})
_TIF = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "GTX": "PO", "POST_ONLY": "PO", "PO": "PO"}
_BINANCE_DEPTHS = (5, 10, 20, 50, 100, 500, 1000)
_MAX_LEVELS = 5000
_DEFAULT_INTERVAL = timedelta(hours=8)
_ZERO = Decimal(0)


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


class CcxtExchangeClient:
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
        self._specs: dict[str, MarketSpec] = {}
        # Binance-like venues need the symbol to find an order: remember ours
        self._symbol_of_order: dict[str, str] = {}
        self._symbol_of_client_id: dict[str, str] = {}
        self._client_id_of_order: dict[str, str] = {}
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

    # -- the exchange client interface ------------------------------------------------------

    def get_exchange_name(self) -> str:
        return self._venue

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

    async def place_limit_order(
        self,
        contract_id: str,
        quantity: Decimal,
        price: Decimal,
        side: str,
        reduce_only: bool = False,
        **opts: Any,
    ) -> OrderResult:
        """Place a limit order. ``opts``: ``post_only``, ``time_in_force`` (GTC, IOC, FOK,
        GTX/POST_ONLY), ``client_order_id``, ``priority`` ('hedge' to go first)."""
        return await self._place(contract_id, quantity, price, side, reduce_only, opts, limit=True)

    async def place_market_order(
        self,
        contract_id: str,
        quantity: Decimal,
        side: str,
        reduce_only: bool = False,
        **opts: Any,
    ) -> OrderResult:
        """Place a market order. ``opts``: ``client_order_id``, ``priority``."""
        return await self._place(contract_id, quantity, None, side, reduce_only, opts, limit=False)

    async def cancel_order(self, order_id: str, symbol: str | None = None) -> OrderResult:
        """Cancel; ``filled_size`` is what the venue reported filled at the cancel.

        Refused (the order is unknown, or already final): a failed result whose status and
        ``filled_size`` are the order's as the venue then reports it, when it can.
        """
        self._check_id(order_id, "order_id")
        market, spec = await self._order_market(order_id, symbol)
        client_order_id = self._client_id_of_order.get(order_id)
        try:
            raw = await self._call(
                lambda: self._exchange.cancel_order(order_id, market),
                priority=Priority.CANCEL,
                symbol=spec.symbol,
                client_order_id=client_order_id,
                sends=True,
                keep_ccxt=True,
            )
        except _CcxtFailure as failure:
            error = failure.error
            if not isinstance(error, OrderRejectedError):
                raise error from None
            known = await self._find(lambda: self._fetch_order(order_id, market), spec)
            reason = RejectReason.UNKNOWN_ORDER if known is None else RejectReason.ALREADY_FINAL
            if known is not None and not OrderStatus(known.status).is_final:
                reason = RejectReason.CANCEL_REJECTED
            self._log_order("ccxt.cancel.refused", spec.symbol, client_order_id, order_id, error)
            return OrderResult(
                success=False,
                order_id=order_id,
                side=known.side if known else None,
                size=known.size if known else None,
                price=known.price if known else None,
                status=known.status if known else None,
                error_message=str(error),
                filled_size=known.filled_size if known else None,
                reject_reason=reason,
                client_order_id=client_order_id,
            )
        if isinstance(raw, Mapping) and raw.get("amount") is None:
            # Bybit and OKX acknowledge a cancel with the ids only: read the order back for
            # its state and what it filled
            known = await self._find(lambda: self._fetch_order(order_id, market), spec)
            if known is None:
                return OrderResult(
                    success=True,
                    order_id=order_id,
                    status=OrderStatus.PENDING_CANCEL.value,
                    client_order_id=client_order_id,
                )
            info = known
        else:
            info = parse_order(raw, spec.contract_size)
        status = OrderStatus(info.status)
        if status in (OrderStatus.NEW, OrderStatus.UNKNOWN):
            status = OrderStatus.PENDING_CANCEL  # answered, not yet confirmed final
        return OrderResult(
            success=True,
            order_id=info.order_id,
            side=info.side,
            size=info.size,
            price=info.price,
            status=status.value,
            filled_size=info.filled_size,
            client_order_id=info.client_order_id or client_order_id,
        )

    async def get_order_info(self, order_id: str, symbol: str | None = None) -> OrderInfo | None:
        """The order as the venue reports it, or None if the venue does not know the id."""
        self._check_id(order_id, "order_id")
        market, spec = await self._order_market(order_id, symbol)
        return await self._find(lambda: self._fetch_order(order_id, market), spec)

    # -- optional capabilities --------------------------------------------------------------

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

    async def get_positions(self) -> Sequence[Position]:
        """Open (non-zero) positions, signed base units."""
        await self._ensure_markets()
        raw = await self._call(self._exchange.fetch_positions, priority=Priority.POLL)
        if not isinstance(raw, list):
            raise BadPayloadError("positions: expected a list", venue=self._venue)
        positions = (self._position(row) for row in raw)
        return [p for p in positions if p is not None and p.quantity != 0]

    async def get_position(self, symbol: str) -> Position | None:
        market, _ = await self._market(symbol)
        raw = await self._call(
            lambda: self._exchange.fetch_positions([market]), priority=Priority.POLL, symbol=market
        )
        if not isinstance(raw, list):
            raise BadPayloadError("positions: expected a list", venue=self._venue, symbol=market)
        for row in raw:
            position = self._position(row)
            if position is not None and position.symbol == market and position.quantity != 0:
                return position
        return None

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        if isinstance(leverage, bool) or not isinstance(leverage, int) or leverage < 1:
            raise InvalidOrderError(
                f"leverage must be an int of 1 or more, got {leverage!r}", venue=self._venue
            )
        market, _ = await self._market(symbol)
        raw = await self._call(
            lambda: self._exchange.set_leverage(leverage, market),
            priority=Priority.ORDER,
            symbol=market,
        )
        confirmed = number(as_mapping(raw, "leverage").get("leverage"))
        if confirmed is None:
            raise BadPayloadError("leverage: no leverage in the answer", venue=self._venue)
        return int(confirmed)

    async def get_balance(self) -> Balance:
        """The account in its settlement asset, from the venue's own account payload where
        ccxt's unified balance loses it: Binance USD-M's ``total*`` fields, Bybit's unified
        account (USD totals), OKX's trading account (the USDT, USDC or USD detail),
        Hyperliquid's perp account (``clearinghouseState``); else ccxt's USDT, USDC or USD
        balance."""
        raw = as_mapping(
            await self._call(self._exchange.fetch_balance, priority=Priority.POLL), "balance"
        )
        balance = parse_balance(raw)
        if balance is None:
            raise BadPayloadError("balance: no USDT, USDC or USD balance", venue=self._venue)
        return balance

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

    async def get_order_by_client_id(
        self, client_order_id: str, symbol: str | None = None
    ) -> OrderInfo | None:
        """The order with this client order id, or None if the venue has none.

        The symbol is the one it was placed on by this client, else ``symbol``; with
        neither, the open orders are searched, and a closed order cannot be found
        (:class:`AmbiguousError`: we cannot know).
        """
        self._check_id(client_order_id, "client_order_id")
        return await self._lookup(client_order_id, symbol)

    def remember_order(
        self, client_order_id: str, symbol: str, order_id: str | None = None
    ) -> None:
        """Note the symbol an order of ours was placed on by an earlier process (recovery
        reads it from the journal), so it can be looked up by its client order id after it
        closed: Binance-like venues find an order only within its symbol."""
        self._check_id(client_order_id, "client_order_id")
        self._check_id(symbol, "symbol")
        self._symbol_of_client_id.setdefault(client_order_id, symbol)
        if order_id:
            self._symbol_of_order.setdefault(order_id, symbol)
            self._client_id_of_order.setdefault(order_id, client_order_id)

    async def get_open_orders(self, symbol: str | None = None) -> Sequence[OrderInfo]:
        market = (await self._market(symbol))[0] if symbol is not None else None
        if market is None:
            await self._ensure_markets()
            self._exchange.options["warnOnFetchOpenOrdersWithoutSymbol"] = False
        raw = await self._call(
            lambda: self._exchange.fetch_open_orders(market), priority=Priority.POLL, symbol=market
        )
        if not isinstance(raw, list):
            raise BadPayloadError("open orders: expected a list", venue=self._venue)
        orders = []
        for row in raw:
            row_symbol = as_mapping(row, "order").get("symbol")
            _, spec = await self._market(row_symbol)
            orders.append(self._remember(parse_order(row, spec.contract_size)))
        return orders

    async def get_fills(
        self,
        symbol: str | None = None,
        *,
        order_ids: Sequence[str] | None = None,
        since: datetime | None = None,
    ) -> Sequence[Fill]:
        """Our fills, oldest first (from ``since`` on, when given: the venue's clock). The
        venue needs a symbol: ``symbol``, else those the ``order_ids`` were placed on by this
        client."""
        if order_ids is not None and (
            isinstance(order_ids, str) or not all(isinstance(i, str) for i in order_ids)
        ):
            raise InvalidOrderError("order_ids must be a sequence of str", venue=self._venue)
        if symbol is not None:
            markets = [(await self._market(symbol))[0]]
        elif order_ids:
            missing = [i for i in order_ids if i not in self._symbol_of_order]
            if missing:
                raise InvalidOrderError(
                    f"the symbol of orders {missing} is unknown: pass symbol", venue=self._venue
                )
            markets = sorted({(await self._market(self._symbol_of_order[i]))[0] for i in order_ids})
        else:
            raise InvalidOrderError("get_fills needs a symbol or order ids", venue=self._venue)
        wanted = set(order_ids) if order_ids is not None else None
        since_ms = int(since.timestamp() * 1000) if since is not None else None
        fills: list[Fill] = []
        for market in markets:
            _, spec = await self._market(market)
            raw = await self._call(
                lambda m=market: self._exchange.fetch_my_trades(m, since_ms),  # type: ignore[misc]
                priority=Priority.POLL,
                symbol=market,
            )
            if not isinstance(raw, list):
                raise BadPayloadError("trades: expected a list", venue=self._venue, symbol=market)
            for row in raw:
                order_id = str(as_mapping(row, "trade").get("order") or "")
                if wanted is not None and order_id not in wanted:
                    continue
                fills.append(
                    parse_fill(
                        self._venue,
                        row,
                        spec.contract_size,
                        self._client_id_of_order.get(order_id, ""),
                    )
                )
        return sorted(fills, key=lambda f: f.timestamp)

    async def get_funding_payments(
        self, symbol: str | None = None, *, since: datetime | None = None
    ) -> Sequence[FundingPayment]:
        """Funding settled on our positions (``symbol``'s, or every symbol's), oldest first,
        after ``since`` when given (the venue's clock): ``amount`` received positive
        (ccxt ``fetch_funding_history``), as the simulated venue answers.

        The rate and mark price of each payment are read from the venue's funding-rate
        history (``fetch_funding_rate_history``) at the payment's time, and the position
        from them (amount = -position x mark x rate); without a matching print they are 0
        (logged). Unique per venue, symbol, funding time and position side."""
        market = (await self._market(symbol))[0] if symbol is not None else None
        if market is None:
            await self._ensure_markets()
        since_ms = int(since.timestamp() * 1000) if since is not None else None
        raw = await self._call(
            lambda: self._exchange.fetch_funding_history(market, since_ms),
            priority=Priority.POLL,
            symbol=market,
        )
        if not isinstance(raw, list):
            raise BadPayloadError("funding history: expected a list", venue=self._venue)
        by_symbol: dict[str, list[tuple[datetime, Decimal]]] = {}
        for row in raw:
            row = as_mapping(row, "funding payment")
            when = timestamp(row.get("timestamp"))
            amount = exact(row.get("amount"), info_of(row), "income")
            row_symbol = row.get("symbol")
            if when is None or amount is None or not isinstance(row_symbol, str):
                raise BadPayloadError(
                    "funding payment: no time, amount or symbol", venue=self._venue
                )
            if since is None or when > since:
                by_symbol.setdefault(row_symbol, []).append((when, amount))
        payments = []
        for row_symbol, rows in sorted(by_symbol.items()):
            prints = await self._funding_prints(row_symbol, min(when for when, _ in rows))
            for when, amount in rows:
                rate, mark = prints.get(when, (_ZERO, _ZERO))
                if not (rate and mark):
                    log_event(
                        logger,
                        logging.WARNING,
                        "ccxt.funding.no_print",
                        venue=self._venue,
                        symbol=row_symbol,
                        funding_time=when,
                    )
                payments.append(
                    FundingPayment(
                        venue=self._venue,
                        symbol=row_symbol,
                        funding_time=when,
                        rate=rate,
                        position_quantity=-amount / (rate * mark) if rate and mark else _ZERO,
                        mark_price=mark,
                        amount=amount,
                    )
                )
        return sorted(payments, key=lambda p: (p.funding_time, p.symbol))

    async def _funding_prints(
        self, market: str, first: datetime
    ) -> dict[datetime, tuple[Decimal, Decimal]]:
        """The venue's funding rate and mark price at each funding time from ``first`` on."""
        if not (getattr(self._exchange, "has", None) or {}).get("fetchFundingRateHistory"):
            return {}
        first_ms = int(first.timestamp() * 1000)
        history = await self._call(
            lambda: self._exchange.fetch_funding_rate_history(market, first_ms, 1000),
            priority=Priority.POLL,
            symbol=market,
        )
        prints: dict[datetime, tuple[Decimal, Decimal]] = {}
        for raw in history if isinstance(history, list) else ():
            entry = as_mapping(raw, "funding rate")
            when = timestamp(entry.get("timestamp"))
            info = info_of(entry)
            rate = exact(entry.get("fundingRate"), info, "fundingRate")
            mark = number(info.get("markPrice")) or number(entry.get("markPrice"))
            if when is not None and rate is not None and mark is not None:
                prints[when] = (rate, mark)
        return prints

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

    async def get_server_time(self) -> datetime:
        raw = await self._call(self._exchange.fetch_time, priority=Priority.POLL)
        when = timestamp(raw)
        if when is None:
            raise BadPayloadError(f"server time: {type(raw).__name__} is not a time in ms")
        return when

    # -- orders -----------------------------------------------------------------------------

    async def _place(
        self,
        symbol: object,
        quantity: object,
        price: object | None,
        side: object,
        reduce_only: object,
        opts: dict[str, Any],
        *,
        limit: bool,
    ) -> OrderResult:
        given = opts.get("client_order_id")
        where: dict[str, str | None] = {
            "venue": self._venue,
            "symbol": str(symbol),
            "client_order_id": given if isinstance(given, str) else None,
        }
        unknown = set(opts) - (_LIMIT_OPTS if limit else _MARKET_OPTS)
        if unknown:
            raise InvalidOrderError(f"unsupported order options {sorted(unknown)}", **where)
        try:
            parsed_side = parse_side(side)
            qty = to_positive_decimal(quantity, name="quantity")
            limit_price = to_positive_decimal(price, name="price") if limit else None
        except ValueError as exc:
            raise InvalidOrderError(str(exc), **where) from None
        if not isinstance(reduce_only, bool):
            raise InvalidOrderError(f"reduce_only must be a bool, got {reduce_only!r}", **where)
        params: dict[str, Any] = {}
        if limit:
            params.update(self._time_in_force(opts, where))
        if reduce_only:
            params["reduceOnly"] = True
        if given is None:
            client_order_id = self._new_client_id()
        elif isinstance(given, str) and _CLIENT_ID.match(given):
            client_order_id = given
        else:
            raise InvalidOrderError(
                f"client_order_id must be 1-36 letters, digits or ._:-, got {given!r}", **where
            )
        where["client_order_id"] = client_order_id
        params["clientOrderId"] = client_order_id
        priority = (
            Priority.HEDGE if reduce_only or opts.get("priority") == "hedge" else Priority.ORDER
        )
        if not isinstance(symbol, str):
            raise InvalidOrderError(f"symbol must be a str, got {symbol!r}", **where)
        market, spec = await self._market(symbol)
        if limit_price is not None:
            limit_price = spec.round_price(limit_price, parsed_side)
            if getattr(self._exchange, "id", None) == "hyperliquid":
                limit_price = _five_figures(limit_price, parsed_side, spec)
            if limit_price <= 0:
                raise InvalidOrderError("price rounds to zero on the tick", **where)
        check = spec.check_order(qty, limit_price, reduce_only=reduce_only)
        if check is not None:
            raise InvalidOrderError(check.message, **where)
        contracts = qty / spec.contract_size
        self._symbol_of_client_id[client_order_id] = market
        log_event(
            logger,
            logging.INFO,
            "ccxt.order.send",
            venue=self._venue,
            client_order_id=client_order_id,
            symbol=market,
            side=parsed_side.value,
            quantity=qty,
            price=limit_price,
        )
        try:
            raw = await self._call(
                lambda: self._exchange.create_order(
                    market,
                    "limit" if limit else "market",
                    parsed_side.value,
                    float(contracts),
                    float(limit_price) if limit_price is not None else None,
                    params,
                ),
                priority=priority,
                symbol=market,
                client_order_id=client_order_id,
                sends=True,
                keep_ccxt=True,
            )
            info = parse_order(
                _acknowledged(raw, parsed_side.value, contracts, limit_price), spec.contract_size
            )
        except _CcxtFailure as failure:
            return await self._placement_failed(failure, spec, client_order_id, qty, limit_price)
        except BadPayloadError as exc:
            return await self._placement_failed(
                _CcxtFailure(_with_where(exc, market, client_order_id), None),
                spec,
                client_order_id,
                qty,
                limit_price,
            )
        self._remember(info, market)
        return _result(info, client_order_id)

    async def _placement_failed(
        self,
        failure: _CcxtFailure,
        spec: MarketSpec,
        client_order_id: str,
        quantity: Decimal,
        price: Decimal | None,
    ) -> OrderResult:
        error = failure.error
        self._log_order("ccxt.order.failed", spec.symbol, client_order_id, None, error)
        if isinstance(error, OrderRejectedError):
            return OrderResult(
                success=False,
                size=quantity,
                price=price,
                status=OrderStatus.REJECTED.value,
                error_message=str(error),
                reject_reason=reject_reason(failure.cause) if failure.cause else None,
                client_order_id=client_order_id,
            )
        if not isinstance(error, AmbiguousError):
            raise error from None  # retryable: it never reached the matching engine
        # the order's fate is unknown: find it by its client id before anything is re-sent
        try:
            found = await self._lookup(client_order_id, spec.symbol)
        except FundarbError as lookup_error:
            log_event(
                logger,
                logging.WARNING,
                "ccxt.order.lookup_failed",
                venue=self._venue,
                client_order_id=client_order_id,
                error=str(lookup_error),
            )
            raise error from None
        if found is None:
            raise error from None  # not there yet is not "never": it may still arrive
        log_event(
            logger,
            logging.WARNING,
            "ccxt.order.found_after_error",
            venue=self._venue,
            client_order_id=client_order_id,
            order_id=found.order_id,
            status=found.status,
        )
        return _result(found, client_order_id)

    def _time_in_force(
        self, opts: Mapping[str, Any], where: dict[str, str | None]
    ) -> dict[str, Any]:
        post_only = opts.get("post_only", False)
        if not isinstance(post_only, bool):
            raise InvalidOrderError(f"post_only must be a bool, got {post_only!r}", **where)
        tif: str | None = None
        if "time_in_force" in opts:
            raw = opts["time_in_force"]
            tif = _TIF.get(raw.upper()) if isinstance(raw, str) else None
            if tif is None:
                raise InvalidOrderError(
                    f"time_in_force must be one of {sorted(_TIF)}, got {raw!r}", **where
                )
        if tif == "PO":
            post_only, tif = True, None
        if post_only and tif is not None and tif != "GTC":
            raise InvalidOrderError(f"post_only cannot be combined with {tif}", **where)
        if post_only:
            return {"postOnly": True}
        return {"timeInForce": tif} if tif is not None else {}

    async def _lookup(self, client_order_id: str, symbol: str | None) -> OrderInfo | None:
        market = self._symbol_of_client_id.get(client_order_id)
        if market is None and symbol is not None:
            market = (await self._market(symbol))[0]
        if market is None:
            for info in await self.get_open_orders():
                if info.client_order_id == client_order_id:
                    return info
            raise AmbiguousError(
                "cannot look up a closed order without its symbol",
                venue=self._venue,
                client_order_id=client_order_id,
            )
        market, spec = await self._market(market)
        found = await self._find(
            lambda: self._fetch_order(None, market, client_order_id),
            spec,
            client_order_id=client_order_id,
        )
        return self._remember(found, market) if found is not None else None

    async def _find(
        self,
        fetch: Callable[[], Awaitable[Any]],
        spec: MarketSpec,
        *,
        client_order_id: str | None = None,
    ) -> OrderInfo | None:
        """An order fetched by ``fetch``, or None if the venue says it has no such order."""
        try:
            raw = await self._call(
                fetch,
                priority=Priority.CANCEL,
                symbol=spec.symbol,
                client_order_id=client_order_id,
                keep_ccxt=True,
            )
        except _CcxtFailure as failure:
            if failure.cause is not None and isinstance(failure.cause, ccxt_module().OrderNotFound):
                return None
            raise failure.error from None
        return parse_order(raw, spec.contract_size)

    def _new_client_id(self) -> str:
        """A fresh client order id; Hyperliquid's (a cloid) must be 128 bits as 0x and hex."""
        if getattr(self._exchange, "id", None) == "hyperliquid":
            return f"0x{uuid.uuid4().hex}"
        return f"{self._prefix}{uuid.uuid4().hex}"[:32]

    async def _fetch_order(
        self, order_id: str | None, market: str, client_order_id: str | None = None
    ) -> Any:
        """ccxt's order by its id, else by its client order id.

        Bybit: ccxt's ``fetch_order`` refuses unified accounts (without ``acknowledged``),
        sends ``orderId=None`` when looking up by client id, and its realtime endpoint lists
        open orders only unless ``openOnly=1`` (the last 500 closed): that endpoint is read
        directly, open orders first, by ``orderId`` or ``orderLinkId``.
        """
        if getattr(self._exchange, "id", None) != "bybit":
            params = {} if order_id is not None else {"clientOrderId": client_order_id}
            return await self._exchange.fetch_order(order_id, market, params)
        key, value = (
            ("orderId", order_id) if order_id is not None else ("orderLinkId", client_order_id)
        )
        for open_only in (0, 1):
            rows = await self._exchange.fetch_open_orders(
                market, None, None, {key: value, "openOnly": open_only}
            )
            if isinstance(rows, list) and rows:
                return rows[0]
        raise ccxt_module().OrderNotFound(f"bybit: no order with {key} {value}")

    def _remember(self, info: OrderInfo, market: str | None = None) -> OrderInfo:
        market = market or info.symbol
        if market:
            self._symbol_of_order[info.order_id] = market
            if info.client_order_id:
                self._symbol_of_client_id[info.client_order_id] = market
        if info.client_order_id:
            self._client_id_of_order[info.order_id] = info.client_order_id
        return info

    def _position(self, raw: object) -> Position | None:
        row = as_mapping(raw, "position")
        info = info_of(row)
        symbol = row.get("symbol")
        if not isinstance(symbol, str):
            raise BadPayloadError("position: no symbol", venue=self._venue)
        spec = self._specs.get(symbol)
        contract_size = number(row.get("contractSize")) or (
            spec.contract_size if spec is not None else Decimal(1)
        )
        signed = number(info.get("positionAmt"))  # Binance: signed, exact
        if signed is not None:
            quantity = signed * contract_size
        else:
            contracts = number(row.get("contracts")) or _ZERO
            sign = -1 if row.get("side") == "short" else 1
            quantity = sign * contracts * contract_size
        leverage = number(row.get("leverage"))
        return Position(
            symbol=symbol,
            quantity=quantity,
            entry_price=exact(row.get("entryPrice"), info, "entryPrice") or _ZERO,
            mark_price=exact(row.get("markPrice"), info, "markPrice") or _ZERO,
            liquidation_price=exact(row.get("liquidationPrice"), info, "liquidationPrice") or None,
            margin=number(row.get("initialMargin")) or _ZERO,
            leverage=int(leverage) if leverage is not None else 1,
            unrealized_pnl=exact(row.get("unrealizedPnl"), info, "unRealizedProfit") or _ZERO,
        )

    # -- plumbing ---------------------------------------------------------------------------

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

    async def _order_market(self, order_id: str, symbol: str | None) -> tuple[str, MarketSpec]:
        market = self._symbol_of_order.get(order_id)
        if market is None and symbol is None:
            for info in await self.get_open_orders():
                if info.order_id == order_id:
                    market = info.symbol
                    break
        if market is None and symbol is None:
            raise AmbiguousError(
                f"order {order_id} is not open and its symbol is unknown: pass symbol",
                venue=self._venue,
            )
        return await self._market(market or symbol)

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
        :class:`_CcxtFailure` when ``keep_ccxt``, to let the caller see ccxt's class)."""
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
                raise _CcxtFailure(error, cause) from None
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


class _CcxtFailure(Exception):
    """Internal: a translated error with the ccxt exception it came from (None: a bad
    payload), for callers that decide by ccxt's class (reject reason, order not found)."""

    def __init__(self, error: VenueError, cause: BaseException | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.cause = cause


def _with_where(exc: BadPayloadError, symbol: str, client_order_id: str) -> BadPayloadError:
    exc.symbol = exc.symbol or symbol
    exc.client_order_id = exc.client_order_id or client_order_id
    return exc


def _acknowledged(raw: object, side: str, contracts: Decimal, price: Decimal | None) -> object:
    """Bybit and OKX acknowledge a new order with its ids only (ccxt's amount is None): the
    side, amount and price are what was sent; the status stays the venue's (none: UNKNOWN,
    never assumed resting or filled) until the order is looked up."""
    if not isinstance(raw, Mapping) or raw.get("amount") is not None:
        return raw
    return {
        **raw,
        "side": raw.get("side") or side,
        "amount": contracts,
        "price": raw.get("price") or price,
    }


def _five_figures(price: Decimal, side: Side, spec: MarketSpec) -> Decimal:
    """Hyperliquid's price rule: at most five significant figures, whole prices always
    allowed. The market's tick (ccxt's, from the mark price at load) does not follow the
    price: rounded side-aware here, as ccxt would round to the nearest."""
    step = Decimal(1) if price >= 10_000 else Decimal(1).scaleb(price.adjusted() - 4)
    if step <= spec.tick_size:
        return price
    rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
    return (price / step).to_integral_value(rounding=rounding) * step


def _result(info: OrderInfo, client_order_id: str) -> OrderResult:
    return OrderResult(
        success=True,
        order_id=info.order_id,
        side=info.side,
        size=info.size,
        price=info.average_fill_price or info.price,
        status=info.status,
        filled_size=info.filled_size,
        client_order_id=info.client_order_id or client_order_id,
    )
