"""What a leg's fills cost: VWAP, fees, maker and taker quantities.

Exact from the venue's own fill records when it lists them; otherwise from each order's
reported average price and, for fees, the venue's fee rates (flagged as estimated). Without
fill records, market and IOC fills are taker, post-only fills maker, and a limit order's
fills are taker up to what its placement answer reported filled (it crossed on arrival),
maker after.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from fundarb.errors import FundarbError
from fundarb.execution.core.leg import LegRunner
from fundarb.execution.core.order_state import OrderKind
from fundarb.venues.orders import Liquidity

if TYPE_CHECKING:
    from fundarb.venues.orders import Fill

__all__ = ["LegCosts", "leg_costs"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class LegCosts:
    vwap: Decimal | None
    fees: Decimal
    estimated: bool
    maker: Decimal
    taker: Decimal
    fills: tuple[Fill, ...] = ()  # the venue's fill records, when it listed them all


async def leg_costs(run: LegRunner) -> LegCosts:
    """VWAP, fees and maker/taker split: exact from the venue's fills when it lists them."""
    filled = run.filled
    ids = [o.order_id for o in run.orders if o.order_id]
    fills = None
    if filled > 0 and ids:
        try:
            fills = await run.gateway.fills(run.symbol, ids)
        except FundarbError:  # fall back to the orders' own figures
            fills = None
    if fills is not None and sum((f.quantity for f in fills), _ZERO) == filled:
        value = sum((f.price * f.quantity for f in fills), _ZERO)
        return LegCosts(
            vwap=value / filled,
            fees=sum((f.fee for f in fills), _ZERO),
            estimated=False,
            maker=sum((f.quantity for f in fills if f.liquidity is Liquidity.MAKER), _ZERO),
            taker=sum((f.quantity for f in fills if f.liquidity is Liquidity.TAKER), _ZERO),
            fills=tuple(fills),
        )
    value = _ZERO
    maker = taker = _ZERO
    for order in run.orders:
        if order.filled <= 0:
            continue
        price = order.ledger.average_price or order.price
        if price is None:
            return LegCosts(None, _ZERO, True, _ZERO, _ZERO)
        value += price * order.filled
        if order.kind is OrderKind.POST_ONLY:
            maker += order.filled
        elif order.kind is OrderKind.LIMIT:
            taken = min(run.taken_on_arrival.get(order.client_order_id, _ZERO), order.filled)
            taker += taken
            maker += order.filled - taken
        else:
            taker += order.filled
    schedule = await run.gateway.fee_schedule(run.symbol) if filled > 0 else None
    fees = _ZERO
    if schedule is not None and filled > 0:
        average = value / filled
        fees = average * (maker * schedule.maker_rate + taker * schedule.taker_rate)
    return LegCosts(value / filled if filled > 0 else None, fees, filled > 0, maker, taker)
