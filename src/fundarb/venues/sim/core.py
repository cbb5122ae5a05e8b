"""The simulated venue's state machine: synchronous, with time passed in.

:class:`VenueCore` owns the books, our orders, the account, funding and the market
sources, and processes everything that happens up to a given loop time in time order.
It knows nothing of asyncio, latency or faults on the wire: the async facade
(:class:`~fundarb.venues.sim.exchange.SimulatedExchange`) and later the local exchange
server sit on top of it.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fundarb.errors import InvalidOrderError, OrderRejectedError, UnknownSymbolError
from fundarb.venues.accounts import FundingPayment, Liquidation
from fundarb.venues.interface import VenueEvent
from fundarb.venues.markets import FeeSchedule, FundingRate, MarketSpec
from fundarb.venues.orders import (
    Fill,
    Liquidity,
    OrderInfo,
    OrderResult,
    OrderStatus,
    OrderUpdate,
    RejectReason,
    Side,
    TimeInForce,
)
from fundarb.venues.sim.account import SimAccount
from fundarb.venues.sim.book import NO_ASK, NO_BID
from fundarb.venues.sim.config import ReplayConfig, SimConfig, SymbolConfig
from fundarb.venues.sim.market import MarketSource, PublicTrade, SyntheticMarket
from fundarb.venues.sim.matching import MatchingEngine, SimOrder
from fundarb.venues.sim.replay import Capture, ReplayFeed

__all__ = ["OrderRequest", "VenueCore"]

_ZERO = Decimal(0)
_TAPE_LENGTH = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRequest:
    """A validated order, in venue units."""

    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal | None  # None: market order
    tif: TimeInForce
    reduce_only: bool
    client_order_id: str


class VenueCore:
    """One simulated venue's state. Every method takes or uses ``now`` in loop seconds."""

    def __init__(self, config: SimConfig, *, start: float, capture: Capture | None = None) -> None:
        self.config = config
        self.name = config.venue
        self.start = start
        self.now = start
        self.start_time = capture.snapshot_time if capture is not None else config.start_time
        self.symbols: dict[str, SymbolConfig] = {s.symbol: s for s in config.symbols}
        self.specs: dict[str, MarketSpec] = {
            s.symbol: MarketSpec(
                symbol=s.symbol,
                tick_size=s.tick_size,
                lot_size=s.lot_size,
                min_quantity=s.effective_min_quantity,
                max_quantity=s.max_quantity,
                min_notional=s.min_notional,
                quote_asset=config.quote_asset,
            )
            for s in config.symbols
        }
        self.fees = FeeSchedule(config.maker_fee_rate, config.taker_fee_rate)
        self.account = SimAccount(
            asset=config.quote_asset,
            balance=config.initial_balance,
            lot_sizes={s.symbol: s.lot_size for s in config.symbols},
            maintenance_rates={s.symbol: s.maintenance_margin_rate for s in config.symbols},
            leverage=config.default_leverage,
        )
        self.engines = {s: MatchingEngine(s, self) for s in self.symbols}
        self.tapes: dict[str, deque[PublicTrade]] = {
            s: deque(maxlen=_TAPE_LENGTH) for s in self.symbols
        }
        self.orders: dict[str, SimOrder] = {}
        self.open_orders: dict[str, SimOrder] = {}
        self.by_client_id: dict[str, SimOrder] = {}
        self.fills: list[Fill] = []
        self.fills_by_order: dict[str, list[Fill]] = {}
        self.funding_payments: list[FundingPayment] = []
        self.liquidations: list[Liquidation] = []
        self.outbox: list[VenueEvent] = []
        self.listening = False  # set while someone subscribes to events; else none are built
        self._reduce_only_check: set[str] = set()  # symbols whose position closed or flipped
        self._clock_cache: tuple[float, datetime] = (start, self.start_time)
        self._last_marks: dict[str, Decimal] = {s.symbol: s.initial_price for s in config.symbols}
        self._order_seq = itertools.count(1)
        self._trade_seq = itertools.count(1)
        self._hide_fills_of: SimOrder | None = None
        self._held_fills: dict[str, list[Fill]] = {}
        self._reveals: list[tuple[float, int, str]] = []  # (time, seq, order id)
        self._reveal_seq = itertools.count()
        self.sources: list[MarketSource] = []
        rng = random.Random(config.seed)
        for sym in config.symbols:
            engine = self.engines[sym.symbol]
            if isinstance(config.market, ReplayConfig) and sym.symbol == config.market.symbol:
                assert capture is not None
                self.sources.append(
                    ReplayFeed(engine, capture, start=start, tape=self.tapes[sym.symbol])
                )
            elif config.market == "synthetic":
                self.sources.append(
                    SyntheticMarket(
                        engine,
                        sym,
                        config.model,
                        random.Random(rng.getrandbits(64)),
                        random.Random(
                            f"{config.model.price_seed}:{sym.price_path or sym.symbol}"
                            if config.model.price_seed is not None
                            else rng.getrandbits(64)
                        ),
                        start=start,
                        tape=self.tapes[sym.symbol],
                    )
                )
        self._next_funding = {s: self._funding_after(start, s) for s in self.symbols}

    # -- time -------------------------------------------------------------------------------

    def venue_time(self, t: float | None = None) -> datetime:
        """The venue's wall-clock time at loop time ``t`` (default: now)."""
        t = self.now if t is None else t
        cached_t, cached = self._clock_cache
        if t != cached_t:
            cached = self.start_time + timedelta(seconds=t - self.start)
            self._clock_cache = (t, cached)
        return cached

    def _funding_after(self, t: float, symbol: str) -> float:
        interval = self.symbols[symbol].funding.interval_s
        epoch = self.venue_time(t).timestamp()
        boundary = (math.floor(epoch / interval) + 1) * interval
        return t + (boundary - epoch)

    def next_event_time(self) -> float:
        times = [source.next_time() for source in self.sources]
        times.extend(self._next_funding.values())
        if self._reveals:
            times.append(self._reveals[0][0])
        return min(times, default=math.inf)

    def advance(self, now: float) -> None:
        """Process every market event, funding time and delayed report up to ``now``."""
        while True:
            source_time, source = math.inf, None
            for candidate in self.sources:
                t = candidate.next_time()
                if t < source_time:
                    source_time, source = t, candidate
            funding_symbol = min(self._next_funding, key=self._next_funding.__getitem__)
            funding_time = self._next_funding[funding_symbol]
            reveal_time = self._reveals[0][0] if self._reveals else math.inf
            t = min(source_time, funding_time, reveal_time)
            if t > now:
                break
            self.now = max(self.now, t)
            if t == reveal_time:
                self._reveal(heapq.heappop(self._reveals)[2])
            elif t == funding_time:
                self._settle_funding(funding_symbol, t)
            elif source is not None and source.run_next():
                self.settle()
        self.now = max(self.now, now)

    # -- market data ------------------------------------------------------------------------

    def spec(self, symbol: str) -> MarketSpec:
        try:
            return self.specs[symbol]
        except KeyError:
            raise UnknownSymbolError(
                f"unknown symbol {symbol!r}; this venue lists {sorted(self.specs)}",
                venue=self.name,
                symbol=symbol,
            ) from None

    def mark_price(self, symbol: str) -> Decimal:
        """The mid of the book (one side if the other is empty; else the last mark)."""
        book = self.engines[symbol].book
        tick = self.symbols[symbol].tick_size
        if book.best_bid != NO_BID and book.best_ask != NO_ASK:
            mark = Decimal(book.best_bid + book.best_ask) * tick / 2
        elif book.best_bid != NO_BID:
            mark = book.best_bid * tick
        elif book.best_ask != NO_ASK:
            mark = book.best_ask * tick
        else:
            return self._last_marks[symbol]
        self._last_marks[symbol] = mark
        return mark

    def marks(self) -> dict[str, Decimal]:
        return {symbol: self.mark_price(symbol) for symbol in self.symbols}

    def index_price(self, symbol: str) -> Decimal:
        for source in self.sources:
            if isinstance(source, SyntheticMarket) and source.symbol == symbol:
                return Decimal(repr(source.fair_price)).quantize(
                    self.symbols[symbol].tick_size / 100
                )
        return self.mark_price(symbol)

    def depth(self, symbol: str, levels: int) -> dict[str, Any]:
        """The book as the interface returns it: best first, with our resting orders in it."""
        engine = self.engines[symbol]
        spec = self.specs[symbol]
        tick, lot = spec.tick_size, spec.lot_size

        def merged(
            anon: list[tuple[int, int]], own: dict[int, list[SimOrder]], reverse: bool
        ) -> list[dict[str, Decimal]]:
            sizes = dict(anon)
            for level_tick, orders in own.items():
                sizes[level_tick] = sizes.get(level_tick, 0) + sum(o.remaining_lots for o in orders)
            best = sorted(sizes.items(), reverse=reverse)[:levels]
            return [{"price": t * tick, "size": n * lot} for t, n in best]

        return {
            "symbol": symbol,
            "timestamp": int(self.venue_time().timestamp() * 1000),
            "bids": merged(engine.book.top_bids(levels), engine.own_bids, True),
            "asks": merged(engine.book.top_asks(levels), engine.own_asks, False),
        }

    def funding_rate(self, symbol: str) -> FundingRate:
        cfg = self.symbols[symbol].funding
        next_time = self._next_funding[symbol]
        settlement = round(self.venue_time(next_time).timestamp()) // cfg.interval_s
        return FundingRate(
            symbol=symbol,
            rate=cfg.rate_at(settlement),
            interval=timedelta(seconds=cfg.interval_s),
            next_funding_time=self.venue_time(next_time),
            mark_price=self.mark_price(symbol),
            index_price=self.index_price(symbol),
            timestamp=self.venue_time(),
        )

    # -- orders -----------------------------------------------------------------------------

    def submit(
        self, request: OrderRequest, *, partial_fraction: Decimal | None = None
    ) -> OrderResult:
        """Accept or refuse an order and match it. A refusal changes nothing."""
        spec = self.specs[request.symbol]
        engine = self.engines[request.symbol]
        side = request.side
        if request.client_order_id in self.by_client_id:
            return self._refused(
                request,
                RejectReason.DUPLICATE_CLIENT_ORDER_ID,
                f"client order id {request.client_order_id!r} is already in use",
            )
        if request.price is None:
            book = engine.book
            touch = book.best_ask if side is Side.BUY else book.best_bid
            reference = None if touch in (NO_ASK, NO_BID) else touch * spec.tick_size
        else:
            reference = request.price
        problem = spec.check_order(request.quantity, reference, reduce_only=request.reduce_only)
        if problem is not None:
            return self._refused(request, problem.reason, problem.message)
        position = self.account.positions[request.symbol].lots
        if request.reduce_only and (position == 0 or (position > 0) == (side is Side.BUY)):
            return self._refused(
                request,
                RejectReason.REDUCE_ONLY,
                "reduce-only order would open or increase a position",
            )
        tick = (
            int(request.price / spec.tick_size)
            if request.price is not None
            else (NO_ASK if side is Side.BUY else 0)
        )
        crossing = request.price is None or engine.would_cross(side, tick)
        if request.tif is TimeInForce.POST_ONLY and crossing:
            return self._refused(
                request, RejectReason.POST_ONLY_WOULD_CROSS, "post-only order would take liquidity"
            )
        if reference is None:
            return self._refused(
                request, RejectReason.NO_LIQUIDITY, "no liquidity on the other side of the book"
            )
        lots = int(request.quantity / spec.lot_size)
        if not request.reduce_only:
            needed = self._margin_for(request.symbol, side, lots, reference)
            available = self.available_margin()
            if needed > available:
                return self._refused(
                    request,
                    RejectReason.INSUFFICIENT_MARGIN,
                    f"insufficient margin: the order needs {needed:.2f} {spec.quote_asset}, "
                    f"{available:.2f} is available",
                )
        order = SimOrder(
            order_id=f"{self.name}-{next(self._order_seq)}",
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=side,
            tick=tick,
            lots=lots,
            is_market=request.price is None,
            tif=request.tif,
            reduce_only=request.reduce_only,
            created_at=self.now,
        )
        self.orders[order.order_id] = order
        self.by_client_id[order.client_order_id] = order
        self._publish_update(order)  # acknowledged
        cap = None
        if partial_fraction is not None:
            cap = max(1, int(lots * partial_fraction)) if lots > 1 else lots
        if crossing:
            engine.take(order, cap)
        if not order.status.is_final and order.remaining_lots:
            if order.is_market or order.tif is TimeInForce.IOC or (cap is not None and crossing):
                self._expire(order, "immediate-or-cancel remainder expired")
            elif engine.would_cross(side, tick):
                self._expire(order, "expired by self-trade prevention")
            else:
                self.open_orders[order.order_id] = order
                engine.rest(order)
                if cap is not None and order.filled_lots < cap:
                    engine.force_fill(order, cap - order.filled_lots)
        self.settle()
        if order.is_market and order.filled_lots == 0:
            return self._result(
                order,
                success=False,
                reason=RejectReason.NO_LIQUIDITY,
                message="market order found no liquidity it could trade",
            )
        return self._result(order, success=True)

    def _expire(self, order: SimOrder, reason: str) -> None:
        order.status = OrderStatus.EXPIRED
        order.cancel_reason = reason
        self.open_orders.pop(order.order_id, None)
        self._publish_update(order)

    def cancel(
        self,
        order_id: str,
        *,
        race: str | None = None,
        late_fraction: Decimal = Decimal("0.5"),
        late_delay_s: float = 0.0,
    ) -> OrderResult:
        """Cancel an open order. ``race`` injects 'loses', 'fails' or 'late_fill'."""
        order = self.orders.get(order_id)
        if order is None:
            return OrderResult(
                success=False,
                order_id=order_id,
                status=OrderStatus.REJECTED,
                error_message=f"unknown order {order_id!r}",
                reject_reason=RejectReason.UNKNOWN_ORDER,
            )
        engine = self.engines[order.symbol]
        if race == "loses" and not order.status.is_final:
            engine.force_fill(order, order.remaining_lots)
            self.settle()
        if order.status.is_final:
            return self._result(
                order,
                success=False,
                reason=RejectReason.ALREADY_FINAL,
                message=f"order is already {order.status.value.lower()}",
            )
        if race == "fails":
            return self._result(
                order,
                success=False,
                reason=RejectReason.CANCEL_REJECTED,
                message="cancel refused by venue (injected)",
            )
        if race == "late_fill" and order.remaining_lots > 1:
            lots = max(1, int(order.remaining_lots * late_fraction))
            self._hide_fills_of = order
            try:
                engine.force_fill(order, lots)
            finally:
                self._hide_fills_of = None
            heapq.heappush(
                self._reveals, (self.now + late_delay_s, next(self._reveal_seq), order.order_id)
            )
        engine.remove(order)
        order.status = OrderStatus.CANCELED
        order.cancel_reason = "cancelled by user"
        self.open_orders.pop(order.order_id, None)
        self._publish_update(order)
        self.settle()
        return self._result(order, success=True)

    def order_info(self, order: SimOrder) -> OrderInfo:
        spec = self.specs[order.symbol]
        filled = order.filled_lots - order.hidden_lots
        status = order.status
        if order.hidden_lots and status is OrderStatus.PARTIALLY_FILLED and filled == 0:
            status = OrderStatus.NEW
        return OrderInfo(
            order_id=order.order_id,
            side=order.side.value,
            size=order.lots * spec.lot_size,
            price=self._order_price(order),
            status=status.value,
            filled_size=filled * spec.lot_size,
            remaining_size=(order.lots - filled) * spec.lot_size if status.is_open else _ZERO,
            cancel_reason=order.cancel_reason,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            average_fill_price=self._average_price(order),
        )

    def check_leverage(self, symbol: str, leverage: object) -> None:
        """Raise :class:`InvalidOrderError` unless ``leverage`` is an int the symbol allows."""
        cfg = self.symbols[symbol]
        if (
            isinstance(leverage, bool)
            or not isinstance(leverage, int)
            or not (1 <= leverage <= cfg.max_leverage)
        ):
            raise InvalidOrderError(
                f"leverage must be an int from 1 to {cfg.max_leverage}, got {leverage!r}",
                venue=self.name,
                symbol=symbol,
            )

    def set_leverage(self, symbol: str, leverage: int) -> int:
        self.check_leverage(symbol, leverage)
        state = self.account.positions[symbol]
        previous = state.leverage
        state.leverage = leverage
        balance = self.account.balance(self.marks(), self.order_margin())
        if balance.margin_used > balance.equity:
            state.leverage = previous
            raise OrderRejectedError(
                f"insufficient margin for leverage {leverage}", venue=self.name, symbol=symbol
            )
        return leverage

    # -- margin -----------------------------------------------------------------------------

    def _position_im(self) -> Decimal:
        marks = self.marks()
        return sum(
            (self.account.position_margin(s, marks[s]) for s in self.account.open_symbols()), _ZERO
        )

    def order_margin(self) -> Decimal:
        total = _ZERO
        for order in self.open_orders.values():
            if order.reduce_only:
                continue
            spec = self.specs[order.symbol]
            leverage = self.account.positions[order.symbol].leverage
            total += order.remaining_lots * spec.lot_size * order.tick * spec.tick_size / leverage
        return total

    def available_margin(self) -> Decimal:
        return self.account.balance(self.marks(), self.order_margin()).available

    def _margin_for(self, symbol: str, side: Side, lots: int, price: Decimal) -> Decimal:
        """Initial margin of the part of an order that would add exposure."""
        position = self.account.positions[symbol].lots
        reducing = (
            min(lots, abs(position)) if position and (position > 0) != (side is Side.BUY) else 0
        )
        spec = self.specs[symbol]
        return (lots - reducing) * spec.lot_size * price / self.account.positions[symbol].leverage

    # -- the engine's callbacks (FillSink) ---------------------------------------------------

    def fill_allowance(self, order: SimOrder) -> int:
        if not order.reduce_only:
            return order.remaining_lots
        position = self.account.positions[order.symbol].lots
        if position == 0 or (position > 0) == order.is_buy:
            return 0
        return min(order.remaining_lots, abs(position))

    def on_fill(self, order: SimOrder, tick: int, lots: int, liquidity: Liquidity) -> None:
        spec = self.specs[order.symbol]
        price = tick * spec.tick_size
        quantity = lots * spec.lot_size
        rate = self.fees.maker_rate if liquidity is Liquidity.MAKER else self.fees.taker_rate
        fee = price * quantity * rate
        order.fee += fee
        before = self.account.positions[order.symbol].lots
        self.account.apply_fill(order.symbol, lots if order.is_buy else -lots, price, fee)
        after = self.account.positions[order.symbol].lots
        if after == 0 or (after > 0) != (before > 0):
            self._reduce_only_check.add(order.symbol)
        fill = Fill(
            venue=self.name,
            symbol=order.symbol,
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            trade_id=f"{self.name}-t{next(self._trade_seq)}",
            side=order.side,
            price=price,
            quantity=quantity,
            fee=fee,
            liquidity=liquidity,
            timestamp=self.venue_time(),
        )
        if liquidity is Liquidity.TAKER:  # the market's own trades are on the tape already
            self.tapes[order.symbol].append((self.now, tick, lots, order.is_buy))
        if self._hide_fills_of is order:
            order.hidden_lots += lots
            order.hidden_value += tick * lots
            self._held_fills.setdefault(order.order_id, []).append(fill)
            return
        self._report_fill(fill)
        if self.listening:
            self.outbox.append(fill)
            self._publish_update(order)

    def on_done(self, order: SimOrder) -> None:
        self.open_orders.pop(order.order_id, None)
        if order.status is not OrderStatus.FILLED:  # a fill already reported FILLED
            self._publish_update(order)

    # -- funding and liquidation ------------------------------------------------------------

    def _settle_funding(self, symbol: str, t: float) -> None:
        cfg = self.symbols[symbol].funding
        when = self.venue_time(t)
        settlement = round(when.timestamp()) // cfg.interval_s
        rate = cfg.rate_at(settlement)
        self._next_funding[symbol] = t + cfg.interval_s
        state = self.account.positions[symbol]
        if not state.lots:
            return
        mark = self.mark_price(symbol)
        quantity = state.lots * self.symbols[symbol].lot_size
        amount = -quantity * mark * rate
        self.account.wallet += amount
        payment = FundingPayment(
            venue=self.name,
            symbol=symbol,
            funding_time=when,
            rate=rate,
            position_quantity=quantity,
            mark_price=mark,
            amount=amount,
        )
        self.funding_payments.append(payment)
        if self.listening:
            self.outbox.append(payment)
        self._check_liquidation()

    def settle(self) -> None:
        """Apply the venue's rules after the book or a position changed.

        Resting reduce-only orders that can no longer reduce (the position closed or
        flipped) expire, as on Binance and Bybit; then, if the market has moved the account
        below maintenance margin, it is liquidated. Called after every market event, order
        and cancel, and by operators who move the book from outside :meth:`advance`.
        """
        if self._reduce_only_check:
            symbols, self._reduce_only_check = self._reduce_only_check, set()
            for order in list(self.open_orders.values()):
                if order.reduce_only and order.symbol in symbols and not self.fill_allowance(order):
                    self.engines[order.symbol].remove(order)
                    self._expire(order, "reduce-only order expired: the position closed")
        if self.account.open_symbols():
            self._check_liquidation()

    def _check_liquidation(self) -> None:
        marks = self.marks()
        if not self.account.is_liquidatable(marks):
            return
        for order in list(self.open_orders.values()):
            self.engines[order.symbol].remove(order)
            order.status = OrderStatus.CANCELED
            order.cancel_reason = "cancelled by liquidation"
            self.open_orders.pop(order.order_id, None)
            self._publish_update(order)
        for symbol in self.account.open_symbols():
            state = self.account.positions[symbol]
            quantity = state.lots * self.symbols[symbol].lot_size
            mark = marks[symbol]
            fee = abs(quantity) * mark * self.config.liquidation_fee_rate
            self.account.apply_fill(symbol, -state.lots, mark, fee)
            event = Liquidation(
                venue=self.name,
                symbol=symbol,
                quantity=quantity,
                price=mark,
                fee=fee,
                timestamp=self.venue_time(),
            )
            self.liquidations.append(event)
            if self.listening:
                self.outbox.append(event)
        self.account.wallet = max(self.account.wallet, _ZERO)  # the insurance fund takes the rest

    # -- helpers ----------------------------------------------------------------------------

    def _reveal(self, order_id: str) -> None:
        order = self.orders[order_id]
        order.hidden_lots = 0
        order.hidden_value = 0
        for fill in self._held_fills.pop(order_id, []):
            self._report_fill(fill)
            if self.listening:
                self.outbox.append(fill)
        self._publish_update(order)

    def _report_fill(self, fill: Fill) -> None:
        self.fills.append(fill)
        self.fills_by_order.setdefault(fill.order_id, []).append(fill)

    def _publish_update(self, order: SimOrder) -> None:
        if not self.listening:
            return
        self.outbox.append(
            OrderUpdate(venue=self.name, info=self.order_info(order), timestamp=self.venue_time())
        )

    def _order_price(self, order: SimOrder) -> Decimal:
        if not order.is_market:
            return order.tick * self.specs[order.symbol].tick_size
        return self._average_price(order) or _ZERO

    def _average_price(self, order: SimOrder) -> Decimal | None:
        visible = order.filled_lots - order.hidden_lots
        if visible <= 0:
            return None
        value = order.fill_value - order.hidden_value
        return Decimal(value) * self.specs[order.symbol].tick_size / visible

    def _result(
        self,
        order: SimOrder,
        *,
        success: bool,
        reason: RejectReason | None = None,
        message: str | None = None,
    ) -> OrderResult:
        info = self.order_info(order)
        return OrderResult(
            success=success,
            order_id=order.order_id,
            side=order.side.value,
            size=info.size,
            price=info.price,
            status=info.status,
            error_message=message,
            filled_size=info.filled_size,
            reject_reason=reason,
            client_order_id=order.client_order_id,
        )

    def _refused(self, request: OrderRequest, reason: RejectReason, message: str) -> OrderResult:
        return OrderResult(
            success=False,
            side=request.side.value,
            size=request.quantity,
            price=request.price,
            status=OrderStatus.REJECTED.value,
            error_message=message,
            reject_reason=reason,
            client_order_id=request.client_order_id,
        )
