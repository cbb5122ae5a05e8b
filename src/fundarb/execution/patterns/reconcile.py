"""After the legs ran: complete the laggards, trim or unwind the rest, verify, escalate.

:class:`Reconciler` brings each hedge group to whole, balanced or flat. The lagging legs
are completed first (``hedge``: an aggressive limit ladder ending in a market order, within
``max_imbalance_seconds``); if that fails the group is rolled back (``rollback``: reduce-only
orders for the real excess, read from the venue), verified, and tried again within a
budget; what still cannot be fixed is residual exposure, an incident that arms the kill
switch. Every hedge and rollback is an incident on the record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from fundarb.concurrency import run_all
from fundarb.errors import FundarbError, InvalidOrderError
from fundarb.execution.core.order_executor import ExecutionMode, ExecutionResult, OrderExecutor
from fundarb.execution.patterns.incidents import IncidentKind, IncidentLeg, IncidentLog
from fundarb.execution.patterns.planning import (
    AtomicConfig,
    PlannedLeg,
    groups,
    is_balanced,
    is_flat,
    net_change,
)
from fundarb.logs import log_event
from fundarb.venues.orders import Side

__all__ = ["GroupState", "ImbalancePolicy", "Reconciler", "rollback_cost"]

logger = logging.getLogger("fundarb.execution")

_ZERO = Decimal(0)


async def _read_net(leg: PlannedLeg, lenient: bool) -> Decimal:
    """The leg's net change from the venue; our own figures if the venue cannot be read but
    they are exact (every order filled, refused or expired: nothing can be unreported), or
    when ``lenient``."""
    try:
        return await net_change(leg)
    except FundarbError:
        if lenient or leg.settled():
            return leg.ledger_net()
        raise


def _position_now(leg: PlannedLeg, filled: dict[int, Decimal]) -> Decimal | None:
    """The venue's position of ``leg`` as last read (start + what this execution did)."""
    if leg.position is None:
        return None
    return leg.position + filled[leg.index] * leg.side.sign


class ImbalancePolicy(StrEnum):
    HEDGE_THEN_ROLLBACK = "hedge_then_rollback"  # complete lagging legs; if that fails, roll back
    ROLLBACK = "rollback"  # roll back at once
    HEDGE = "hedge"  # complete lagging legs; if that fails, escalate


@dataclass(slots=True)
class GroupState:
    kind: str  # whole | balanced | flat | residual
    quantity: Decimal  # per side, when balanced or whole
    actions: list[str]
    filled: dict[int, Decimal]  # leg index -> filled in its own direction, last read
    rolled_back: bool = False


class Reconciler:
    """Brings hedge groups to whole, balanced or flat after their legs ran."""

    def __init__(
        self, executor: OrderExecutor, config: AtomicConfig, incidents: IncidentLog
    ) -> None:
        self.executor = executor
        self.config = config
        self.incident_log = incidents

    async def reconcile(
        self,
        execution_id: str,
        legs: list[PlannedLeg],
        policy: ImbalancePolicy,
        rollback_on_partial: bool,
        limit_s: float,
    ) -> dict[str, GroupState]:
        states: dict[str, GroupState] = {}
        for name, members in groups(legs).items():
            states[name] = await self._settle_group(
                execution_id, name, members, policy, rollback_on_partial, limit_s
            )
        return states

    async def _settle_group(
        self,
        execution_id: str,
        name: str,
        members: list[PlannedLeg],
        policy: ImbalancePolicy,
        rollback_on_partial: bool,
        limit_s: float,
    ) -> GroupState:
        try:
            state = await self._settle_positions(
                execution_id, name, members, policy, rollback_on_partial, limit_s
            )
        except FundarbError as exc:  # a venue cannot tell us where we stand
            # remove what exposure we can (never on a leg with an order still out), escalate
            return await self._unwind_around_stuck_orders(
                execution_id, name, members, limit_s, [f"positions unreadable: {exc}"]
            )
        left = [order for m in members for order in m.orders_left()]
        if left and state.kind != "residual":
            # positions look fine, but an order we could not cancel may still trade
            state = self._residual(
                execution_id,
                name,
                members,
                state.filled,
                [*state.actions, f"orders left open: {left}"],
                rolled_back=state.rolled_back,
            )
        return state

    async def _settle_positions(
        self,
        execution_id: str,
        name: str,
        members: list[PlannedLeg],
        policy: ImbalancePolicy,
        rollback_on_partial: bool,
        limit_s: float,
    ) -> GroupState:
        actions: list[str] = []
        if await self._leftovers(members, actions):
            return await self._unwind_around_stuck_orders(
                execution_id, name, members, limit_s, actions
            )
        filled = await self._filled(members, trust_ledgers=True)  # act at once if we can
        if is_balanced(members, filled):
            filled = await self._filled(members)  # fine by our books: the venues confirm
            if all(filled[m.index] == m.target for m in members):
                return GroupState("whole", members[0].target, actions, filled)
        if policy is not ImbalancePolicy.ROLLBACK and not is_balanced(members, filled):
            for attempt in range(1, self.config.hedge_attempts + 1):
                closes = len(members) == 1 or all(m.closing for m in members)
                for leg in members:
                    # lagging legs come up to the leader; closes (and a lone leg) to target
                    goal = leg.target if closes else max(filled.values())
                    missing = goal - filled[leg.index]
                    if missing > 0:
                        actions.append(
                            f"hedge {leg.gateway.name} {leg.spec.symbol} {leg.side.value} {missing}"
                        )
                        await self._adjust(
                            leg,
                            leg.side,
                            missing,
                            f"{execution_id}h{attempt}",
                            ExecutionMode.AGGRESSIVE_LIMIT,
                            limit_s,
                            reduce=leg.spec.reduce_only,
                            position=_position_now(leg, filled),
                        )
                filled = await self._filled(members)
                if is_balanced(members, filled):
                    break
            if actions:
                self._record(
                    IncidentKind.HEDGE,
                    execution_id,
                    members,
                    filled,
                    actions,
                    resolved=is_balanced(members, filled),
                )
        if is_balanced(members, filled):
            quantity = max(filled.values())
            return GroupState(
                "whole"
                if all(filled[m.index] == m.target for m in members)
                else ("flat" if is_flat(filled) else "balanced"),
                quantity,
                actions,
                filled,
            )
        if policy is ImbalancePolicy.HEDGE or any(m.closing for m in members):
            # closes cannot be rolled back (re-opening is not reduce-only): escalate
            return self._residual(execution_id, name, members, filled, actions, rolled_back=False)
        rollback_actions: list[str] = []
        for attempt in range(1, self.config.rollback_attempts + 1):
            floor = _ZERO if rollback_on_partial or len(members) == 1 else min(filled.values())
            for leg in members:
                excess = filled[leg.index] - floor
                if excess > 0:
                    rollback_actions.append(
                        f"close {leg.gateway.name} {leg.spec.symbol} "
                        f"{leg.side.opposite.value} {excess}"
                    )
                    await self._adjust(
                        leg,
                        leg.side.opposite,
                        excess,
                        f"{execution_id}r{attempt}",
                        ExecutionMode.MARKET_ONLY,
                        limit_s,
                        reduce=True,
                        position=_position_now(leg, filled),
                    )
            filled = await self._filled(members)
            if is_balanced(members, filled):
                break
        actions.extend(rollback_actions)
        if not is_balanced(members, filled) or await self._leftovers(members, actions):
            return self._residual(
                execution_id, name, members, filled, actions, rolled_back=bool(rollback_actions)
            )
        # priced once the entries' reports are in (AtomicMultiOrderExecutor._result)
        self._record(IncidentKind.ROLLBACK, execution_id, members, filled, actions, resolved=True)
        state = "flat" if is_flat(filled) else "balanced"
        return GroupState(state, max(filled.values()), actions, filled, rolled_back=True)

    async def _adjust(
        self,
        leg: PlannedLeg,
        side: Side,
        quantity: Decimal,
        execution_id: str,
        mode: ExecutionMode,
        timeout_s: float,
        *,
        reduce: bool,
        position: Decimal | None,
    ) -> None:
        """One hedge or rollback order for ``leg``; its result joins the leg's record.

        ``position`` is the venue's position as just read (or None): the order's runner
        corroborates its fills against it, so a fill reported late is still counted.
        """
        rounded = leg.market.round_quantity(quantity)
        if rounded <= 0:
            return
        fresh = leg.fresh_book()  # a book read just now spares the round trip
        try:
            prepared = await self.executor.prepare(
                leg.spec.exchange_client,
                leg.spec.symbol,
                side.value,
                quantity=rounded,
                mode=mode,
                timeout_seconds=timeout_s,
                reduce_only=reduce,
                execution_id=execution_id,
                leg=leg.index,
                book=fresh,
                position=(position,) if fresh is not None else None,
            )
            if isinstance(prepared, ExecutionResult):
                result = prepared
            else:
                leg.adjustment_runs.append(prepared.run)
                result = await self.executor.run(prepared)
        except InvalidOrderError as exc:  # e.g. below the venue minimum: nothing was sent
            log_event(
                logger,
                logging.WARNING,
                "atomic.adjust.refused",
                execution_id=execution_id,
                venue=leg.gateway.name,
                error=exc,
            )
            return
        leg.adjustments.append(result)

    async def _filled(
        self, members: list[PlannedLeg], *, trust_ledgers: bool = False, lenient: bool = False
    ) -> dict[int, Decimal]:
        """Each leg's filled quantity in its own direction, from the venues' positions (read
        concurrently).

        ``trust_ledgers``: when every order of every leg ended FILLED or REJECTED (nothing
        cancelled, expired or unknown, so no fill can be unreported), our own books are
        exact and no round trip is spent before acting; the result is verified afterwards.
        ``lenient``: a venue that cannot be read is judged on our figures instead of raising.
        """
        if trust_ledgers and all(leg.settled() for leg in members):
            return {leg.index: leg.ledger_net() * leg.side.sign for leg in members}
        nets = await run_all([_read_net(leg, lenient) for leg in members])
        return {leg.index: net * leg.side.sign for leg, net in zip(members, nets, strict=True)}

    def _residual(
        self,
        execution_id: str,
        name: str,
        members: list[PlannedLeg],
        filled: dict[int, Decimal],
        actions: list[str],
        *,
        rolled_back: bool,
    ) -> GroupState:
        self._record(IncidentKind.RESIDUAL, execution_id, members, filled, actions, resolved=False)
        return GroupState("residual", _ZERO, actions, filled, rolled_back=rolled_back)

    async def _unwind_around_stuck_orders(
        self,
        execution_id: str,
        name: str,
        members: list[PlannedLeg],
        limit_s: float,
        actions: list[str],
    ) -> GroupState:
        """An order we could not cancel may still trade. Nothing more goes to its leg (it could
        over-fill); the other legs are closed, removing the exposure that is certain now; the
        group is escalated either way."""
        stuck = {m.index for m in members if m.orders_left()}
        # read what can be read; a venue that cannot answer is judged on our figures (the
        # closes below are reduce-only: they can never add exposure)
        filled = await self._filled(members, lenient=True)
        closed = False
        for leg in members:
            if leg.index in stuck or filled[leg.index] <= 0:
                continue
            actions.append(f"close {leg.gateway.name} {leg.spec.symbol} {filled[leg.index]}")
            await self._adjust(
                leg,
                leg.side.opposite,
                filled[leg.index],
                f"{execution_id}s",
                ExecutionMode.MARKET_ONLY,
                limit_s,
                reduce=True,
                position=_position_now(leg, filled),
            )
            closed = True
        if closed:
            filled = await self._filled(members, lenient=True)
        return self._residual(execution_id, name, members, filled, actions, rolled_back=closed)

    async def _leftovers(self, members: list[PlannedLeg], actions: list[str]) -> bool:
        """Try once more to cancel (or resolve) what is still open; True if anything is."""
        for leg in members:
            for run in leg.runs:
                if run.open_orders:
                    actions.append(f"retry cancel {[o.client_order_id for o in run.open_orders]}")
                    await run.close_out()
        return any(leg.orders_left() for leg in members)

    def _record(
        self,
        kind: IncidentKind,
        execution_id: str,
        members: list[PlannedLeg],
        filled: dict[int, Decimal],
        actions: list[str],
        *,
        resolved: bool,
        cost: Decimal = _ZERO,
    ) -> None:
        self.incident_log.record(
            kind,
            execution_id=execution_id,
            legs=tuple(
                IncidentLeg(
                    m.gateway.name,
                    m.spec.symbol,
                    filled[m.index] * m.side.sign,
                    m.entry.fill_price if m.entry else None,
                )
                for m in members
            ),
            cost_usd=cost,
            actions=tuple(actions),
            resolved=resolved,
        )


def rollback_cost(legs: list[PlannedLeg]) -> Decimal:
    """What undoing cost: each closing fill against the average price of everything the leg
    opened (entry and hedges), plus the closing fees and the opening fees of what was undone."""
    total = _ZERO
    for leg in legs:
        opened = [
            r
            for r in [leg.entry, *leg.adjustments]
            if r is not None and r.side is leg.side and r.filled_quantity and r.fill_price
        ]
        opened_qty = sum((r.filled_quantity for r in opened), _ZERO)
        if not opened_qty:
            continue
        average = (
            sum((r.fill_price * r.filled_quantity for r in opened if r.fill_price), _ZERO)
            / opened_qty
        )
        opened_fees = sum((r.fees for r in opened), _ZERO)
        for close in leg.adjustments:
            if close.side is leg.side or not close.filled_quantity or close.fill_price is None:
                continue
            undone = min(close.filled_quantity, opened_qty)
            total += (average - close.fill_price) * undone * leg.side.sign + close.fees
            total += opened_fees * undone / opened_qty
    return total
