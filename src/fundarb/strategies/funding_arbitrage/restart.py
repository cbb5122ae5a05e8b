"""Reconciling :class:`~fundarb.strategies.funding_arbitrage.FundingArbitrage`'s pairs with
the venues.

At start, each reloaded pair is checked against what the venues hold. An entry that was
interrupted (OPENING) is failed when neither leg traded, adopted as OPEN when both legs
show the same quantity (trades we did not see reconstructed), and critical otherwise. An
OPEN pair must show its quantity on both legs, else it is critical. A CLOSING pair is
closed.

Critical means: logged and told as an incident, each leg's difference from the venue
booked (as the venue's liquidations, else reconstructed), and the pair closed at once.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from fundarb.logs import log_event
from fundarb.strategies.funding_arbitrage.base import ZERO, StrategyBase, logger
from fundarb.strategies.funding_arbitrage.positions import PairPosition, PositionState
from fundarb.strategies.funding_arbitrage.rules import ExitDecision
from fundarb.venues.interface import PositionProvider

__all__ = ["Restarting"]


class Restarting(StrategyBase):
    """Reconciliation on start, and the critical close of a pair the venues contradict."""

    async def _reconcile_on_start(self, position: PairPosition) -> None:
        """A position reloaded at start: does it still match the venues?"""
        quantities: list[Decimal | None] = []
        for leg in position.legs:
            client = self.clients.get(leg.venue)
            if not isinstance(client, PositionProvider):
                quantities.append(None)
                continue
            listed = await client.get_position(leg.symbol)
            quantities.append(listed.quantity if listed is not None else ZERO)
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
                venue_q = listed.quantity if listed is not None else ZERO
                if venue_q != ours and not await self._sync_liquidations(position, leg):
                    await self._reconstruct(position, leg, venue_q - ours)
        await self._close(position, ExitDecision(reason=reason, critical=True, detail=detail))
