"""A third-party-style exchange client, as messy as the ones users bring (design notes §2).

:class:`LooseClient` wraps a :class:`SimulatedExchange` and offers only the seven core
methods: no market spec, no positions, no clock, no ``supported_order_options``. It answers
with its own result classes (not fundarb's), ``float`` numbers, statuses in other spellings
(``'open'``, ``'closed'``, ``'CANCELLED'``, ``'partially_filled'``) and ccxt-style books:
``{'bids': [[price, size], ...], 'asks': [...]}`` with no symbol and no timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fundarb.venues import OrderInfo, OrderResult
from fundarb.venues.sim import SimulatedExchange

__all__ = ["LooseClient", "LooseOrder", "LooseResult"]

# The venue's spellings, as this client's authors chose to print them.
_STATUS = {
    "NEW": "open",
    "PARTIALLY_FILLED": "partially_filled",
    "FILLED": "closed",
    "CANCELED": "CANCELLED",
    "PENDING_CANCEL": "canceling",
    "EXPIRED": "expired",
    "REJECTED": "rejected",
}


@dataclass
class LooseResult:
    """What a place or cancel call returns (this client's own type)."""

    success: bool
    order_id: str | None = None
    side: str | None = None
    size: float | None = None
    price: float | None = None
    status: str | None = None
    error_message: str | None = None
    filled_size: float | None = None


@dataclass
class LooseOrder:
    """What an order query returns (this client's own type)."""

    order_id: str
    side: str
    size: float
    price: float
    status: str
    filled_size: float = 0.0
    remaining_size: float = 0.0
    cancel_reason: str = ""


def _float(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _status(status: str | None) -> str | None:
    return _STATUS.get(status, status) if status is not None else None


class LooseClient:
    """The seven core methods over ``venue``, in a third party's shapes and spellings."""

    def __init__(self, venue: SimulatedExchange) -> None:
        self.venue = venue
        self.calls: list[tuple[str, tuple[Any, ...]]] = []  # every call, for assertions

    def get_exchange_name(self) -> str:
        return f"loose-{self.venue.get_exchange_name()}"

    async def fetch_bbo_prices(self, symbol: str) -> tuple[float, float]:
        self.calls.append(("fetch_bbo_prices", (symbol,)))
        bid, ask = await self.venue.fetch_bbo_prices(symbol)
        return float(bid), float(ask)

    async def get_order_book_depth(self, symbol: str, levels: int = 20) -> dict[str, Any]:
        self.calls.append(("get_order_book_depth", (symbol, levels)))
        book = await self.venue.get_order_book_depth(symbol, levels)
        return {
            side: [[float(lv["price"]), float(lv["size"])] for lv in book[side]]
            for side in ("bids", "asks")
        }

    async def place_limit_order(
        self,
        contract_id: str,
        quantity: Any,
        price: Any,
        side: str,
        reduce_only: bool = False,
        **opts: Any,
    ) -> LooseResult:
        self.calls.append(("place_limit_order", (contract_id, quantity, price, side)))
        result = await self.venue.place_limit_order(
            contract_id, quantity, price, side, reduce_only, **opts
        )
        return self._result(result)

    async def place_market_order(
        self, contract_id: str, quantity: Any, side: str, reduce_only: bool = False, **opts: Any
    ) -> LooseResult:
        self.calls.append(("place_market_order", (contract_id, quantity, side)))
        result = await self.venue.place_market_order(
            contract_id, quantity, side, reduce_only, **opts
        )
        return self._result(result)

    async def cancel_order(self, order_id: str) -> LooseResult:
        self.calls.append(("cancel_order", (order_id,)))
        return self._result(await self.venue.cancel_order(order_id))

    async def get_order_info(self, order_id: str) -> LooseOrder | None:
        self.calls.append(("get_order_info", (order_id,)))
        info = await self.venue.get_order_info(order_id)
        return self._order(info) if info is not None else None

    @property
    def sent(self) -> list[str]:
        """Names of the order calls made (place and cancel), in order."""
        return [name for name, _ in self.calls if name.startswith(("place_", "cancel_"))]

    @staticmethod
    def _result(result: OrderResult) -> LooseResult:
        return LooseResult(
            success=result.success,
            order_id=result.order_id,
            side=result.side,
            size=_float(result.size),
            price=_float(result.price),
            status=_status(result.status),
            error_message=result.error_message,
            filled_size=_float(result.filled_size),
        )

    @staticmethod
    def _order(info: OrderInfo) -> LooseOrder:
        return LooseOrder(
            order_id=info.order_id,
            side=info.side,
            size=float(info.size),
            price=float(info.price),
            status=_status(info.status) or "",
            filled_size=float(info.filled_size),
            remaining_size=float(info.remaining_size),
            cancel_reason=info.cancel_reason,
        )
