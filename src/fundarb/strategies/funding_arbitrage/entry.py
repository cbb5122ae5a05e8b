"""How a pair is entered under ``execution.algorithm: auto``: at what quantity, by which
algorithm, and with which pair TWAP configuration.

The quantity is the planner's common quantity, approximated: ``size_usd`` at the higher
of the two mids, rounded down to the coarser lot. The algorithm is
:func:`~fundarb.execution.algos.choose_algorithm`'s, at normal urgency; a maker ladder
(chosen only at low urgency) runs as a pair TWAP of the same slices, and a TWAP never has
more slices than the venues' minimum order allows.

:class:`TwapEntry` is the part of
:class:`~fundarb.strategies.funding_arbitrage.FundingArbitrage` that plans each entry and
runs the pair TWAP: every execution's fills are booked and saved as it returns, the pair
OPENING throughout, then OPEN at the quantity both legs filled, FAILED when nothing did,
or closed as critical when the legs ended uneven.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from fundarb.config import StrategyExecution
from fundarb.errors import FundarbError
from fundarb.execution.algos import (
    Algorithm,
    AlgorithmChoice,
    PairLeg,
    PairTwap,
    TwapConfig,
    TwapResult,
    TwapState,
    choose_algorithm,
)
from fundarb.execution.algos.pair import PairVenues, min_tradable
from fundarb.execution.core.modes import Urgency
from fundarb.execution.core.order_executor import ExecutionResult
from fundarb.execution.patterns.atomic_multi_order import AtomicExecutionResult
from fundarb.funding.opportunities import Opportunity
from fundarb.logs import log_event
from fundarb.strategies.funding_arbitrage.base import StrategyBase, logger, pct
from fundarb.strategies.funding_arbitrage.positions import PairPosition, PositionState

__all__ = ["EntryPlan", "TwapEntry", "plan_entry", "twap_config"]


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


class TwapEntry(StrategyBase):
    """The entry's plan (``execution.algorithm: auto``) and the pair TWAP that runs it."""

    async def _plan_entry(self, position: PairPosition) -> EntryPlan | None:
        """The algorithm for this entry (``execution.algorithm: auto``), logged and told as
        an event; None (one atomic pair, as ever) when the books cannot be read."""
        buy, sell = (PairLeg(self.clients[leg.venue], leg.symbol) for leg in position.legs)
        try:
            plan = await plan_entry(buy, sell, position.notional_usd)
        except FundarbError as exc:
            log_event(
                logger,
                logging.WARNING,
                "strategy.algorithm_unknown",
                position_id=position.position_id,
                symbol=position.symbol,
                error=exc,
            )
            self._event("algorithm", f"{position.symbol}: depth unread ({exc}): one atomic pair")
            return None
        choice = plan.choice
        if choice.algorithm is not plan.algorithm:
            log_event(
                logger,
                logging.INFO,
                "strategy.algorithm_fallback",
                position_id=position.position_id,
                chosen=choice.algorithm.value,
                runs=plan.algorithm.value,
                reason=plan.note,
            )
        log_event(
            logger,
            logging.INFO,
            "strategy.algorithm",
            position_id=position.position_id,
            symbol=position.symbol,
            algorithm=plan.algorithm.value,
            chosen=choice.algorithm.value,
            quantity=plan.quantity,
            size_to_depth=choice.size_to_depth,
            slices=plan.slices,
            reason=plan.reason,
        )
        self._event("algorithm", f"{position.symbol}: {plan.algorithm.value}: {plan.reason}")
        return plan

    async def _open_twap(
        self, position: PairPosition, opportunity: Opportunity, plan: EntryPlan
    ) -> PairPosition | None:
        """Open through a pair TWAP on the strategy's own atomic executor. Every execution's
        fills are booked (entry kind ``twap``) and saved as it returns, the position OPENING
        throughout; then OPEN at the quantity the venues show on both legs, FAILED when
        nothing traded, or closed as critical when the legs ended uneven."""

        async def book(result: AtomicExecutionResult | ExecutionResult) -> None:
            self.executions += 1
            if isinstance(result, AtomicExecutionResult):
                self._add_trades(position, result, "twap")
            else:  # an order levelling the legs between slices
                self._add_run(position, result, "adjustment", result.execution_id)
            await self._save(position)

        buy, sell = (PairLeg(self.clients[leg.venue], leg.symbol) for leg in position.legs)
        twap = PairTwap(
            buy=buy,
            sell=sell,
            quantity=plan.quantity,
            config=twap_config(plan, self.settings.execution),
            executor=self.executor,
            twap_id=f"entry-{position.position_id}",
            clock=self.clock,
            on_execution=book,
        )
        position.entry_execution_id = twap.twap_id
        await self._save(position)
        started = self.clock()
        try:
            result = await twap.run()
        except FundarbError as exc:  # raised only before its first order
            await self._entry_failed(position, f"pair TWAP refused: {exc}", None)
            return None
        await self._witness_twap(position, result)
        done = (
            f"pair TWAP {result.state.value}: {len(result.slices)} slices, "
            f"{result.filled_buy} / {result.filled_sell} of {result.quantity}"
        )
        if result.filled_buy != result.filled_sell:
            position.notes.append(f"{done}: legs uneven ({result.error})")
            await self._critical(position, "twap_uneven", done)
            return None
        if result.filled_buy <= 0:
            reason = f"{done}: {result.error or 'nothing filled'}"
            await self._entry_failed(position, reason, None, how="by pair TWAP filled nothing")
            return None
        if result.state is not TwapState.COMPLETED:
            position.notes.append(f"{done}: {result.error}")
        position.quantity = result.filled_buy
        position.state = PositionState.OPEN
        position.opened_at = started  # funding is counted from here: the first slices earn it
        await self._save(position)
        cost = "" if result.cost_bps is None else f", cost {result.cost_bps:.1f} bps"
        self._event(
            "opened",
            f"{position.symbol}: long {position.long.venue} / short {position.short.venue}, "
            f"{position.quantity} each, net APR {pct(opportunity.net_apr)} ({done}{cost})",
        )
        log_event(
            logger,
            logging.INFO,
            "strategy.opened",
            position_id=position.position_id,
            execution_id=twap.twap_id,
            symbol=position.symbol,
            quantity=position.quantity,
            slices=len(result.slices),
            twap_state=result.state.value,
        )
        return position

    async def _witness_twap(self, position: PairPosition, result: TwapResult) -> None:
        """Fills the venues show (each leg's position change) that no execution reported,
        such as a late fill of a cancelled order, are booked as reconstructed trades."""
        for leg, moved in zip(position.legs, (result.filled_buy, -result.filled_sell), strict=True):
            missing = moved - position.net_quantity(leg)
            if not missing:
                continue
            position.notes.append(f"{leg.venue}: {missing} filled that no execution reported")
            log_event(
                logger,
                logging.WARNING,
                "strategy.twap_unreported_fill",
                position_id=position.position_id,
                venue=leg.venue,
                quantity=missing,
            )
            try:
                await self._reconstruct(position, leg, missing)
            except FundarbError as exc:
                log_event(logger, logging.ERROR, "strategy.twap_unreconciled", error=exc)
