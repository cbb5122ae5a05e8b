"""Recovery: find what a crash left behind and fix it (design notes §5).

For every execution the journal shows as started but not finished, :func:`recover` asks each
venue about every order the journal says was (or was about to be) sent: open ones are
cancelled and confirmed, what they filled is read back, and the execution's net exposure per
venue and symbol is worked out. A leg left alone, or legs out of balance, are closed
reduce-only through the atomic executor; a complete, balanced pair is kept. The outcome is
journalled, so a second recovery does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fundarb.errors import FundarbError
from fundarb.execution.core.gateway import gateway_for
from fundarb.execution.patterns.atomic_multi_order import (
    AtomicExecutionResult,
    AtomicMultiOrderExecutor,
    ImbalancePolicy,
    OrderSpec,
)
from fundarb.execution.patterns.planning import base_asset_of
from fundarb.logs import log_event
from fundarb.storage.journal import EntryKind, Journal, JournalEntry
from fundarb.storage.store import Store
from fundarb.venues.orders import OrderStatus

__all__ = ["RecoveredExecution", "RecoveryReport", "recover"]

logger = logging.getLogger("fundarb.execution")

_ZERO = Decimal(0)
_ROOT = 12  # execution ids are 12 hex digits; hedges and rollbacks add a suffix


@dataclass(slots=True)
class RecoveredExecution:
    """One interrupted execution, and what recovery did about it."""

    execution_id: str
    orders: list[str] = field(default_factory=list)  # venue:client_order_id the journal knew
    cancelled: list[str] = field(default_factory=list)  # found open, cancelled
    exposure: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # before action
    action: str = ""
    close: AtomicExecutionResult | None = None
    problems: list[str] = field(default_factory=list)
    fills_recorded: int = 0  # fills stored now that the journal had not


@dataclass(slots=True)
class RecoveryReport:
    executions: list[RecoveredExecution] = field(default_factory=list)
    spooled_entries: int = 0  # journal entries written from the spool first

    def lines(self) -> list[str]:
        """What recovery found and did, for people."""
        if not self.executions:
            return ["nothing to recover: every journalled execution ended"]
        out = []
        for ex in self.executions:
            exposure = ", ".join(f"{v} {s} {q}" for (v, s), q in ex.exposure.items() if q)
            out.append(
                f"{ex.execution_id}: {len(ex.orders)} orders journalled, "
                f"{len(ex.cancelled)} found open and cancelled; exposure: {exposure or 'none'}; "
                f"{ex.action}" + (f"; problems: {'; '.join(ex.problems)}" if ex.problems else "")
            )
        return out


async def recover(
    journal: Journal,
    clients: Mapping[str, Any],
    *,
    executor: AtomicMultiOrderExecutor | None = None,
) -> RecoveryReport:
    """Reconcile every unfinished execution in ``journal`` against ``clients`` (by venue
    name). Safe to run at every start and to run twice."""
    report = RecoveryReport()
    try:
        report.spooled_entries = await journal.flush_spool()
    except FundarbError as exc:
        log_event(logger, logging.ERROR, "recovery.spool_unflushed", error=exc)
    unfinished = await journal.unfinished()
    roots = sorted({execution_id[:_ROOT] for execution_id in unfinished})
    closer = executor or AtomicMultiOrderExecutor()
    if closer.executor.journal is None:
        # the flattening orders are journalled like any other (intent before send), so a
        # crash during recovery leaves them for the next recovery to find
        closer.executor.journal = journal
    for root in roots:
        entries = [e for e in await journal.entries() if e.execution_id.startswith(root)]
        recovered = await _recover_one(root, entries, clients, closer, journal.store)
        report.executions.append(recovered)
        try:  # the crashed process may not have applied these to the orders table
            await journal.sync_orders(entries)
        except FundarbError as exc:
            log_event(
                logger, logging.ERROR, "recovery.orders_unsynced", execution_id=root, error=exc
            )
        if recovered.problems:
            # not every order could be checked: the execution stays unfinished, so the next
            # start (or `fundarb recover`) tries again, and someone has to look
            log_event(
                logger,
                logging.CRITICAL,
                "recovery.escalated",
                execution_id=root,
                problems="; ".join(recovered.problems),
            )
            continue
        for execution_id in {e.execution_id for e in entries} & set(unfinished):
            await journal.append(
                JournalEntry(
                    execution_id=execution_id,
                    kind=EntryKind.OUTCOME,
                    detail=f"recovered: {recovered.action}",
                )
            )
        log_event(
            logger,
            logging.WARNING,
            "recovery.done",
            execution_id=root,
            action=recovered.action,
            cancelled=len(recovered.cancelled),
            problems="; ".join(recovered.problems),
        )
    if report.executions:
        try:  # outcomes that had to be spooled (the database was busy): land them now
            await journal.flush_spool()
        except FundarbError as exc:
            log_event(logger, logging.ERROR, "recovery.spool_unflushed", error=exc)
    return report


async def _recover_one(
    root: str,
    entries: list[JournalEntry],
    clients: Mapping[str, Any],
    closer: AtomicMultiOrderExecutor,
    store: Store | None,
) -> RecoveredExecution:
    recovered = RecoveredExecution(execution_id=root)
    order_ids = {
        (e.venue, e.client_order_id): e.order_id
        for e in entries
        if e.order_id and e.venue and e.client_order_id
    }
    found_orders: dict[tuple[str, str], list[str]] = {}
    for intent in (e for e in entries if e.kind is EntryKind.INTENT):
        venue, cid = intent.venue or "", intent.client_order_id or ""
        recovered.orders.append(f"{venue}:{cid}")
        client = clients.get(venue)
        if client is None:
            recovered.problems.append(f"no client for venue {venue!r}: {cid} not checked")
            continue
        remember = getattr(client, "remember_order", None)  # ccxt: orders live per symbol
        if callable(remember) and intent.symbol and cid:
            remember(cid, intent.symbol, order_ids.get((venue, cid)))
        gateway = gateway_for(client)
        try:
            definitive, view = await gateway.find(cid, order_ids.get((venue, cid)))
            if view is not None and view.status.is_open:
                await gateway.cancel(view.order_id)
                recovered.cancelled.append(f"{venue}:{cid}")
                _, view = await gateway.find(cid, view.order_id)
                if view is not None and view.status not in (
                    OrderStatus.CANCELED,
                    OrderStatus.FILLED,
                    OrderStatus.EXPIRED,
                ):
                    recovered.problems.append(f"{venue}:{cid} is still {view.status.value}")
        except FundarbError as exc:
            recovered.problems.append(f"{venue}:{cid} could not be checked: {exc}")
            continue
        if not definitive:
            recovered.problems.append(f"{venue}:{cid}: the client cannot look orders up")
            continue
        filled = view.filled if view is not None else _ZERO
        if view is not None and filled > 0:
            found_orders.setdefault((venue, intent.symbol or ""), []).append(view.order_id)
        sign = 1 if intent.side == "buy" else -1
        key = (venue, intent.symbol or "")
        recovered.exposure[key] = recovered.exposure.get(key, _ZERO) + filled * sign
    if store is not None:
        await _record_fills(root, found_orders, clients, store, recovered)
    left = {key: q for key, q in recovered.exposure.items() if q}
    if recovered.problems:
        recovered.action = "escalated: not every order could be checked; left unfinished"
        return recovered
    if not left:
        recovered.action = "nothing to do: no exposure left"
        return recovered
    by_base: dict[str, Decimal] = {}
    for (_, symbol), quantity in left.items():
        by_base[base_asset_of(symbol)] = by_base.get(base_asset_of(symbol), _ZERO) + quantity
    if len(left) > 1 and all(q == 0 for q in by_base.values()):
        recovered.action = "kept: the legs are whole and balanced"
        return recovered
    specs = [
        OrderSpec(
            clients[venue],
            symbol,
            "sell" if q > 0 else "buy",
            None,
            "market_only",
            quantity=abs(q),
            reduce_only=True,
        )
        for (venue, symbol), q in left.items()
    ]
    recovered.close = await closer.execute_atomically(
        specs, rollback_on_partial=False, on_imbalance=ImbalancePolicy.HEDGE
    )
    recovered.action = f"flattened: {recovered.close.outcome.value}"
    return recovered


async def _record_fills(
    root: str,
    found: dict[tuple[str, str], list[str]],
    clients: Mapping[str, Any],
    store: Store,
    recovered: RecoveredExecution,
) -> None:
    """Store the fills of the orders found (the journal may have missed them); a fill
    already stored is skipped."""
    for (venue, symbol), order_ids in found.items():
        try:
            fills = await gateway_for(clients[venue]).fills(symbol, order_ids)
            if fills:
                recovered.fills_recorded += await store.save_fills(fills, execution_id=root)
        except FundarbError as exc:
            recovered.problems.append(f"fills of {venue} {symbol} not recorded: {exc}")
