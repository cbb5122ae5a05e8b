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

This module holds the class, its lifecycle, and scanning and opening; its other parts are
mixins over :class:`~.base.StrategyBase` (the shared state and bookkeeping):
:class:`~.entry.TwapEntry` (entry by pair TWAP), :class:`~.monitor.Monitoring` (the
monitoring cycle), :class:`~.close.Closing` (closing, shutdown) and
:class:`~.restart.Restarting` (reconciling with the venues).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from fundarb.concurrency import finish_shielded
from fundarb.config import FundingSettings, StrategySettings
from fundarb.errors import FundarbError
from fundarb.execution import ExecutionTracker
from fundarb.execution.algos import Algorithm
from fundarb.execution.patterns.atomic_multi_order import (
    AtomicConfig,
    AtomicExecutionResult,
    AtomicMultiOrderExecutor,
    AtomicOutcome,
    OrderSpec,
)
from fundarb.execution.recovery import recover
from fundarb.funding.opportunities import Opportunity, OpportunityFilters
from fundarb.funding.service import RatesService, VenueFeed
from fundarb.logs import log_event
from fundarb.storage.journal import Journal
from fundarb.storage.store import Store
from fundarb.strategies.funding_arbitrage.base import (
    ZERO,
    StrategyBase,
    StrategyEvent,
    logger,
    pct,
)
from fundarb.strategies.funding_arbitrage.close import Closing
from fundarb.strategies.funding_arbitrage.entry import TwapEntry
from fundarb.strategies.funding_arbitrage.monitor import Monitoring
from fundarb.strategies.funding_arbitrage.positions import (
    LegRef,
    PairPosition,
    PnL,
    PositionState,
)
from fundarb.strategies.funding_arbitrage.restart import Restarting
from fundarb.venues.interface import BalanceProvider, PositionProvider

__all__ = ["FundingArbitrage", "StrategyEvent", "StrategySnapshot"]


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


class FundingArbitrage(TwapEntry, Monitoring, Closing, Restarting, StrategyBase):
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
        self.clients = {feed.name: feed.client for feed in feeds if feed.client is not None}
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
        self.positions = {}
        self.closed = deque(maxlen=50)
        self.events = deque(maxlen=200)
        self.opportunities: tuple[Opportunity, ...] = ()
        self.entries_stopped = None
        self.cooldown_until = {}
        self.equity_usd = None
        self.executions = 0
        self.cycle_ms = deque(maxlen=1000)  # monitoring cycle CPU+wait times
        self._legs = {}
        self._unsaved = {}
        self._degraded = set()
        self.margin_usage = {}  # per venue, at the last monitoring cycle
        self._margin_alerts = set()  # venues above risk.max_margin_usage
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
        committed = sum((p.notional_usd for p in active), ZERO)
        if committed + settings.size_usd > settings.max_total_notional_usd:
            return False
        if any(p.symbol == opportunity.symbol for p in active):
            return False
        if {opportunity.long_venue, opportunity.short_venue} & self._margin_alerts:
            return False  # a venue's margin usage is above the limit
        if {opportunity.long_venue, opportunity.short_venue} & self._degraded:
            return False  # found failing during this scan (the scan's filter predates it)
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
                f"{quantity} each, net APR {pct(opportunity.net_apr)} "
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

    def _unhealthy_feeds(self) -> set[str]:
        return {
            name for name, status in self.rates.status().items() if status.state.value == "degraded"
        }


def _how(result: AtomicExecutionResult) -> str:
    """How an execution ended, with the hedges or rollbacks it needed."""
    adjusted = sum(len(leg.adjustments) for leg in result.legs)
    if not adjusted:
        return result.outcome.value
    kind = "rolled back" if result.rollback_performed else "hedged"
    return f"{result.outcome.value}: {kind} with {adjusted} extra order(s)"
