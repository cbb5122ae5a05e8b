"""The write-ahead journal: an order's intent is on disk before the order is sent.

Each entry is one row of the ``journal`` table: the intent (execution id, leg, client order id,
venue, symbol, side, quantity, reduce-only) is committed before the order leaves; the
acknowledgement, fills, cancel and the execution's outcome are appended as they happen.
Recovery reads it back to find executions a crash interrupted. The ``orders`` table (one row
per order, its state and filled quantity) is kept from these entries in the same transaction
(see :mod:`fundarb.storage.orders`).

If the database cannot be written, the entries go to a local spool file (JSON lines,
fsync'd) and are written to the database later by :meth:`Journal.flush_spool`: the intent is
still on disk before the order is sent, and the trade is not blocked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError

from fundarb.concurrency import finish_shielded
from fundarb.errors import StorageError
from fundarb.logs import log_event
from fundarb.storage.orders import write_orders
from fundarb.storage.store import Store
from fundarb.storage.tables import journal
from fundarb.storage.url import data_dir

__all__ = ["EntryKind", "Journal", "JournalEntry"]

logger = logging.getLogger("fundarb.storage")


class EntryKind(StrEnum):
    INTENT = "intent"  # about to send this order (written before it goes)
    ACK = "ack"  # the venue answered: accepted (order id) or refused
    FILL = "fill"  # filled quantity so far (cumulative)
    CANCEL = "cancel"  # cancel asked / confirmed
    RESOLVED = "resolved"  # an order of unknown fate was found (or found missing)
    OUTCOME = "outcome"  # the execution ended (its outcome in ``detail``)


_DURABLE_AT_ONCE = frozenset({EntryKind.INTENT, EntryKind.OUTCOME})
_ORDERS_BACKLOG = 256  # entries held back from the orders table at most


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEntry:
    """One journal line. Quantities are base units; ``detail`` is free text or JSON."""

    execution_id: str
    kind: EntryKind
    time: datetime = field(default_factory=lambda: datetime.now(tz=UTC))
    leg: int | None = None
    venue: str | None = None
    symbol: str | None = None
    client_order_id: str | None = None
    order_id: str | None = None
    side: str | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    reduce_only: bool | None = None
    detail: str = ""
    seq: int | None = None  # set when read back

    def to_json(self) -> str:
        values = asdict(self)
        values["kind"] = self.kind.value
        values["time"] = self.time.isoformat()
        for name in ("quantity", "price"):
            if values[name] is not None:
                values[name] = str(values[name])
        return json.dumps(values, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> JournalEntry:
        values: dict[str, Any] = json.loads(line)
        values["kind"] = EntryKind(values["kind"])
        values["time"] = datetime.fromisoformat(values["time"])
        for name in ("quantity", "price"):
            if values.get(name) is not None:
                values[name] = Decimal(values[name])
        return cls(**values)


class Journal:
    """Append-only journal over a :class:`Store`, with a local spool when it is down."""

    def __init__(self, store: Store, *, spool_path: Path | None = None) -> None:
        self.store = store
        self.spool_path = spool_path or Path(
            os.environ.get("FUNDARB_JOURNAL_SPOOL") or data_dir() / "journal-spool.jsonl"
        )
        self._pending: list[JournalEntry] = []
        self._lock = asyncio.Lock()
        # committed entries not yet applied to the ``orders`` table: applying them costs
        # three statements, so the commits an execution waits on (intents, outcome) leave
        # them for a batch: every _ORDERS_BACKLOG entries, an explicit flush(), the spool's
        # write-back, and recovery (sync_orders)
        self._orders_behind: list[JournalEntry] = []
        # entries went to the spool while running: the next commit that reaches the
        # database writes them back (so the spool drains once the database is back)
        self._spooled = False

    async def append(self, entry: JournalEntry) -> None:
        """Journal ``entry``.

        An INTENT or OUTCOME is durable when this returns: committed to the database, else
        to the spool file, together with every entry appended before it (group commit:
        legs sending at once share one transaction). Other entries (acknowledgements,
        fills, cancels) ride along with the next commit: recovery never depends on them,
        because it asks the venues. Raises :class:`StorageError` only if neither the
        database nor the spool can be written (then nothing must be sent).
        """
        self._pending.append(entry)
        if entry.kind not in _DURABLE_AT_ONCE:
            return
        await asyncio.sleep(0)  # let entries from concurrent legs join this commit
        await self.flush(until=entry)

    async def flush(self, *, until: JournalEntry | None = None) -> None:
        """Commit every pending entry (database, else spool). With ``until``: nothing to do
        if a concurrent commit already took that entry. Without it (an explicit flush), the
        ``orders`` table is brought up to date too."""
        async with self._lock:
            if until is not None and not any(e is until for e in self._pending):
                return  # a concurrent flush committed ours with its own
            batch, self._pending = self._pending, []
            if not batch:
                if until is None and self._orders_behind:
                    behind = self._orders_behind
                    try:
                        await finish_shielded(self.sync_orders(behind))
                    except StorageError as exc:  # kept: the next flush tries again
                        log_event(logger, logging.WARNING, "journal.orders_behind", error=exc)
                    else:
                        self._orders_behind = self._orders_behind[len(behind) :]
                return
            orders = until is None  # an explicit flush; not the commits executions wait on
            try:  # a cancel never interrupts a commit halfway (and leaves the file locked)
                await finish_shielded(self._write(batch, orders=orders))
            except (SQLAlchemyError, OSError) as exc:
                first = batch[0]
                log_event(
                    logger,
                    logging.WARNING,
                    "journal.spooled",
                    execution_id=first.execution_id,
                    venue=first.venue,
                    client_order_id=first.client_order_id,
                    entries=len(batch),
                    error=type(exc).__name__,
                )
                self._spool(batch)
                self._spooled = True
                return
            if self._spooled:  # the database is back: write the spool back too
                try:
                    await self._drain()
                except StorageError as exc:  # kept: the next commit tries again
                    log_event(logger, logging.WARNING, "journal.spool_unflushed", error=exc)

    async def entries(self, execution_id: str | None = None) -> list[JournalEntry]:
        """Entries in order (spooled ones not included until flushed)."""
        query = select(journal).order_by(journal.c.seq)
        if execution_id is not None:
            query = query.where(journal.c.execution_id == execution_id)
        async with self.store.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [
            JournalEntry(
                **{k: v for k, v in row.items() if k != "kind"}, kind=EntryKind(row["kind"])
            )
            for row in rows
        ]

    async def unfinished(self) -> list[str]:
        """Executions with an intent and no outcome: what a crash interrupted."""
        entries = await self.entries()
        started = {e.execution_id for e in entries if e.kind is EntryKind.INTENT}
        ended = {e.execution_id for e in entries if e.kind is EntryKind.OUTCOME}
        return sorted(started - ended)

    async def flush_spool(self) -> int:
        """Write spooled entries to the database; returns how many. The spool is emptied only
        after they are committed, and always then (a cancel waits for both)."""
        # under the lock that spooling takes: an entry spooled while the spool is written back
        # is not emptied away unwritten, and two drains at once do not write it twice
        async with self._lock:
            return await self._drain()

    async def _drain(self) -> int:
        """:meth:`flush_spool`'s work, under the lock."""
        if not self.spool_path.exists():
            self._spooled = False
            return 0
        lines = [line for line in self.spool_path.read_text().splitlines() if line.strip()]
        if not lines:
            self._spooled = False
            return 0
        entries = [JournalEntry.from_json(line) for line in lines]
        try:
            await finish_shielded(self._write_back(entries))
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError(f"the journal spool could not be written back: {exc}") from exc
        self._spooled = False
        log_event(logger, logging.INFO, "journal.spool_flushed", entries=len(lines))
        return len(lines)

    async def _write_back(self, entries: list[JournalEntry]) -> None:
        await self._write(entries, orders=True)
        self.spool_path.write_text("")  # in the same shielded step: committed means emptied

    async def sync_orders(self, entries: list[JournalEntry]) -> None:
        """Apply ``entries`` (already in the journal) to the ``orders`` table: recovery does
        this for an execution a crash interrupted before its orders were applied. Safe to
        repeat: intents insert once, fills and states only move forward."""
        try:
            async with self.store.engine.begin() as connection:
                await write_orders(connection, entries)
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError(f"the orders table could not be updated: {exc}") from exc

    async def _write(self, entries: list[JournalEntry], *, orders: bool) -> None:
        """Insert ``entries``; with ``orders`` (or a long backlog), also bring the ``orders``
        table up to date with every entry committed so far, in the same transaction."""
        rows = [
            {k: v for k, v in asdict(e).items() if k != "seq"} | {"kind": e.kind.value}
            for e in entries
        ]
        behind = [*self._orders_behind, *entries]
        apply = orders or len(behind) >= _ORDERS_BACKLOG
        async with self.store.engine.begin() as connection:
            await connection.execute(insert(journal), rows)
            if apply:
                await write_orders(connection, behind)
        self._orders_behind = [] if apply else behind

    def _spool(self, entries: list[JournalEntry]) -> None:
        try:
            self.spool_path.parent.mkdir(parents=True, exist_ok=True)
            with self.spool_path.open("a", encoding="utf-8") as handle:
                handle.write("".join(entry.to_json() + "\n" for entry in entries))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise StorageError(
                f"cannot journal: the database and the spool {self.spool_path} both failed"
            ) from exc
