"""The report's figures, from the stored rows: totals, the combined equity curve, slippage
per (venue, mode). Pure and exact (Decimal); the page formats them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from fundarb.execution.monitoring.records import ExecutionRecord
from fundarb.execution.patterns.incidents import Incident
from fundarb.report.formats import usd
from fundarb.storage.positions import EquityPoint, PositionRow

__all__ = [
    "CurvePoint",
    "Summary",
    "equity_curve",
    "exact_quantile",
    "slippage_by_venue_mode",
    "summarize",
]

_ZERO: Final = Decimal(0)
_LIVE_STATES: Final = frozenset({"opening", "open", "closing"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """Totals over every stored position, execution and incident (money in USD; fees and
    slippage are costs, positive)."""

    funding_usd: Decimal
    basis_usd: Decimal
    fees_usd: Decimal
    slippage_usd: Decimal
    pnl_usd: Decimal
    positions: int
    opened: int  # positions that reached OPEN (both legs on), whatever their state now
    closed: int
    live: int  # opening, open or closing now
    failed: int
    executions: int
    filled: int  # executions whose outcome is "filled"
    rollback_cost_usd: Decimal
    incidents: int
    unresolved: int
    equity_points: int

    @property
    def empty(self) -> bool:
        """Nothing stored at all."""
        return not (self.positions or self.executions or self.incidents or self.equity_points)

    def line(self) -> str:
        """One line for a terminal."""
        return (
            f"PnL {usd(self.pnl_usd)} USD (funding {usd(self.funding_usd)}, basis "
            f"{usd(self.basis_usd)}, fees {usd(-self.fees_usd)}, slippage "
            f"{usd(-self.slippage_usd)}); {self.opened} positions opened, {self.closed} "
            f"closed, {self.live} live, {self.failed} failed; {self.executions} executions "
            f"({self.filled} filled); {self.incidents} incidents ({self.unresolved} unresolved)"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CurvePoint:
    """The strategies' PnL at one time, summed over strategies."""

    time: datetime
    funding_usd: Decimal
    basis_usd: Decimal
    fees_usd: Decimal
    slippage_usd: Decimal
    pnl_usd: Decimal
    equity_usd: Decimal | None  # None when any strategy's point has none
    open_positions: int


def summarize(
    positions: Sequence[PositionRow],
    equity: Sequence[EquityPoint],
    executions: Sequence[ExecutionRecord],
    incidents: Sequence[Incident],
) -> Summary:
    """The totals the report opens with."""
    return Summary(
        funding_usd=sum((p.funding_usd for p in positions), _ZERO),
        basis_usd=sum((p.basis_usd for p in positions), _ZERO),
        fees_usd=sum((p.fees_usd for p in positions), _ZERO),
        slippage_usd=sum((p.slippage_usd for p in positions), _ZERO),
        pnl_usd=sum((p.pnl_usd for p in positions), _ZERO),
        positions=len(positions),
        opened=sum(1 for p in positions if p.opened_at is not None),
        closed=sum(1 for p in positions if p.state == "closed"),
        live=sum(1 for p in positions if p.state in _LIVE_STATES),
        failed=sum(1 for p in positions if p.state == "failed"),
        executions=len(executions),
        filled=sum(1 for e in executions if e.filled),
        rollback_cost_usd=sum((e.rollback_cost_usd for e in executions), _ZERO),
        incidents=len(incidents),
        unresolved=sum(1 for i in incidents if not i.resolved),
        equity_points=len(equity),
    )


def equity_curve(equity: Sequence[EquityPoint]) -> list[CurvePoint]:
    """One point per distinct time: each strategy's latest point at that time, summed.

    ``equity`` must be in time order (as :meth:`Store.load_equity` returns it).
    """
    latest: dict[str, EquityPoint] = {}
    curve: list[CurvePoint] = []
    for point in equity:
        latest[point.strategy_name] = point
        held = latest.values()
        values = [p.equity_usd for p in held]
        combined = CurvePoint(
            time=point.time,
            funding_usd=sum((p.funding_usd for p in held), _ZERO),
            basis_usd=sum((p.basis_usd for p in held), _ZERO),
            fees_usd=sum((p.fees_usd for p in held), _ZERO),
            slippage_usd=sum((p.slippage_usd for p in held), _ZERO),
            pnl_usd=sum((p.pnl_usd for p in held), _ZERO),
            equity_usd=None if None in values else sum((v for v in values if v), _ZERO),
            open_positions=sum(p.open_positions for p in held),
        )
        if curve and curve[-1].time == point.time:
            curve[-1] = combined
        else:
            curve.append(combined)
    return curve


def slippage_by_venue_mode(
    executions: Sequence[ExecutionRecord],
) -> dict[tuple[str, str], list[Decimal]]:
    """Each filled leg's slippage in bps (positive is cost), grouped by (venue, mode) and
    sorted; legs that filled nothing or have no arrival mid are left out. Groups sorted."""
    groups: dict[tuple[str, str], list[Decimal]] = {}
    for record in executions:
        for leg in record.legs:
            if leg.slippage_bps is None or leg.filled_quantity <= 0:
                continue
            groups.setdefault((leg.venue, leg.mode or "unknown"), []).append(leg.slippage_bps)
    return {key: sorted(groups[key]) for key in sorted(groups)}


def exact_quantile(ordered: Sequence[Decimal], q: Decimal) -> Decimal:
    """The ``q`` quantile of sorted values, interpolated linearly between ranks, exactly."""
    if not ordered:
        raise ValueError("quantile of no values")
    at = (len(ordered) - 1) * q
    below = int(at)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (at - below)
