"""Binance USDⓈ-M websocket streams over the simulated venue.

Market streams (``<symbol>@depth[@100ms|@500ms]`` diffs with ``U``/``u``/``pu``,
``<symbol>@bookTicker``, ``<symbol>@markPrice[@1s]``) and the user data stream
(``ORDER_TRADE_UPDATE``, ``ACCOUNT_UPDATE``) for a listen key. A client subscribes by path
(``/ws/btcusdt@depth``), by combined path (``/stream?streams=a/b``, payloads wrapped in
``{"stream", "data"}``), or with ``{"method": "SUBSCRIBE", "params": [...], "id": n}``.

Depth update ids are shared with ``GET /fapi/v1/depth``'s ``lastUpdateId``: every change
the server sees, whether a stream tick or a REST read finds it, is one update id and is
sent to every depth subscriber, so a client can sync a snapshot with the diffs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal

from fundarb.venues.accounts import FundingPayment, Liquidation
from fundarb.venues.orders import Fill, OrderUpdate
from fundarb.venues.sim import SimulatedExchange
from fundarb.venues.simex.wire import JSON, WireIds, decimal_str, millis

__all__ = ["DROP", "StreamHub", "Subscriber"]

_TICK_S = 0.1
_DEPTH_LEVELS = 1000
_TIF = {"GTC": "GTC", "IOC": "IOC", "POST_ONLY": "GTX"}
_EXEC_TYPE = {"NEW": "NEW", "CANCELED": "CANCELED", "EXPIRED": "EXPIRED"}

Levels = dict[Decimal, Decimal]

DROP = ""  # queued to a subscriber: its connection closes (never a message: those are JSON)


@dataclass(eq=False)
class Subscriber:
    """One websocket connection's streams and outbox."""

    combined: bool
    streams: set[str] = field(default_factory=set)
    listen_key: str | None = None
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    muted: bool = False  # an operator fault: the connection stays up, nothing is sent
    dropped: bool = False  # an operator fault: the connection is being closed

    def send(self, stream: str, payload: JSON) -> None:
        if self.muted:
            return
        message = {"stream": stream, "data": payload} if self.combined else payload
        self.queue.put_nowait(json.dumps(message))


@dataclass
class _Book:
    bids: Levels = field(default_factory=dict)
    asks: Levels = field(default_factory=dict)
    update_id: int = 0
    best: tuple[Decimal, Decimal, Decimal, Decimal] | None = None


class StreamHub:
    """The server's streams: book state per symbol, listen keys, and the subscribers."""

    def __init__(self, venue: SimulatedExchange, order_ids: WireIds, trade_ids: WireIds) -> None:
        self.venue = venue
        self._order_ids = order_ids
        self._trade_ids = trade_ids
        self._books: dict[str, _Book] = {s: _Book() for s in venue.core.specs}
        self._subscribers: set[Subscriber] = set()
        self.listen_keys: set[str] = set()
        self.muted = False  # the operator's "mute" fault (see disrupt)
        self._ticks = 0

    # -- subscriptions ----------------------------------------------------------------------

    def add(self, subscriber: Subscriber) -> None:
        subscriber.muted = self.muted
        self._subscribers.add(subscriber)

    def remove(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def disrupt(self, action: str) -> int:
        """An operator fault: ``drop`` closes every open connection; ``mute`` keeps them
        (and any new one) open but sends no stream data until ``unmute``. Returns how many
        connections were open."""
        if action in ("mute", "unmute"):
            self.muted = action == "mute"
        for subscriber in self._subscribers:
            if action == "drop":
                subscriber.queue.put_nowait(DROP)
            else:
                subscriber.muted = self.muted
        return len(self._subscribers)

    def new_listen_key(self) -> str:
        key = secrets.token_urlsafe(48)
        self.listen_keys.add(key)
        return key

    def _to(self, stream: str, payload: JSON) -> None:
        for subscriber in self._subscribers:
            if stream in subscriber.streams:
                subscriber.send(stream, payload)

    def _to_user(self, payload: JSON) -> None:
        for subscriber in self._subscribers:
            if subscriber.listen_key is not None:
                subscriber.send(subscriber.listen_key, payload)

    def _depth_streams(self, symbol: str) -> list[str]:
        prefix = f"{symbol.lower()}@depth"
        wanted = {prefix, f"{prefix}@100ms", f"{prefix}@500ms", f"{prefix}@0ms"}
        return sorted({s for sub in self._subscribers for s in sub.streams if s in wanted})

    # -- market data ------------------------------------------------------------------------

    def refresh(self, symbol: str) -> int:
        """Bring ``symbol``'s book state up to the venue's; send any change. Returns ``u``."""
        core = self.venue.core
        book = self._books[symbol]
        depth = core.depth(symbol, _DEPTH_LEVELS)
        bids: Levels = {level["price"]: level["size"] for level in depth["bids"]}
        asks: Levels = {level["price"]: level["size"] for level in depth["asks"]}
        bid_changes = _diff(book.bids, bids)
        ask_changes = _diff(book.asks, asks)
        if bid_changes or ask_changes:
            previous = book.update_id
            book.update_id += 1
            book.bids, book.asks = bids, asks
            now_ms = depth["timestamp"]
            event = {
                "e": "depthUpdate",
                "E": now_ms,
                "T": now_ms,
                "s": symbol,
                "U": book.update_id,
                "u": book.update_id,
                "pu": previous,
                "b": [[decimal_str(p), decimal_str(q)] for p, q in bid_changes],
                "a": [[decimal_str(p), decimal_str(q)] for p, q in ask_changes],
            }
            for stream in self._depth_streams(symbol):
                self._to(stream, event)
        self._book_ticker(symbol, book, depth["timestamp"])
        return book.update_id

    def _book_ticker(self, symbol: str, book: _Book, now_ms: int) -> None:
        best_bid = max(book.bids) if book.bids else Decimal(0)
        best_ask = min(book.asks) if book.asks else Decimal(0)
        best = (
            best_bid,
            book.bids.get(best_bid, Decimal(0)),
            best_ask,
            book.asks.get(best_ask, Decimal(0)),
        )
        if best == book.best:
            return
        book.best = best
        self._to(
            f"{symbol.lower()}@bookTicker",
            {
                "e": "bookTicker",
                "u": book.update_id,
                "E": now_ms,
                "T": now_ms,
                "s": symbol,
                "b": decimal_str(best[0]),
                "B": decimal_str(best[1]),
                "a": decimal_str(best[2]),
                "A": decimal_str(best[3]),
            },
        )

    def _mark_prices(self, every_s: int) -> None:
        core = self.venue.core
        for symbol in core.specs:
            stream = f"{symbol.lower()}@markPrice" + ("@1s" if every_s == 1 else "")
            rate = core.funding_rate(symbol)
            self._to(
                stream,
                {
                    "e": "markPriceUpdate",
                    "E": millis(rate.timestamp),
                    "s": symbol,
                    "p": decimal_str(rate.mark_price),
                    "i": decimal_str(rate.index_price),
                    "P": decimal_str(rate.index_price),
                    "r": decimal_str(rate.rate),
                    "T": millis(rate.next_funding_time),
                },
            )

    def tick(self) -> None:
        """One market tick: book diffs and tickers now; mark prices each 1 s and 3 s."""
        self._ticks += 1
        for symbol in self._books:
            self.refresh(symbol)
        if self._ticks % round(1 / _TICK_S) == 0:
            self._mark_prices(1)
        if self._ticks % round(3 / _TICK_S) == 0:
            self._mark_prices(3)

    # -- user data --------------------------------------------------------------------------

    def _order_update(self, update: OrderUpdate | Fill) -> JSON | None:
        core = self.venue.core
        order_id = update.info.order_id if isinstance(update, OrderUpdate) else update.order_id
        sim_order = core.orders.get(order_id)
        if sim_order is None:
            return None
        info = core.order_info(sim_order)
        if isinstance(update, OrderUpdate):
            exec_type = _EXEC_TYPE.get(update.info.status)
            if exec_type is None:  # fills are sent with their trade
                return None
            status, when = update.info.status, update.timestamp
        else:
            exec_type, status, when = "TRADE", info.status, update.timestamp
        order_type = "MARKET" if sim_order.is_market else "LIMIT"
        fill = update if isinstance(update, Fill) else None
        return {
            "e": "ORDER_TRADE_UPDATE",
            "E": millis(when),
            "T": millis(when),
            "o": {
                "s": info.symbol,
                "c": info.client_order_id,
                "S": info.side.upper(),
                "o": order_type,
                "f": _TIF[sim_order.tif.value],
                "q": decimal_str(info.size),
                "p": "0" if sim_order.is_market else decimal_str(info.price),
                "ap": decimal_str(info.average_fill_price or Decimal(0)),
                "sp": "0",
                "x": exec_type,
                "X": "NEW" if status == "PENDING_CANCEL" else status,
                "i": self._order_ids.wire(info.order_id),
                "l": decimal_str(fill.quantity) if fill else "0",
                "z": decimal_str(info.filled_size),
                "L": decimal_str(fill.price) if fill else "0",
                "N": core.config.quote_asset,
                "n": decimal_str(fill.fee) if fill else "0",
                "T": millis(when),
                "t": self._trade_ids.wire(f"{fill.symbol}/{fill.trade_id}") if fill else 0,
                "b": "0",
                "a": "0",
                "m": bool(fill and fill.liquidity.value == "maker"),
                "R": sim_order.reduce_only,
                "wt": "CONTRACT_PRICE",
                "ot": order_type,
                "ps": "BOTH",
                "cp": False,
                "rp": "0",
                "pP": False,
                "si": 0,
                "ss": 0,
                "V": "NONE",
                "pm": "NONE",
                "gtd": 0,
            },
        }

    def _account_update(self, symbol: str, reason: str, when_ms: int) -> JSON:
        core = self.venue.core
        marks = core.marks()
        balance = core.account.balance(marks, core.order_margin())
        position = core.account.position(symbol, marks[symbol], marks)
        return {
            "e": "ACCOUNT_UPDATE",
            "E": when_ms,
            "T": when_ms,
            "a": {
                "m": reason,
                "B": [
                    {
                        "a": balance.asset,
                        "wb": decimal_str(balance.wallet_balance),
                        "cw": decimal_str(balance.wallet_balance),
                        "bc": "0",
                    }
                ],
                "P": [
                    {
                        "s": symbol,
                        "pa": decimal_str(position.quantity),
                        "ep": decimal_str(position.entry_price),
                        "bep": decimal_str(position.entry_price),
                        "cr": "0",
                        "up": decimal_str(position.unrealized_pnl),
                        "mt": "cross",
                        "iw": "0",
                        "ps": "BOTH",
                    }
                ],
            },
        }

    def on_event(self, event: object) -> None:
        """Turn one venue event into user-data-stream messages."""
        if isinstance(event, OrderUpdate | Fill):
            message = self._order_update(event)
            if message is not None:
                self._to_user(message)
            if isinstance(event, Fill):
                self._to_user(self._account_update(event.symbol, "ORDER", millis(event.timestamp)))
        elif isinstance(event, FundingPayment):
            self._to_user(
                self._account_update(event.symbol, "FUNDING_FEE", millis(event.funding_time))
            )
        elif isinstance(event, Liquidation):
            self._to_user(self._account_update(event.symbol, "ORDER", millis(event.timestamp)))

    # -- the background work ----------------------------------------------------------------

    async def _ticker(self) -> None:
        while True:
            self.tick()
            await asyncio.sleep(_TICK_S)

    async def _user_events(self) -> None:
        async with self.venue.events() as events:
            async for event in events:
                self.on_event(event)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the market ticker and the user-event pump until the block exits."""
        tasks = [
            asyncio.create_task(self._ticker(), name="simex-ticker"),
            asyncio.create_task(self._user_events(), name="simex-user-events"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            for task in tasks:
                if not task.cancelled() and task.exception() is not None:
                    raise RuntimeError("a simex stream task failed") from task.exception()


def _diff(old: Levels, new: Levels) -> list[tuple[Decimal, Decimal]]:
    """Levels that changed from ``old`` to ``new``; a removed level has size 0."""
    changes = [(p, q) for p, q in new.items() if old.get(p) != q]
    changes += [(p, Decimal(0)) for p in old if p not in new]
    return sorted(changes)
