"""The monitoring cycle of :class:`~fundarb.strategies.funding_arbitrage.FundingArbitrage`.

Each cycle reads every venue's positions and funding payments once (one call per venue,
concurrently), then for each active pair: the view of each leg (quantity, mark,
liquidation price), the venue's liquidations booked as trades, a change made outside
fundarb booked at the mark, funding since the pair opened (the venue's payments, each
reconciled against our quantity and its rate, else estimated from the settled rate), and
the exit rules (critical first, then planned). The cycle's changes are saved in one
transaction, then an equity point: equity across the venues, margin usage per venue
(above ``risk.max_margin_usage``: no entries there) and the PnL split.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from fundarb.errors import FundarbError
from fundarb.funding.rates import HOURS_PER_YEAR, FundingSample
from fundarb.logs import log_event
from fundarb.storage.positions import EquityPoint
from fundarb.strategies.funding_arbitrage.base import ZERO, StrategyBase, logger
from fundarb.strategies.funding_arbitrage.positions import (
    FundingEntry,
    LegRef,
    PairPosition,
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
    PositionProvider,
)

__all__ = ["Monitoring"]


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


class Monitoring(StrategyBase):
    """The monitoring cycle, and the funding and liquidations of each leg."""

    cycle_ms: deque[float]  # monitoring cycle CPU+wait times
    margin_usage: dict[str, Decimal]  # per venue, at the last monitoring cycle
    _margin_alerts: set[str]  # venues above risk.max_margin_usage
    _legs: dict[tuple[str, str], _LegState]

    # -- the cycle --------------------------------------------------------------------------

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
        quantity = venue_position.quantity if venue_position is not None else ZERO
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

    # -- liquidations and funding -----------------------------------------------------------

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
                until = position.closed_at
                fresh = [
                    p
                    for p in read
                    if p.symbol == leg.symbol
                    and since < p.funding_time
                    and (until is None or p.funding_time <= until)
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

    # -- equity -----------------------------------------------------------------------------

    async def _equity_point(self) -> None:
        """Equity across the venues (None unless every venue answered), margin usage per
        venue (above the limit: no new entries there), and the PnL split, saved."""
        equity: Decimal | None = ZERO
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


def _close_side(quantity: Decimal) -> Any:
    from fundarb.venues.orders import Side

    return Side.SELL if quantity > 0 else Side.BUY


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
