"""``AtomicMultiOrderExecutor``: legs end whole, balanced or flat — never one-legged.

Legs on the same base asset and opposite sides form a *hedge group*; a leg with no
opposite partner is a group of its own. After :meth:`execute_atomically` returns, each group
is in one of these states (design notes §3):

- **whole**: every leg filled its target;
- **balanced**: the group's buys equal its sells at one smaller quantity (the result says
  which), after the lagging legs were completed or the leading ones trimmed;
- **flat**: every leg's net change is back to zero within one lot;
- otherwise the real exposure, read from the venues, is reported as residual, recorded as
  an incident, logged at CRITICAL, and the kill switch refuses new exposure until an
  operator resolves it.

How: pre-flight checks everything before any order (specs, one common quantity per group
on every venue's lot and minimums, liquidity at that size, free margin, fresh books); the
legs are sent concurrently; while they run, a leg that lags behind its group for
``max_imbalance_seconds`` is hurried to its fallback; afterwards a shielded reconciliation
completes lagging legs (``hedge``), closes excess reduce-only (``rollback``), verifies
against the venues and repeats within a budget, then escalates.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from fundarb.concurrency import finish_shielded
from fundarb.errors import FundarbError, InvalidOrderError
from fundarb.execution.core.gateway import gateway_for
from fundarb.execution.core.order_executor import ExecutionMode, ExecutionResult, OrderExecutor
from fundarb.execution.patterns.incidents import Incident, IncidentKind, IncidentLog
from fundarb.execution.patterns.planning import (
    AtomicConfig,
    OrderSpec,
    PlannedLeg,
    check_specs,
    groups,
    plan_legs,
)
from fundarb.execution.patterns.reconcile import (
    GroupState,
    ImbalancePolicy,
    Reconciler,
    rollback_cost,
)
from fundarb.logs import log_event
from fundarb.venues.orders import Side

if TYPE_CHECKING:
    from fundarb.execution.monitoring.execution_tracker import ExecutionTracker

__all__ = [
    "AtomicConfig",
    "AtomicExecutionResult",
    "AtomicMultiOrderExecutor",
    "AtomicOutcome",
    "ImbalancePolicy",
    "IncidentStore",
    "LegReport",
    "OrderSpec",
]

logger = logging.getLogger("fundarb.execution")

_ZERO = Decimal(0)


class IncidentStore(Protocol):
    """Where incidents outlive the process (a :class:`fundarb.storage.Store`)."""

    async def save_incidents(self, records: Sequence[Incident]) -> None: ...

    async def load_incidents(self, *, unresolved_only: bool = False) -> list[Incident]: ...


class AtomicOutcome(StrEnum):
    FILLED = "filled"  # every leg at its target
    HEDGED = "hedged"  # every group balanced, some below target (see balanced_quantities)
    ROLLED_BACK = "rolled_back"  # every leg flat again
    ABORTED_PREFLIGHT = "aborted_preflight"  # nothing was sent
    RESIDUAL_EXPOSURE = "residual_exposure"  # could not get balanced or flat: escalated


@dataclass(frozen=True, slots=True, kw_only=True)
class LegReport:
    """One leg after everything. ``net`` is the signed change of the venue's position."""

    index: int
    venue: str
    symbol: str
    side: Side
    target: Decimal
    net: Decimal
    entry: ExecutionResult | None
    adjustments: tuple[ExecutionResult, ...]  # hedges and rollbacks, in order


@dataclass(frozen=True, slots=True, kw_only=True)
class AtomicExecutionResult:
    """What an atomic execution did."""

    execution_id: str
    outcome: AtomicOutcome
    all_filled: bool
    filled_orders: list[ExecutionResult]  # legs that filled their target on entry
    partial_fills: list[ExecutionResult]  # legs that filled less (or nothing)
    total_slippage_usd: Decimal  # against each leg's arrival mid; positive is cost
    execution_time_ms: float
    error_message: str | None
    rollback_performed: bool
    rollback_cost_usd: Decimal  # loss of the trades undone, fees included
    residual_exposure: dict[tuple[str, str], Decimal]  # (venue, symbol) -> signed quantity
    orders_left_open: tuple[str, ...]  # "venue:client_order_id" we could not cancel or resolve
    balanced_quantities: dict[str, Decimal]  # per hedge group (base asset): quantity per side
    hedged_quantity: Decimal | None  # the one group's balanced quantity, when there is one group
    legs: tuple[LegReport, ...]
    send_skew_ms: float | None  # spread of the legs' first sends
    placement_ms: float | None  # first send to the last leg's first answer
    preflight_failures: tuple[str, ...]
    incidents: tuple[Incident, ...]


class AtomicMultiOrderExecutor:
    """Opens and closes delta-neutral legs across venues (design notes §3)."""

    def __init__(
        self,
        *,
        executor: OrderExecutor | None = None,
        config: AtomicConfig | None = None,
        incidents: IncidentLog | None = None,
        tracker: ExecutionTracker | None = None,
        strategy_name: str = "default",
        incident_store: IncidentStore | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``tracker``: every execution is recorded there under ``strategy_name``, at the
        time ``clock`` gives (default: now; a simulated run passes its venues' clock).
        ``incident_store``: incidents are saved there after each execution; call
        :meth:`restore_incidents` at start so an unresolved residual keeps the kill switch on
        across restarts."""
        self.tracker = tracker
        self.clock = clock
        self.incident_store = incident_store
        self.strategy_name = strategy_name
        self.executor = executor if executor is not None else OrderExecutor()
        self.config = config if config is not None else AtomicConfig()
        self.incident_log = incidents if incidents is not None else IncidentLog()
        self._reconciler = Reconciler(self.executor, self.config, self.incident_log)

    @property
    def incidents(self) -> list[Incident]:
        return self.incident_log.incidents

    @property
    def kill_switch_active(self) -> bool:
        return bool(self.incident_log.open_residuals)

    def resolve_incident(self, incident_id: str, resolution: str) -> Incident:
        """Mark a residual incident handled; the kill switch lifts when none is left.
        With an incident store, :meth:`persist_incidents` saves the resolution."""
        return self.incident_log.resolve(incident_id, resolution)

    async def restore_incidents(self) -> int:
        """Load unresolved incidents from the store (re-arming the kill switch); how many."""
        if self.incident_store is None:
            return 0
        loaded = await self.incident_store.load_incidents(unresolved_only=True)
        known = {i.incident_id for i in self.incident_log.incidents}
        fresh = [i for i in loaded if i.incident_id not in known]
        self.incident_log.incidents.extend(fresh)
        return len(fresh)

    async def persist_incidents(self, incidents: Sequence[Incident] | None = None) -> None:
        """Save ``incidents`` (default: all known) to the store; a failure is logged, not
        raised (the trade is done; the incidents stay in memory)."""
        if self.incident_store is None:
            return
        chosen = list(self.incident_log.incidents if incidents is None else incidents)
        try:
            await self.incident_store.save_incidents(chosen)
        except FundarbError as exc:
            log_event(logger, logging.CRITICAL, "incidents.not_saved", count=len(chosen), error=exc)

    async def execute_atomically(
        self,
        orders: Sequence[OrderSpec],
        rollback_on_partial: bool = True,
        pre_flight_check: bool = True,
        *,
        on_imbalance: ImbalancePolicy | str = ImbalancePolicy.HEDGE_THEN_ROLLBACK,
        max_imbalance_seconds: float | None = None,
    ) -> AtomicExecutionResult:
        """Execute ``orders`` as one: whole, balanced or flat (see the module docstring).

        ``rollback_on_partial``: when an imbalance cannot be hedged, True rolls the group
        back to flat, False trims the leading legs down to the smallest (balanced).
        Raises :class:`InvalidOrderError` for malformed input; nothing is sent then.
        """
        result = await self._execute_atomically(
            orders,
            rollback_on_partial,
            pre_flight_check,
            on_imbalance=on_imbalance,
            max_imbalance_seconds=max_imbalance_seconds,
        )
        if self.tracker is not None:
            from fundarb.execution.monitoring.records import ExecutionRecord

            symbol = orders[0].symbol if orders and not result.legs else None
            await self.tracker.record_execution(
                ExecutionRecord.from_atomic(
                    result,
                    strategy_name=self.strategy_name,
                    symbol=symbol,
                    time=self.clock() if self.clock is not None else None,
                )
            )
        return result

    async def _execute_atomically(
        self,
        orders: Sequence[OrderSpec],
        rollback_on_partial: bool = True,
        pre_flight_check: bool = True,
        *,
        on_imbalance: ImbalancePolicy | str = ImbalancePolicy.HEDGE_THEN_ROLLBACK,
        max_imbalance_seconds: float | None = None,
    ) -> AtomicExecutionResult:
        started = time.perf_counter()
        policy = _policy(on_imbalance)
        limit_s = max_imbalance_seconds or self.config.max_imbalance_seconds
        if not (math.isfinite(limit_s) and limit_s > 0):
            raise InvalidOrderError(f"max_imbalance_seconds must be above zero, got {limit_s}")
        specs = check_specs(orders)
        execution_id = uuid.uuid4().hex[:12]
        if self.kill_switch_active and not all(s.reduce_only for s in specs):
            ids = [i.incident_id for i in self.incident_log.open_residuals]
            return self._aborted(
                execution_id, started, (f"kill switch: unresolved residual exposure {ids}",)
            )
        legs, failures = await plan_legs(
            specs, execution_id, pre_flight_check, executor=self.executor, config=self.config
        )
        if failures:
            return self._aborted(execution_id, started, tuple(failures))
        try:
            skew_ms, placement_ms = await self._place(legs, limit_s)
        except BaseException:
            # the caller is leaving (or a bug): never leave a leg naked on the way out
            await finish_shielded(
                self._reconciler.reconcile(
                    execution_id,
                    legs,
                    ImbalancePolicy.ROLLBACK,
                    rollback_on_partial=False,
                    limit_s=limit_s,
                )
            )
            raise
        states = await finish_shielded(
            self._settle(execution_id, legs, policy, rollback_on_partial, limit_s)
        )
        return await self._result(execution_id, legs, states, skew_ms, placement_ms, started)

    async def _settle(
        self,
        execution_id: str,
        legs: list[PlannedLeg],
        policy: ImbalancePolicy,
        rollback_on_partial: bool,
        limit_s: float,
    ) -> dict[str, GroupState]:
        """Reconcile at once; the entries' reports (their fills and fees) are read meanwhile,
        so a naked leg never waits for bookkeeping."""
        async with asyncio.TaskGroup() as group:
            states = group.create_task(
                self._reconciler.reconcile(execution_id, legs, policy, rollback_on_partial, limit_s)
            )
            for leg in legs:
                group.create_task(self._report(leg))
        return states.result()

    async def _report(self, leg: PlannedLeg) -> None:
        if leg.prepared is not None and leg.outcome is not None:
            leg.entry = await self.executor.report(leg.prepared, leg.outcome)

    async def close_positions(
        self,
        legs: Sequence[tuple[Any, str]],
        *,
        mode: ExecutionMode | str = "market_only",
        timeout_seconds: float = 30.0,
    ) -> AtomicExecutionResult:
        """Close each (client, symbol) position reduce-only, sized from the venue's position.

        A leg whose position is already gone (closed or liquidated) is skipped; the others
        still close. Needs clients that report positions.
        """
        specs: list[OrderSpec] = []
        for client, symbol in legs:
            position = await gateway_for(client).position(symbol)
            if position is None:
                raise InvalidOrderError(
                    f"{client.get_exchange_name()} does not report positions: cannot size a close"
                )
            if position == 0:
                log_event(
                    logger,
                    logging.WARNING,
                    "atomic.close.nothing",
                    symbol=symbol,
                    venue=client.get_exchange_name(),
                )
                continue
            side = "sell" if position > 0 else "buy"
            specs.append(
                OrderSpec(
                    client,
                    symbol,
                    side,
                    None,
                    mode,
                    timeout_seconds,
                    quantity=abs(position),
                    reduce_only=True,
                )
            )
        if not specs:
            return self._aborted(
                uuid.uuid4().hex[:12],
                time.perf_counter(),
                ("nothing to close: every position is already flat",),
            )
        return await self.execute_atomically(
            specs, rollback_on_partial=False, on_imbalance=ImbalancePolicy.HEDGE
        )

    # -- placement ---------------------------------------------------------------------------

    async def _place(
        self, legs: list[PlannedLeg], limit_s: float
    ) -> tuple[float | None, float | None]:
        """Send every leg concurrently; hurry legs that lag their group.

        Returns (send skew, placement time) in ms: the spread of the legs' first sends, and
        the time from the first send to the last leg's first answer.
        """
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._enter(leg)) for leg in legs]
            group.create_task(self._watch(legs, tasks, limit_s))
        runs = [leg.prepared.run for leg in legs if leg.prepared is not None]
        starts = [r.first_send_ns for r in runs if r.first_send_ns is not None]
        answers = [r.first_answer_ns for r in runs if r.first_answer_ns is not None]
        skew = (max(starts) - min(starts)) / 1e6 if len(starts) > 1 else None
        placed = (
            (max(answers) - min(starts)) / 1e6 if starts and len(answers) == len(runs) else None
        )
        return skew, placed

    async def _enter(self, leg: PlannedLeg) -> None:
        assert leg.prepared is not None
        leg.outcome = await self.executor.trade(leg.prepared)

    async def _watch(
        self, legs: list[PlannedLeg], tasks: list[asyncio.Task[None]], limit_s: float
    ) -> None:
        """While legs run: a group uneven for ``limit_s`` has its lagging legs hurried."""
        loop = asyncio.get_running_loop()
        uneven_since: dict[str, float] = {}
        by_group = groups(legs)
        while not all(t.done() for t in tasks):
            # wake at the interval, or at once when the last leg is done
            await asyncio.wait(tasks, timeout=self.config.check_interval_s)
            for name, members in by_group.items():
                runs = [m.prepared.run for m in members if m.prepared is not None]
                if len(runs) < 2:
                    continue
                filled = [r.filled for r in runs]
                if max(filled) == min(filled):
                    uneven_since.pop(name, None)
                    continue
                since = uneven_since.setdefault(name, loop.time())
                if loop.time() - since >= limit_s:
                    for run in runs:
                        if run.filled < max(filled):
                            run.hurry()

    # -- results -----------------------------------------------------------------------------

    async def _result(
        self,
        execution_id: str,
        legs: list[PlannedLeg],
        states: dict[str, GroupState],
        skew_ms: float | None,
        placement_ms: float | None,
        started: float,
    ) -> AtomicExecutionResult:
        # the venues' final word, as the reconciliation last read it
        state_of = {
            leg.index: states[name] for name, members in groups(legs).items() for leg in members
        }
        nets = [state_of[leg.index].filled[leg.index] * leg.side.sign for leg in legs]
        reports = tuple(
            LegReport(
                index=leg.index,
                venue=leg.gateway.name,
                symbol=leg.spec.symbol,
                side=leg.side,
                target=leg.target,
                net=net,
                entry=leg.entry,
                adjustments=tuple(leg.adjustments),
            )
            for leg, net in zip(legs, nets, strict=True)
        )
        kinds = {state.kind for state in states.values()}
        if "residual" in kinds:
            outcome = AtomicOutcome.RESIDUAL_EXPOSURE
        elif kinds == {"whole"}:
            outcome = AtomicOutcome.FILLED
        elif kinds == {"flat"}:
            outcome = AtomicOutcome.ROLLED_BACK
        else:
            outcome = AtomicOutcome.HEDGED
        # what is left on the venue: its position now (start + this execution's change)
        left_on_venue = {
            leg.index: (leg.position + net if leg.position is not None else net)
            for leg, net in zip(legs, nets, strict=True)
        }
        residual = {
            (r.venue, r.symbol): left_on_venue[r.index]
            for r in reports
            if state_of[r.index].kind == "residual" and left_on_venue[r.index] != 0
        }
        entries = [leg.entry for leg in legs if leg.entry is not None]
        errors = [
            f"leg {leg.index}: {leg.entry.error_message}"
            for leg in legs
            if leg.entry is not None and leg.entry.error_message
        ]
        left = tuple(order for leg in legs for order in leg.orders_left())
        if outcome is AtomicOutcome.RESIDUAL_EXPOSURE:
            errors.insert(
                0,
                f"residual exposure: {residual}"
                + (f"; orders left open: {list(left)}" if left else ""),
            )
        balanced = {name: state.quantity for name, state in states.items()}
        incidents = tuple(i for i in self.incidents if i.execution_id.startswith(execution_id))
        for incident in incidents:  # the entries' reports are in now: price the rollbacks
            if incident.kind is IncidentKind.ROLLBACK:
                touched = {(leg.venue, leg.symbol) for leg in incident.legs}
                incident.cost_usd = rollback_cost(
                    [leg for leg in legs if (leg.gateway.name, leg.spec.symbol) in touched]
                )
        result = AtomicExecutionResult(
            execution_id=execution_id,
            outcome=outcome,
            all_filled=outcome is AtomicOutcome.FILLED,
            filled_orders=[e for e in entries if e.filled],
            partial_fills=[e for e in entries if not e.filled],
            total_slippage_usd=sum((_slippage_usd(e) for e in entries), _ZERO),
            execution_time_ms=(time.perf_counter() - started) * 1000,
            error_message="; ".join(errors) or None,
            rollback_performed=any(s.rolled_back for s in states.values()),
            rollback_cost_usd=rollback_cost(legs),
            residual_exposure=residual,
            orders_left_open=left,
            balanced_quantities=balanced,
            hedged_quantity=next(iter(balanced.values())) if len(balanced) == 1 else None,
            legs=reports,
            send_skew_ms=skew_ms,
            placement_ms=placement_ms,
            preflight_failures=(),
            incidents=incidents,
        )
        await self.executor.note_outcome(execution_id, outcome.value)
        if incidents:
            await self.persist_incidents(incidents)
        log_event(
            logger,
            logging.CRITICAL if residual else logging.INFO,
            "atomic.done",
            execution_id=execution_id,
            outcome=outcome.value,
            legs=";".join(f"{r.venue}:{r.symbol}:{r.net}" for r in reports),
            skew_ms=skew_ms,
            error=result.error_message,
        )
        return result

    def _aborted(
        self, execution_id: str, started: float, failures: tuple[str, ...]
    ) -> AtomicExecutionResult:
        log_event(
            logger,
            logging.WARNING,
            "atomic.aborted",
            execution_id=execution_id,
            reasons=" | ".join(failures),
        )
        return AtomicExecutionResult(
            execution_id=execution_id,
            outcome=AtomicOutcome.ABORTED_PREFLIGHT,
            all_filled=False,
            filled_orders=[],
            partial_fills=[],
            total_slippage_usd=_ZERO,
            execution_time_ms=(time.perf_counter() - started) * 1000,
            error_message="; ".join(failures),
            rollback_performed=False,
            rollback_cost_usd=_ZERO,
            residual_exposure={},
            orders_left_open=(),
            balanced_quantities={},
            hedged_quantity=None,
            legs=(),
            send_skew_ms=None,
            placement_ms=None,
            preflight_failures=failures,
            incidents=(),
        )


def _policy(value: ImbalancePolicy | str) -> ImbalancePolicy:
    try:
        return ImbalancePolicy(str(value))
    except ValueError:
        raise InvalidOrderError(
            f"on_imbalance must be one of {[p.value for p in ImbalancePolicy]}, got {value!r}"
        ) from None


def _slippage_usd(result: ExecutionResult) -> Decimal:
    if result.fill_price is None or result.arrival_mid is None:
        return _ZERO
    return (result.fill_price - result.arrival_mid) * result.filled_quantity * result.side.sign
