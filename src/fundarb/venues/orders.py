"""Order value types shared by every venue: sides, statuses, results, fills."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from fundarb.errors import InvalidOrderError

__all__ = [
    "Fill",
    "Liquidity",
    "OrderInfo",
    "OrderResult",
    "OrderStatus",
    "OrderUpdate",
    "RejectReason",
    "Side",
    "TimeInForce",
    "normalize_status",
    "parse_side",
]


class Side(StrEnum):
    """Which way an order trades. Compares equal to the interface's ``'buy'``/``'sell'``."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy (adds to a long), -1 for a sell."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


def parse_side(side: object) -> Side:
    """Return ``side`` as a :class:`Side`; ``'buy'``/``'sell'`` in any case, or raise.

    Raises :class:`~fundarb.errors.InvalidOrderError` for anything else.
    """
    if isinstance(side, Side):
        return side
    if isinstance(side, str):
        lowered = side.strip().lower()
        if lowered in ("buy", "sell"):
            return Side(lowered)
    raise InvalidOrderError(f"side must be 'buy' or 'sell', got {side!r}")


class TimeInForce(StrEnum):
    """How long an order may rest."""

    GTC = "GTC"  # good till cancelled: the remainder rests on the book
    IOC = "IOC"  # immediate or cancel: the remainder expires at once
    POST_ONLY = "POST_ONLY"  # rest only: rejected if any part would take liquidity


class OrderStatus(StrEnum):
    """One order status for every venue. Compare with :func:`normalize_status` output only."""

    NEW = "NEW"  # accepted and resting, nothing filled yet
    PARTIALLY_FILLED = "PARTIALLY_FILLED"  # resting, some quantity filled
    PENDING_CANCEL = "PENDING_CANCEL"  # a cancel was asked for and is not yet confirmed
    FILLED = "FILLED"  # final: the whole quantity filled
    CANCELED = "CANCELED"  # final: cancelled; ``filled_size`` may be non-zero
    EXPIRED = "EXPIRED"  # final: removed by the venue (IOC remainder, reduce-only, STP)
    REJECTED = "REJECTED"  # final: refused, nothing ever rested or filled
    UNKNOWN = "UNKNOWN"  # a spelling we do not know: never assume filled

    @property
    def is_final(self) -> bool:
        """True once the order can no longer fill."""
        return self in _FINAL

    @property
    def is_open(self) -> bool:
        """True while the order may still fill."""
        return self in _OPEN


_FINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
)
_OPEN = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_CANCEL})

# Spellings seen across venues and client libraries, compared after lower-casing and
# squeezing separators. ccxt's 'closed' means fully filled.
_SPELLINGS: dict[str, OrderStatus] = {
    "new": OrderStatus.NEW,
    "open": OrderStatus.NEW,
    "opened": OrderStatus.NEW,
    "accepted": OrderStatus.NEW,
    "acknowledged": OrderStatus.NEW,
    "live": OrderStatus.NEW,
    "resting": OrderStatus.NEW,
    "active": OrderStatus.NEW,
    "pending": OrderStatus.NEW,
    "pendingnew": OrderStatus.NEW,
    "untriggered": OrderStatus.NEW,
    "partiallyfilled": OrderStatus.PARTIALLY_FILLED,
    "partialfilled": OrderStatus.PARTIALLY_FILLED,
    "partial": OrderStatus.PARTIALLY_FILLED,
    "partfilled": OrderStatus.PARTIALLY_FILLED,
    "pendingcancel": OrderStatus.PENDING_CANCEL,
    "canceling": OrderStatus.PENDING_CANCEL,
    "cancelling": OrderStatus.PENDING_CANCEL,
    "filled": OrderStatus.FILLED,
    "closed": OrderStatus.FILLED,
    "done": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "partiallyfilledcanceled": OrderStatus.CANCELED,
    "partiallycanceled": OrderStatus.CANCELED,
    "partiallycancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "expiredinmatch": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
    "failed": OrderStatus.REJECTED,
}
_SEPARATORS = re.compile(r"[\s_\-]+")


def normalize_status(status: object) -> OrderStatus:
    """Map any venue's status spelling to :class:`OrderStatus`.

    Case, spaces, dashes and underscores are ignored (``'PARTIALLY_FILLED'``,
    ``'partially filled'`` and ``'PartiallyFilled'`` agree). Anything unrecognised,
    including ``None``, is ``UNKNOWN`` and never ``FILLED``.
    """
    if isinstance(status, OrderStatus):
        return status
    if not isinstance(status, str):
        return OrderStatus.UNKNOWN
    key = _SEPARATORS.sub("", status).lower()
    return _SPELLINGS.get(key, OrderStatus.UNKNOWN)


class RejectReason(StrEnum):
    """Why a venue refused an order or a cancel; decided in the adapter, never from text."""

    INVALID_PRICE = "invalid_price"  # not on the tick, or out of the allowed band
    INVALID_QUANTITY = "invalid_quantity"  # not on the lot step, below minimum or above maximum
    MIN_NOTIONAL = "min_notional"  # price x quantity below the venue's minimum
    POST_ONLY_WOULD_CROSS = "post_only_would_cross"  # a maker-only order would have taken
    REDUCE_ONLY = "reduce_only"  # a reduce-only order would open or increase a position
    INSUFFICIENT_MARGIN = "insufficient_margin"  # not enough free margin for the order
    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"  # the id is already in use
    NO_LIQUIDITY = "no_liquidity"  # a market order found nothing to trade against
    UNKNOWN_ORDER = "unknown_order"  # cancel of an id the venue does not know
    ALREADY_FINAL = "already_final"  # cancel of an order already filled, cancelled or expired
    CANCEL_REJECTED = "cancel_rejected"  # the venue refused the cancel; the order is still open
    VENUE_REJECT = "venue_reject"  # any other refusal the venue gave


@dataclass(frozen=True, slots=True)
class OrderResult:
    """What a place or cancel call returned.

    ``success`` is False when the venue answered no (a definitive reject; ``status`` is
    ``REJECTED`` for a new order). For a cancel, ``filled_size`` is what had filled before
    the cancel took effect, as the venue reported it at that moment.
    """

    success: bool
    order_id: str | None = None
    side: str | None = None
    size: Decimal | None = None
    price: Decimal | None = None
    status: str | None = None
    error_message: str | None = None
    filled_size: Decimal | None = None
    reject_reason: RejectReason | None = None
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderInfo:
    """An order as the venue reports it now."""

    order_id: str
    side: str
    size: Decimal
    price: Decimal
    status: str
    filled_size: Decimal = Decimal(0)
    remaining_size: Decimal = Decimal(0)
    cancel_reason: str = ""
    client_order_id: str = ""
    symbol: str = ""
    average_fill_price: Decimal | None = None


class Liquidity(StrEnum):
    """Whether a fill added or took liquidity."""

    MAKER = "maker"
    TAKER = "taker"


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one order. ``trade_id`` is unique per venue and symbol."""

    venue: str
    symbol: str
    order_id: str
    client_order_id: str
    trade_id: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal  # in the quote asset; positive is a cost
    liquidity: Liquidity
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order's state changed (acknowledged, filled, cancelled, expired)."""

    venue: str
    info: OrderInfo
    timestamp: datetime
