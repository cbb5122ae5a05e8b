"""When a pair is closed: the exit rules, as pure functions of what monitoring saw.

Critical reasons close at once, whatever the funding clock says:

- ``leg_gone``: a leg's position is not on its venue any more (closed outside fundarb, or
  liquidated: ``liquidated`` then);
- ``liquidation_distance``: a leg's mark is closer to its liquidation price than
  ``risk.min_liquidation_distance`` (a fraction of the mark);
- ``delta_drift``: the legs' quantities are further apart than ``risk.max_delta_drift`` of
  the position's quantity (a partial liquidation, auto-deleveraging).

The others may wait for the next funding payment when it is due within
``exit.wait_for_funding_s`` and the spread still pays (:func:`should_wait`):

- ``profit_target``: the position's PnL reached ``exit.profit_target_usd``;
- ``max_holding_time``: open longer than ``exit.max_holding_hours``;
- ``spread_flipped``: the short leg's rate per hour is below the long leg's (we would pay);
- ``spread_below_threshold``: the spread's APR is below ``exit.min_net_spread_apr``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from fundarb.config import ExitRules, RiskLimits
from fundarb.strategies.funding_arbitrage.positions import PairPosition, PnL

__all__ = ["ExitDecision", "LegView", "PairView", "critical_exit", "planned_exit", "should_wait"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class LegView:
    """One leg as its venue reports it now. ``quantity`` is signed; None: not reported."""

    quantity: Decimal | None
    mark: Decimal | None
    liquidation_price: Decimal | None
    liquidated: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PairView:
    now: datetime
    long: LegView
    short: LegView
    spread_apr: Decimal | None  # (short rate − long rate) per hour × 8760, of the current prints
    pnl: PnL
    next_funding: datetime | None  # the next payment of either leg


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitDecision:
    reason: str
    critical: bool
    detail: str


def critical_exit(position: PairPosition, view: PairView, risk: RiskLimits) -> ExitDecision | None:
    """A reason to close at once, or None."""
    for name, leg, expected_sign in (("long", view.long, 1), ("short", view.short, -1)):
        if leg.quantity is None:
            continue  # not reported this time: nothing to conclude
        if leg.quantity == 0 or (leg.quantity > 0) != (expected_sign > 0):
            reason = "liquidated" if leg.liquidated else "leg_gone"
            return ExitDecision(
                reason=reason, critical=True, detail=f"{name} leg position is {leg.quantity}"
            )
    if view.long.quantity is not None and view.short.quantity is not None and position.quantity:
        drift = abs(view.long.quantity + view.short.quantity) / position.quantity
        if drift > risk.max_delta_drift:
            return ExitDecision(
                reason="delta_drift",
                critical=True,
                detail=f"legs {view.long.quantity} / {view.short.quantity}: drift {drift:.4f}",
            )
    for name, leg in (("long", view.long), ("short", view.short)):
        if leg.mark and leg.liquidation_price is not None:
            distance = abs(leg.mark - leg.liquidation_price) / leg.mark
            if distance < risk.min_liquidation_distance:
                return ExitDecision(
                    reason="liquidation_distance",
                    critical=True,
                    detail=f"{name} leg {distance:.4f} from liquidation at {leg.liquidation_price}",
                )
    return None


def planned_exit(position: PairPosition, view: PairView, rules: ExitRules) -> ExitDecision | None:
    """A non-critical reason to close, or None."""
    if rules.profit_target_usd is not None and view.pnl.total >= rules.profit_target_usd:
        return ExitDecision(
            reason="profit_target", critical=False, detail=f"PnL {view.pnl.total:.2f} USD"
        )
    if position.opened_at is not None:
        held = view.now - position.opened_at
        if held >= timedelta(hours=float(rules.max_holding_hours)):
            return ExitDecision(reason="max_holding_time", critical=False, detail=f"held {held}")
    if view.spread_apr is not None:
        if rules.close_on_flip and view.spread_apr < 0:
            return ExitDecision(
                reason="spread_flipped", critical=False, detail=f"spread APR {view.spread_apr:.4f}"
            )
        if view.spread_apr < rules.min_net_spread_apr:
            return ExitDecision(
                reason="spread_below_threshold",
                critical=False,
                detail=f"spread APR {view.spread_apr:.4f} < {rules.min_net_spread_apr}",
            )
    return None


def should_wait(decision: ExitDecision, view: PairView, rules: ExitRules) -> bool:
    """Whether a non-critical exit waits for the next payment (near, and still paying us)."""
    if decision.critical or view.next_funding is None or view.spread_apr is None:
        return False
    if view.spread_apr <= 0:
        return False
    until = (view.next_funding - view.now).total_seconds()
    return 0 < until <= rules.wait_for_funding_s
