"""Market value types: specs (with the one place prices and sizes are rounded), fees, funding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

from fundarb.venues.orders import RejectReason, Side, parse_side

__all__ = ["FeeSchedule", "FundingRate", "MarketSpec", "OrderCheck"]


@dataclass(frozen=True, slots=True)
class OrderCheck:
    """Why an order would be refused by a market's filters."""

    reason: RejectReason
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketSpec:
    """A market's trading rules. Quantities are base-asset units.

    This is the one place where prices and quantities are rounded: prices to the tick in
    the direction that never pays more (buys down, sells up), quantities down to the lot.
    """

    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal
    max_quantity: Decimal | None = None
    min_notional: Decimal = Decimal(0)
    contract_size: Decimal = Decimal(1)  # base units per contract on the venue's wire
    base_asset: str = ""
    quote_asset: str = "USDT"

    def __post_init__(self) -> None:
        for name in ("tick_size", "lot_size", "contract_size"):
            value = getattr(self, name)
            if not (isinstance(value, Decimal) and value.is_finite() and value > 0):
                raise ValueError(f"{self.symbol}: {name} must be a positive Decimal, got {value!r}")
        if self.min_quantity < 0 or self.min_notional < 0:
            raise ValueError(f"{self.symbol}: minimums must not be negative")

    def round_price(self, price: Decimal, side: Side | str) -> Decimal:
        """Round ``price`` to the tick: a buy down, a sell up (never a worse price)."""
        rounding = ROUND_FLOOR if parse_side(side) is Side.BUY else ROUND_CEILING
        steps = (price / self.tick_size).to_integral_value(rounding=rounding)
        return steps * self.tick_size

    def round_quantity(self, quantity: Decimal) -> Decimal:
        """Round ``quantity`` down to the lot step (never more than asked)."""
        steps = (quantity / self.lot_size).to_integral_value(rounding=ROUND_FLOOR)
        return steps * self.lot_size

    def on_tick(self, price: Decimal) -> bool:
        return _whole_steps(price, self.tick_size) is True

    def on_lot(self, quantity: Decimal) -> bool:
        return _whole_steps(quantity, self.lot_size) is True

    def check_order(
        self, quantity: Decimal, price: Decimal | None, *, reduce_only: bool = False
    ) -> OrderCheck | None:
        """Return why ``quantity`` at ``price`` breaks this market's filters, or None.

        ``price`` is the limit price, or the reference price for a market order (the
        minimum-notional check is skipped when it is None). Reduce-only orders are exempt
        from the minimum notional, as on Binance: a small remainder can always be closed.
        """
        on_lot = _whole_steps(quantity, self.lot_size)
        if on_lot is None:
            return OrderCheck(RejectReason.INVALID_QUANTITY, f"quantity {quantity} is too large")
        if not on_lot:
            return OrderCheck(
                RejectReason.INVALID_QUANTITY,
                f"quantity {quantity} is not a multiple of the lot step {self.lot_size}",
            )
        if quantity < self.min_quantity:
            return OrderCheck(
                RejectReason.INVALID_QUANTITY,
                f"quantity {quantity} is below the minimum {self.min_quantity}",
            )
        if self.max_quantity is not None and quantity > self.max_quantity:
            return OrderCheck(
                RejectReason.INVALID_QUANTITY,
                f"quantity {quantity} is above the maximum {self.max_quantity}",
            )
        if price is not None:
            on_tick = _whole_steps(price, self.tick_size)
            if on_tick is None:
                return OrderCheck(RejectReason.INVALID_PRICE, f"price {price} is too large")
            if not on_tick:
                return OrderCheck(
                    RejectReason.INVALID_PRICE,
                    f"price {price} is not a multiple of the tick {self.tick_size}",
                )
            if not reduce_only and quantity * price < self.min_notional:
                return OrderCheck(
                    RejectReason.MIN_NOTIONAL,
                    f"notional {quantity * price} is below the minimum {self.min_notional}",
                )
        return None


def _whole_steps(value: Decimal, step: Decimal) -> bool | None:
    """Whether ``value`` is a whole number of ``step``; None when it has too many steps to
    count at Decimal's precision (an absurdly large value, e.g. 1E+30 lots)."""
    if not value.is_finite():
        return False
    try:
        return value % step == 0
    except InvalidOperation:  # DivisionImpossible: the quotient has more digits than prec
        return None


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fee rates as fractions of notional (0.0002 = 2 bps). Negative maker rate = rebate."""

    maker_rate: Decimal
    taker_rate: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingRate:
    """The funding rate that settles next.

    Sign convention (fundarb-wide): a positive ``rate`` means longs pay shorts.
    ``rate`` is a fraction per ``interval`` (0.0001 per 8 h = 0.01 % per 8 h).
    """

    symbol: str
    rate: Decimal
    interval: timedelta
    next_funding_time: datetime
    mark_price: Decimal
    index_price: Decimal
    timestamp: datetime

    @property
    def rate_per_hour(self) -> Decimal:
        return self.rate * Decimal(3600) / Decimal(int(self.interval.total_seconds()))
