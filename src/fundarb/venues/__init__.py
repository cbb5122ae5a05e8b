"""Venues: the exchange client interface, its value types, and the adapters.

The simulated venue lives in :mod:`fundarb.venues.sim`.
"""

from fundarb.venues.accounts import Balance, FundingPayment, Liquidation, Position
from fundarb.venues.interface import (
    BalanceProvider,
    ClockProvider,
    EventStreamProvider,
    ExchangeClient,
    FeeProvider,
    FillHistoryProvider,
    FundingRateProvider,
    MarketSpecProvider,
    OrderLookup,
    PositionProvider,
    VenueEvent,
)
from fundarb.venues.markets import FeeSchedule, FundingRate, MarketSpec, OrderCheck
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
    normalize_status,
    parse_side,
)

__all__ = [
    "Balance",
    "BalanceProvider",
    "ClockProvider",
    "EventStreamProvider",
    "ExchangeClient",
    "FeeProvider",
    "FeeSchedule",
    "Fill",
    "FillHistoryProvider",
    "FundingPayment",
    "FundingRate",
    "FundingRateProvider",
    "Liquidation",
    "Liquidity",
    "MarketSpec",
    "MarketSpecProvider",
    "OrderCheck",
    "OrderInfo",
    "OrderLookup",
    "OrderResult",
    "OrderStatus",
    "OrderUpdate",
    "Position",
    "PositionProvider",
    "RejectReason",
    "Side",
    "TimeInForce",
    "VenueEvent",
    "normalize_status",
    "parse_side",
]
