"""``SimulatedExchange``: the simulated venue behind the exchange client interface.

Every call validates its input first (bad input raises :class:`InvalidOrderError` and
changes nothing), then goes through the venue's faults and latency: the request travels
one way (``latency_s``), the venue processes it at that moment, and the answer travels
back. Time is the event loop's, so a test running on a fast-forwarded loop (``looptime``)
simulates minutes in milliseconds, and the same seed gives the same market.

Used as ``async with SimulatedExchange(...) as venue:`` a background driver advances the
market in time, so resting orders fill and the event stream flows even when nobody
calls. Without the context manager the market advances lazily, at each call.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import random
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from fundarb.errors import (
    InvalidOrderError,
    RateLimitedError,
    RequestTimeoutError,
    UnknownSymbolError,
    VenueUnavailableError,
)
from fundarb.logs import log_event
from fundarb.numbers import to_decimal, to_positive_decimal
from fundarb.venues.accounts import Balance, FundingPayment, Liquidation, Position
from fundarb.venues.interface import VenueEvent
from fundarb.venues.markets import FeeSchedule, FundingRate, MarketSpec
from fundarb.venues.orders import (
    Fill,
    OrderInfo,
    OrderResult,
    RejectReason,
    Side,
    TimeInForce,
    parse_side,
)
from fundarb.venues.sim.config import ReplayConfig, SimConfig
from fundarb.venues.sim.core import OrderRequest, VenueCore
from fundarb.venues.sim.faults import GATE_KINDS, Fault, FaultInjector, FaultKind
from fundarb.venues.sim.replay import Capture, load_capture

__all__ = ["SimulatedExchange"]

logger = logging.getLogger("fundarb.venues.sim")

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,36}$")
_LIMIT_OPTS = frozenset({"post_only", "time_in_force", "client_order_id"})
_MARKET_OPTS = frozenset({"client_order_id"})
_TIF_SPELLINGS = {
    "GTC": TimeInForce.GTC,
    "IOC": TimeInForce.IOC,
    "GTX": TimeInForce.POST_ONLY,
    "POST_ONLY": TimeInForce.POST_ONLY,
    "POSTONLY": TimeInForce.POST_ONLY,
}
_MAX_LEVELS = 5000
_DRIVER_TICK_S = 0.001


@functools.lru_cache(maxsize=4)
def _cached_capture(path: Path, tick_size: Decimal, lot_size: Decimal) -> Capture:
    return load_capture(path, tick_size=tick_size, lot_size=lot_size)


def _copy_book(book: dict[str, Any], levels: int) -> dict[str, Any]:
    """A copy of ``book``'s best ``levels`` that shares no mutable part with it."""
    return {
        **book,
        "bids": [dict(level) for level in book["bids"][:levels]],
        "asks": [dict(level) for level in book["asks"][:levels]],
    }


class _Stream:
    """An async iterator over one subscriber's queue."""

    def __init__(self, queue: asyncio.Queue[VenueEvent]) -> None:
        self._queue = queue

    def __aiter__(self) -> _Stream:
        return self

    async def __anext__(self) -> VenueEvent:
        return await self._queue.get()


class SimulatedExchange:
    """A simulated perpetual-futures venue (design notes §4).

    ``SimulatedExchange(SimConfig(...))`` or ``SimulatedExchange(venue="a", seed=7)``:
    keyword arguments override fields of the config.
    """

    supported_order_options = frozenset({"client_order_id", "post_only", "time_in_force"})

    def __init__(self, config: SimConfig | None = None, **overrides: Any) -> None:
        config = config if config is not None else SimConfig()
        self.config = replace(config, **overrides) if overrides else config
        self.faults = FaultInjector()
        self._capture: Capture | None = None
        market = self.config.market
        if isinstance(market, ReplayConfig):
            symbol = next(s for s in self.config.symbols if s.symbol == market.symbol)
            self._capture = _cached_capture(
                Path(market.path).resolve(), symbol.tick_size, symbol.lot_size
            )
        self._core: VenueCore | None = None
        self._latency_rng = random.Random(self.config.seed ^ 0x5EED)
        self._client_seq = itertools.count(1)
        self._subscribers: list[asyncio.Queue[VenueEvent]] = []
        self._served: dict[str, dict[str, Any]] = {}
        self._driver: asyncio.Task[None] | None = None
        self._loop_start: float | None = None
        self._wakeup = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._state()
        if self._driver is None:
            self._driver = asyncio.create_task(
                self._drive(), name=f"sim-driver-{self.config.venue}"
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            driver.cancel()
            await asyncio.wait([driver])  # never swallows our own cancellation
            if not driver.cancelled() and driver.exception() is not None:
                raise RuntimeError(f"{self.config.venue}: the market driver failed") from (
                    driver.exception()
                )

    def _raise_if_driver_failed(self) -> None:
        """A venue whose market stopped must say so, not answer from a frozen market."""
        driver = self._driver
        if driver is not None and driver.done() and not driver.cancelled():
            failure = driver.exception()
            if failure is not None:
                raise RuntimeError(f"{self.config.venue}: the market driver failed") from failure

    async def _drive(self) -> None:
        core = self._state()
        scale = self.config.time_scale
        while True:
            core.advance(self._now())
            self._flush(core)
            delay = (core.next_event_time() - self._now()) / scale
            if delay > 0:
                # at least a millisecond: a clock may not resolve a smaller step (looptime
                # does not), and waking early for an event we cannot reach would spin
                self._wakeup.clear()
                try:
                    async with asyncio.timeout(min(max(delay, _DRIVER_TICK_S), 3600.0)):
                        await self._wakeup.wait()
                except TimeoutError:
                    pass

    def _now(self) -> float:
        """Venue time in seconds: the loop's clock, sped up by ``time_scale``."""
        loop_now = asyncio.get_running_loop().time()
        if self._loop_start is None:
            self._loop_start = loop_now
        return self._loop_start + (loop_now - self._loop_start) * self.config.time_scale

    def _state(self) -> VenueCore:
        if self._core is None:
            self._core = VenueCore(self.config, start=self._now(), capture=self._capture)
        return self._core

    @property
    def core(self) -> VenueCore:
        """The venue's state, for inspection (fills, funding payments, liquidations)."""
        return self._state()

    # -- the exchange client interface ------------------------------------------------------

    def get_exchange_name(self) -> str:
        return self.config.venue

    async def fetch_bbo_prices(self, symbol: str) -> tuple[Decimal, Decimal]:
        """Best bid and ask; ``Decimal(0)`` for an empty side."""
        book = await self._book("fetch_bbo_prices", symbol, 1)
        bids, asks = book["bids"], book["asks"]
        return (
            bids[0]["price"] if bids else Decimal(0),
            asks[0]["price"] if asks else Decimal(0),
        )

    async def get_order_book_depth(self, symbol: str, levels: int = 20) -> dict[str, Any]:
        """``{'bids': [{'price', 'size'}], 'asks': [...], 'symbol', 'timestamp' (ms)}``."""
        if (
            isinstance(levels, bool)
            or not isinstance(levels, int)
            or not (1 <= levels <= _MAX_LEVELS)
        ):
            raise InvalidOrderError(
                f"levels must be an int from 1 to {_MAX_LEVELS}, got {levels!r}",
                venue=self.config.venue,
                symbol=str(symbol),
            )
        return await self._book("get_order_book_depth", symbol, levels)

    async def place_limit_order(
        self,
        contract_id: str,
        quantity: Decimal,
        price: Decimal,
        side: str,
        reduce_only: bool = False,
        **opts: Any,
    ) -> OrderResult:
        """Place a limit order. ``opts``: ``post_only``, ``time_in_force``, ``client_order_id``."""
        request = self._request(
            contract_id, quantity, price, side, reduce_only, opts, _LIMIT_OPTS, limit=True
        )
        return await self._place("place_limit_order", request)

    async def place_market_order(
        self,
        contract_id: str,
        quantity: Decimal,
        side: str,
        reduce_only: bool = False,
        **opts: Any,
    ) -> OrderResult:
        """Place a market order. ``opts``: ``client_order_id``."""
        request = self._request(
            contract_id, quantity, None, side, reduce_only, opts, _MARKET_OPTS, limit=False
        )
        return await self._place("place_market_order", request)

    async def cancel_order(self, order_id: str) -> OrderResult:
        """Cancel; ``filled_size`` is what the venue reported filled at the cancel."""
        self._check_order_id(order_id)
        known = self._state().orders.get(order_id)
        symbol = known.symbol if known is not None else None
        core, fault, extra = await self._arrive("cancel_order", symbol)
        race = (
            {
                FaultKind.CANCEL_LOSES_RACE: "loses",
                FaultKind.CANCEL_FAILS: "fails",
                FaultKind.FILL_AFTER_CANCEL: "late_fill",
            }.get(fault.kind)
            if fault is not None
            else None
        )
        if fault is not None and fault.kind is FaultKind.DROP_REQUEST:
            client_order_id = known.client_order_id if known is not None else None
            await self._timeout(fault, "cancel_order", symbol, client_order_id)
        result = core.cancel(
            order_id,
            race=race,
            late_fraction=fault.fraction if fault is not None else Decimal("0.5"),
            late_delay_s=fault.delay_s if fault is not None else 0.0,
        )
        self._flush(core)
        log_event(
            logger,
            logging.INFO if result.success else logging.WARNING,
            "sim.cancel",
            venue=self.config.venue,
            client_order_id=result.client_order_id,
            order_id=order_id,
            success=result.success,
            status=result.status,
            filled=result.filled_size,
            reason=result.reject_reason,
        )
        if fault is not None and fault.kind is FaultKind.ACCEPT_THEN_TIMEOUT:
            await self._timeout(fault, "cancel_order", symbol, result.client_order_id)
        await self._respond(extra)
        return result

    async def get_order_info(self, order_id: str) -> OrderInfo | None:
        """The order as the venue reports it, or None if the venue does not know the id."""
        self._check_order_id(order_id)
        core, _, extra = await self._arrive("get_order_info", None)
        order = core.orders.get(order_id)
        info = core.order_info(order) if order is not None else None
        await self._respond(extra)
        return info

    # -- optional capabilities --------------------------------------------------------------

    async def get_market_spec(self, symbol: str) -> MarketSpec:
        return self._state().spec(self._check_symbol(symbol))

    async def get_fee_schedule(self, symbol: str) -> FeeSchedule:
        self._check_symbol(symbol)
        return self._state().fees

    async def get_funding_rate(self, symbol: str) -> FundingRate:
        self._check_symbol(symbol)
        core, _, extra = await self._arrive("get_funding_rate", symbol)
        rate = core.funding_rate(symbol)
        await self._respond(extra)
        return rate

    async def get_positions(self) -> Sequence[Position]:
        core, _, extra = await self._arrive("get_positions", None)
        marks = core.marks()
        positions = [core.account.position(s, marks[s], marks) for s in core.account.open_symbols()]
        await self._respond(extra)
        return positions

    async def get_position(self, symbol: str) -> Position | None:
        self._check_symbol(symbol)
        positions = await self.get_positions()
        return next((p for p in positions if p.symbol == symbol), None)

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        self._check_symbol(symbol)
        self._state().check_leverage(symbol, leverage)
        core, _, extra = await self._arrive("set_leverage", symbol)
        confirmed = core.set_leverage(symbol, leverage)
        await self._respond(extra)
        return confirmed

    async def get_balance(self) -> Balance:
        core, _, extra = await self._arrive("get_balance", None)
        balance = core.account.balance(core.marks(), core.order_margin())
        await self._respond(extra)
        return balance

    async def get_order_by_client_id(self, client_order_id: str) -> OrderInfo | None:
        if not isinstance(client_order_id, str) or not client_order_id:
            raise InvalidOrderError(
                "client_order_id must be a non-empty str", venue=self.config.venue
            )
        core, _, extra = await self._arrive("get_order_by_client_id", None)
        order = core.by_client_id.get(client_order_id)
        info = core.order_info(order) if order is not None else None
        await self._respond(extra)
        return info

    async def get_open_orders(self, symbol: str | None = None) -> Sequence[OrderInfo]:
        if symbol is not None:
            self._check_symbol(symbol)
        core, _, extra = await self._arrive("get_open_orders", symbol)
        infos = [
            core.order_info(o)
            for o in core.open_orders.values()
            if symbol is None or o.symbol == symbol
        ]
        await self._respond(extra)
        return infos

    async def get_fills(
        self, symbol: str | None = None, *, order_ids: Sequence[str] | None = None
    ) -> Sequence[Fill]:
        """Our fills as the venue reports them (a late-reported fill appears when reported),
        oldest first; only those of ``order_ids`` when given."""
        if symbol is not None:
            self._check_symbol(symbol)
        if order_ids is not None and (
            isinstance(order_ids, str) or not all(isinstance(i, str) for i in order_ids)
        ):
            raise InvalidOrderError("order_ids must be a sequence of str", venue=self.config.venue)
        core, _, extra = await self._arrive("get_fills", symbol)
        if order_ids is None:
            fills = list(core.fills)
        else:
            fills = sorted(
                (f for i in set(order_ids) for f in core.fills_by_order.get(i, ())),
                key=lambda f: int(f.trade_id.rsplit("-t", 1)[1]),
            )
        fills = [f for f in fills if symbol is None or f.symbol == symbol]
        await self._respond(extra)
        return fills

    async def get_funding_payments(
        self, symbol: str | None = None, *, since: datetime | None = None
    ) -> Sequence[FundingPayment]:
        """Funding settled on our positions, oldest first (after ``since`` when given)."""
        if symbol is not None:
            self._check_symbol(symbol)
        core, _, extra = await self._arrive("get_funding_payments", symbol)
        payments = [
            p
            for p in core.funding_payments
            if (symbol is None or p.symbol == symbol) and (since is None or p.funding_time > since)
        ]
        await self._respond(extra)
        return payments

    async def get_liquidations(
        self, symbol: str | None = None, *, since: datetime | None = None
    ) -> Sequence[Liquidation]:
        """Positions the venue liquidated, oldest first (after ``since`` when given)."""
        if symbol is not None:
            self._check_symbol(symbol)
        core, _, extra = await self._arrive("get_liquidations", symbol)
        events = [
            e
            for e in core.liquidations
            if (symbol is None or e.symbol == symbol) and (since is None or e.timestamp > since)
        ]
        await self._respond(extra)
        return events

    async def get_server_time(self) -> datetime:
        """The venue's clock."""
        core, _, extra = await self._arrive("get_server_time", None)
        now = core.venue_time()
        await self._respond(extra)
        return now

    @asynccontextmanager
    async def events(self) -> AsyncIterator[AsyncIterator[VenueEvent]]:
        """Order updates, fills, funding payments and liquidations, as they happen."""
        queue: asyncio.Queue[VenueEvent] = asyncio.Queue()
        self._subscribers.append(queue)
        self._state().listening = True
        try:
            yield _Stream(queue)
        finally:
            self._subscribers.remove(queue)
            self._state().listening = bool(self._subscribers)

    # -- the venue operator's controls (tests, demo, the local exchange server) -------------

    def recent_trades(self, symbol: str, limit: int = 50) -> list[tuple[Decimal, Decimal, Side]]:
        """The public tape, newest last: (price, quantity, taker side)."""
        core = self._state()
        spec = core.spec(symbol)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidOrderError(
                f"limit must be an int of 1 or more, got {limit!r}", venue=self.config.venue
            )
        tape = list(core.tapes[symbol])[-limit:]
        return [
            (tick * spec.tick_size, lots * spec.lot_size, Side.BUY if buy else Side.SELL)
            for _, tick, lots, buy in tape
        ]

    def set_book(
        self,
        symbol: str,
        *,
        bids: Sequence[tuple[Decimal | str, Decimal | str]],
        asks: Sequence[tuple[Decimal | str, Decimal | str]],
    ) -> None:
        """Replace the market's depth for ``symbol`` with these (price, size) levels."""
        core = self._state()
        spec = core.spec(symbol)
        engine = core.engines[symbol]

        def levels(raw: Sequence[tuple[Decimal | str, Decimal | str]]) -> list[tuple[int, int]]:
            out = []
            for price, size in raw:
                try:
                    p, q = to_decimal(price, name="price"), to_decimal(size, name="size")
                except ValueError as exc:
                    raise ValueError(f"level ({price}, {size}): {exc}") from None
                if not (spec.on_tick(p) and spec.on_lot(q)) or p <= 0 or q < 0:
                    raise ValueError(f"level ({price}, {size}) is not on the tick and lot grid")
                out.append((int(p / spec.tick_size), int(q / spec.lot_size)))
            return out

        new_bids, new_asks = levels(bids), levels(asks)
        # Remove only the levels that are gone: zeroing a level that stays would wipe the
        # queue ahead of our resting orders there and move them to the front.
        kept_bids, kept_asks = {t for t, _ in new_bids}, {t for t, _ in new_asks}
        engine.apply_depth(
            [(t, 0) for t in engine.book.bids if t not in kept_bids] + new_bids,
            [(t, 0) for t in engine.book.asks if t not in kept_asks] + new_asks,
        )
        core.settle()
        self._flush(core)

    def trade_from_market(self, symbol: str, side: Side | str, quantity: Decimal) -> Decimal:
        """Send a taker order from the market into the book now; return the quantity traded."""
        core = self._state()
        spec = core.spec(symbol)
        try:
            lots = int(to_positive_decimal(quantity, name="quantity") / spec.lot_size)
            taker_is_buy = parse_side(side) is Side.BUY
        except ValueError as exc:
            raise InvalidOrderError(str(exc), venue=self.config.venue, symbol=symbol) from None
        trades = core.engines[symbol].sweep(lots, taker_is_buy)
        for tick, traded in trades:
            core.tapes[symbol].append((core.now, tick, traded, taker_is_buy))
        core.settle()
        self._flush(core)
        return sum(traded for _, traded in trades) * spec.lot_size

    # -- internals --------------------------------------------------------------------------

    def _check_symbol(self, symbol: object) -> str:
        if not isinstance(symbol, str) or symbol not in self._state().specs:
            raise UnknownSymbolError(
                f"unknown symbol {symbol!r}; {self.config.venue} lists "
                f"{sorted(self._state().specs)}",
                venue=self.config.venue,
                symbol=str(symbol),
            )
        return symbol

    def _check_order_id(self, order_id: object) -> None:
        if not isinstance(order_id, str) or not order_id:
            raise InvalidOrderError(
                f"order_id must be a non-empty str, got {order_id!r}", venue=self.config.venue
            )

    def _request(
        self,
        symbol: str,
        quantity: object,
        price: object | None,
        side: object,
        reduce_only: object,
        opts: dict[str, Any],
        allowed: frozenset[str],
        *,
        limit: bool,
    ) -> OrderRequest:
        venue = self.config.venue
        client_order_id = opts.get("client_order_id")
        where = {
            "venue": venue,
            "symbol": str(symbol),
            "client_order_id": client_order_id if isinstance(client_order_id, str) else None,
        }
        self._check_symbol(symbol)
        unknown = set(opts) - allowed
        if unknown:
            raise InvalidOrderError(
                f"unsupported order options {sorted(unknown)}; allowed: {sorted(allowed)}", **where
            )
        try:
            parsed_side = parse_side(side)
            qty = to_positive_decimal(quantity, name="quantity")
            limit_price = to_positive_decimal(price, name="price") if limit else None
        except ValueError as exc:  # InvalidOrderError from parse_side is one too
            raise InvalidOrderError(str(exc), **where) from None
        if not isinstance(reduce_only, bool):
            raise InvalidOrderError(f"reduce_only must be a bool, got {reduce_only!r}", **where)
        tif = TimeInForce.GTC
        if "time_in_force" in opts:
            tif_raw = opts["time_in_force"]
            key = str(tif_raw).upper() if isinstance(tif_raw, str) else ""
            if key not in _TIF_SPELLINGS:
                raise InvalidOrderError(
                    f"time_in_force must be one of {sorted(_TIF_SPELLINGS)}, got {tif_raw!r}",
                    **where,
                )
            tif = _TIF_SPELLINGS[key]
        post_only = opts.get("post_only", False)
        if not isinstance(post_only, bool):
            raise InvalidOrderError(f"post_only must be a bool, got {post_only!r}", **where)
        if post_only:
            if tif is TimeInForce.IOC:
                raise InvalidOrderError("post_only cannot be combined with IOC", **where)
            tif = TimeInForce.POST_ONLY
        if client_order_id is None:
            client_order_id = f"{venue}-auto-{next(self._client_seq)}"
        elif not isinstance(client_order_id, str) or not _CLIENT_ID.match(client_order_id):
            raise InvalidOrderError(
                "client_order_id must be 1-36 characters of letters, digits and ._:-, "
                f"got {client_order_id!r}",
                **where,
            )
        return OrderRequest(
            symbol=symbol,
            side=parsed_side,
            quantity=qty,
            price=limit_price,
            tif=tif,
            reduce_only=reduce_only,
            client_order_id=client_order_id,
        )

    async def _place(self, method: str, request: OrderRequest) -> OrderResult:
        core, fault, extra = await self._arrive(method, request.symbol)
        kind = fault.kind if fault is not None else None
        if kind is FaultKind.DROP_REQUEST:
            assert fault is not None
            await self._timeout(fault, method, request.symbol, request.client_order_id)
        if kind is FaultKind.REJECT:
            assert fault is not None
            result = OrderResult(
                success=False,
                side=request.side.value,
                size=request.quantity,
                price=request.price,
                status="REJECTED",
                error_message=fault.message,
                reject_reason=RejectReason.VENUE_REJECT,
                client_order_id=request.client_order_id,
            )
        else:
            partial = fault.fraction if kind is FaultKind.PARTIAL_FILL and fault else None
            result = core.submit(request, partial_fraction=partial)
        self._flush(core)
        log_event(
            logger,
            logging.INFO if result.success else logging.WARNING,
            "sim.order",
            venue=self.config.venue,
            client_order_id=request.client_order_id,
            order_id=result.order_id,
            symbol=request.symbol,
            side=request.side.value,
            quantity=request.quantity,
            price=request.price,
            status=result.status,
            filled=result.filled_size,
            reason=result.reject_reason,
        )
        if kind is FaultKind.ACCEPT_THEN_TIMEOUT:
            assert fault is not None
            await self._timeout(fault, method, request.symbol, request.client_order_id)
        await self._respond(extra)
        return result

    async def _book(self, method: str, symbol: str, levels: int) -> dict[str, Any]:
        self._check_symbol(symbol)
        core, fault, extra = await self._arrive(method, symbol)
        if fault is not None and fault.kind is FaultKind.EMPTY_BOOK:
            book: dict[str, Any] = {
                "symbol": symbol,
                "bids": [],
                "asks": [],
                "timestamp": int(core.venue_time().timestamp() * 1000),
            }
        elif fault is not None and fault.kind is FaultKind.STALE_BOOK:
            served = self._served.get(symbol)
            if served is None:
                served = core.depth(symbol, _MAX_LEVELS)
                served["timestamp"] -= 60_000
            book = _copy_book(served, levels)
        else:
            book = core.depth(symbol, levels)
            self._served[symbol] = _copy_book(book, levels)  # the caller may change its copy
        await self._respond(extra)
        return book

    async def _arrive(
        self, method: str, symbol: str | None
    ) -> tuple[VenueCore, Fault | None, float]:
        """Carry a request to the venue: gate faults, one-way latency, advance the market.

        Returns the core, the fault to apply to this call (if any), and extra answer delay.
        """
        core = self._state()
        self._raise_if_driver_failed()
        delay = self._one_way()
        if delay:
            await asyncio.sleep(delay)
        since_start = self._now() - core.start  # faults apply when the request arrives
        gate = self.faults.take(method, symbol, since_start, GATE_KINDS)
        extra = gate.delay_s if gate is not None and gate.kind is FaultKind.SLOW else 0.0
        if gate is not None and gate.kind is FaultKind.OUTAGE:
            log_event(logger, logging.WARNING, "sim.outage", venue=self.config.venue, call=method)
            raise VenueUnavailableError(
                gate.message or "connection refused: venue unavailable (injected outage)",
                venue=self.config.venue,
                symbol=symbol,
            )
        if gate is not None and gate.kind is FaultKind.RATE_LIMIT:
            raise RateLimitedError(
                gate.message or "too many requests (injected)",
                retry_after_s=gate.retry_after_s,
                venue=self.config.venue,
                symbol=symbol,
            )
        core.advance(self._now())
        self._flush(core)
        fault = self.faults.take(method, symbol, since_start)
        if fault is not None:
            log_event(
                logger,
                logging.WARNING,
                "sim.fault",
                venue=self.config.venue,
                call=method,
                kind=fault.kind.value,
                symbol=symbol,
            )
        return core, fault, extra

    async def _respond(self, extra_s: float) -> None:
        delay = self._one_way() + extra_s
        if delay:
            await asyncio.sleep(delay)

    async def _timeout(
        self, fault: Fault, method: str, symbol: str | None, client_order_id: str | None
    ) -> None:
        await asyncio.sleep(fault.delay_s or self.config.timeout_s)
        raise RequestTimeoutError(
            f"{method}: no answer within {fault.delay_s or self.config.timeout_s:g}s",
            venue=self.config.venue,
            symbol=symbol,
            client_order_id=client_order_id,
        )

    def _one_way(self) -> float:
        jitter = self.config.latency_jitter_s
        base = self.config.latency_s
        return base + self._latency_rng.uniform(0.0, jitter) if jitter else base

    def _flush(self, core: VenueCore) -> None:
        """Hand the venue's new events to subscribers, and wake the driver."""
        if core.outbox:
            events, core.outbox = core.outbox, []
            if self._subscribers:
                since_start = core.now - core.start
                for event in events:
                    copies = 1
                    if isinstance(event, Fill) and self.faults.take(
                        "events",
                        event.symbol,
                        since_start,
                        frozenset({FaultKind.DUPLICATE_FILL_EVENTS}),
                    ):
                        copies = 2
                    for queue in self._subscribers:
                        for _ in range(copies):
                            queue.put_nowait(event)
        self._wakeup.set()
