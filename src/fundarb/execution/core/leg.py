"""One leg of an execution: send, watch, cancel, and find out — never guess.

:class:`LegRunner` owns every order one ``execute_order`` call sends for one symbol on one
venue, and keeps the execution invariants of design notes §3 for it:

- client order ids are deterministic: ``fa-<execution>-<leg>-<attempt>``;
- a call that fails ambiguously leaves its order UNKNOWN, and nothing more is sent for the
  leg until it is resolved (by client order id, by venue order id, or not at all);
- a retryable failure is retried with the same client order id (the venue refuses a
  duplicate id, so a request that did arrive cannot become two orders);
- a cancel is confirmed (a final status read back) before anything replaces the order,
  and what filled is corroborated against the position, which sees late fills first;
- what is still to do is always ``target - filled`` as the venue reports it.

It also notes, on the event loop's clock and at no extra venue call, when the leg's first
order was handed to the venue (``sent_at``), when the venue first accepted one of its
orders (``acked_at``) and when its filled quantity last rose (``filled_at``), and how many
sends were retried under the same client order id (``resends``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from fundarb.errors import ErrorClass, FundarbError, RateLimitedError, StorageError, classify_error
from fundarb.execution.core.gateway import OrderView, PlaceAnswer, VenueGateway
from fundarb.execution.core.order_state import OrderKind, OrderState, TrackedOrder
from fundarb.logs import log_event
from fundarb.storage.journal import EntryKind, JournalEntry
from fundarb.venues.markets import MarketSpec
from fundarb.venues.orders import RejectReason, Side

__all__ = ["JournalSink", "LegConfig", "LegRunner"]

logger = logging.getLogger("fundarb.execution")

_ZERO = Decimal(0)
_CLOCK_TICK_S = 1e-6  # below this, a sleep returns without the clock moving


class JournalSink(Protocol):
    """Where a leg writes ahead (a :class:`fundarb.storage.journal.Journal`)."""

    async def append(self, entry: JournalEntry) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class LegConfig:
    """Timings of one leg (seconds of the event loop's clock)."""

    poll_interval_s: float = 0.25
    cancel_confirm_s: float = 5.0  # how long a cancel may take to be confirmed
    cancel_attempts: int = 3
    resolve_attempts: int = 5  # lookups of an order whose fate is unknown
    resolve_backoff_s: float = 0.5
    send_attempts: int = 3  # tries of one send after retryable failures
    retry_backoff_s: float = 0.25


class LegRunner:
    """Every order of one leg, and what the venue says of them."""

    def __init__(
        self,
        gateway: VenueGateway,
        *,
        execution_id: str,
        leg: int,
        symbol: str,
        side: Side,
        target: Decimal,
        spec: MarketSpec,
        reduce_only: bool,
        config: LegConfig,
        start_position: Decimal | None,
        journal: JournalSink | None = None,
    ) -> None:
        self.gateway = gateway
        self.journal = journal
        self.execution_id = execution_id
        self.leg = leg
        self.symbol = symbol
        self.side = side
        self.target = target
        self.spec = spec
        self.reduce_only = reduce_only
        self.config = config
        self.start_position = start_position
        self.orders: list[TrackedOrder] = []
        self.problems: list[str] = []
        self.hurry_at = math.inf  # loop time after which passive waits end early (see hurry)
        self.blind = False  # a fill may be unreported and the position could not be read
        self.first_send_ns: int | None = None  # perf_counter_ns of the first send (skew)
        self.first_answer_ns: int | None = None  # perf_counter_ns of the first answer
        # loop-clock times for the leg's record (seconds; see the module docstring)
        self.sent_at: float | None = None  # the first order handed to the venue client
        self.acked_at: float | None = None  # the first order the venue's answer accepted
        self.filled_at: float | None = None  # the filled quantity last seen to rise
        self.resends = 0  # sends retried under the same client order id
        # client order id -> quantity a limit order filled on arrival (in its placement
        # answer): it took liquidity; what fills later, while it rests, is made
        self.taken_on_arrival: dict[str, Decimal] = {}
        self._seen_filled = _ZERO  # the filled quantity at ``filled_at``

    def hurry(self) -> None:
        """End passive waits now: the other legs of a hedge have run ahead of this one."""
        self.hurry_at = asyncio.get_running_loop().time()

    # -- figures ----------------------------------------------------------------------------

    @property
    def filled(self) -> Decimal:
        return sum((o.filled for o in self.orders), _ZERO)

    @property
    def remaining(self) -> Decimal:
        return max(self.target - self.filled, _ZERO)

    @property
    def unresolved(self) -> list[TrackedOrder]:
        """Orders whose fate we do not know (the leg must not send more)."""
        return [o for o in self.orders if o.state in (OrderState.UNKNOWN, OrderState.NEW)]

    @property
    def open_orders(self) -> list[TrackedOrder]:
        return [o for o in self.orders if o.state.is_open]

    @property
    def can_send(self) -> bool:
        """Nothing of unknown fate, nothing still open, no unread witness: a new order cannot
        over-fill."""
        return not self.blind and not any(o.state.is_open for o in self.orders)

    # -- sending ----------------------------------------------------------------------------

    async def send(
        self, kind: OrderKind, quantity: Decimal, price: Decimal | None = None
    ) -> TrackedOrder:
        """Send one order; return it tracked. Never raises for a venue failure."""
        if not self.can_send:
            raise RuntimeError("an order of this leg is still open or of unknown fate")
        if quantity > self.remaining:  # the over-fill guard, whatever the caller computed
            raise RuntimeError(f"refusing to send {quantity}: only {self.remaining} is unfilled")
        attempt = len(self.orders) + 1
        order = TrackedOrder(
            client_order_id=f"fa-{self.execution_id}-{self.leg}-{attempt}",
            kind=kind,
            side=self.side,
            quantity=quantity,
            price=price,
            venue=self.gateway.name,
            execution_id=self.execution_id,
        )
        self.orders.append(order)
        if self.first_send_ns is None:
            self.first_send_ns = time.perf_counter_ns()
        self._log(
            logging.INFO, "exec.order.send", order, kind=kind.value, quantity=quantity, price=price
        )
        try:  # the intent is on disk before the order leaves (design notes §5)
            await self._note(
                EntryKind.INTENT,
                order,
                quantity=quantity,
                price=price,
                reduce_only=self.reduce_only,
                detail=kind.value,
            )
        except StorageError as exc:
            order.move(OrderState.REJECTED, f"not sent: the journal could not be written ({exc})")
            self._log(logging.ERROR, "exec.order.not_journaled", order, error=exc)
            return order
        for try_number in range(1, self.config.send_attempts + 1):
            if self.sent_at is None:
                self.sent_at = asyncio.get_running_loop().time()
            try:
                answer = await self._place(order)
            except FundarbError as exc:  # classified: every client error lands in one of three
                verdict = classify_error(exc)
                if verdict is ErrorClass.RETRYABLE and try_number < self.config.send_attempts:
                    self._log(logging.WARNING, "exec.order.retry", order, error=exc)
                    self.resends += 1
                    await asyncio.sleep(_backoff(exc, self.config.retry_backoff_s * try_number))
                    continue
                if verdict is ErrorClass.AMBIGUOUS:
                    order.move(OrderState.UNKNOWN, f"{type(exc).__name__}: {exc}")
                    self._log(logging.WARNING, "exec.order.unknown", order, error=exc)
                    await self.resolve(order)
                else:
                    order.move(OrderState.REJECTED, f"{type(exc).__name__}: {exc}")
                    self._log(logging.WARNING, "exec.order.rejected", order, error=exc)
                return order
            self._take_answer(order, answer)
            await self._note(
                EntryKind.ACK,
                order,
                quantity=order.filled,
                detail=f"{order.state.value}: {answer.message}".strip(": "),
            )
            if len(self.orders) == 1:
                # let sibling legs send their first orders before this one reads results:
                # legs of a hedge go out together (the skew is one send, not one leg)
                await asyncio.sleep(0)
            return order
        return order  # pragma: no cover - the loop always returns

    async def _place(self, order: TrackedOrder) -> PlaceAnswer:
        gateway = self.gateway
        if order.kind is OrderKind.MARKET:
            return await gateway.place_market(
                self.symbol,
                self.side,
                order.quantity,
                reduce_only=self.reduce_only,
                client_order_id=order.client_order_id,
            )
        assert order.price is not None
        return await gateway.place_limit(
            self.symbol,
            self.side,
            order.quantity,
            order.price,
            reduce_only=self.reduce_only,
            client_order_id=order.client_order_id,
            post_only=order.kind is OrderKind.POST_ONLY,
            ioc=order.kind is OrderKind.IOC,
        )

    def _take_answer(self, order: TrackedOrder, answer: PlaceAnswer) -> None:
        if self.first_answer_ns is None:
            self.first_answer_ns = time.perf_counter_ns()
        answered_at = asyncio.get_running_loop().time()
        if answer.order_id:
            order.order_id = answer.order_id
        if answer.filled is not None:
            order.ledger.observe(answer.filled)
        if not answer.accepted:
            order.move(OrderState.REJECTED, answer.message or "rejected")
            order.reject_reason = answer.reject_reason
            self._log(
                logging.WARNING,
                "exec.order.rejected",
                order,
                reason=answer.reject_reason,
                message=answer.message,
            )
            self._note_fills(answered_at)
            return
        self._apply_status(order, answer)
        if self.acked_at is None and order.state is not OrderState.REJECTED:
            self.acked_at = answered_at
        if order.kind is OrderKind.LIMIT and order.filled > 0:
            self.taken_on_arrival[order.client_order_id] = order.filled
        self._note_fills(answered_at)
        self._log(
            logging.INFO,
            "exec.order.ack",
            order,
            order_id=order.order_id,
            state=order.state.value,
            filled=order.filled,
        )

    def _apply_status(self, order: TrackedOrder, answer: PlaceAnswer) -> None:
        order.apply(
            OrderView(
                order.order_id or "",
                order.client_order_id,
                answer.status,
                order.quantity,
                order.filled,
                answer.price,
                None,
            )
        )
        if order.state is OrderState.NEW:  # accepted, status text unknown to us: it exists
            order.move(OrderState.ACKNOWLEDGED)

    # -- watching ---------------------------------------------------------------------------

    async def refresh(self, order: TrackedOrder) -> None:
        """Read the order back from the venue (a failed read changes nothing)."""
        if order.order_id is None:
            return
        try:
            view = await self.gateway.order(order.order_id)
        except FundarbError as exc:  # a read that failed tells us nothing; the next one may
            self._log(logging.WARNING, "exec.order.read_failed", order, error=exc)
            return
        if view is not None:
            before = order.filled
            order.apply(view)
            self._note_fills()
            if order.filled != before:
                await self._note(EntryKind.FILL, order, quantity=order.filled)

    async def wait(self, order: TrackedOrder, until: float) -> None:
        """Poll ``order`` until it is final, the loop clock reaches ``until``, or the leg is
        hurried."""
        loop = asyncio.get_running_loop()
        while order.state.is_open:
            wait = min(until, self.hurry_at) - loop.time()
            if wait <= _CLOCK_TICK_S:  # a gap the clock cannot resolve: the deadline is here
                return
            await asyncio.sleep(min(self.config.poll_interval_s, wait))
            await self.refresh(order)

    async def cancel(self, order: TrackedOrder) -> None:
        """Cancel ``order`` and wait until the venue confirms a final status.

        If the cancel keeps failing the order stays open and the leg records a problem.
        """
        loop = asyncio.get_running_loop()
        for _ in range(self.config.cancel_attempts):
            if not order.state.is_open or order.order_id is None:
                break
            order.move(OrderState.CANCEL_PENDING)
            try:
                answer = await self.gateway.cancel(order.order_id)
            except FundarbError as exc:  # an unanswered cancel: read the order back below
                self._log(logging.WARNING, "exec.cancel.failed", order, error=exc)
            else:
                if answer.filled is not None:
                    order.ledger.observe(answer.filled)
                    self._note_fills()
                self._log(
                    logging.INFO,
                    "exec.cancel",
                    order,
                    accepted=answer.accepted,
                    filled=order.filled,
                    reason=answer.reject_reason,
                )
                if not answer.accepted and answer.reject_reason is RejectReason.CANCEL_REJECTED:
                    order.move(
                        OrderState.PARTIALLY_FILLED if order.filled else OrderState.ACKNOWLEDGED
                    )
            deadline = loop.time() + self.config.cancel_confirm_s
            await self.refresh(order)
            while order.state.is_open and loop.time() < deadline:
                if order.state is not OrderState.CANCEL_PENDING:
                    break  # refused: try again
                await asyncio.sleep(self.config.poll_interval_s)
                await self.refresh(order)
        await self._note(EntryKind.CANCEL, order, quantity=order.filled, detail=order.state.value)
        if order.state.is_open:
            self.problems.append(f"order {order.client_order_id} could not be cancelled")
            self._log(logging.ERROR, "exec.cancel.gave_up", order)

    async def resolve(self, order: TrackedOrder) -> None:
        """Find out what happened to an order whose answer never came."""
        for attempt in range(1, self.config.resolve_attempts + 1):
            try:
                definitive, view = await self.gateway.find(order.client_order_id, order.order_id)
            except FundarbError as exc:  # the lookup failed: try again after a pause
                self._log(logging.WARNING, "exec.resolve.failed", order, error=exc)
                await asyncio.sleep(self.config.resolve_backoff_s * attempt)
                continue
            if not definitive:
                break
            if view is None:
                order.move(OrderState.REJECTED, "never reached the venue (not found by its id)")
            else:
                order.apply(view)
                self._note_fills()
                if order.state in (OrderState.UNKNOWN, OrderState.NEW):  # it exists
                    order.move(OrderState.ACKNOWLEDGED)
            await self._note(
                EntryKind.RESOLVED, order, quantity=order.filled, detail=order.state.value
            )
            self._log(
                logging.INFO, "exec.resolve", order, state=order.state.value, filled=order.filled
            )
            return
        # the client cannot look orders up: the position is the last witness
        await self.corroborate()
        if order.state in (OrderState.UNKNOWN, OrderState.NEW):
            self.problems.append(f"order {order.client_order_id} has an unknown fate")
            self._log(logging.CRITICAL, "exec.resolve.gave_up", order)

    async def corroborate(self) -> None:
        """Count fills the orders' reports missed but the position already shows."""
        if self.start_position is None:
            if self.gateway.can_read_positions:
                # the venue keeps positions but we could not read where we started: a late
                # fill would be unseen, so nothing more is sent for this leg
                self.blind = True
                self.problems.append("no starting position to check fills against: stopped")
            return
        position = None
        for attempt in range(1, self.config.resolve_attempts + 1):
            try:
                position = await self.gateway.position(self.symbol)
                break
            except FundarbError as exc:  # try again: this read decides what is unfilled
                self._log(logging.WARNING, "exec.position.read_failed", None, error=exc)
                await asyncio.sleep(self.config.resolve_backoff_s * attempt)
        else:
            # without the witness a late fill may be unseen: send nothing more for this leg
            self.blind = True
            self.problems.append("the position could not be read after a cancel: stopped")
            self._log(logging.ERROR, "exec.position.unreadable", None)
            return
        if position is None:
            return
        moved = (position - self.start_position) * self.side.sign
        missing = moved - self.filled
        if missing <= 0:
            return
        # attribute the difference to the most recent order that may have filled unseen
        for order in reversed(self.orders):
            room = order.quantity - order.filled
            if room > 0:
                take = min(room, missing)
                order.ledger.observe(order.filled + take)
                self._note_fills()
                missing -= take
                self._log(logging.WARNING, "exec.fill.late", order, added=take)
                await self._note(EntryKind.FILL, order, quantity=order.filled, detail="late")
                if order.state is OrderState.UNKNOWN and order.filled >= order.quantity:
                    order.move(OrderState.FILLED, "filled (seen in the position)")
            if missing <= 0:
                break

    async def close_out(self) -> None:
        """Leave nothing behind: resolve unknowns, cancel and confirm every open order."""
        for order in list(self.orders):
            if order.state in (OrderState.UNKNOWN, OrderState.NEW):
                await self.resolve(order)
        for order in list(self.orders):
            if order.state.is_open and order.state not in (OrderState.UNKNOWN, OrderState.NEW):
                await self.cancel(order)
        await self.corroborate()

    def _note_fills(self, now: float | None = None) -> None:
        """Remember the loop time at which the leg's filled quantity was seen to rise."""
        filled = self.filled
        if filled > self._seen_filled:
            self._seen_filled = filled
            self.filled_at = asyncio.get_running_loop().time() if now is None else now

    async def _note(
        self,
        kind: EntryKind,
        order: TrackedOrder,
        *,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        reduce_only: bool | None = None,
        detail: str = "",
    ) -> None:
        """Append to the journal, when there is one."""
        if self.journal is None:
            return
        await self.journal.append(
            JournalEntry(
                execution_id=self.execution_id,
                kind=kind,
                leg=self.leg,
                venue=self.gateway.name,
                symbol=self.symbol,
                client_order_id=order.client_order_id,
                order_id=order.order_id,
                side=self.side.value,
                quantity=quantity,
                price=price,
                reduce_only=reduce_only,
                detail=detail,
            )
        )

    def _log(self, level: int, event: str, order: TrackedOrder | None, **fields: object) -> None:
        log_event(
            logger,
            level,
            event,
            execution_id=self.execution_id,
            venue=self.gateway.name,
            client_order_id=order.client_order_id if order is not None else None,
            symbol=self.symbol,
            **fields,
        )


def _backoff(exc: Exception, default_s: float) -> float:
    if isinstance(exc, RateLimitedError):
        return max(exc.retry_after_s, default_s)
    return default_s
