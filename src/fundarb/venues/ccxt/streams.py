"""Websocket order books over a ccxt.pro exchange, with a staleness watchdog.

A :class:`BookStream` runs ``watch_order_book(symbol)`` in a loop in a task it owns (started
and stopped by ``async with``; never left running) and keeps the latest book and the
loop-clock time it arrived. When no update has arrived for ``stale_after_s`` the stream is
marked stale at once (the watch is bounded by the time left, not polled), its book is
cross-checked over REST (``fetch_order_book``) so readers still get a fresh one, and the
subscription is renewed: the ccxt websocket connection carrying it is closed, dropped from
the exchange's table, and watched again (ccxt then reconnects, resubscribes and resyncs
from a new snapshot). While it stays stale this repeats every ``stale_after_s``. The first
update after that marks it recovered. ``ccxt.stream.stale`` / ``ccxt.stream.recovered``
log lines carry the venue and symbol, never credentials.

:class:`BookStreams` holds one stream per symbol over one exchange and starts streams on
demand; :class:`~fundarb.venues.ccxt.client.CcxtExchangeClient` serves its books from it
when they are fresh and reads them over REST otherwise.

A stream on a market that really is quiet for longer than the bound is renewed
needlessly (one REST read and one reconnect per bound); pick the bound for the market.

:class:`OrderStream` runs ``watch_orders`` the same way and hands each change of one of our
orders to its subscribers as an :class:`~fundarb.venues.orders.OrderUpdate`
(``async with stream.events() as updates: async for update in updates``). A user stream
is quiet when nothing trades, so it has no staleness bound; after a dropped connection it
logs ``ccxt.orders.reconnected``: updates may have been missed, so read the orders of
interest over REST (``get_order_info``) before trusting the stream again.
:meth:`CcxtExchangeClient.events` (``events.py``) does that for you, fills included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

from fundarb.errors import ConfigError
from fundarb.logs import log_event
from fundarb.venues.ccxt._errors import BadPayloadError
from fundarb.venues.ccxt._parse import number, parse_book, parse_order
from fundarb.venues.orders import OrderUpdate

__all__ = ["BookStream", "BookStreams", "OrderStream"]

logger = logging.getLogger("fundarb.venues.ccxt.streams")

DEFAULT_STALE_AFTER_S = 5.0
_RETRY_S = 0.2  # pause after a failed watch (the connection went away), before watching again

RestFetch = Callable[[], Awaitable[Any]]


def _copy(raw: Any) -> dict[str, Any]:
    """A snapshot of a ccxt order book (ccxt keeps mutating its own object in place)."""
    return {
        "bids": [list(level) for level in raw.get("bids") or ()],
        "asks": [list(level) for level in raw.get("asks") or ()],
        "timestamp": raw.get("timestamp"),
        "nonce": raw.get("nonce"),
    }


def _top(book: dict[str, Any] | None) -> tuple[Any, Any]:
    if book is None:
        return (None, None)
    bids, asks = book.get("bids") or (), book.get("asks") or ()
    return (bids[0][0] if bids else None, asks[0][0] if asks else None)


class _Owned:
    """``async with``: :meth:`start` on entry, :meth:`stop` (awaited) on exit."""

    def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def _cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait for it; our own cancellation still propagates, and a failure
    of the task is raised."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # we are being cancelled ourselves


class BookStream(_Owned):
    """One symbol's websocket book over ccxt.pro ``exchange``, watched for staleness.

    ``limit``: the depth ccxt keeps (its snapshot's size; None: ccxt's default, 1000 on
    Binance, whose snapshot weighs 20 in ccxt's own rate limiter: about a second before a
    resubscribed stream is synced). ``rest``: how to read the book over REST for the
    cross-check (default ``exchange.fetch_order_book(symbol, limit)``). Times are the event
    loop's clock.
    """

    def __init__(
        self,
        exchange: Any,
        symbol: str,
        *,
        venue: str | None = None,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        limit: int | None = None,
        rest: RestFetch | None = None,
    ) -> None:
        if not stale_after_s > 0:
            raise ConfigError(f"stale_after_s must be positive, got {stale_after_s!r}")
        if not callable(getattr(exchange, "watch_order_book", None)):
            raise ConfigError("a book stream needs a ccxt.pro exchange (watch_order_book)")
        self._exchange = exchange
        self.symbol = symbol
        self.venue = venue if venue is not None else str(getattr(exchange, "id", "?"))
        self.stale_after_s = float(stale_after_s)
        self.limit = limit
        self._rest = (
            rest if rest is not None else (lambda: exchange.fetch_order_book(symbol, limit))
        )
        self._task: asyncio.Task[None] | None = None
        self._book: dict[str, Any] | None = None
        self._updated_at: float | None = None
        self._started_at: float | None = None
        self._stale = False
        self._fresh = asyncio.Event()
        #: the last REST book read by the cross-check, and when (loop clock)
        self.rest_book: dict[str, Any] | None = None
        self.rest_book_at: float | None = None
        #: times (loop clock) the stream was found stale, and recovered
        self.stale_events: list[float] = []
        self.recovered_events: list[float] = []
        self.resubscriptions = 0
        self.updates = 0

    def __repr__(self) -> str:  # never the exchange: it holds the credentials
        return f"BookStream(venue={self.venue!r}, symbol={self.symbol!r}, stale={self.stale})"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start watching (in a task this stream owns until :meth:`stop`)."""
        if self._task is not None:
            return
        self._started_at = asyncio.get_running_loop().time()
        self._task = asyncio.create_task(
            self._run(), name=f"book-stream:{self.venue}:{self.symbol}"
        )

    async def stop(self) -> None:
        """Stop watching and wait for the task to end; the websocket is left to the exchange's
        ``close``."""
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await _cancel_and_wait(task)
        except Exception as exc:  # noqa: BLE001 - the loop ended on its own: say so
            log_event(
                logger,
                logging.ERROR,
                "ccxt.stream.failed",
                venue=self.venue,
                symbol=self.symbol,
                error=type(exc).__name__,
            )

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- reading -----------------------------------------------------------------------------

    @property
    def age_s(self) -> float | None:
        """Seconds since the last websocket update (None: none yet)."""
        if self._updated_at is None:
            return None
        return asyncio.get_running_loop().time() - self._updated_at

    @property
    def stale(self) -> bool:
        """True from the moment the watchdog found no update within the bound until the next
        update."""
        return self._stale

    @property
    def fresh(self) -> bool:
        """An update arrived within the bound, and the stream is not marked stale."""
        age = self.age_s
        return not self._stale and age is not None and age <= self.stale_after_s

    def latest(self) -> dict[str, Any] | None:
        """The last websocket book (ccxt's shape: ``[[price, size], ...]``) if fresh, else
        None."""
        return self._book if self.fresh else None

    def book(self, levels: int, contract_size: Decimal = Decimal(1)) -> dict[str, Any] | None:
        """The fresh websocket book in the client interface's shape, or None."""
        raw = self.latest()
        return None if raw is None else parse_book(self.symbol, raw, levels, contract_size)

    async def wait_fresh(self, within_s: float | None = None) -> dict[str, Any]:
        """The book, waiting for a fresh one (``TimeoutError`` after ``within_s``)."""
        async with asyncio.timeout(within_s):
            while True:
                raw = self.latest()
                if raw is not None:
                    return raw
                self._fresh.clear()
                await self._fresh.wait()

    # -- the loop ----------------------------------------------------------------------------

    def _deadline(self, now: float) -> float:
        """When the stream is stale without an update: a bound after the last update (or
        the start, or the last renewal while stale)."""
        base = self._updated_at if self._updated_at is not None else self._started_at
        deadline = (base if base is not None else now) + self.stale_after_s
        if self._stale and self.stale_events:
            deadline = max(deadline, self.stale_events[-1] + self.stale_after_s)
        return deadline

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            remaining = self._deadline(now) - now
            if remaining <= 0:
                await self._on_stale(now)
                continue
            try:
                async with asyncio.timeout(remaining):
                    raw = await self._exchange.watch_order_book(self.symbol, self.limit)
            except TimeoutError:
                continue  # the next round finds the deadline passed
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # stop() or our owner
                continue  # ccxt cancelled its future: the connection was closed under it
            except Exception as exc:  # noqa: BLE001 - a dropped connection: watch again
                log_event(
                    logger,
                    logging.WARNING,
                    "ccxt.stream.disconnected",
                    venue=self.venue,
                    symbol=self.symbol,
                    error=type(exc).__name__,
                )
                await asyncio.sleep(min(_RETRY_S, self.stale_after_s / 4))
                continue
            if not hasattr(raw, "get"):  # not a book: ignore it, the watchdog still runs
                log_event(logger, logging.WARNING, "ccxt.stream.unreadable", venue=self.venue)
                continue
            self._on_book(raw, loop.time())

    def _on_book(self, raw: Any, now: float) -> None:
        self._book = _copy(raw)
        self._updated_at = now
        self.updates += 1
        if self._stale:
            self._stale = False
            self.recovered_events.append(now)
            log_event(
                logger,
                logging.INFO,
                "ccxt.stream.recovered",
                venue=self.venue,
                symbol=self.symbol,
                stale_for_s=round(now - self.stale_events[-1], 3),
                resubscriptions=self.resubscriptions,
            )
        self._fresh.set()

    async def _on_stale(self, now: float) -> None:
        first = not self._stale
        self._stale = True
        self.stale_events.append(now)
        age = None if self._updated_at is None else round(now - self._updated_at, 3)
        log_event(
            logger,
            logging.WARNING if first else logging.INFO,
            "ccxt.stream.stale" if first else "ccxt.stream.still_stale",
            venue=self.venue,
            symbol=self.symbol,
            age_s=age,
            bound_s=self.stale_after_s,
        )
        await self._cross_check()
        await self._resubscribe()

    async def _cross_check(self) -> None:
        """Read the book over REST: readers get a fresh book meanwhile; log a divergence."""
        error: str | None = None
        try:
            raw = await self._rest()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the venue may be down too; keep watching
            error = type(exc).__name__
        else:
            if not hasattr(raw, "get"):
                error = BadPayloadError.__name__
        if error is not None:
            log_event(
                logger,
                logging.WARNING,
                "ccxt.stream.rest_check_failed",
                venue=self.venue,
                symbol=self.symbol,
                error=error,
            )
            return
        self.rest_book = _copy(raw)
        self.rest_book_at = asyncio.get_running_loop().time()
        stream_top, rest_top = _top(self._book), _top(self.rest_book)
        log_event(
            logger,
            logging.INFO,
            "ccxt.stream.rest_check",
            venue=self.venue,
            symbol=self.symbol,
            diverged=self._book is not None and stream_top != rest_top,
            rest_bid=rest_top[0],
            rest_ask=rest_top[1],
        )

    async def _resubscribe(self) -> None:
        """Close the websocket connection(s) carrying this symbol's book and forget them, so
        the next watch connects, subscribes and loads a snapshot afresh."""
        self.resubscriptions += 1
        clients = getattr(self._exchange, "clients", None)
        if not isinstance(clients, dict):
            return
        carrying = [
            (url, client)
            for url, client in list(clients.items())
            if any(self.symbol in str(key) for key in getattr(client, "subscriptions", {}))
        ]
        for url, client in carrying:
            if clients.get(url) is client:
                del clients[url]
            try:
                await client.close()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - it is being thrown away anyway
                log_event(
                    logger,
                    logging.DEBUG,
                    "ccxt.stream.close_failed",
                    venue=self.venue,
                    symbol=self.symbol,
                    error=type(exc).__name__,
                )
        log_event(
            logger,
            logging.INFO,
            "ccxt.stream.resubscribe",
            venue=self.venue,
            symbol=self.symbol,
            connections=len(carrying),
        )


class BookStreams(_Owned):
    """Book streams over one ccxt.pro exchange, one per symbol, started on demand.

    ``async with BookStreams(exchange) as streams:`` (or :meth:`start` / :meth:`stop`);
    every stream it started is stopped on exit.
    """

    def __init__(
        self,
        exchange: Any,
        *,
        venue: str | None = None,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        limit: int | None = None,
    ) -> None:
        if not stale_after_s > 0:
            raise ConfigError(f"stale_after_s must be positive, got {stale_after_s!r}")
        self._exchange = exchange
        self.venue = venue if venue is not None else str(getattr(exchange, "id", "?"))
        self.stale_after_s = float(stale_after_s)
        self.limit = limit
        self._streams: dict[str, BookStream] = {}
        self._running = False

    def __repr__(self) -> str:
        return f"BookStreams(venue={self.venue!r}, symbols={sorted(self._streams)})"

    def start(self) -> None:
        self._running = True
        for stream in self._streams.values():
            stream.start()

    async def stop(self) -> None:
        self._running = False
        for stream in list(self._streams.values()):
            await stream.stop()

    def stream(self, symbol: str) -> BookStream:
        """The stream of ``symbol`` (ccxt's unified symbol), started if we are running."""
        stream = self._streams.get(symbol)
        if stream is None:
            stream = BookStream(
                self._exchange,
                symbol,
                venue=self.venue,
                stale_after_s=self.stale_after_s,
                limit=self.limit,
            )
            self._streams[symbol] = stream
        if self._running:
            stream.start()
        return stream

    def get(self, symbol: str) -> BookStream | None:
        return self._streams.get(symbol)

    def book(
        self, symbol: str, levels: int, contract_size: Decimal = Decimal(1)
    ) -> dict[str, Any] | None:
        """``symbol``'s fresh websocket book (the client interface's shape), or None if it
        is stale or not watched yet (watching starts now, when running)."""
        if not self._running:
            stream = self._streams.get(symbol)
            return stream.book(levels, contract_size) if stream is not None else None
        return self.stream(symbol).book(levels, contract_size)


class OrderStream(_Owned):
    """Our orders' changes over ccxt.pro ``watch_orders`` (all symbols, or ``symbol``).

    ``async with OrderStream(exchange) as stream:`` runs the watch in a task it owns;
    ``stream.events()`` subscribes (updates before a subscription are not kept).
    """

    def __init__(self, exchange: Any, *, venue: str | None = None, symbol: str | None = None):
        if not callable(getattr(exchange, "watch_orders", None)):
            raise ConfigError("an order stream needs a ccxt.pro exchange (watch_orders)")
        self._exchange = exchange
        self.venue = venue if venue is not None else str(getattr(exchange, "id", "?"))
        self.symbol = symbol
        self._task: asyncio.Task[None] | None = None
        self._subscribers: list[asyncio.Queue[OrderUpdate]] = []
        self.reconnections = 0
        self.updates = 0

    def __repr__(self) -> str:  # never the exchange: it holds the credentials
        return f"OrderStream(venue={self.venue!r}, symbol={self.symbol!r})"

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"order-stream:{self.venue}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await _cancel_and_wait(task)

    @contextlib.asynccontextmanager
    async def events(self) -> AsyncIterator[AsyncIterator[OrderUpdate]]:
        """Our order updates from now on, in the order the venue sent them."""
        queue: asyncio.Queue[OrderUpdate] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            yield _drain(queue)
        finally:
            self._subscribers.remove(queue)

    async def _run(self) -> None:
        failed = False
        while True:
            try:
                orders = await self._exchange.watch_orders(self.symbol)
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
                continue
            except Exception as exc:  # noqa: BLE001 - a dropped connection: watch again
                failed = True
                log_event(
                    logger,
                    logging.WARNING,
                    "ccxt.orders.disconnected",
                    venue=self.venue,
                    error=type(exc).__name__,
                )
                await asyncio.sleep(_RETRY_S)
                continue
            if failed:
                failed = False
                self.reconnections += 1
                log_event(logger, logging.WARNING, "ccxt.orders.reconnected", venue=self.venue)
            for raw in orders if isinstance(orders, list) else ():
                self._publish(raw)

    def _publish(self, raw: Any) -> None:
        try:
            symbol = raw.get("symbol")
            market = (getattr(self._exchange, "markets", None) or {}).get(symbol) or {}
            info = parse_order(raw, number(market.get("contractSize")) or Decimal(1))
        except (BadPayloadError, AttributeError, TypeError) as exc:
            log_event(
                logger,
                logging.WARNING,
                "ccxt.orders.unreadable",
                venue=self.venue,
                error=type(exc).__name__,
            )
            return
        stamp = raw.get("lastUpdateTimestamp") or raw.get("timestamp")
        when = (
            datetime.fromtimestamp(stamp / 1000, UTC)
            if isinstance(stamp, int | float) and not isinstance(stamp, bool)
            else datetime.now(UTC)
        )
        update = OrderUpdate(venue=self.venue, info=info, timestamp=when)
        self.updates += 1
        for queue in self._subscribers:
            queue.put_nowait(update)


async def _drain(queue: asyncio.Queue[OrderUpdate]) -> AsyncIterator[OrderUpdate]:
    while True:
        yield await queue.get()
