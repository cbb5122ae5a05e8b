"""The execution layer's one door to a venue client, ours or a third party's.

:class:`VenueGateway` wraps any object with the exchange client methods and gives the
execution layer clean values: ``Decimal`` numbers, one :class:`OrderStatus`, parsed and
checked books, market specs, and answers to "what happened to this order?".

Capabilities are probed, never assumed, and each has a documented fallback:

==========================  ==================================================================
capability                  without it
==========================  ==================================================================
``MarketSpecProvider``      the spec is inferred from the book: tick = the finest price step
                            seen, lot = the finest size step seen, minimum = one lot
``OrderLookup``             an order of unknown fate is looked up by venue order id when one is
                            known; otherwise only the position can tell, and the leg stops
``PositionProvider``        a cancelled order's filled size cannot be corroborated
``FillHistoryProvider``     fees are estimated from ``FeeProvider`` rates (or reported as 0)
``ClockProvider``           book age is judged against this machine's UTC clock
``supported_order_options`` a frozenset attribute naming the ``**opts`` the client takes
                            (``post_only``, ``time_in_force``, ``client_order_id``); without it
                            none are sent, so post-only and IOC are unavailable
==========================  ==================================================================
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from fundarb.errors import (
    AmbiguousError,
    EmptyBookError,
    FundarbError,
    MarketDataError,
    StaleMarketDataError,
)
from fundarb.execution.core.book import BookWalk, OrderBook
from fundarb.numbers import to_decimal
from fundarb.venues.interface import (
    ClockProvider,
    ExchangeClient,
    FeeProvider,
    FillHistoryProvider,
    MarketSpecProvider,
    OrderLookup,
    PositionProvider,
)
from fundarb.venues.markets import FeeSchedule, MarketSpec
from fundarb.venues.orders import (
    Fill,
    OrderStatus,
    RejectReason,
    Side,
    normalize_status,
)

__all__ = ["OrderView", "PlaceAnswer", "VenueGateway", "gateway_for"]

_ZERO = Decimal(0)
_MAX_LEVELS = 5000
_CLOCK_RESYNC_S = 5.0
_CLOCK_TOLERANCE_S = 1.0
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order as the venue reports it, normalised."""

    order_id: str
    client_order_id: str
    status: OrderStatus
    size: Decimal | None
    filled: Decimal
    price: Decimal | None
    average_price: Decimal | None


@dataclass(frozen=True, slots=True)
class PlaceAnswer:
    """What a place or cancel call answered, normalised. ``accepted`` False: the venue said no."""

    accepted: bool
    order_id: str | None
    status: OrderStatus
    filled: Decimal | None
    price: Decimal | None
    reject_reason: RejectReason | None
    message: str


class VenueGateway:
    """Clean access to one venue client. One gateway per client (see :func:`gateway_for`)."""

    def __init__(self, client: ExchangeClient, *, max_book_age_s: float = 5.0) -> None:
        self.client = client
        self.name = str(client.get_exchange_name())
        self.max_book_age_s = max_book_age_s
        options: object = getattr(client, "supported_order_options", frozenset())
        self.order_options: frozenset[str] = (
            frozenset(options) if isinstance(options, frozenset | set) else frozenset()
        )
        self._specs: dict[str, MarketSpec] = {}
        self._clock_ref: tuple[datetime, float] | None = None  # (venue time, loop time)
        # probed once: isinstance against a runtime protocol is slow, and clients don't change
        self._clock = client if isinstance(client, ClockProvider) else None
        self._fees = client if isinstance(client, FeeProvider) else None
        self._fill_history = client if isinstance(client, FillHistoryProvider) else None
        self._spec_source = client if isinstance(client, MarketSpecProvider) else None
        self._lookup = client if isinstance(client, OrderLookup) else None
        self._positions = client if isinstance(client, PositionProvider) else None

    # -- capabilities -----------------------------------------------------------------------

    @property
    def can_lookup(self) -> bool:
        return self._lookup is not None

    @property
    def can_read_positions(self) -> bool:
        return self._positions is not None

    def supports(self, option: str) -> bool:
        return option in self.order_options

    async def _guard(self, call: Awaitable[T], symbol: str | None) -> T:
        """Await a client call; anything it raises leaves as a fundarb error.

        This is the edge for clients we did not write: an error outside fundarb's tree is
        ambiguous (it may have taken effect), per design notes §6.
        """
        try:
            return await call
        except FundarbError:
            raise
        except Exception as exc:
            raise AmbiguousError(
                f"{type(exc).__name__}: {exc}", venue=self.name, symbol=symbol
            ) from exc

    # -- market data ------------------------------------------------------------------------

    async def market_spec(self, symbol: str) -> MarketSpec:
        """The symbol's filters, from the client or inferred from its book (cached)."""
        spec = self._specs.get(symbol)
        if spec is None:
            if self._spec_source is not None:
                spec = await self._guard(self._spec_source.get_market_spec(symbol), symbol)
            else:
                spec = _infer_spec(symbol, await self._raw_book(symbol, 50))
            self._specs[symbol] = spec
        return spec

    async def now(self, *, resync: bool = False) -> datetime:
        """The venue's clock if it offers one, else this machine's UTC clock.

        The venue is asked every ``_CLOCK_RESYNC_S`` at most (or when ``resync``); in
        between its clock is carried forward on the event loop's clock, so judging a book's
        age costs no round trip.
        """
        if self._clock is None:
            return datetime.now(tz=UTC)
        loop = asyncio.get_running_loop()
        if resync or self._clock_ref is None or loop.time() - self._clock_ref[1] > _CLOCK_RESYNC_S:
            sent = loop.time()
            server = await self._guard(self._clock.get_server_time(), None)
            received = loop.time()
            self._clock_ref = (server, (sent + received) / 2)
            return server + timedelta(seconds=received - self._clock_ref[1])
        server, at = self._clock_ref
        return server + timedelta(seconds=loop.time() - at)

    async def book(self, symbol: str, levels: int = 20) -> OrderBook:
        """A parsed, checked book: right symbol, not crossed, not older than allowed.

        Raises :class:`MarketDataError` (or :class:`StaleMarketDataError`,
        :class:`EmptyBookError`).
        """
        book = await self._raw_book(symbol, levels)
        if book.symbol is not None and book.symbol != symbol:
            raise MarketDataError(
                f"asked for {symbol}'s book, got {book.symbol}'s", venue=self.name, symbol=symbol
            )
        if book.timestamp is not None:
            age = (await self.now() - book.timestamp).total_seconds()
            if age < -_CLOCK_TOLERANCE_S or age > self.max_book_age_s:
                # newer than our estimate of the venue's clock, or old: ask the venue
                age = (await self.now(resync=True) - book.timestamp).total_seconds()
            if age > self.max_book_age_s:
                raise StaleMarketDataError(
                    f"the book is {age:.1f}s old (allowed {self.max_book_age_s:g}s)",
                    venue=self.name,
                    symbol=symbol,
                )
        if not book.bids and not book.asks:
            raise EmptyBookError("the book is empty", venue=self.name, symbol=symbol)
        return book

    async def book_for(
        self,
        symbol: str,
        side: Side,
        *,
        quantity: Decimal | None = None,
        notional: Decimal | None = None,
        levels: int = 20,
    ) -> tuple[OrderBook, BookWalk]:
        """A book deep enough to take ``quantity`` or ``notional`` on ``side``, and the walk.

        Asks for more levels (x5 each time) until the walk completes or the venue returns
        fewer levels than asked, i.e. it has shown all it has; then the walk is incomplete.
        """
        while True:
            book = await self.book(symbol, levels)
            walk = book.walk(side, quantity=quantity, notional=notional)
            shown = len(book.asks if side is Side.BUY else book.bids)
            if walk.complete or shown < levels or levels >= _MAX_LEVELS:
                return book, walk
            levels = min(levels * 5, _MAX_LEVELS)

    async def _raw_book(self, symbol: str, levels: int) -> OrderBook:
        raw = await self._guard(self.client.get_order_book_depth(symbol, levels), symbol)
        try:
            return OrderBook.parse(raw, symbol=None)
        except ValueError as exc:
            raise MarketDataError(str(exc), venue=self.name, symbol=symbol) from exc

    async def fee_schedule(self, symbol: str) -> FeeSchedule | None:
        if self._fees is not None:
            return await self._guard(self._fees.get_fee_schedule(symbol), symbol)
        return None

    # -- orders -----------------------------------------------------------------------------

    async def place_limit(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        *,
        reduce_only: bool,
        client_order_id: str,
        post_only: bool = False,
        ioc: bool = False,
    ) -> PlaceAnswer:
        """Send a limit order; exceptions from the client propagate unchanged."""
        opts: dict[str, Any] = {}
        if self.supports("client_order_id"):
            opts["client_order_id"] = client_order_id
        if post_only:
            opts["post_only"] = True
        if ioc:
            opts["time_in_force"] = "IOC"
        result = await self._guard(
            self.client.place_limit_order(symbol, quantity, price, side.value, reduce_only, **opts),
            symbol,
        )
        return _answer(result)

    async def place_market(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        *,
        reduce_only: bool,
        client_order_id: str,
    ) -> PlaceAnswer:
        opts: dict[str, Any] = {}
        if self.supports("client_order_id"):
            opts["client_order_id"] = client_order_id
        result = await self._guard(
            self.client.place_market_order(symbol, quantity, side.value, reduce_only, **opts),
            symbol,
        )
        return _answer(result)

    async def cancel(self, order_id: str) -> PlaceAnswer:
        return _answer(await self._guard(self.client.cancel_order(order_id), None))

    async def order(self, order_id: str) -> OrderView | None:
        info = await self._guard(self.client.get_order_info(order_id), None)
        return _view(info) if info is not None else None

    async def find(
        self, client_order_id: str, order_id: str | None
    ) -> tuple[bool, OrderView | None]:
        """Look an order up. Returns (definitive, view): definitive False means we cannot know.

        By client order id when the client offers :class:`OrderLookup`, else by venue order
        id when one is known. ``(True, None)``: the venue says no such order exists.
        """
        if self._lookup is not None:
            info = await self._guard(self._lookup.get_order_by_client_id(client_order_id), None)
            return True, _view(info) if info is not None else None
        if order_id is not None:
            info = await self._guard(self.client.get_order_info(order_id), None)
            return True, _view(info) if info is not None else None
        return False, None

    async def position(self, symbol: str) -> Decimal | None:
        """Signed position in base units, or None if the client cannot say."""
        if self._positions is None:
            return None
        position = await self._guard(self._positions.get_position(symbol), symbol)
        return to_decimal(position.quantity) if position is not None else _ZERO

    async def fills(self, symbol: str, order_ids: Sequence[str]) -> list[Fill] | None:
        """Our fills of these orders, or None if the client cannot list fills."""
        if self._fill_history is None:
            return None
        wanted = set(order_ids)
        fills = await self._guard(
            self._fill_history.get_fills(symbol, order_ids=list(wanted)), symbol
        )
        return [f for f in fills if f.order_id in wanted]


_GATEWAYS: weakref.WeakKeyDictionary[object, VenueGateway] = weakref.WeakKeyDictionary()


def gateway_for(client: ExchangeClient, *, max_book_age_s: float = 5.0) -> VenueGateway:
    """The gateway of ``client`` (one per client, so specs are fetched once)."""
    try:
        gateway = _GATEWAYS.get(client)
    except TypeError:  # a client that cannot be weakly referenced: no sharing
        return VenueGateway(client, max_book_age_s=max_book_age_s)
    if gateway is None:
        gateway = VenueGateway(client, max_book_age_s=max_book_age_s)
        _GATEWAYS[client] = gateway
    gateway.max_book_age_s = max_book_age_s
    return gateway


def _decimal_or_none(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return to_decimal(value)
    except ValueError:
        return None


def _answer(result: object) -> PlaceAnswer:
    success = bool(getattr(result, "success", False))
    reason = getattr(result, "reject_reason", None)
    order_id = getattr(result, "order_id", None)
    return PlaceAnswer(
        accepted=success,
        order_id=str(order_id) if order_id not in (None, "") else None,
        status=normalize_status(getattr(result, "status", None)),
        filled=_decimal_or_none(getattr(result, "filled_size", None)),
        price=_decimal_or_none(getattr(result, "price", None)),
        reject_reason=reason if isinstance(reason, RejectReason) else None,
        message=str(getattr(result, "error_message", "") or ""),
    )


def _view(info: object) -> OrderView:
    return OrderView(
        order_id=str(getattr(info, "order_id", "")),
        client_order_id=str(getattr(info, "client_order_id", "") or ""),
        status=normalize_status(getattr(info, "status", None)),
        size=_decimal_or_none(getattr(info, "size", None)),
        filled=_decimal_or_none(getattr(info, "filled_size", None)) or _ZERO,
        price=_decimal_or_none(getattr(info, "price", None)),
        average_price=_decimal_or_none(getattr(info, "average_fill_price", None)),
    )


def _infer_spec(symbol: str, book: OrderBook) -> MarketSpec:
    """A spec read off a book: the finest steps its prices and sizes show."""
    levels = book.bids + book.asks
    if not levels:
        raise MarketDataError(
            "no market spec and an empty book: cannot tell the tick or lot", symbol=symbol
        )
    tick = min(Decimal(1).scaleb(_exp(lv.price)) for lv in levels)
    lot = min(Decimal(1).scaleb(_exp(lv.size)) for lv in levels)
    return MarketSpec(symbol=symbol, tick_size=tick, lot_size=lot, min_quantity=lot)


def _exp(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return min(exponent, 0) if isinstance(exponent, int) else 0  # steps of at most 1
