"""One order's life as the execution layer tracks it: a guarded state machine and a fill ledger.

The ledger converges on the venue's cumulative filled quantity. Reports only ever raise
it: a duplicate, stale or out-of-order report changes nothing, and a fill reported late
(after the cancel) is counted when it arrives. Fills reported one by one are keyed by
trade id, so each counts once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from fundarb.execution.core.gateway import OrderView
from fundarb.logs import log_event
from fundarb.venues.orders import OrderStatus, RejectReason, Side

__all__ = ["FillLedger", "OrderKind", "OrderState", "TrackedOrder"]

logger = logging.getLogger("fundarb.execution")

_ZERO = Decimal(0)


class OrderState(StrEnum):
    """Where one of our orders stands."""

    NEW = "new"  # being sent: no answer yet (if the call dies here, the fate is unknown)
    ACKNOWLEDGED = "acknowledged"  # the venue has it; nothing filled yet
    PARTIALLY_FILLED = "partially_filled"  # open, some of it filled
    FILLED = "filled"  # final: all of it filled
    CANCEL_PENDING = "cancel_pending"  # we asked to cancel; not confirmed yet
    CANCELLED = "cancelled"  # final: cancelled (some may have filled before)
    REJECTED = "rejected"  # final: the venue refused it, or it never reached the venue
    EXPIRED = "expired"  # final: the venue removed it (IOC rest, reduce-only, STP)
    UNKNOWN = "unknown"  # sent, fate unknown: resolve before anything else goes out

    @property
    def is_final(self) -> bool:
        return self in _FINAL

    @property
    def is_open(self) -> bool:
        """The order is, or may be, live on the venue."""
        return not self.is_final


_FINAL = frozenset(
    {OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED, OrderState.EXPIRED}
)
_OPEN_STATES = frozenset(
    {OrderState.ACKNOWLEDGED, OrderState.PARTIALLY_FILLED, OrderState.CANCEL_PENDING}
)
# Which states may follow which. Final states are terminal; UNKNOWN may resolve to any.
_NEXT: dict[OrderState, frozenset[OrderState]] = {
    OrderState.NEW: frozenset(OrderState) - {OrderState.NEW},
    OrderState.ACKNOWLEDGED: _FINAL | _OPEN_STATES | {OrderState.UNKNOWN},
    OrderState.PARTIALLY_FILLED: _FINAL | _OPEN_STATES | {OrderState.UNKNOWN},
    OrderState.CANCEL_PENDING: _FINAL | _OPEN_STATES | {OrderState.UNKNOWN},
    OrderState.UNKNOWN: frozenset(OrderState) - {OrderState.NEW},
}

_FROM_VENUE = {
    OrderStatus.NEW: OrderState.ACKNOWLEDGED,
    OrderStatus.PARTIALLY_FILLED: OrderState.PARTIALLY_FILLED,
    OrderStatus.PENDING_CANCEL: OrderState.CANCEL_PENDING,
    OrderStatus.FILLED: OrderState.FILLED,
    OrderStatus.CANCELED: OrderState.CANCELLED,
    OrderStatus.EXPIRED: OrderState.EXPIRED,
    OrderStatus.REJECTED: OrderState.REJECTED,
}


class OrderKind(StrEnum):
    LIMIT = "limit"  # rests if not marketable
    POST_ONLY = "post_only"  # rests or is refused; never takes
    IOC = "ioc"  # a marketable limit: takes up to its price, the rest expires
    MARKET = "market"


@dataclass(slots=True)
class FillLedger:
    """Filled quantity and value of one order, converging on the venue's figures."""

    cumulative: Decimal = _ZERO  # the highest cumulative filled quantity reported
    average_price: Decimal | None = None  # the venue's average price at that report
    _trades: dict[str, tuple[Decimal, Decimal, Decimal]] = field(default_factory=dict)

    def observe(self, cumulative: Decimal, average_price: Decimal | None = None) -> Decimal:
        """A cumulative report. Returns the newly filled quantity (0 for stale reports)."""
        if cumulative <= self.cumulative:
            return _ZERO
        added = cumulative - self.cumulative
        self.cumulative = cumulative
        if average_price is not None:
            self.average_price = average_price
        return added

    def record_trade(self, trade_id: str, quantity: Decimal, price: Decimal, fee: Decimal) -> bool:
        """One fill. Returns False for a trade id already counted."""
        if trade_id in self._trades:
            return False
        self._trades[trade_id] = (quantity, price, fee)
        return True

    @property
    def traded(self) -> Decimal:
        return sum((q for q, _, _ in self._trades.values()), _ZERO)

    @property
    def filled(self) -> Decimal:
        return max(self.cumulative, self.traded)


@dataclass(slots=True, eq=False)
class TrackedOrder:
    """One order this execution sent, and everything we know of it."""

    client_order_id: str
    kind: OrderKind
    side: Side
    quantity: Decimal
    price: Decimal | None  # limit price; None for a market order
    venue: str
    execution_id: str
    order_id: str | None = None
    state: OrderState = OrderState.NEW
    ledger: FillLedger = field(default_factory=FillLedger)
    note: str = ""  # why it was rejected, expired or left unknown
    reject_reason: RejectReason | None = None

    @property
    def filled(self) -> Decimal:
        return self.ledger.filled

    def move(self, to: OrderState, why: str = "") -> None:
        """Change state if the machine allows it; an impossible report is logged and ignored."""
        if to is self.state:
            return
        if to not in _NEXT.get(self.state, frozenset()):
            log_event(
                logger,
                logging.WARNING,
                "exec.order.impossible_transition",
                execution_id=self.execution_id,
                venue=self.venue,
                client_order_id=self.client_order_id,
                state=self.state.value,
                to=to.value,
            )
            return
        self.state = to
        if why:
            self.note = why

    def apply(self, view: OrderView) -> None:
        """Take in what the venue reports of this order."""
        if view.order_id and self.order_id is None:
            self.order_id = view.order_id
        self.ledger.observe(view.filled, view.average_price)
        state = _FROM_VENUE.get(view.status)
        if state is None:  # UNKNOWN status text: keep what we know; never assume filled
            return
        if state is OrderState.ACKNOWLEDGED and self.filled > 0:
            state = OrderState.PARTIALLY_FILLED
        if self.state is OrderState.CANCEL_PENDING and state in _OPEN_STATES:
            return  # the cancel is still in flight
        self.move(state)
