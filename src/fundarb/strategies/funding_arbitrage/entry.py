"""How a pair is entered under ``execution.algorithm: auto``: at what quantity, by which
algorithm, and with which pair TWAP configuration.

The quantity is the planner's common quantity, approximated: ``size_usd`` at the higher
of the two mids, rounded down to the coarser lot. The algorithm is
:func:`~fundarb.execution.algos.choose_algorithm`'s, at normal urgency; a maker ladder
(chosen only at low urgency) runs as a pair TWAP of the same slices, and a TWAP never has
more slices than the venues' minimum order allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from fundarb.config import StrategyExecution
from fundarb.execution.algos import (
    Algorithm,
    AlgorithmChoice,
    PairLeg,
    TwapConfig,
    choose_algorithm,
)
from fundarb.execution.algos.pair import PairVenues, min_tradable
from fundarb.execution.core.modes import Urgency

__all__ = ["EntryPlan", "plan_entry", "twap_config"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryPlan:
    """What an entry will run, and why."""

    choice: AlgorithmChoice  # what the depth and urgency said
    algorithm: Algorithm  # what runs: ATOMIC or PAIR_TWAP
    quantity: Decimal  # base units per leg
    slices: int  # of the pair TWAP (1 for atomic)
    note: str | None = None  # why what runs differs from the choice

    @property
    def reason(self) -> str:
        return self.choice.reason if self.note is None else f"{self.choice.reason}; {self.note}"


async def plan_entry(
    buy: PairLeg, sell: PairLeg, size_usd: Decimal, *, urgency: Urgency = "normal"
) -> EntryPlan:
    """Read both markets and books and plan the entry of ``size_usd`` per leg.

    Raises :class:`~fundarb.errors.FundarbError` when a market or book cannot be read.
    """
    venues = PairVenues(buy, sell)
    specs = await venues.specs()
    mids = await venues.mids()
    lot = max(spec.lot_size for spec in specs)
    quantity = (size_usd / max(mids) / lot).to_integral_value(rounding=ROUND_FLOOR) * lot
    least = max(min_tradable(spec, mid) for spec, mid in zip(specs, mids, strict=True))
    if quantity < least:  # the atomic executor's pre-flight says why, nothing is sent
        choice = AlgorithmChoice(
            algorithm=Algorithm.ATOMIC,
            reason=f"{quantity} is below the venues' minimum {least}: one atomic pair",
            size_to_depth=None,
            slice_quantity=quantity,
            slices=1,
        )
        return EntryPlan(choice=choice, algorithm=Algorithm.ATOMIC, quantity=quantity, slices=1)
    choice = await choose_algorithm(buy, sell, quantity, urgency=urgency)
    if choice.algorithm is Algorithm.ATOMIC:
        return EntryPlan(choice=choice, algorithm=Algorithm.ATOMIC, quantity=quantity, slices=1)
    notes: list[str] = []
    if choice.algorithm is Algorithm.MAKER_LADDER:
        notes.append("the strategy runs no maker ladder: a pair TWAP of the same slices")
    most = max(1, int(quantity / least))
    slices = min(choice.slices, most)
    if slices < choice.slices:
        notes.append(f"{slices} slices, not {choice.slices}: each at least {least}")
    return EntryPlan(
        choice=choice,
        algorithm=Algorithm.PAIR_TWAP,
        quantity=quantity,
        slices=slices,
        note="; ".join(notes) or None,
    )


def twap_config(plan: EntryPlan, execution: StrategyExecution) -> TwapConfig:
    """The pair TWAP of ``plan``: over ``twap_duration_s``, slices in ``execution.mode``,
    each given at most ``timeout_s`` and half its interval; the rest finished with market
    slices at the deadline."""
    interval = execution.twap_duration_s / plan.slices
    return TwapConfig(
        duration_s=execution.twap_duration_s,
        slices=plan.slices,
        slice_mode=execution.mode,
        slice_timeout_s=min(execution.timeout_s, max(interval / 2, 1.0)),
        max_imbalance_s=execution.max_imbalance_s,
    )
