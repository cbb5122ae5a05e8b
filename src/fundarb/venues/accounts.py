"""Account value types: positions, balances, funding payments, liquidations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

__all__ = ["Balance", "FundingPayment", "Liquidation", "Position"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """A perpetual position. ``quantity`` is signed base units: positive long, negative short."""

    symbol: str
    quantity: Decimal
    entry_price: Decimal
    mark_price: Decimal
    liquidation_price: Decimal | None  # None when no price liquidates it
    margin: Decimal  # initial margin held for it, quote asset
    leverage: int
    unrealized_pnl: Decimal

    @property
    def notional(self) -> Decimal:
        return abs(self.quantity) * self.mark_price


@dataclass(frozen=True, slots=True, kw_only=True)
class Balance:
    """Cross-margin account balance in the quote asset."""

    asset: str
    wallet_balance: Decimal  # deposits + realised PnL + funding - fees
    unrealized_pnl: Decimal
    equity: Decimal  # wallet_balance + unrealized_pnl
    margin_used: Decimal  # initial margin of positions and open orders
    maintenance_margin: Decimal
    available: Decimal  # equity - margin_used, never below zero


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingPayment:
    """One funding settlement on one position. ``amount`` > 0 was received, < 0 was paid.

    Unique per (venue, symbol, funding_time, position side); two legs paid at the same
    instant are two payments.
    """

    venue: str
    symbol: str
    funding_time: datetime
    rate: Decimal
    position_quantity: Decimal
    mark_price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Liquidation:
    """The venue closed a position because the account fell below maintenance margin."""

    venue: str
    symbol: str
    quantity: Decimal  # signed quantity that was closed
    price: Decimal
    fee: Decimal
    timestamp: datetime
