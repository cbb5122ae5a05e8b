"""Price-time matching of our orders against the market's depth, for one symbol.

The book has two kinds of liquidity: the market's anonymous depth (a :class:`DepthBook`,
driven by the market model or a replayed feed) and our own resting orders. Each of our
resting orders remembers ``gap``: the anonymous lots queued between it and the order of
ours ahead of it at the same price (or the front of the level). Taker flow consumes a
level strictly in time priority, gap by gap and order by order, so a passive order fills
when, and only as much as, the queue ahead of it has traded.

Queue model: new anonymous depth joins the back of a level; depth that disappears without
a trade is taken from the back first (cancellations behind us never move us forward;
cancellations ahead of us only when the level shrinks below our position). This is the
conservative ("risk-averse") queue model used by serious backtesters.

Our own marketable orders take the anonymous depth only, best price first. If they would
meet one of our own resting orders they stop there and the remainder expires
(self-trade prevention, expire-taker). When the market's depth moves through one of our
resting orders (a bid at or above our ask, an ask at or below our bid) the order fills
in full at its own price as a maker: the market traded through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from fundarb.venues.orders import Liquidity, OrderStatus, Side, TimeInForce
from fundarb.venues.sim.book import NO_ASK, NO_BID, DepthBook

__all__ = ["FillSink", "MatchingEngine", "SimOrder"]


@dataclass(slots=True, eq=False)
class SimOrder:
    """An order of ours inside the simulated venue. Prices in ticks, sizes in lots."""

    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    tick: int  # limit price; for a market order, the price bound (0 or NO_ASK: none)
    lots: int
    is_market: bool
    tif: TimeInForce
    reduce_only: bool
    created_at: float
    status: OrderStatus = OrderStatus.NEW
    filled_lots: int = 0
    hidden_lots: int = 0  # filled but not yet reported (a late fill report)
    hidden_value: int = 0  # tick * lots of those hidden fills
    fill_value: int = 0  # sum of tick * lots over fills, for the average price
    fee: Decimal = Decimal(0)
    gap: int = 0
    cancel_reason: str = ""

    @property
    def is_buy(self) -> bool:
        return self.side is Side.BUY

    @property
    def remaining_lots(self) -> int:
        return self.lots - self.filled_lots


class FillSink(Protocol):
    """What the engine needs from the venue around it."""

    def fill_allowance(self, order: SimOrder) -> int:
        """Lots ``order`` may still fill now (a reduce-only order: no more than the position)."""
        ...

    def on_fill(self, order: SimOrder, tick: int, lots: int, liquidity: Liquidity) -> None:
        """Record a fill of ``lots`` at ``tick`` (the engine has already updated ``order``)."""
        ...

    def on_done(self, order: SimOrder) -> None:
        """``order`` reached a final status inside the engine (and left the book)."""
        ...


class MatchingEngine:
    """One symbol's book: the market's depth plus our resting orders."""

    def __init__(self, symbol: str, sink: FillSink) -> None:
        self.symbol = symbol
        self.book = DepthBook()
        self.own_bids: dict[int, list[SimOrder]] = {}
        self.own_asks: dict[int, list[SimOrder]] = {}
        self._sink = sink

    # -- market side: depth and trades from the model or the feed --------------------------

    def apply_depth(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        """Apply absolute level sizes from the market (0 removes a level)."""
        if not self.own_bids and not self.own_asks:
            self.book.apply(bids, asks)
            return
        book = self.book
        for tick, lots in bids:
            book.set_bid(tick, lots)
            if tick in self.own_bids:
                _clip_gaps(self.own_bids[tick], lots)
        for tick, lots in asks:
            book.set_ask(tick, lots)
            if tick in self.own_asks:
                _clip_gaps(self.own_asks[tick], lots)
        self.fill_crossed()

    def market_trade(self, tick: int, lots: int, taker_is_buy: bool) -> None:
        """A trade printed by the feed at ``tick``; fill our orders it reached.

        The feed's own depth updates account for the volume, so the depth is not touched.
        """
        resting = self.own_asks if taker_is_buy else self.own_bids
        if not resting:
            return
        if taker_is_buy:
            levels = sorted(t for t in resting if t <= tick)
        else:
            levels = sorted((t for t in resting if t >= tick), reverse=True)
        left = lots
        for level in levels:
            if left <= 0:
                break
            orders = resting[level]
            if level == tick:
                left = self._consume_queue(orders, level, left)[1]
            else:  # the print is through this level: everything at it traded first
                left = self._consume_queue(orders, level, left, ignore_gaps=True)[1]
            if not orders:
                del resting[level]

    def sweep(self, lots: int, taker_is_buy: bool) -> list[tuple[int, int]]:
        """Taker flow from the market model: walk the book, consuming depth and our orders.

        Returns the trades as ``(tick, lots)``.
        """
        book = self.book
        resting = self.own_asks if taker_is_buy else self.own_bids
        trades: list[tuple[int, int]] = []
        while lots > 0:
            if taker_is_buy:
                own = min(resting) if resting else NO_ASK
                tick = min(book.best_ask, own)
                if tick == NO_ASK:
                    break
                anon = book.asks.get(tick, 0)
            else:
                own = max(resting) if resting else NO_BID
                tick = max(book.best_bid, own)
                if tick == NO_BID:
                    break
                anon = book.bids.get(tick, 0)
            traded = 0
            orders = resting.get(tick)
            if orders:
                gap_used, lots, own_filled = self._consume_queue(orders, tick, lots)
                anon -= gap_used
                traded += gap_used + own_filled
                if not orders:
                    del resting[tick]
            back = anon - sum(o.gap for o in orders) if orders else anon
            take = min(lots, back)
            anon -= take
            lots -= take
            traded += take
            if taker_is_buy:
                book.set_ask(tick, anon)
            else:
                book.set_bid(tick, anon)
            if traded:
                trades.append((tick, traded))
        return trades

    def fill_crossed(self) -> None:
        """Fill our resting orders the market's depth has moved through."""
        book = self.book
        while self.own_bids and book.best_ask != NO_ASK:
            top = max(self.own_bids)
            if top < book.best_ask:
                break
            self._fill_level(self.own_bids, top)
        while self.own_asks and book.best_bid != NO_BID:
            top = min(self.own_asks)
            if top > book.best_bid:
                break
            self._fill_level(self.own_asks, top)

    def _fill_level(self, resting: dict[int, list[SimOrder]], tick: int) -> None:
        orders = resting.pop(tick)
        for order in list(orders):
            self._fill(order, tick, order.remaining_lots, Liquidity.MAKER, orders)

    # -- our side: orders placed through the venue -------------------------------------------

    def would_cross(self, side: Side, tick: int) -> bool:
        """True if a limit at ``tick`` would take liquidity now, the market's or our own.

        Meeting one of our own resting orders counts: such an order must not rest across
        it (self-trade prevention expires it; a post-only order is refused).
        """
        if side is Side.BUY:
            best_ask = min(self.book.best_ask, min(self.own_asks, default=NO_ASK))
            return best_ask != NO_ASK and tick >= best_ask
        best_bid = max(self.book.best_bid, max(self.own_bids, default=NO_BID))
        return best_bid != NO_BID and tick <= best_bid

    def take(self, order: SimOrder, max_lots: int | None = None) -> None:
        """Let ``order`` take anonymous depth up to its price bound (and ``max_lots``)."""
        book = self.book
        want = order.remaining_lots if max_lots is None else min(max_lots, order.remaining_lots)
        if order.is_buy:
            own_opposite = self.own_asks
            while want > 0 and book.best_ask != NO_ASK and book.best_ask <= order.tick:
                tick = book.best_ask
                if own_opposite and min(own_opposite) <= tick:
                    break  # self-trade prevention: expire the taker's remainder
                got = self._fill(order, tick, min(want, book.asks[tick]), Liquidity.TAKER, None)
                if got == 0:
                    break
                book.set_ask(tick, book.asks[tick] - got)
                want -= got
        else:
            own_opposite = self.own_bids
            while want > 0 and book.best_bid != NO_BID and book.best_bid >= order.tick:
                tick = book.best_bid
                if own_opposite and max(own_opposite) >= tick:
                    break
                got = self._fill(order, tick, min(want, book.bids[tick]), Liquidity.TAKER, None)
                if got == 0:
                    break
                book.set_bid(tick, book.bids[tick] - got)
                want -= got

    def rest(self, order: SimOrder) -> None:
        """Put ``order`` at the back of its price level."""
        resting = self.own_bids if order.is_buy else self.own_asks
        depth = self.book.bids if order.is_buy else self.book.asks
        orders = resting.setdefault(order.tick, [])
        order.gap = depth.get(order.tick, 0) - sum(o.gap for o in orders)
        orders.append(order)

    def remove(self, order: SimOrder) -> None:
        """Take a resting ``order`` off the book; the lots queued behind it move up."""
        resting = self.own_bids if order.is_buy else self.own_asks
        orders = resting.get(order.tick)
        if not orders or order not in orders:
            return
        index = orders.index(order)
        orders.pop(index)
        if index < len(orders):
            orders[index].gap += order.gap
        if not orders:
            del resting[order.tick]

    def force_fill(self, order: SimOrder, lots: int) -> int:
        """Fill a resting ``order`` by up to ``lots`` at its own price, as a maker (faults)."""
        resting = self.own_bids if order.is_buy else self.own_asks
        orders = resting.get(order.tick)
        got = self._fill(
            order, order.tick, min(lots, order.remaining_lots), Liquidity.MAKER, orders
        )
        if orders is not None and not orders:
            del resting[order.tick]
        return got

    def resting_orders(self) -> list[SimOrder]:
        return [o for level in (self.own_bids, self.own_asks) for q in level.values() for o in q]

    # -- internals --------------------------------------------------------------------------

    def _consume_queue(
        self, orders: list[SimOrder], tick: int, lots: int, *, ignore_gaps: bool = False
    ) -> tuple[int, int, int]:
        """Consume ``lots`` of taker volume through a level in time priority.

        Returns (anonymous lots consumed from gaps, lots left over, our lots filled).
        """
        gap_used = 0
        filled = 0
        for order in list(orders):
            if lots <= 0:
                break
            if not ignore_gaps:
                used = min(lots, order.gap)
                order.gap -= used
                gap_used += used
                lots -= used
                if lots <= 0 or order.gap:
                    break
            got = self._fill(order, tick, min(lots, order.remaining_lots), Liquidity.MAKER, orders)
            filled += got
            lots -= got
        return gap_used, lots, filled

    def _fill(
        self,
        order: SimOrder,
        tick: int,
        lots: int,
        liquidity: Liquidity,
        queue: list[SimOrder] | None,
    ) -> int:
        """Fill ``order`` by up to ``lots``; expire it if it may not fill. Returns lots filled."""
        if order.status.is_final:
            return 0
        allowed = min(lots, self._sink.fill_allowance(order))
        if allowed > 0:
            order.filled_lots += allowed
            order.fill_value += tick * allowed
            order.status = (
                OrderStatus.FILLED if order.remaining_lots == 0 else OrderStatus.PARTIALLY_FILLED
            )
            self._sink.on_fill(order, tick, allowed, liquidity)
        if order.remaining_lots and allowed < lots and order.reduce_only:
            order.status = OrderStatus.EXPIRED
            order.cancel_reason = "reduce-only order would increase the position"
        if order.status.is_final:
            if queue is not None and order in queue:
                index = queue.index(order)
                queue.pop(index)
                if index < len(queue):
                    queue[index].gap += order.gap
            self._sink.on_done(order)
        return allowed


def _clip_gaps(orders: list[SimOrder], lots: int) -> None:
    """The level now holds ``lots`` anonymous lots: shrink our queue positions from the back."""
    excess = sum(o.gap for o in orders) - lots
    for order in reversed(orders):
        if excess <= 0:
            return
        cut = min(excess, order.gap)
        order.gap -= cut
        excess -= cut
