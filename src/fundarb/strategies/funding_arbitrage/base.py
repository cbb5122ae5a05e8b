"""What every part of :class:`~fundarb.strategies.funding_arbitrage.FundingArbitrage`
shares: its state (set by the class's ``__init__``), its book of pairs (saving them,
retiring them, their total PnL), the trades it books (from executions, or reconstructed
from what the venues show), its events for people, and the kill switch.

The strategy is one class of parts, each a mixin over :class:`StrategyBase`:
``engine`` (lifecycle, scan and open), ``entry`` (the pair TWAP entry), ``monitor`` (the
monitoring cycle), ``close`` (closing pairs, shutting down) and ``restart`` (reconciling
with the venues). What one part calls in another is declared here, so each reads alone.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fundarb.config import StrategySettings
from fundarb.errors import FundarbError
from fundarb.execution import ExecutionTracker
from fundarb.execution.core.order_executor import ExecutionResult
from fundarb.execution.patterns.atomic_multi_order import (
    AtomicExecutionResult,
    AtomicMultiOrderExecutor,
)
from fundarb.funding.service import RatesService
from fundarb.logs import log_event
from fundarb.storage.journal import Journal
from fundarb.storage.store import Store
from fundarb.strategies.funding_arbitrage.positions import LegRef, PairPosition, PnL, Trade
from fundarb.strategies.funding_arbitrage.rules import ExitDecision

if TYPE_CHECKING:
    from fundarb.strategies.funding_arbitrage.monitor import _Cycle

__all__ = ["ZERO", "StrategyBase", "StrategyEvent", "logger", "pct"]

logger = logging.getLogger("fundarb.strategy")

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class StrategyEvent:
    """Something the strategy did, for people (the demo's feed, the summary)."""

    time: datetime
    kind: str  # opened | open_failed | closed | exit | funding | incident | kill_switch | ...
    text: str


class StrategyBase:
    """The shared state and bookkeeping of the strategy's parts."""

    clients: dict[str, Any]  # by venue: the feeds' trading clients
    store: Store
    settings: StrategySettings
    strategy_name: str
    clock: Callable[[], datetime]
    journal: Journal
    tracker: ExecutionTracker
    executor: AtomicMultiOrderExecutor
    rates: RatesService
    positions: dict[str, PairPosition]  # active, by position id
    closed: deque[PairPosition]  # the last ones no longer active
    events: deque[StrategyEvent]
    entries_stopped: str | None  # why, when the kill switch is on
    cooldown_until: dict[str, datetime]  # by symbol: no entry before
    equity_usd: Decimal | None
    executions: int
    _degraded: set[str]  # venues whose last read failed: no entries there
    _realised: PnL  # of positions no longer in memory
    _unsaved: dict[str, PairPosition]  # saves the database refused, by position id

    if TYPE_CHECKING:
        # what one part calls in another: declared for the type checker only, so the
        # class's method resolution finds each in its part

        # engine: a failed entry is FAILED, retired and cooled down
        async def _entry_failed(
            self,
            position: PairPosition,
            reason: str,
            result: AtomicExecutionResult | None,
            *,
            how: str | None = None,
        ) -> None: ...

        # monitor: each leg's funding and liquidations, booked
        async def _sync_funding(
            self, position: PairPosition, cycle: _Cycle | None = None
        ) -> None: ...

        async def _sync_liquidations(self, position: PairPosition, leg: LegRef) -> bool: ...

        # close: both legs, reduce-only
        async def _close(self, position: PairPosition, decision: ExitDecision) -> None: ...

        # restart: a pair the venues contradict, booked as they show it and closed
        async def _critical(self, position: PairPosition, reason: str, detail: str) -> None: ...

    # -- the kill switch --------------------------------------------------------------------

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

    def _check_kill_file(self) -> None:
        path = self.settings.kill_switch_file
        if path is not None and path.exists():
            self.stop_entries(f"kill switch file {path}")

    # -- the book ---------------------------------------------------------------------------

    def total_pnl(self) -> PnL:
        total = self._realised
        for position in self.positions.values():
            total = total + position.pnl()
        return total

    async def _save(self, *positions: PairPosition) -> None:
        """Save positions (one transaction); a database that is down is logged and the
        positions are saved again with the next save of any position (a retired one has no
        next change of its own) or at shutdown."""
        if not positions and not self._unsaved:
            return
        now = self.clock()
        batch = {p.position_id: p for p in (*self._unsaved.values(), *positions)}
        try:
            await self.store.save_positions([p.to_row(now) for p in batch.values()])
        except FundarbError as exc:
            self._unsaved = batch
            log_event(
                logger,
                logging.ERROR,
                "strategy.position_not_saved",
                position_id=",".join(batch),
                error=exc,
            )
        else:
            self._unsaved = {}

    async def _retire(self, position: PairPosition) -> None:
        await self._save(position)
        self.positions.pop(position.position_id, None)
        self._realised = self._realised + position.pnl()
        self.closed.append(position)

    def _cool_down(self, symbol: str, since: datetime) -> None:
        self.cooldown_until[symbol] = since + timedelta(seconds=self.settings.cooldown_s)

    def _event(self, kind: str, text: str) -> None:
        self.events.append(StrategyEvent(self.clock(), kind, text))

    # -- trades -----------------------------------------------------------------------------

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
                else position.marks.get(f"{leg.venue}:{leg.symbol}", ZERO)
            )
        position.trades.append(
            Trade(
                venue=leg.venue,
                symbol=leg.symbol,
                side=_open_side(signed),
                quantity=abs(signed),
                price=price,
                mid=price,
                fee=ZERO,
                time=self.clock(),
                kind="reconstructed",
            )
        )


def _open_side(signed: Decimal) -> Any:
    from fundarb.venues.orders import Side

    return Side.BUY if signed > 0 else Side.SELL


def pct(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"
