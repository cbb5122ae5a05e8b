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
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from fundarb.errors import ConfigError, FundarbError, InvalidOrderError
from fundarb.execution.concurrency import finish_shielded
from fundarb.execution.core.gateway import VenueGateway, gateway_for
from fundarb.execution.core.liquidity_analyzer import LiquidityAnalyzer, Recommendation
from fundarb.execution.core.order_executor import (
    ExecutionMode,
    ExecutionResult,
    OrderExecutor,
    PreparedLeg,
)
from fundarb.execution.patterns.incidents import (
    Incident,
    IncidentKind,
    IncidentLeg,
    IncidentLog,
)
from fundarb.logs import log_event
from fundarb.numbers import to_positive_decimal
from fundarb.venues.interface import BalanceProvider
from fundarb.venues.markets import MarketSpec
from fundarb.venues.orders import Side, parse_side

__all__ = [
    "AtomicConfig",
    "AtomicExecutionResult",
    "AtomicMultiOrderExecutor",
    "AtomicOutcome",
    "ImbalancePolicy",
    "LegReport",
    "OrderSpec",
]

logger = logging.getLogger("fundarb.execution")

_ZERO = Decimal(0)
_QUOTES = ("USDT", "USDC", "BUSD", "USD")


class AtomicOutcome(StrEnum):
    FILLED = "filled"  # every leg at its target
    HEDGED = "hedged"  # every group balanced, some below target (see balanced_quantities)
    ROLLED_BACK = "rolled_back"  # every leg flat again
    ABORTED_PREFLIGHT = "aborted_preflight"  # nothing was sent
    RESIDUAL_EXPOSURE = "residual_exposure"  # could not get balanced or flat: escalated


class ImbalancePolicy(StrEnum):
    HEDGE_THEN_ROLLBACK = "hedge_then_rollback"  # complete lagging legs; if that fails, roll back
    ROLLBACK = "rollback"  # roll back at once
    HEDGE = "hedge"  # complete lagging legs; if that fails, escalate


@dataclass(frozen=True)
class OrderSpec:
    """One leg: ``OrderSpec(client, "BTC-PERP", "buy", Decimal("1000"))``.

    Give ``size_usd`` or ``quantity`` (base units). A ``reduce_only`` leg with neither closes
    the venue's whole position in ``symbol``.
    """

    exchange_client: Any
    symbol: str
    side: str
    size_usd: Decimal | None = None
    execution_mode: ExecutionMode | str = ExecutionMode.LIMIT_WITH_FALLBACK
    timeout_seconds: float = 30.0
    _: KW_ONLY
    quantity: Decimal | None = None
    reduce_only: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AtomicConfig:
    """Budgets of the reconciliation (seconds of the event loop's clock)."""

    max_imbalance_seconds: float = 5.0  # how long a group may stay uneven before we act
    hedge_attempts: int = 2
    rollback_attempts: int = 3
    assumed_leverage: int = 5  # for the margin check when the venue does not say
    check_interval_s: float = 0.25

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_imbalance_seconds) and self.max_imbalance_seconds > 0):
            raise ConfigError("max_imbalance_seconds must be greater than zero")
        if self.hedge_attempts < 0 or self.rollback_attempts < 1 or self.assumed_leverage < 1:
            raise ConfigError("attempts and leverage must be positive")


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
    balanced_quantities: dict[str, Decimal]  # per hedge group (base asset): quantity per side
    hedged_quantity: Decimal | None  # the one group's balanced quantity, when there is one group
    legs: tuple[LegReport, ...]
    send_skew_ms: float | None
    preflight_failures: tuple[str, ...]
    incidents: tuple[Incident, ...]


@dataclass(slots=True, eq=False)
class _Leg:
    index: int
    spec: OrderSpec
    side: Side
    gateway: VenueGateway
    market: MarketSpec
    reference: Decimal
    desired: Decimal
    group: str
    target: Decimal = _ZERO
    prepared: PreparedLeg | None = None
    entry: ExecutionResult | None = None
    adjustments: list[ExecutionResult] = field(default_factory=list)

    @property
    def start_position(self) -> Decimal | None:
        return self.prepared.run.start_position if self.prepared is not None else None

    def ledger_net(self) -> Decimal:
        results = ([self.entry] if self.entry is not None else []) + self.adjustments
        if self.entry is None and self.prepared is not None:  # interrupted: the runner knows
            return self.prepared.run.filled * self.side.sign + sum(
                (r.filled_quantity * r.side.sign for r in self.adjustments), _ZERO
            )
        return sum((r.filled_quantity * r.side.sign for r in results), _ZERO)


class AtomicMultiOrderExecutor:
    """Opens and closes delta-neutral legs across venues (design notes §3)."""

    def __init__(
        self,
        *,
        executor: OrderExecutor | None = None,
        config: AtomicConfig | None = None,
        incidents: IncidentLog | None = None,
    ) -> None:
        self.executor = executor if executor is not None else OrderExecutor()
        self.config = config if config is not None else AtomicConfig()
        self.incident_log = incidents if incidents is not None else IncidentLog()

    @property
    def incidents(self) -> list[Incident]:
        return self.incident_log.incidents

    @property
    def kill_switch_active(self) -> bool:
        return bool(self.incident_log.open_residuals)

    def resolve_incident(self, incident_id: str, resolution: str) -> Incident:
        """Mark a residual incident handled; the kill switch lifts when none is left."""
        return self.incident_log.resolve(incident_id, resolution)

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
        started = time.perf_counter()
        policy = _policy(on_imbalance)
        limit_s = max_imbalance_seconds or self.config.max_imbalance_seconds
        if not (math.isfinite(limit_s) and limit_s > 0):
            raise InvalidOrderError(f"max_imbalance_seconds must be above zero, got {limit_s}")
        specs = _check_specs(orders)
        execution_id = uuid.uuid4().hex[:12]
        if self.kill_switch_active and not all(s.reduce_only for s in specs):
            ids = [i.incident_id for i in self.incident_log.open_residuals]
            return self._aborted(
                execution_id, started, (f"kill switch: unresolved residual exposure {ids}",)
            )
        legs, failures = await self._plan(specs, execution_id, pre_flight_check)
        if failures:
            return self._aborted(execution_id, started, tuple(failures))
        try:
            skew_ms = await self._place(legs, limit_s)
        except BaseException:
            # the caller is leaving (or a bug): never leave a leg naked on the way out
            await finish_shielded(
                self._reconcile(
                    execution_id,
                    legs,
                    ImbalancePolicy.ROLLBACK,
                    rollback_on_partial=False,
                    limit_s=limit_s,
                )
            )
            raise
        states = await finish_shielded(
            self._reconcile(execution_id, legs, policy, rollback_on_partial, limit_s)
        )
        return await self._result(execution_id, legs, states, skew_ms, started)

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

    # -- pre-flight --------------------------------------------------------------------------

    async def _plan(
        self, specs: list[OrderSpec], execution_id: str, check: bool
    ) -> tuple[list[_Leg], list[str]]:
        """Specs, one quantity per group, liquidity, margin, books. Sends nothing."""
        legs: list[_Leg] = []
        failures: list[str] = []
        for index, spec in enumerate(specs):
            gateway = gateway_for(
                spec.exchange_client, max_book_age_s=self.executor.config.max_book_age_s
            )
            where = f"leg {index} ({gateway.name} {spec.symbol})"
            side = parse_side(spec.side)
            try:
                market = await gateway.market_spec(spec.symbol)
                book = await gateway.book(spec.symbol)
                reference = book.touch(side)
                if reference is None:
                    failures.append(f"{where}: no liquidity on the side to trade")
                    continue
                desired = await _desired_quantity(gateway, spec, side, reference, market)
            except InvalidOrderError:
                raise
            except FundarbError as exc:
                failures.append(f"{where}: {exc}")
                continue
            legs.append(
                _Leg(index, spec, side, gateway, market, reference, desired, _base_asset(market))
            )
        if failures:
            return legs, failures
        for group, members in _groups(legs).items():
            failures.extend(_size_group(group, members))
        if not failures and check:
            failures.extend(await self._preflight(legs))
        if failures:
            return legs, failures
        for leg in legs:
            prepared = await self.executor.prepare(
                leg.spec.exchange_client,
                leg.spec.symbol,
                leg.side.value,
                None,
                leg.spec.execution_mode,
                leg.spec.timeout_seconds,
                quantity=leg.target,
                reduce_only=leg.spec.reduce_only,
                execution_id=execution_id,
                leg=leg.index,
            )
            if isinstance(prepared, ExecutionResult):
                failures.append(f"leg {leg.index}: {prepared.error_message}")
            else:
                leg.prepared = prepared
        return legs, failures

    async def _preflight(self, legs: list[_Leg]) -> list[str]:
        failures: list[str] = []
        analyzer = LiquidityAnalyzer(
            max_slippage_pct=self.executor.config.max_slippage_pct,
            max_book_age_s=self.executor.config.max_book_age_s,
        )
        margin: dict[int, Decimal] = {}
        for leg in legs:
            where = f"leg {leg.index} ({leg.gateway.name} {leg.spec.symbol})"
            try:
                report = await analyzer.check_execution_feasibility(
                    exchange_client=leg.spec.exchange_client,
                    symbol=leg.spec.symbol,
                    side=leg.side.value,
                    quantity=leg.target,
                )
            except FundarbError as exc:
                failures.append(f"{where}: {exc}")
                continue
            if report.recommendation in (
                Recommendation.INSUFFICIENT_DEPTH,
                Recommendation.STALE_BOOK,
            ):
                failures.append(f"{where}: {report.recommendation.value}: {report.reason}")
            if not leg.spec.reduce_only:
                key = id(leg.spec.exchange_client)
                margin[key] = margin.get(key, _ZERO) + (
                    leg.target * leg.reference / self.config.assumed_leverage
                )
        for leg in legs:
            key = id(leg.spec.exchange_client)
            client = leg.spec.exchange_client
            if key not in margin or not isinstance(client, BalanceProvider):
                continue
            needed = margin.pop(key)
            try:
                available = (await client.get_balance()).available
            except FundarbError as exc:
                failures.append(f"{leg.gateway.name}: balance unavailable: {exc}")
                continue
            if needed > available:
                failures.append(
                    f"{leg.gateway.name}: needs {needed:.2f} of margin at "
                    f"{self.config.assumed_leverage}x, {available:.2f} is free"
                )
        return failures

    # -- placement ---------------------------------------------------------------------------

    async def _place(self, legs: list[_Leg], limit_s: float) -> float | None:
        """Send every leg concurrently; hurry legs that lag their group. Returns the skew."""
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._enter(leg)) for leg in legs]
            group.create_task(self._watch(legs, tasks, limit_s))
        starts = [
            leg.prepared.run.first_send_ns
            for leg in legs
            if leg.prepared is not None and leg.prepared.run.first_send_ns is not None
        ]
        return (max(starts) - min(starts)) / 1e6 if len(starts) > 1 else None

    async def _enter(self, leg: _Leg) -> None:
        assert leg.prepared is not None
        leg.entry = await self.executor.run(leg.prepared)

    async def _watch(
        self, legs: list[_Leg], tasks: list[asyncio.Task[None]], limit_s: float
    ) -> None:
        """While legs run: a group uneven for ``limit_s`` has its lagging legs hurried."""
        loop = asyncio.get_running_loop()
        uneven_since: dict[str, float] = {}
        groups = _groups(legs)
        while not all(t.done() for t in tasks):
            await asyncio.sleep(self.config.check_interval_s)
            for name, members in groups.items():
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

    # -- reconciliation ----------------------------------------------------------------------

    async def _reconcile(
        self,
        execution_id: str,
        legs: list[_Leg],
        policy: ImbalancePolicy,
        rollback_on_partial: bool,
        limit_s: float,
    ) -> dict[str, _GroupState]:
        states: dict[str, _GroupState] = {}
        for name, members in _groups(legs).items():
            states[name] = await self._settle_group(
                execution_id, name, members, policy, rollback_on_partial, limit_s
            )
        return states

    async def _settle_group(
        self,
        execution_id: str,
        name: str,
        members: list[_Leg],
        policy: ImbalancePolicy,
        rollback_on_partial: bool,
        limit_s: float,
    ) -> _GroupState:
        actions: list[str] = []
        filled = await self._filled(members)
        if all(filled[m.index] == m.target for m in members):
            return _GroupState("whole", members[0].target, actions)
        if policy is not ImbalancePolicy.ROLLBACK and not _balanced(members, filled):
            for attempt in range(1, self.config.hedge_attempts + 1):
                goal = max(filled.values()) if len(members) > 1 else members[0].target
                for leg in members:
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
                        )
                filled = await self._filled(members)
                if _balanced(members, filled):
                    break
            if actions:
                self._record(
                    IncidentKind.HEDGE,
                    execution_id,
                    members,
                    filled,
                    actions,
                    resolved=_balanced(members, filled),
                )
        if _balanced(members, filled):
            quantity = max(filled.values())
            return _GroupState(
                "whole"
                if all(filled[m.index] == m.target for m in members)
                else ("flat" if _flat(filled) else "balanced"),
                quantity,
                actions,
            )
        if policy is ImbalancePolicy.HEDGE:
            return self._residual(execution_id, name, members, filled, actions)
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
                    )
            filled = await self._filled(members)
            if _balanced(members, filled):
                break
        actions.extend(rollback_actions)
        if not _balanced(members, filled):
            return self._residual(execution_id, name, members, filled, actions)
        cost = _rollback_cost(members)
        self._record(
            IncidentKind.ROLLBACK, execution_id, members, filled, actions, resolved=True, cost=cost
        )
        state = "flat" if _flat(filled) else "balanced"
        return _GroupState(state, max(filled.values()), actions, rolled_back=True)

    async def _adjust(
        self,
        leg: _Leg,
        side: Side,
        quantity: Decimal,
        execution_id: str,
        mode: ExecutionMode,
        timeout_s: float,
        *,
        reduce: bool,
    ) -> None:
        """One hedge or rollback order for ``leg``; its result joins the leg's record."""
        rounded = leg.market.round_quantity(quantity)
        if rounded <= 0:
            return
        try:
            result = await self.executor.execute_order(
                leg.spec.exchange_client,
                leg.spec.symbol,
                side.value,
                quantity=rounded,
                mode=mode,
                timeout_seconds=timeout_s,
                reduce_only=reduce,
                execution_id=execution_id,
                leg=leg.index,
            )
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

    async def _filled(self, members: list[_Leg]) -> dict[int, Decimal]:
        """Each leg's filled quantity in its own direction, from the venue's position."""
        out: dict[int, Decimal] = {}
        for leg in members:
            out[leg.index] = (await _net(leg)) * leg.side.sign
        return out

    def _residual(
        self,
        execution_id: str,
        name: str,
        members: list[_Leg],
        filled: dict[int, Decimal],
        actions: list[str],
    ) -> _GroupState:
        self._record(IncidentKind.RESIDUAL, execution_id, members, filled, actions, resolved=False)
        return _GroupState("residual", _ZERO, actions, rolled_back=bool(actions))

    def _record(
        self,
        kind: IncidentKind,
        execution_id: str,
        members: list[_Leg],
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

    # -- results -----------------------------------------------------------------------------

    async def _result(
        self,
        execution_id: str,
        legs: list[_Leg],
        states: dict[str, _GroupState],
        skew_ms: float | None,
        started: float,
    ) -> AtomicExecutionResult:
        reports = tuple(
            [
                LegReport(
                    index=leg.index,
                    venue=leg.gateway.name,
                    symbol=leg.spec.symbol,
                    side=leg.side,
                    target=leg.target,
                    net=await _net(leg),
                    entry=leg.entry,
                    adjustments=tuple(leg.adjustments),
                )
                for leg in legs
            ]
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
        state_of = {
            leg.index: states[name] for name, members in _groups(legs).items() for leg in members
        }
        residual = {
            (r.venue, r.symbol): r.net
            for r in reports
            if state_of[r.index].kind == "residual" and r.net != 0
        }
        entries = [leg.entry for leg in legs if leg.entry is not None]
        errors = [
            f"leg {leg.index}: {leg.entry.error_message}"
            for leg in legs
            if leg.entry is not None and leg.entry.error_message
        ]
        if outcome is AtomicOutcome.RESIDUAL_EXPOSURE:
            errors.insert(0, f"residual exposure: {residual}")
        balanced = {name: state.quantity for name, state in states.items()}
        incidents = tuple(i for i in self.incidents if i.execution_id.startswith(execution_id))
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
            rollback_cost_usd=_rollback_cost(legs),
            residual_exposure=residual,
            balanced_quantities=balanced,
            hedged_quantity=next(iter(balanced.values())) if len(balanced) == 1 else None,
            legs=reports,
            send_skew_ms=skew_ms,
            preflight_failures=(),
            incidents=incidents,
        )
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
            balanced_quantities={},
            hedged_quantity=None,
            legs=(),
            send_skew_ms=None,
            preflight_failures=failures,
            incidents=(),
        )


@dataclass(slots=True)
class _GroupState:
    kind: str  # whole | balanced | flat | residual
    quantity: Decimal  # per side, when balanced or whole
    actions: list[str]
    rolled_back: bool = False


def _policy(value: ImbalancePolicy | str) -> ImbalancePolicy:
    try:
        return ImbalancePolicy(str(value))
    except ValueError:
        raise InvalidOrderError(
            f"on_imbalance must be one of {[p.value for p in ImbalancePolicy]}, got {value!r}"
        ) from None


def _check_specs(orders: Sequence[OrderSpec]) -> list[OrderSpec]:
    if isinstance(orders, OrderSpec) or not isinstance(orders, Sequence) or not orders:
        raise InvalidOrderError("orders must be a non-empty list of OrderSpec")
    specs = list(orders)
    for index, spec in enumerate(specs):
        if not isinstance(spec, OrderSpec):
            raise InvalidOrderError(f"orders[{index}] is not an OrderSpec: {spec!r:.60}")
        parse_side(spec.side)
        if spec.size_usd is not None and spec.quantity is not None:
            raise InvalidOrderError(f"orders[{index}]: give size_usd or quantity, not both")
        if spec.size_usd is None and spec.quantity is None and not spec.reduce_only:
            raise InvalidOrderError(f"orders[{index}]: give size_usd or quantity")
        for name in ("size_usd", "quantity"):
            value = getattr(spec, name)
            if value is not None:
                try:
                    to_positive_decimal(value, name=f"orders[{index}].{name}")
                except ValueError as exc:
                    raise InvalidOrderError(str(exc)) from None
    return specs


async def _desired_quantity(
    gateway: VenueGateway, spec: OrderSpec, side: Side, reference: Decimal, market: MarketSpec
) -> Decimal:
    if spec.quantity is not None:
        return to_positive_decimal(spec.quantity)
    if spec.size_usd is not None:
        return to_positive_decimal(spec.size_usd) / reference
    position = await gateway.position(spec.symbol)  # a reduce-only leg closes the position
    if position is None:
        raise InvalidOrderError(f"{gateway.name} does not report positions: size the leg")
    if position == 0 or (position > 0) == (side is Side.BUY):
        raise InvalidOrderError(f"{gateway.name} {spec.symbol}: no position for this leg to reduce")
    return abs(position)


def _base_asset(market: MarketSpec) -> str:
    """The base asset, from the spec or the symbol (``BTC-PERP``, ``BTC/USDT:USDT``)."""
    if market.base_asset:
        return market.base_asset.upper()
    token = market.symbol.upper().split(":")[0]
    for separator in ("/", "-", "_"):
        token = token.split(separator)[0]
    for quote in _QUOTES:
        if token.endswith(quote) and len(token) > len(quote):
            return token[: -len(quote)]
    return token


def _groups(legs: list[_Leg]) -> dict[str, list[_Leg]]:
    """Hedge groups: legs on one base asset with both sides; any other leg stands alone."""
    by_base: dict[str, list[_Leg]] = {}
    for leg in legs:
        by_base.setdefault(leg.group, []).append(leg)
    groups: dict[str, list[_Leg]] = {}
    for base, members in by_base.items():
        if len({m.side for m in members}) == 2:
            groups[base] = members
        else:
            for m in members:
                groups[f"{base}#{m.index}"] = [m]
    return groups


def _size_group(name: str, members: list[_Leg]) -> list[str]:
    """One quantity for every leg of a hedge group, on every venue's lot; or why not."""
    if len(members) == 1:
        leg = members[0]
        leg.target = leg.market.round_quantity(leg.desired)
        problem = leg.market.check_order(
            leg.target, leg.reference, reduce_only=leg.spec.reduce_only
        )
        return [f"leg {leg.index}: {problem.message}"] if problem else []
    buys = sum(1 for m in members if m.side is Side.BUY)
    if buys * 2 != len(members):
        return [f"group {name}: a hedge needs as many buy legs as sell legs"]
    step = _common_step([m.market.lot_size for m in members])
    quantity = (min(m.desired for m in members) // step) * step
    failures = []
    for leg in members:
        leg.target = quantity
        problem = leg.market.check_order(quantity, leg.reference, reduce_only=leg.spec.reduce_only)
        if quantity <= 0 or problem is not None:
            failures.append(
                f"leg {leg.index} ({leg.gateway.name} {leg.spec.symbol}): the common "
                f"quantity {quantity} fails: "
                f"{problem.message if problem else 'nothing to trade'}"
            )
    return failures


def _common_step(steps: list[Decimal]) -> Decimal:
    """The smallest quantity that is a whole number of every lot step."""
    exponent = min(_exponent(s) for s in steps)
    scaled = [int(s.scaleb(-exponent)) for s in steps]
    lcm = scaled[0]
    for value in scaled[1:]:
        lcm = lcm * value // math.gcd(lcm, value)
    return Decimal(lcm).scaleb(exponent)


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # lot steps are finite
    return exponent


def _balanced(members: list[_Leg], filled: dict[int, Decimal]) -> bool:
    """Buys equal sells within one lot (a single leg: whole or flat)."""
    if len(members) == 1:
        leg = members[0]
        return filled[leg.index] in (_ZERO, leg.target)
    lot = max(m.market.lot_size for m in members)
    values = [filled[m.index] for m in members]
    return max(values) - min(values) < lot


def _flat(filled: dict[int, Decimal]) -> bool:
    return all(v == 0 for v in filled.values())


async def _net(leg: _Leg) -> Decimal:
    """The leg's net position change, from the venue when it reports positions."""
    start = leg.start_position
    if start is not None:
        try:
            position = await leg.gateway.position(leg.spec.symbol)
        except FundarbError:
            position = None
        if position is not None:
            return position - start
    return leg.ledger_net()


def _slippage_usd(result: ExecutionResult) -> Decimal:
    if result.fill_price is None or result.arrival_mid is None:
        return _ZERO
    return (result.fill_price - result.arrival_mid) * result.filled_quantity * result.side.sign


def _rollback_cost(legs: list[_Leg]) -> Decimal:
    """Loss on the quantity undone (entry vs exit), plus the fees of both."""
    total = _ZERO
    for leg in legs:
        entry = leg.entry
        for adj in leg.adjustments:
            if adj.side is leg.side or entry is None or not adj.filled_quantity:
                continue  # a hedge adds to the position; it is not undone
            if entry.fill_price is None or adj.fill_price is None:
                continue
            undone = adj.filled_quantity
            loss = (entry.fill_price - adj.fill_price) * undone * leg.side.sign
            entry_fees = (
                entry.fees * undone / entry.filled_quantity if entry.filled_quantity else (_ZERO)
            )
            total += loss + adj.fees + entry_fees
    return total
