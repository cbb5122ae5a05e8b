"""Our order updates and fills from a ccxt venue, with nothing missed across a reconnect.

:class:`UserEvents` is what :meth:`CcxtExchangeClient.events` subscribes to. Over a ccxt.pro
exchange it watches ``watch_orders`` and ``watch_my_trades`` (one user-data connection on
Binance), each in a task of one task group it owns; over a REST-only exchange it polls.

A websocket can drop, or go quiet without a word, and a fill made meanwhile is never sent
again. So the venue is also read over REST (a *sweep*: open orders; any order we last saw
open that no longer is; our fills since the last sweep began, per symbol of interest; the
order of any such fill not yet seen final):

- after the connection is back (at once, and again ``settle_s`` later, for venues that only
  stream once the subscription is acknowledged);
- every ``poll_s`` while it is down (or always, without websockets);
- every ``sweep_every_s`` while it is up, the net for a silent drop.

Each fill is delivered once (by trade id) whichever way it came; an order update is
delivered only when it moves the order on (more filled, or a new status; never back from a
final one). While the stream is down a WARNING is logged when the outage begins and at most
every ``warn_every_s`` after (DEBUG between); ``ccxt.events.reconnected`` when it is back.
Log lines carry the venue and the error's class, never ccxt's text (a listen key is a
credential). Fills older than the subscription (on the venue's clock, less ``skew_s``) are
not delivered: events before a subscription are not kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from fundarb.errors import ConfigError, FundarbError, VenueError
from fundarb.logs import log_event
from fundarb.venues.ccxt._errors import BadPayloadError, is_ccxt_error
from fundarb.venues.ccxt._parse import number, parse_fill, parse_order
from fundarb.venues.ccxt.streams import _cancel_and_wait, _Owned
from fundarb.venues.orders import Fill, OrderInfo, OrderStatus, OrderUpdate

__all__ = ["EventSettings", "UserEvents"]

logger = logging.getLogger("fundarb.venues.ccxt.events")

Event = OrderUpdate | Fill
_RETRY_S = 0.2  # pause after a failed watch before watching again (ccxt reconnects then)
_CONNECTION_CHECK_S = 0.05
_SEEN_FILLS = 50_000  # trade ids remembered for de-duplication
_USER_HASHES = ("orders", "myTrades")  # ccxt's message hashes of the user streams


class RestReader(Protocol):
    """The REST reads a sweep needs (the client offers them)."""

    async def get_open_orders(self, symbol: str | None = None) -> Sequence[OrderInfo]: ...

    async def get_order_info(
        self, order_id: str, symbol: str | None = None
    ) -> OrderInfo | None: ...

    async def get_fills(
        self,
        symbol: str | None = None,
        *,
        order_ids: Sequence[str] | None = None,
        since: datetime | None = None,
    ) -> Sequence[Fill]: ...

    async def get_server_time(self) -> datetime: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSettings:
    """How :class:`UserEvents` reads the venue over REST (seconds, the event loop's clock)."""

    poll_s: float = 1.0  # between sweeps while the websocket is down, or without one
    sweep_every_s: float = 30.0  # between sweeps while it is up: the net for a silent drop
    settle_s: float = 1.0  # after a reconnect's sweep, one more this much later
    warn_every_s: float = 30.0  # at most one WARNING this often while it stays down
    skew_s: float = 5.0  # how far the venue's clock may be behind the times it stamps

    def __post_init__(self) -> None:
        for name in ("poll_s", "sweep_every_s", "settle_s", "warn_every_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
                raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
        if not isinstance(self.skew_s, int | float) or not 0 <= self.skew_s < 3600:
            raise ConfigError(f"skew_s must be from 0 to 3600 seconds, got {self.skew_s!r}")


class _Failed:
    """Queued to subscribers when the stream died: their iteration raises."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class UserEvents(_Owned):
    """Our order updates and fills over ``exchange`` (ccxt.pro, or REST polling without it).

    ``rest``: the REST reads of a sweep. ``symbols``: the symbols to read fills on (those of
    our orders); ``client_order_id_of``: our client order id of a venue order id ('' if
    unknown); ``remember``: told of every order seen, so it can be looked up later.
    """

    def __init__(
        self,
        exchange: Any,
        rest: RestReader,
        *,
        venue: str,
        symbols: Callable[[], Collection[str]],
        client_order_id_of: Callable[[str], str],
        remember: Callable[[OrderInfo], object],
        settings: EventSettings | None = None,
    ) -> None:
        settings = settings if settings is not None else EventSettings()
        self._exchange = exchange
        self._rest = rest
        self.venue = venue
        self._symbols = symbols
        self._client_order_id_of = client_order_id_of
        self._remember = remember
        self.settings = settings
        self.poll_s, self.sweep_every_s = settings.poll_s, settings.sweep_every_s
        self.settle_s, self.warn_every_s = settings.settle_s, settings.warn_every_s
        self.skew = timedelta(seconds=settings.skew_s)
        has = getattr(exchange, "has", None)
        self.websocket = (  # ccxt's REST classes have the methods too, raising NotSupported
            isinstance(has, dict)
            and bool(has.get("watchOrders"))
            and bool(has.get("watchMyTrades"))
        )
        self._task: asyncio.Task[None] | None = None
        self._subscribers: list[asyncio.Queue[Event | _Failed]] = []
        self._orders: dict[str, OrderInfo] = {}  # the last state delivered, per order id
        self._fill_ids: set[tuple[str, str]] = set()
        self._fill_order: deque[tuple[str, str]] = deque()
        self._since: datetime | None = None  # on the venue's clock: where the next sweep reads
        self._subscribed_at: datetime | None = None  # the venue's clock, less the skew
        self._connected = False
        self._down_since: float | None = None
        self._last_warning: float | None = None
        self._failed_watches = 0
        self._wake = asyncio.Event()
        #: counters, for operators and tests
        self.sweeps = 0
        self.reconnections = 0
        self.delivered_fills = 0
        self.delivered_updates = 0

    def __repr__(self) -> str:  # never the exchange: it holds the credentials
        return f"UserEvents(venue={self.venue!r}, connected={self._connected})"

    @property
    def connected(self) -> bool:
        """The websocket is up (False without websockets)."""
        return self._connected

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._main(), name=f"user-events:{self.venue}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await _cancel_and_wait(task)
        except Exception as exc:  # noqa: BLE001 - it ended on its own; subscribers were told
            log_event(
                logger, logging.ERROR, "ccxt.events.failed", venue=self.venue, error=type(exc)
            )

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[Event]]:
        """Events from now on (``async for event in events``)."""
        queue: asyncio.Queue[Event | _Failed] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            yield _drain(queue)
        finally:
            self._subscribers.remove(queue)

    async def _main(self) -> None:
        try:
            started = await self._rest.get_server_time()
            self._since = self._subscribed_at = started - self.skew
            async with asyncio.TaskGroup() as group:
                if self.websocket:
                    group.create_task(self._watch("orders"))
                    group.create_task(self._watch("trades"))
                group.create_task(self._sweeper())
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            for queue in self._subscribers:
                queue.put_nowait(_Failed(exc))
            raise

    # -- the websocket -----------------------------------------------------------------------

    async def _watch(self, what: str) -> None:
        watch = self._exchange.watch_orders if what == "orders" else self._exchange.watch_my_trades
        while True:
            try:
                rows = await watch()
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
                self._disconnected("cancelled")  # ccxt cancelled its future under us
                continue
            except Exception as exc:
                if not is_ccxt_error(exc) and not isinstance(exc, OSError):
                    raise  # a bug, not a dropped connection: let the task group end
                self._disconnected(type(exc).__name__)
                await asyncio.sleep(_RETRY_S)
                continue
            for row in rows if isinstance(rows, list) else ():
                if what == "orders":
                    self._ws_order(row)
                else:
                    self._ws_fill(row)

    def _disconnected(self, error: str) -> None:
        now = asyncio.get_running_loop().time()
        self._failed_watches += 1
        if self._connected or self._down_since is None:
            self._down_since = now
            self._last_warning = None
        self._connected = False
        self._wake.set()
        warn = self._last_warning is None or now - self._last_warning >= self.warn_every_s
        if warn:
            self._last_warning = now
        log_event(
            logger,
            logging.WARNING if warn else logging.DEBUG,
            "ccxt.events.disconnected",
            venue=self.venue,
            error=error,
            down_for_s=round(now - self._down_since, 3),
            failed_watches=self._failed_watches,
        )

    def _ws_connected(self) -> bool:
        """A user-stream connection of the exchange is open with our watches pending on it."""
        clients = getattr(self._exchange, "clients", None)
        if not isinstance(clients, dict):
            return False
        for client in list(clients.values()):
            futures = getattr(client, "futures", None) or {}
            if not any(str(key).startswith(_USER_HASHES) for key in futures):
                continue
            connected = getattr(client, "connected", None)
            closed = getattr(client, "closed", None)
            if (
                isinstance(connected, asyncio.Future)
                and connected.done()
                and not connected.cancelled()
                and connected.exception() is None
                and callable(closed)
                and not closed()
            ):
                return True
        return False

    def _ws_order(self, raw: Any) -> None:
        try:
            info = parse_order(raw, self._contract_size(raw))
        except (BadPayloadError, AttributeError, TypeError) as exc:
            self._unreadable("order", exc)
            return
        self._deliver_order(info, _stamp(raw))

    def _ws_fill(self, raw: Any) -> None:
        try:
            order_id = str(raw.get("order") or "")
            fill = parse_fill(
                self.venue, raw, self._contract_size(raw), self._client_order_id_of(order_id)
            )
        except (BadPayloadError, AttributeError, TypeError) as exc:
            self._unreadable("trade", exc)
            return
        self._deliver_fill(fill)

    def _contract_size(self, raw: Any) -> Decimal:
        markets = getattr(self._exchange, "markets", None) or {}
        market = markets.get(raw.get("symbol")) or {}
        return number(market.get("contractSize")) or Decimal(1)

    def _unreadable(self, what: str, exc: Exception) -> None:
        log_event(
            logger,
            logging.WARNING,
            "ccxt.events.unreadable",
            venue=self.venue,
            what=what,
            error=type(exc).__name__,
        )

    # -- REST sweeps -------------------------------------------------------------------------

    async def _sweeper(self) -> None:
        loop = asyncio.get_running_loop()
        await self._sweep("start")
        next_sweep = loop.time() + (self.sweep_every_s if self.websocket else self.poll_s)
        settle_at: float | None = None
        while True:
            now = loop.time()
            if self.websocket and not self._connected and self._ws_connected():
                self._connected = True
                self.reconnections += self._down_since is not None
                if self._down_since is not None:
                    log_event(
                        logger,
                        logging.WARNING,
                        "ccxt.events.reconnected",
                        venue=self.venue,
                        down_for_s=round(now - self._down_since, 3),
                    )
                why = "connected" if self._down_since is None else "reconnected"
                self._down_since = None
                await self._sweep(why)
                settle_at = loop.time() + self.settle_s
                next_sweep = loop.time() + self.sweep_every_s
                continue
            if settle_at is not None and now >= settle_at:
                settle_at = None
                await self._sweep("settled")
                continue
            if now >= next_sweep:
                await self._sweep("poll" if not self._connected else "periodic")
                next_sweep = loop.time() + (self.sweep_every_s if self._connected else self.poll_s)
                continue
            wake_at = min(next_sweep, settle_at if settle_at is not None else next_sweep)
            if self.websocket and not self._connected:
                wake_at = min(wake_at, now + _CONNECTION_CHECK_S)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wake_at - now)):
                    await self._wake.wait()
            if self.websocket and not self._connected and next_sweep > loop.time() + self.poll_s:
                next_sweep = loop.time() + self.poll_s  # just dropped: poll meanwhile

    async def _sweep(self, why: str) -> None:
        """Read our orders and fills over REST and deliver what the stream did not."""
        try:
            started = await self._rest.get_server_time()
            since = self._since
            open_now = await self._rest.get_open_orders()
            for info in open_now:
                self._deliver_order(info, started)
            open_ids = {info.order_id for info in open_now}
            vanished = [
                order_id
                for order_id, last in self._orders.items()
                if order_id not in open_ids and not OrderStatus(last.status).is_final
            ]
            await self._refresh(vanished, started)
            symbols = set(self._symbols()) | {i.symbol for i in open_now if i.symbol}
            unfinished: list[str] = []
            for symbol in sorted(symbols):
                for fill in await self._rest.get_fills(symbol, since=since):
                    self._deliver_fill(fill)
                    last = self._orders.get(fill.order_id)
                    if last is None or not OrderStatus(last.status).is_final:
                        unfinished.append(fill.order_id)
            await self._refresh(sorted(set(unfinished) - set(vanished)), started)
        except FundarbError as exc:
            log_event(
                logger,
                logging.WARNING,
                "ccxt.events.sweep_failed",
                venue=self.venue,
                why=why,
                error=type(exc).__name__,
            )
            return
        self._since = started - self.skew
        self.sweeps += 1
        log_event(logger, logging.DEBUG, "ccxt.events.swept", venue=self.venue, why=why)

    async def _refresh(self, order_ids: Sequence[str], when: datetime) -> None:
        for order_id in order_ids:
            info = await self._rest.get_order_info(order_id)
            if info is not None:
                self._deliver_order(info, when)

    # -- delivery ----------------------------------------------------------------------------

    def _deliver_order(self, info: OrderInfo, when: datetime) -> None:
        if not info.client_order_id:
            known = self._client_order_id_of(info.order_id)
            if known:
                info = replace(info, client_order_id=known)
        last = self._orders.get(info.order_id)
        if last is not None and not _moves_on(last, info):
            return
        self._orders[info.order_id] = info
        self._remember(info)
        self.delivered_updates += 1
        self._publish(OrderUpdate(venue=self.venue, info=info, timestamp=when))

    def _deliver_fill(self, fill: Fill) -> None:
        key = (fill.order_id, fill.trade_id)
        if key in self._fill_ids:
            return
        if (
            self._subscribed_at is not None
            and fill.timestamp < self._subscribed_at
            and fill.order_id not in self._orders
        ):
            return  # before we subscribed, of an order we have not seen: not ours to report
        self._fill_ids.add(key)
        self._fill_order.append(key)
        if len(self._fill_order) > _SEEN_FILLS:
            self._fill_ids.discard(self._fill_order.popleft())
        if not fill.client_order_id:
            known = self._client_order_id_of(fill.order_id)
            fill = replace(fill, client_order_id=known) if known else fill
        self.delivered_fills += 1
        self._publish(fill)

    def _publish(self, event: Event) -> None:
        for queue in self._subscribers:
            queue.put_nowait(event)


def _moves_on(last: OrderInfo, new: OrderInfo) -> bool:
    """``new`` is news: more filled, or another status, and never back from a final one."""
    if OrderStatus(last.status).is_final or new.filled_size < last.filled_size:
        return False
    return new.filled_size > last.filled_size or new.status != last.status


def _stamp(raw: Any) -> datetime:
    stamp = raw.get("lastUpdateTimestamp") or raw.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        return datetime.fromtimestamp(stamp / 1000, UTC)
    return datetime.now(UTC)


async def _drain(queue: asyncio.Queue[Event | _Failed]) -> AsyncIterator[Event]:
    while True:
        item = await queue.get()
        if isinstance(item, _Failed):
            raise VenueError("the event stream failed") from item.error
        yield item
