"""The exchange client interface every venue adapter offers (design notes §2).

:class:`ExchangeClient` is the core: seven async methods whose names come from the
perp-DEX client interface the project grew out of, so existing clients plug in unchanged.
The other protocols are optional capabilities; the execution layer probes for them with
``isinstance`` and falls back when a client lacks them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from fundarb.venues.accounts import Balance, FundingPayment, Liquidation, Position
from fundarb.venues.markets import FeeSchedule, FundingRate, MarketSpec
from fundarb.venues.orders import Fill, OrderInfo, OrderResult, OrderUpdate

__all__ = [
    "BalanceProvider",
    "ClockProvider",
    "EventStreamProvider",
    "ExchangeClient",
    "FeeProvider",
    "FillHistoryProvider",
    "FundingHistoryProvider",
    "FundingRateProvider",
    "LiquidationHistoryProvider",
    "MarketSpecProvider",
    "OrderLookup",
    "PositionProvider",
    "VenueEvent",
]

VenueEvent = OrderUpdate | Fill | FundingPayment | Liquidation
"""What an event stream yields."""


@runtime_checkable
class ExchangeClient(Protocol):
    """The seven core methods. Sides are ``'buy'``/``'sell'``; quantities base units."""

    def get_exchange_name(self) -> str: ...

    async def fetch_bbo_prices(self, symbol: str) -> tuple[Decimal, Decimal]:
        """Best bid and best ask."""
        ...

    async def get_order_book_depth(self, symbol: str, levels: int = 20) -> dict[str, Any]:
        """``{'bids': [{'price', 'size'}, ...], 'asks': [...]}``, best first."""
        ...

    async def place_limit_order(
        self,
        contract_id: str,
        quantity: Decimal,
        price: Decimal,
        side: str,
        reduce_only: bool = False,
        **opts: Any,
    ) -> OrderResult: ...

    async def place_market_order(
        self,
        contract_id: str,
        quantity: Decimal,
        side: str,
        reduce_only: bool = False,
        **opts: Any,
    ) -> OrderResult: ...

    async def cancel_order(self, order_id: str) -> OrderResult:
        """``filled_size`` of the result is what filled before the cancel."""
        ...

    async def get_order_info(self, order_id: str) -> OrderInfo | None: ...


@runtime_checkable
class MarketSpecProvider(Protocol):
    async def get_market_spec(self, symbol: str) -> MarketSpec: ...


@runtime_checkable
class PositionProvider(Protocol):
    async def get_positions(self) -> Sequence[Position]:
        """Open (non-zero) positions."""
        ...

    async def get_position(self, symbol: str) -> Position | None: ...

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        """Set and return the leverage the venue confirmed."""
        ...


@runtime_checkable
class BalanceProvider(Protocol):
    async def get_balance(self) -> Balance: ...


@runtime_checkable
class FundingRateProvider(Protocol):
    async def get_funding_rate(self, symbol: str) -> FundingRate: ...


@runtime_checkable
class FeeProvider(Protocol):
    async def get_fee_schedule(self, symbol: str) -> FeeSchedule: ...


@runtime_checkable
class OrderLookup(Protocol):
    """Finding out what happened to an order whose fate is unknown (invariant 4)."""

    async def get_order_by_client_id(self, client_order_id: str) -> OrderInfo | None: ...

    async def get_open_orders(self, symbol: str | None = None) -> Sequence[OrderInfo]: ...


@runtime_checkable
class EventStreamProvider(Protocol):
    def events(self) -> AbstractAsyncContextManager[AsyncIterator[VenueEvent]]:
        """Subscribe to order updates, fills, funding payments and liquidations.

        ``async with client.events() as stream: async for event in stream: ...``
        Events that arrive while nobody is subscribed are not kept.
        """
        ...


@runtime_checkable
class FillHistoryProvider(Protocol):
    async def get_fills(
        self, symbol: str | None = None, *, order_ids: Sequence[str] | None = None
    ) -> Sequence[Fill]:
        """Our fills (trades), oldest first, exact prices, quantities and fees; only those of
        ``order_ids`` when given."""
        ...


@runtime_checkable
class FundingHistoryProvider(Protocol):
    async def get_funding_payments(
        self, symbol: str | None = None, *, since: datetime | None = None
    ) -> Sequence[FundingPayment]:
        """Funding settled on our positions (``funding_time`` after ``since`` when given),
        oldest first, as the venue booked it."""
        ...


@runtime_checkable
class LiquidationHistoryProvider(Protocol):
    async def get_liquidations(
        self, symbol: str | None = None, *, since: datetime | None = None
    ) -> Sequence[Liquidation]:
        """Positions the venue closed by liquidation (after ``since`` when given), oldest
        first."""
        ...


@runtime_checkable
class ClockProvider(Protocol):
    async def get_server_time(self) -> datetime:
        """The venue's clock (UTC), to judge the age of its market data."""
        ...
