"""``FundingArbitrage``: scan → open → monitor → close, persisted, through the execution layer.

::

    async with open_venues(config) as feeds, Store.open(url) as store:
        strategy = FundingArbitrage(feeds, store, config.strategy, clock=...)
        await strategy.start()      # recovery, reload open positions, check them
        await strategy.run()        # until cancelled (Ctrl-C): then shuts down cleanly

Each pair is written in OPENING before any order, OPEN or FAILED after its entry, CLOSING
before its exit orders and CLOSED once both venues are flat; every state change is saved
before the next step, so a restart resumes from the database (``start`` reconciles each
position against the venues: a mismatch is critical and the pair is closed).

Funding per leg comes from the venue's own payments where it reports them
(:class:`~fundarb.venues.interface.FundingHistoryProvider`), else it is computed from the
settled rate (marked estimated). PnL is split into funding, basis, fees and slippage (see
:mod:`.positions`); an equity point is saved after every monitoring cycle.

The kill switch (``stop_entries``: a file, a signal or the API) stops new entries; open
pairs are still monitored and closed by their rules. Cancelling ``run`` (Ctrl-C) lets an
execution in flight finish its reconciliation, cancels any order of ours still open on
the symbols we trade, and leaves the positions as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fundarb.concurrency import finish_shielded
from fundarb.config import FundingSettings, StrategySettings
from fundarb.errors import FundarbError
from fundarb.execution import ExecutionTracker
from fundarb.execution.algos import Algorithm, PairLeg, PairTwap, TwapResult, TwapState
from fundarb.execution.core.order_executor import ExecutionResult
from fundarb.execution.patterns.atomic_multi_order import (
    AtomicConfig,
    AtomicExecutionResult,
    AtomicMultiOrderExecutor,
    AtomicOutcome,
    OrderSpec,
)
from fundarb.execution.recovery import recover
from fundarb.funding.opportunities import Opportunity, OpportunityFilters
from fundarb.funding.rates import HOURS_PER_YEAR, FundingSample
from fundarb.funding.service import RatesService, VenueFeed
from fundarb.logs import log_event
from fundarb.storage.journal import Journal
from fundarb.storage.positions import EquityPoint
from fundarb.storage.store import Store
from fundarb.strategies.funding_arbitrage.entry import EntryPlan, plan_entry, twap_config
from fundarb.strategies.funding_arbitrage.positions import (
    FundingEntry,
    LegRef,
    PairPosition,
    PnL,
    PositionState,
    Trade,
)
from fundarb.strategies.funding_arbitrage.rules import (
    ExitDecision,
    LegView,
    PairView,
    critical_exit,
    planned_exit,
    should_wait,
)
from fundarb.venues.accounts import FundingPayment, Position
from fundarb.venues.interface import (
    BalanceProvider,
    FundingHistoryProvider,
    FundingRateProvider,
    LiquidationHistoryProvider,
    OrderLookup,
    PositionProvider,
)

__all__ = ["FundingArbitrage", "StrategyEvent", "StrategySnapshot"]

logger = logging.getLogger("fundarb.strategy")

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class StrategyEvent:
    """Something the strategy did, for people (the demo's feed, the summary)."""

    time: datetime
    kind: str  # opened | open_failed | closed | exit | funding | incident | kill_switch | ...
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategySnapshot:
    """The strategy at one moment, for a live display."""

    time: datetime
    positions: tuple[PairPosition, ...]  # active first, then the last closed ones
    opportunities: tuple[Opportunity, ...]
    pnl: PnL  # of every position, open and closed
    equity_usd: Decimal | None
    events: tuple[StrategyEvent, ...]
    entries_stopped: str | None  # why, when the kill switch is on
    executions: int
    incidents: int


@dataclass(slots=True)
class _LegState:
    """What monitoring remembers about a leg between cycles (for estimated funding)."""

    next_funding: datetime | None = None
    rate: Decimal | None = None


@dataclass(slots=True)
class _Cycle:
    """Venue reads shared by every position in one monitoring cycle."""

    positions: dict[str, dict[str, Position] | None] = field(default_factory=dict)
    payments: dict[str, Sequence[FundingPayment]] = field(default_factory=dict)  # by venue
    dirty: dict[str, PairPosition] = field(default_factory=dict)  # saved once, at the end


class FundingArbitrage:
    """The funding-arbitrage strategy (see the module docstring)."""

    def __init__(
        self,
        feeds: Sequence[VenueFeed],
        store: Store,
        settings: StrategySettings,
        *,
        clock: Callable[[], datetime] | None = None,
        funding: FundingSettings | None = None,
        strategy_name: str = "funding_arbitrage",
        executor: AtomicMultiOrderExecutor | None = None,
        journal: Journal | None = None,
        before_entry: Callable[[Opportunity], Awaitable[None]] | None = None,
    ) -> None:
        """``before_entry`` is awaited before each entry's orders (the demo injects its
        fault there)."""
        self.before_entry = before_entry
        self.feeds = {feed.name: feed for feed in feeds}
        self.clients: dict[str, Any] = {
            feed.name: feed.client for feed in feeds if feed.client is not None
        }
        self.store = store
        self.settings = settings
        self.strategy_name = strategy_name
        self.clock = clock or (lambda: datetime.now(UTC))
        self.journal = journal or Journal(store)
        self.tracker = ExecutionTracker(store)
        self.executor = executor or AtomicMultiOrderExecutor(
            config=AtomicConfig(max_imbalance_seconds=settings.execution.max_imbalance_s),
            tracker=self.tracker,
            strategy_name=strategy_name,
            incident_store=store,
            clock=self.clock,
        )
        if self.executor.tracker is None:
            self.executor.tracker = self.tracker
        if journal is not None or self.executor.executor.journal is None:
            self.executor.executor.journal = self.journal
        funding_settings = funding or FundingSettings()
        self.rates = RatesService(
            list(feeds), settings=funding_settings, store=store, clock=self.clock
        )
        self.positions: dict[str, PairPosition] = {}
        self.closed: deque[PairPosition] = deque(maxlen=50)
        self.events: deque[StrategyEvent] = deque(maxlen=200)
        self.opportunities: tuple[Opportunity, ...] = ()
        self.entries_stopped: str | None = None
        self.cooldown_until: dict[str, datetime] = {}
        self.equity_usd: Decimal | None = None
        self.executions = 0
        self.cycle_ms: deque[float] = deque(maxlen=1000)  # monitoring cycle CPU+wait times
        self._legs: dict[tuple[str, str], _LegState] = {}
        self._degraded: set[str] = set()
        self.margin_usage: dict[str, Decimal] = {}  # per venue, at the last monitoring cycle
        self._margin_alerts: set[str] = set()  # venues above risk.max_margin_usage
        self._realised = PnL.zero()  # of positions no longer in memory
        self._started = False

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover interrupted executions, reload active positions, check them against the
        venues (a mismatch is critical: the pair is closed), restore open incidents. Once:
        a second call does nothing (reloading would count closed positions' PnL twice)."""
        if self._started:
            return
        report = await recover(self.journal, self.clients, executor=self.executor)
        for line in report.lines() if report.executions else ():
            self._event("recovery", line)
        await self.executor.restore_incidents()
        for row in await self.store.load_positions(strategy_name=self.strategy_name):
            position = PairPosition.from_row(row)
            if position.active:
                self.positions[position.position_id] = position
            else:
                self._realised = self._realised + position.pnl()
                self.closed.append(position)
                if position.closed_at is not None:
                    self._cool_down(position.symbol, position.closed_at)
        if self.positions:
            self._event("resume", f"resuming {len(self.positions)} position(s)")
        for position in list(self.positions.values()):
            await self._reconcile_on_start(position)
        self._started = True

    async def run(self, *, until: datetime | None = None) -> None:
        """Scan and monitor on schedule until cancelled (or the venue clock reaches
        ``until``); on the way out, shut down cleanly (module docstring)."""
        if not self._started:
            await self.start()
        loop = asyncio.get_running_loop()
        next_scan = next_monitor = loop.time()
        try:
            while until is None or self.clock() < until:
                now = loop.time()
                if now >= next_monitor:
                    await self.monitor()
                    next_monitor = now + self.settings.monitor_every_s
                if now >= next_scan:
                    await self.scan()
                    next_scan = now + self.settings.scan_every_s
                await asyncio.sleep(max(0.0, min(next_monitor, next_scan) - loop.time()))
        finally:
            await finish_shielded(self._shutdown())

    def stop_entries(self, reason: str) -> None:
        """The kill switch: no new entries from now on (open pairs are still managed)."""
        if self.entries_stopped is None:
            self.entries_stopped = reason
            self._event("kill_switch", f"new entries stopped: {reason}")
            log_event(logger, logging.WARNING, "strategy.entries_stopped", reason=reason)

    def resume_entries(self) -> None:
        if self.entries_stopped is not None:
            self.entries_stopped = None
            self._event("kill_switch", "new entries allowed again")

    async def close_all(self, reason: str = "shutdown") -> None:
        """Close every active pair now (the demo's last step)."""
        for position in list(self.positions.values()):
            await self._close(position, ExitDecision(reason=reason, critical=True, detail=reason))

    def snapshot(self) -> StrategySnapshot:
        active = list(self.positions.values())
        pnl = self.total_pnl()
        return StrategySnapshot(
            time=self.clock(),
            positions=tuple(active + list(reversed(self.closed))),
            opportunities=self.opportunities,
            pnl=pnl,
            equity_usd=self.equity_usd,
            events=tuple(self.events),
            entries_stopped=self.entries_stopped,
            executions=self.executions,
            incidents=len(self.executor.incidents),
        )

    def total_pnl(self) -> PnL:
        total = self._realised
        for position in self.positions.values():
            total = total + position.pnl()
        return total

    # -- scan and open ----------------------------------------------------------------------

    async def scan(self) -> list[PairPosition]:
        """Collect rates, rank opportunities, open the best ones the limits allow."""
        await self.rates.collect()
        self._check_kill_file()
        settings = self.settings
        filters = OpportunityFilters(
            min_net_apr=settings.entry.min_net_apr,
            symbols=frozenset(settings.symbols) or None,
            feasible_only=True,
            deny_venues=frozenset(self._degraded | self._unhealthy_feeds()),
        )
        try:
            ranked = await self.rates.opportunities(
                filters=filters,
                notional_usd=settings.size_usd,
                horizon_hours=settings.entry.horizon_hours,
                mode=settings.execution.mode,
            )
        except FundarbError as exc:
            log_event(logger, logging.WARNING, "strategy.scan_failed", error=exc)
            return []
        self.opportunities = tuple(ranked[:10])
        opened: list[PairPosition] = []
        for opportunity in ranked:
            if not self._may_enter(opportunity):
                continue
            position = await self.open(opportunity)
            if position is not None:
                opened.append(position)
        return opened

    def _may_enter(self, opportunity: Opportunity) -> bool:
        settings = self.settings
        if self.entries_stopped is not None or self.executor.kill_switch_active:
            return False
        active = list(self.positions.values())
        if len(active) >= settings.max_positions:
            return False
        committed = sum((p.notional_usd for p in active), _ZERO)
        if committed + settings.size_usd > settings.max_total_notional_usd:
            return False
        if any(p.symbol == opportunity.symbol for p in active):
            return False
        if {opportunity.long_venue, opportunity.short_venue} & self._margin_alerts:
            return False  # a venue's margin usage is above the limit
        cooling = self.cooldown_until.get(opportunity.symbol)
        if cooling is not None and self.clock() < cooling:
            return False
        if (
            opportunity.long_venue not in self.clients
            or opportunity.short_venue not in self.clients
        ):
            return False
        be = opportunity.break_even_hours
        if be is None or be > settings.entry.max_break_even_hours:
            return False
        long_leg, short_leg = opportunity.long_leg, opportunity.short_leg
        # one quantity must mean the same exposure on both venues
        return long_leg.sample.multiplier == short_leg.sample.multiplier == 1

    async def open(self, opportunity: Opportunity) -> PairPosition | None:
        """Open one pair through the atomic executor (OPENING is saved before any order)."""
        settings = self.settings
        now = self.clock()
        position = PairPosition(
            position_id=uuid.uuid4().hex[:12],
            strategy_name=self.strategy_name,
            symbol=opportunity.symbol,
            long=LegRef(opportunity.long_venue, opportunity.long_leg.venue_symbol),
            short=LegRef(opportunity.short_venue, opportunity.short_leg.venue_symbol),
            notional_usd=settings.size_usd,
            created_at=now,
            entry_net_apr=opportunity.net_apr,
            entry_break_even_hours=opportunity.break_even_hours,
        )
        self.positions[position.position_id] = position
        await self._save(position)
        problem = await self._pre_entry_checks(position)
        if problem is not None:
            await self._entry_failed(position, problem, None)
            return None
        long_client = self.clients[position.long.venue]
        short_client = self.clients[position.short.venue]
        execution = settings.execution
        if self.before_entry is not None:
            await self.before_entry(opportunity)
        if execution.algorithm == "auto":
            plan = await self._plan_entry(position)
            if plan is not None and plan.algorithm is Algorithm.PAIR_TWAP:
                return await self._open_twap(position, opportunity, plan)
        specs = [
            OrderSpec(
                long_client,
                position.long.symbol,
                "buy",
                settings.size_usd,
                execution.mode,
                execution.timeout_s,
            ),
            OrderSpec(
                short_client,
                position.short.symbol,
                "sell",
                settings.size_usd,
                execution.mode,
                execution.timeout_s,
            ),
        ]
        result = await self.executor.execute_atomically(
            specs,
            rollback_on_partial=True,
            on_imbalance=execution.on_imbalance,
            max_imbalance_seconds=execution.max_imbalance_s,
        )
        self.executions += 1
        position.entry_execution_id = result.execution_id
        self._add_trades(position, result, "entry")
        if result.outcome in (AtomicOutcome.FILLED, AtomicOutcome.HEDGED):
            quantity = min(
                abs(position.net_quantity(position.long)),
                abs(position.net_quantity(position.short)),
            )
            position.quantity = quantity
            position.state = PositionState.OPEN
            position.opened_at = self.clock()
            await self._save(position)
            self._event(
                "opened",
                f"{position.symbol}: long {position.long.venue} / short {position.short.venue}, "
                f"{quantity} each, net APR {_pct(opportunity.net_apr)} "
                f"({_how(result)})",
            )
            log_event(
                logger,
                logging.INFO,
                "strategy.opened",
                position_id=position.position_id,
                execution_id=result.execution_id,
                symbol=position.symbol,
                quantity=quantity,
            )
            return position
        reason = result.error_message or result.outcome.value
        await self._entry_failed(position, reason, result)
        return None

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
            f"{position.quantity} each, net APR {_pct(opportunity.net_apr)} ({done}{cost})",
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

    async def _entry_failed(
        self,
        position: PairPosition,
        reason: str,
        result: AtomicExecutionResult | None,
        *,
        how: str | None = None,
    ) -> None:
        position.state = PositionState.FAILED
        position.closed_at = self.clock()
        position.exit_reason = "entry_failed"
        position.notes.append(reason)
        if result is not None and result.outcome is AtomicOutcome.RESIDUAL_EXPOSURE:
            position.notes.append("residual exposure: see the incident; kill switch is on")
            self._event("incident", f"{position.symbol}: residual exposure after entry: {reason}")
        how = how or (_how(result) if result is not None else "not sent")
        self._event("open_failed", f"{position.symbol}: entry {how}: {reason}")
        log_event(
            logger,
            logging.WARNING,
            "strategy.open_failed",
            position_id=position.position_id,
            execution_id=result.execution_id if result is not None else None,
            symbol=position.symbol,
            reason=reason,
        )
        await self._retire(position)
        self._cool_down(position.symbol, self.clock())
        return

    async def _pre_entry_checks(self, position: PairPosition) -> str | None:
        """Leverage set and confirmed on both venues; margin and leg divergence in limits.
        Returns the problem, or None."""
        risk = self.settings.risk
        mids: list[Decimal] = []
        for leg in position.legs:
            client = self.clients[leg.venue]
            leverage = self.settings.leverage_for(leg.venue)
            try:
                if isinstance(client, PositionProvider):
                    confirmed = await client.set_leverage(leg.symbol, leverage)
                    if confirmed != leverage:
                        return f"{leg.venue} set leverage {confirmed}, asked {leverage}"
                bid, ask = await client.fetch_bbo_prices(leg.symbol)
                mids.append((bid + ask) / 2)
                if isinstance(client, BalanceProvider):
                    balance = await client.get_balance()
                    needed = position.notional_usd / leverage
                    if balance.equity <= 0:
                        return f"{leg.venue} has no equity"
                    usage = (balance.margin_used + needed) / balance.equity
                    if usage > risk.max_margin_usage:
                        return f"{leg.venue} margin usage would be {usage:.2%}"
            except FundarbError as exc:
                self._degraded.add(leg.venue)
                return f"{leg.venue}: {exc}"
        if mids[0] > 0 and mids[1] > 0:
            divergence = abs(mids[0] - mids[1]) / min(mids)
            if divergence > risk.max_leg_divergence:
                return f"legs' prices {divergence:.2%} apart"
        return None

    # -- monitor ----------------------------------------------------------------------------

    async def monitor(self) -> None:
        """One monitoring cycle over every active pair, then an equity point."""
        started = time.perf_counter()
        self._check_kill_file()
        cycle = _Cycle()
        venues = {leg.venue for p in self.positions.values() for leg in p.legs}
        samples = {(s.venue, s.venue_symbol): s for s in self.rates.collectors.latest()}
        await self._read_positions(cycle, venues)
        await self._read_payments(cycle)
        for position in list(self.positions.values()):
            try:
                await self._monitor_one(position, cycle, samples)
            except FundarbError as exc:
                log_event(
                    logger,
                    logging.WARNING,
                    "strategy.monitor_failed",
                    position_id=position.position_id,
                    error=exc,
                )
        await self._save(*cycle.dirty.values())  # one transaction for the cycle's updates
        await self._equity_point()
        self.cycle_ms.append((time.perf_counter() - started) * 1000)

    async def _read_payments(self, cycle: _Cycle) -> None:
        """Each venue's funding payments since its oldest open pair: one call per venue."""
        since: dict[str, datetime] = {}
        for position in self.positions.values():
            start = position.opened_at or position.created_at
            for leg in position.legs:
                since[leg.venue] = min(since.get(leg.venue, start), start)

        async def one(venue: str, start: datetime) -> None:
            client = self.clients.get(venue)
            if not isinstance(client, FundingHistoryProvider):
                return
            try:
                cycle.payments[venue] = await client.get_funding_payments(since=start)
            except FundarbError as exc:
                log_event(
                    logger, logging.WARNING, "strategy.funding_read_failed", venue=venue, error=exc
                )

        async with asyncio.TaskGroup() as group:
            for venue, start in since.items():
                group.create_task(one(venue, start))

    async def _read_positions(self, cycle: _Cycle, venues: set[str]) -> None:
        async def one(venue: str) -> None:
            client = self.clients.get(venue)
            if not isinstance(client, PositionProvider):
                cycle.positions[venue] = None
                return
            try:
                listed = await client.get_positions()
            except FundarbError as exc:
                self._degraded.add(venue)
                log_event(
                    logger, logging.WARNING, "strategy.positions_failed", venue=venue, error=exc
                )
                cycle.positions[venue] = None
                return
            self._degraded.discard(venue)
            cycle.positions[venue] = {p.symbol: p for p in listed}

        async with asyncio.TaskGroup() as group:
            for venue in venues:
                group.create_task(one(venue))

    async def _monitor_one(
        self,
        position: PairPosition,
        cycle: _Cycle,
        samples: Mapping[tuple[str, str], FundingSample],
    ) -> None:
        if position.state is PositionState.OPENING:
            return  # an entry in flight (or one start() is reconciling)
        if position.state is PositionState.CLOSING:
            await self._close(
                position,
                ExitDecision(
                    reason=position.exit_reason or "closing", critical=True, detail="retry"
                ),
            )
            return
        views = [await self._leg_view(position, leg, cycle) for leg in position.legs]
        await self._sync_funding(position, cycle)
        long_sample = samples.get((position.long.venue, position.long.symbol))
        short_sample = samples.get((position.short.venue, position.short.symbol))
        spread_apr = None
        next_funding = None
        if long_sample is not None and short_sample is not None:
            spread_apr = (short_sample.rate_per_hour - long_sample.rate_per_hour) * HOURS_PER_YEAR
            next_funding = min(long_sample.funding_time, short_sample.funding_time)
        view = PairView(
            now=self.clock(),
            long=views[0],
            short=views[1],
            spread_apr=spread_apr,
            pnl=position.pnl(),
            next_funding=next_funding,
        )
        cycle.dirty[position.position_id] = position
        decision = critical_exit(position, view, self.settings.risk)
        if decision is None:
            decision = planned_exit(position, view, self.settings.exit)
            if decision is not None and should_wait(decision, view, self.settings.exit):
                return
        if decision is not None:
            self._event("exit", f"{position.symbol}: {decision.reason} ({decision.detail})")
            await self._close(position, decision)

    async def _leg_view(self, position: PairPosition, leg: LegRef, cycle: _Cycle) -> LegView:
        listed = cycle.positions.get(leg.venue)
        if listed is None:
            return LegView(quantity=None, mark=None, liquidation_price=None)
        venue_position = listed.get(leg.symbol)
        if venue_position is None and listed:
            # the venue lists positions under its own name for the symbol (ccxt: the
            # unified BTC/USDT:USDT for our BTCUSDT): ask for this one by our name
            venue_position = await self.clients[leg.venue].get_position(leg.symbol)
        quantity = venue_position.quantity if venue_position is not None else _ZERO
        mark = venue_position.mark_price if venue_position is not None else None
        if mark is not None:
            position.marks[f"{leg.venue}:{leg.symbol}"] = mark
        liquidated = False
        ours = position.net_quantity(leg)
        if quantity != ours:
            liquidated = await self._sync_liquidations(position, leg)
            if liquidated:
                ours = position.net_quantity(leg)
            if quantity != ours and mark is not None:
                # changed outside fundarb (by hand, auto-deleveraging): book the difference at
                # the mark, so the pair's PnL follows what the venue really holds
                log_event(
                    logger,
                    logging.WARNING,
                    "strategy.outside_change",
                    position_id=position.position_id,
                    venue=leg.venue,
                    symbol=leg.symbol,
                    venue_quantity=quantity,
                    our_quantity=ours,
                )
                await self._reconstruct(position, leg, quantity - ours, price=mark)
        return LegView(
            quantity=quantity,
            mark=mark,
            liquidation_price=venue_position.liquidation_price if venue_position else None,
            liquidated=liquidated,
        )

    async def _sync_liquidations(self, position: PairPosition, leg: LegRef) -> bool:
        """Record the venue's liquidations of ``leg`` as trades; whether there were any."""
        client = self.clients[leg.venue]
        if not isinstance(client, LiquidationHistoryProvider):
            return False
        since = position.opened_at or position.created_at
        found = False
        for event in await client.get_liquidations(leg.symbol, since=since):
            known = any(
                t.kind == "liquidation" and t.venue == leg.venue and t.time == event.timestamp
                for t in position.trades
            )
            if known:
                found = True
                continue
            found = True
            position.trades.append(
                Trade(
                    venue=leg.venue,
                    symbol=leg.symbol,
                    side=_close_side(event.quantity),
                    quantity=abs(event.quantity),
                    price=event.price,
                    mid=event.price,
                    fee=event.fee,
                    time=event.timestamp,
                    kind="liquidation",
                )
            )
            self._event(
                "incident",
                f"{position.symbol}: {leg.venue} liquidated {event.quantity} at {event.price}",
            )
            log_event(
                logger,
                logging.CRITICAL,
                "strategy.leg_liquidated",
                position_id=position.position_id,
                venue=leg.venue,
                symbol=leg.symbol,
                quantity=event.quantity,
            )
        return found

    async def _sync_funding(self, position: PairPosition, cycle: _Cycle | None = None) -> None:
        """Funding of each leg since the pair opened: the venue's payments where it reports
        them (read once per venue in a monitoring cycle), else computed from the rate that
        settled (estimated)."""
        since = position.opened_at or position.created_at
        for leg in position.legs:
            client = self.clients[leg.venue]
            if isinstance(client, FundingHistoryProvider):
                read = cycle.payments.get(leg.venue) if cycle is not None else None
                if read is None:
                    read = await client.get_funding_payments(leg.symbol, since=since)
                payments = [p for p in read if p.symbol == leg.symbol and p.funding_time > since]
                fresh = [
                    p
                    for p in payments
                    if (position.closed_at is None or p.funding_time <= position.closed_at)
                    and not position.has_funding(leg.venue, leg.symbol, p.funding_time)
                ]
                for payment in fresh:
                    position.funding.append(
                        FundingEntry(
                            venue=leg.venue,
                            symbol=leg.symbol,
                            funding_time=payment.funding_time,
                            rate=payment.rate,
                            amount=payment.amount,
                        )
                    )
                    _reconcile_payment(position, leg, payment)
                if fresh:
                    await self._store_payments(position, fresh)
            elif isinstance(client, FundingRateProvider):
                await self._estimate_funding(position, leg, client)

    async def _estimate_funding(
        self, position: PairPosition, leg: LegRef, client: FundingRateProvider
    ) -> None:
        state = self._legs.setdefault((leg.venue, leg.symbol), _LegState())
        now = self.clock()
        if state.next_funding is not None and state.rate is not None and now >= state.next_funding:
            quantity = position.net_quantity(leg)
            mark = position.marks.get(f"{leg.venue}:{leg.symbol}")
            if (
                quantity
                and mark is not None
                and not position.has_funding(leg.venue, leg.symbol, state.next_funding)
            ):
                position.funding.append(
                    FundingEntry(
                        venue=leg.venue,
                        symbol=leg.symbol,
                        funding_time=state.next_funding,
                        rate=state.rate,
                        amount=-quantity * mark * state.rate,
                        estimated=True,
                    )
                )
        rate = await client.get_funding_rate(leg.symbol)
        state.next_funding, state.rate = rate.next_funding_time, rate.rate

    async def _store_payments(self, position: PairPosition, payments: Sequence[Any]) -> None:
        try:
            await self.store.save_funding_payments(payments, position_id=position.position_id)
        except FundarbError as exc:
            log_event(logger, logging.WARNING, "strategy.funding_not_saved", error=exc)

    # -- close ------------------------------------------------------------------------------

    async def _close(self, position: PairPosition, decision: ExitDecision) -> None:
        """Close both legs reduce-only, sized from the venues' real positions."""
        if position.state is not PositionState.CLOSING:
            position.state = PositionState.CLOSING
            position.exit_reason = decision.reason
            await self._save(position)
        await self._sync_funding(position)
        execution = self.settings.execution
        legs = [(self.clients[leg.venue], leg.symbol) for leg in position.legs]
        result = await self.executor.close_positions(
            legs, mode=execution.close_mode, timeout_seconds=execution.timeout_s
        )
        self.executions += 1
        if result.outcome is not AtomicOutcome.ABORTED_PREFLIGHT or result.legs:
            position.exit_execution_ids.append(result.execution_id)
            self._add_trades(position, result, "exit")
        flat = await self._flat(position)
        if not flat:
            position.notes.append(f"close incomplete: {result.error_message or result.outcome}")
            await self._save(position)
            log_event(
                logger,
                logging.ERROR,
                "strategy.close_incomplete",
                position_id=position.position_id,
                execution_id=result.execution_id,
                outcome=result.outcome.value,
            )
            return
        position.state = PositionState.CLOSED
        position.closed_at = self.clock()
        await self._sync_funding(position)
        await self._retire(position)
        self._cool_down(position.symbol, position.closed_at)
        pnl = position.pnl()
        self._event(
            "closed",
            f"{position.symbol}: closed ({decision.reason}), PnL {pnl.total:+.2f} "
            f"(funding {pnl.funding:+.2f}, basis {pnl.basis:+.2f}, fees {-pnl.fees:+.2f}, "
            f"slippage {-pnl.slippage:+.2f})",
        )
        log_event(
            logger,
            logging.INFO,
            "strategy.closed",
            position_id=position.position_id,
            execution_id=result.execution_id,
            symbol=position.symbol,
            reason=decision.reason,
            pnl=pnl.total,
        )

    async def _flat(self, position: PairPosition) -> bool:
        for leg in position.legs:
            client = self.clients[leg.venue]
            if not isinstance(client, PositionProvider):
                continue
            listed = await client.get_position(leg.symbol)
            if listed is not None and listed.quantity != 0:
                return False
            if listed is None or listed.quantity == 0:
                residue = position.net_quantity(leg)
                if residue:  # the venue is flat but our trades are not: a close we missed
                    await self._sync_liquidations(position, leg)
                residue = position.net_quantity(leg)
                if residue:  # closed outside fundarb: at the last mark, so the pair is flat
                    position.notes.append(f"{leg.venue} {residue} closed outside fundarb")
                    await self._reconstruct(position, leg, -residue)
        return True

    # -- restart ----------------------------------------------------------------------------

    async def _reconcile_on_start(self, position: PairPosition) -> None:
        """A position reloaded at start: does it still match the venues?"""
        quantities: list[Decimal | None] = []
        for leg in position.legs:
            client = self.clients.get(leg.venue)
            if not isinstance(client, PositionProvider):
                quantities.append(None)
                continue
            listed = await client.get_position(leg.symbol)
            quantities.append(listed.quantity if listed is not None else _ZERO)
            if listed is not None:
                position.marks[f"{leg.venue}:{leg.symbol}"] = listed.mark_price
        long_q, short_q = quantities
        if position.state is PositionState.OPENING:
            if long_q == 0 and short_q == 0:
                await self._entry_failed(position, "interrupted before both legs traded", None)
                return
            if long_q is not None and short_q is not None and long_q == -short_q and long_q > 0:
                for leg, quantity in zip(position.legs, quantities, strict=True):
                    ours = position.net_quantity(leg)
                    if quantity is not None and quantity != ours:
                        await self._reconstruct(position, leg, quantity - ours)
                position.quantity = long_q
                position.state = PositionState.OPEN
                position.opened_at = position.opened_at or self.clock()
                position.notes.append("entry interrupted; adopted from the venues at restart")
                await self._save(position)
                self._event("resume", f"{position.symbol}: interrupted entry adopted as open")
                return
            position.notes.append(f"entry interrupted: venues show {long_q} / {short_q}")
            await self._critical(position, "restart_mismatch", f"{long_q} / {short_q}")
            return
        if position.state is PositionState.OPEN:
            expected = (position.quantity, -position.quantity)
            if (long_q is not None and long_q != expected[0]) or (
                short_q is not None and short_q != expected[1]
            ):
                await self._critical(
                    position,
                    "restart_mismatch",
                    f"venues show {long_q} / {short_q}, expected {expected[0]} / {expected[1]}",
                )
                return
            self._event("resume", f"{position.symbol}: open pair matches the venues")
            return
        if position.state is PositionState.CLOSING:
            await self._close(
                position,
                ExitDecision(
                    reason=position.exit_reason or "closing", critical=True, detail="resumed"
                ),
            )

    async def _reconstruct(
        self, position: PairPosition, leg: LegRef, signed: Decimal, *, price: Decimal | None = None
    ) -> None:
        """A trade we did not see (a crash between fill and record, a change made outside
        fundarb): at ``price``, else the venue's entry price; no fee or slippage claimed."""
        if price is None:
            listed = await self.clients[leg.venue].get_position(leg.symbol)
            price = (
                listed.entry_price
                if listed is not None
                else position.marks.get(f"{leg.venue}:{leg.symbol}", _ZERO)
            )
        position.trades.append(
            Trade(
                venue=leg.venue,
                symbol=leg.symbol,
                side=_open_side(signed),
                quantity=abs(signed),
                price=price,
                mid=price,
                fee=_ZERO,
                time=self.clock(),
                kind="reconstructed",
            )
        )

    async def _critical(self, position: PairPosition, reason: str, detail: str) -> None:
        self._event("incident", f"{position.symbol}: {reason}: {detail}")
        log_event(
            logger,
            logging.CRITICAL,
            "strategy.position_mismatch",
            position_id=position.position_id,
            reason=reason,
            detail=detail,
        )
        for leg in position.legs:
            ours = position.net_quantity(leg)
            client = self.clients.get(leg.venue)
            if isinstance(client, PositionProvider):
                listed = await client.get_position(leg.symbol)
                venue_q = listed.quantity if listed is not None else _ZERO
                if venue_q != ours and not await self._sync_liquidations(position, leg):
                    await self._reconstruct(position, leg, venue_q - ours)
        await self._close(position, ExitDecision(reason=reason, critical=True, detail=detail))

    # -- shutdown ---------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        """No order of ours left open on the symbols we trade; positions stay as they are."""
        symbols: dict[str, set[str]] = {}
        for position in self.positions.values():
            for leg in position.legs:
                symbols.setdefault(leg.venue, set()).add(leg.symbol)
        for venue, names in symbols.items():
            client = self.clients.get(venue)
            if not isinstance(client, OrderLookup):  # the executor's orders end with it
                continue
            for symbol in names:
                try:
                    for order in await client.get_open_orders(symbol):
                        await self.clients[venue].cancel_order(order.order_id)
                        log_event(
                            logger,
                            logging.WARNING,
                            "strategy.shutdown_cancelled",
                            venue=venue,
                            symbol=symbol,
                            order_id=order.order_id,
                        )
                except FundarbError as exc:
                    log_event(
                        logger,
                        logging.ERROR,
                        "strategy.shutdown_cancel_failed",
                        venue=venue,
                        error=exc,
                    )
        with contextlib.suppress(FundarbError):
            await self.journal.flush()
        with contextlib.suppress(FundarbError):
            await self.tracker.flush_spool()
        for position in self.positions.values():
            with contextlib.suppress(FundarbError):
                await self.store.save_positions([position.to_row(self.clock())])

    # -- helpers ----------------------------------------------------------------------------

    def _add_trades(self, position: PairPosition, result: AtomicExecutionResult, kind: str) -> None:
        now = self.clock()
        for leg in result.legs:
            runs = [(leg.entry, kind)] + [
                (adjustment, "adjustment") for adjustment in leg.adjustments
            ]
            for run, run_kind in runs:
                if run is not None:
                    self._add_run(position, run, run_kind, result.execution_id, now)

    def _add_run(
        self,
        position: PairPosition,
        run: ExecutionResult,
        kind: str,
        execution_id: str,
        now: datetime | None = None,
    ) -> None:
        """One order's fills as a trade, at its arrival mid (else its price: no slippage)."""
        if not run.filled_quantity or run.fill_price is None:
            return
        position.trades.append(
            Trade(
                venue=run.venue,
                symbol=run.symbol,
                side=run.side,
                quantity=run.filled_quantity,
                price=run.fill_price,
                mid=run.arrival_mid if run.arrival_mid is not None else run.fill_price,
                fee=run.fees,
                time=now or self.clock(),
                kind=kind,
                execution_id=execution_id,
            )
        )

    async def _save(self, *positions: PairPosition) -> None:
        """Save positions (one transaction); a database that is down is logged and the
        positions are saved again at their next change."""
        if not positions:
            return
        now = self.clock()
        try:
            await self.store.save_positions([p.to_row(now) for p in positions])
        except FundarbError as exc:
            log_event(
                logger,
                logging.ERROR,
                "strategy.position_not_saved",
                position_id=",".join(p.position_id for p in positions),
                error=exc,
            )

    async def _retire(self, position: PairPosition) -> None:
        await self._save(position)
        self.positions.pop(position.position_id, None)
        self._realised = self._realised + position.pnl()
        self.closed.append(position)

    async def _equity_point(self) -> None:
        """Equity across the venues (None unless every venue answered), margin usage per
        venue (above the limit: no new entries there), and the PnL split, saved."""
        equity: Decimal | None = _ZERO
        limit = self.settings.risk.max_margin_usage
        for venue, client in self.clients.items():
            if not isinstance(client, BalanceProvider):
                continue
            try:
                balance = await client.get_balance()
            except FundarbError as exc:
                self._degraded.add(venue)
                equity = None
                log_event(
                    logger, logging.WARNING, "strategy.balance_failed", venue=venue, error=exc
                )
                continue
            self._degraded.discard(venue)
            if equity is not None:
                equity += balance.equity
            usage = balance.margin_used / balance.equity if balance.equity > 0 else Decimal(1)
            self.margin_usage[venue] = usage
            if usage > limit and venue not in self._margin_alerts:
                self._margin_alerts.add(venue)
                self._event("risk", f"{venue} margin usage {usage:.1%} above {limit:.0%}")
                log_event(
                    logger, logging.WARNING, "strategy.margin_usage", venue=venue, usage=usage
                )
            elif usage <= limit:
                self._margin_alerts.discard(venue)
        self.equity_usd = equity
        pnl = self.total_pnl()
        point = EquityPoint(
            strategy_name=self.strategy_name,
            time=self.clock(),
            funding_usd=pnl.funding,
            basis_usd=pnl.basis,
            fees_usd=pnl.fees,
            slippage_usd=pnl.slippage,
            pnl_usd=pnl.total,
            equity_usd=self.equity_usd,
            open_positions=len(self.positions),
        )
        try:
            await self.store.save_equity([point])
        except FundarbError as exc:
            log_event(logger, logging.WARNING, "strategy.equity_not_saved", error=exc)

    def _check_kill_file(self) -> None:
        path = self.settings.kill_switch_file
        if path is not None and path.exists():
            self.stop_entries(f"kill switch file {path}")

    def _unhealthy_feeds(self) -> set[str]:
        return {
            name for name, status in self.rates.status().items() if status.state.value == "degraded"
        }

    def _cool_down(self, symbol: str, since: datetime) -> None:
        from datetime import timedelta

        self.cooldown_until[symbol] = since + timedelta(seconds=self.settings.cooldown_s)

    def _event(self, kind: str, text: str) -> None:
        self.events.append(StrategyEvent(self.clock(), kind, text))


def _close_side(quantity: Decimal) -> Any:
    from fundarb.venues.orders import Side

    return Side.SELL if quantity > 0 else Side.BUY


def _open_side(signed: Decimal) -> Any:
    from fundarb.venues.orders import Side

    return Side.BUY if signed > 0 else Side.SELL


def _reconcile_payment(position: PairPosition, leg: LegRef, payment: FundingPayment) -> None:
    """A payment is checked against what we hold and its own rate: the venue's position
    must be ours, and the amount −quantity × mark × rate (to a cent's hundredth)."""
    ours = position.net_quantity(leg)
    expected = -payment.position_quantity * payment.mark_price * payment.rate
    if payment.position_quantity != ours or abs(expected - payment.amount) > Decimal("0.0001"):
        log_event(
            logger,
            logging.WARNING,
            "strategy.funding_mismatch",
            position_id=position.position_id,
            venue=leg.venue,
            symbol=leg.symbol,
            funding_time=payment.funding_time,
            venue_quantity=payment.position_quantity,
            our_quantity=ours,
            amount=payment.amount,
            expected=expected,
        )


def _how(result: AtomicExecutionResult) -> str:
    """How an execution ended, with the hedges or rollbacks it needed."""
    adjusted = sum(len(leg.adjustments) for leg in result.legs)
    if not adjusted:
        return result.outcome.value
    kind = "rolled back" if result.rollback_performed else "hedged"
    return f"{result.outcome.value}: {kind} with {adjusted} extra order(s)"


def _pct(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"
