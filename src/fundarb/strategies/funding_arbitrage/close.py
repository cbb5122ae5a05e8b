"""Closing pairs, and shutting down, for
:class:`~fundarb.strategies.funding_arbitrage.FundingArbitrage`.

A pair is closed reduce-only on both legs, sized from the venues' real positions: CLOSING
is saved before the exit orders, CLOSED once both venues are flat (a leg the venue shows
flat but our trades do not is booked: a liquidation, else a close outside fundarb). A
close that leaves a leg open stays CLOSING and is tried again by the next monitoring cycle.

Shutting down cancels every order of ours still open on the symbols we trade, flushes the
journal and the tracker's spool, and saves the positions as they are.
"""

from __future__ import annotations

import contextlib
import logging

from fundarb.errors import FundarbError
from fundarb.execution.patterns.atomic_multi_order import AtomicOutcome
from fundarb.logs import log_event
from fundarb.strategies.funding_arbitrage.base import StrategyBase, logger
from fundarb.strategies.funding_arbitrage.positions import PairPosition, PositionState
from fundarb.strategies.funding_arbitrage.rules import ExitDecision
from fundarb.venues.interface import OrderLookup, PositionProvider

__all__ = ["Closing"]


class Closing(StrategyBase):
    """Closing pairs (one, or all of them) and the clean shutdown."""

    # -- close ------------------------------------------------------------------------------

    async def close_all(self, reason: str = "shutdown") -> None:
        """Close every active pair now (the demo's last step)."""
        for position in list(self.positions.values()):
            await self._close(position, ExitDecision(reason=reason, critical=True, detail=reason))

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
        with contextlib.suppress(FundarbError):  # entries spooled while the database was down
            await self.journal.flush_spool()
        await self.executor.executor.save_fills()  # fills the database refused so far
        with contextlib.suppress(FundarbError):
            await self.tracker.flush_spool()
        for position in self.positions.values():
            with contextlib.suppress(FundarbError):
                await self.store.save_positions([position.to_row(self.clock())])
        await self._save()  # retired pairs whose last save the database refused
