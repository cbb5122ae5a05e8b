"""The database goes down mid-execution, for real: the trade completes, the journal's and the
tracker's spools hold what was written while it was down, and it all lands in the database,
once and in order, when it is back.

PostgreSQL goes down as it does in production: an administrator refuses new connections to
the database and terminates the open ones (our pool's among them). SQLite goes down as a file
database does: another connection holds the write lock (``BEGIN EXCLUSIVE``, as a backup or
a migration would) and our writes give up after the busy timeout, shortened with the URL's
``?timeout=`` (the Store has no setting of its own; SQLAlchemy hands it to sqlite3). The
outage starts when venue ``a`` receives its first order: the orders are in flight.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from fundarb.errors import StorageError
from fundarb.execution import AtomicMultiOrderExecutor, OrderExecutor, OrderSpec
from fundarb.execution.monitoring import spool
from fundarb.execution.monitoring.execution_tracker import ExecutionRecord, ExecutionTracker
from fundarb.execution.patterns.atomic_multi_order import AtomicExecutionResult, AtomicOutcome
from fundarb.storage import Store
from fundarb.storage.journal import EntryKind, Journal, JournalEntry
from fundarb.storage.tables import execution_legs, executions
from fundarb.venues.orders import OrderResult
from fundarb.venues.sim import SimConfig, SimulatedExchange
from tests.conftest import BOOK, BTC, btc_symbol
from tests.storage.outages import Outage

pytestmark = pytest.mark.looptime(False)  # real sockets, files and locks: real time

Q = D("0.5")


class OutageVenue(SimulatedExchange):
    """A simulated venue whose first order starts the database's outage (on arrival)."""

    def __init__(self, venue: str, outage: Outage | None) -> None:
        super().__init__(SimConfig(venue=venue, symbols=(btc_symbol(),), market="static"))
        self.outage = outage
        self.set_book(BTC, **BOOK)

    async def place_limit_order(
        self,
        contract_id: str,
        quantity: D,
        price: D,
        side: str,
        reduce_only: bool = False,
        **opts: Any,
    ) -> OrderResult:
        await self._arrive_order()
        return await super().place_limit_order(
            contract_id, quantity, price, side, reduce_only, **opts
        )

    async def place_market_order(
        self,
        contract_id: str,
        quantity: D,
        side: str,
        reduce_only: bool = False,
        **opts: Any,
    ) -> OrderResult:
        await self._arrive_order()
        return await super().place_market_order(contract_id, quantity, side, reduce_only, **opts)

    async def _arrive_order(self) -> None:
        if self.outage is not None:
            await self.outage.begin()


@dataclass
class Desk:
    """The execution layer on one store, its journal and tracker spooling to ``tmp_path``."""

    store: Store
    journal: Journal
    tracker: ExecutionTracker
    executor: AtomicMultiOrderExecutor

    async def trade(self, a: SimulatedExchange, b: SimulatedExchange) -> AtomicExecutionResult:
        return await self.executor.execute_atomically(
            [
                OrderSpec(a, BTC, "buy", None, "market_only", quantity=Q),
                OrderSpec(b, BTC, "sell", None, "market_only", quantity=Q),
            ]
        )

    def journal_spool(self) -> list[JournalEntry]:
        text = self.journal.spool_path.read_text() if self.journal.spool_path.exists() else ""
        return [JournalEntry.from_json(line) for line in text.splitlines() if line.strip()]

    def tracker_spool(self) -> list[ExecutionRecord]:
        """The spooled records, a flush's claimed ones included (``<spool>.flushing``)."""
        return spool.read(self.tracker.spool_path)

    def spools_empty(self) -> bool:
        path = self.tracker.spool_path
        leftovers = (path, spool.flushing_path(path), spool.rejected_path(path))
        return self.journal_spool() == [] and not any(p.exists() for p in leftovers)


@pytest.fixture
async def desk(outage: Outage, tmp_path: Path) -> AsyncIterator[Desk]:
    async with Store.open(outage.url) as store:
        journal_ = Journal(store, spool_path=tmp_path / "journal-spool.jsonl")
        tracker = ExecutionTracker(store, spool_path=tmp_path / "tracker-spool.jsonl")
        executor = AtomicMultiOrderExecutor(
            executor=OrderExecutor(journal=journal_, tracker=tracker), tracker=tracker
        )
        yield Desk(store, journal_, tracker, executor)


def _assert_done(result: AtomicExecutionResult, *venues: SimulatedExchange) -> None:
    """The trade completed as if nothing happened: both legs whole, nothing left open."""
    assert result.outcome is AtomicOutcome.FILLED, result.error_message
    assert not result.orders_left_open
    assert not result.residual_exposure
    for venue in venues:
        assert not venue.core.open_orders, f"an order is still open on {venue.config.venue}"
    assert [v.core.account.quantity(BTC) for v in venues] == [Q, -Q]


def _as_written(entry: JournalEntry) -> JournalEntry:
    """An entry as written: without the sequence number the database gave it."""
    return replace(entry, seq=None)


async def _stored_entries(desk: Desk) -> list[JournalEntry]:
    return [_as_written(e) for e in await desk.journal.entries()]


async def _count(desk: Desk, column: Any, execution_id: str) -> int:
    async with desk.store.engine.connect() as connection:
        query = select(func.count()).where(column == execution_id)
        return int((await connection.execute(query)).scalar_one())


async def test_the_trade_completes_and_its_records_land_once_the_database_is_back(
    outage: Outage, desk: Desk
) -> None:
    a, b = OutageVenue("a", outage), OutageVenue("b", None)

    result = await desk.trade(a, b)  # the database goes down as a's order arrives

    assert outage.down
    _assert_done(result, a, b)
    spooled = desk.journal_spool()
    assert {e.execution_id for e in spooled} == {result.execution_id}
    assert Counter(e.kind for e in spooled)[EntryKind.OUTCOME] == 1
    assert {e.kind for e in spooled} >= {EntryKind.ACK, EntryKind.OUTCOME}
    records = desk.tracker_spool()
    assert [r.execution_id for r in records] == [result.execution_id]

    await outage.end()
    drained_entries = await desk.journal.flush_spool()
    drained_records = await desk.tracker.flush_spool()

    assert (drained_entries, drained_records) == (len(spooled), 1)
    stored = await _stored_entries(desk)
    assert len(stored) == len(set(stored)), "an entry landed twice"
    assert stored[-len(spooled) :] == spooled  # after what was committed, in spool order
    assert {e.kind for e in stored[: -len(spooled)]} == {EntryKind.INTENT}  # before the orders
    kinds = Counter(e.kind for e in stored)
    assert (kinds[EntryKind.INTENT], kinds[EntryKind.ACK], kinds[EntryKind.OUTCOME]) == (2, 2, 1)
    intents = {e.client_order_id for e in stored if e.kind is EntryKind.INTENT}
    acks = {e.client_order_id for e in stored if e.kind is EntryKind.ACK}
    assert intents == acks
    assert None not in intents
    assert await desk.journal.unfinished() == []
    assert await desk.store.load_execution_records() == records
    assert await _count(desk, executions.c.execution_id, result.execution_id) == 1
    assert await _count(desk, execution_legs.c.execution_id, result.execution_id) == 2
    assert desk.spools_empty()


async def test_a_backlog_built_while_down_is_kept_through_failed_retries_and_lands_in_order(
    outage: Outage, desk: Desk
) -> None:
    a, b = OutageVenue("a", outage), OutageVenue("b", None)
    first = await desk.trade(a, b)  # the database goes down as a's order arrives
    second = await desk.trade(a, b)  # all of it while down: its intents are spooled too
    spooled, records = desk.journal_spool(), desk.tracker_spool()

    with pytest.raises(StorageError):  # retried while still down: nothing written, nothing lost
        await desk.journal.flush_spool()
    with pytest.raises(StorageError):
        await desk.tracker.flush_spool()
    kept = (desk.journal_spool(), desk.tracker_spool())
    await outage.end()
    drained = await asyncio.gather(desk.journal.flush_spool(), desk.journal.flush_spool())
    flushed = await asyncio.gather(desk.tracker.flush_spool(), desk.tracker.flush_spool())

    for result in (first, second):
        assert result.outcome is AtomicOutcome.FILLED, result.error_message
        assert not result.orders_left_open
    assert not a.core.open_orders
    assert not b.core.open_orders
    assert (a.core.account.quantity(BTC), b.core.account.quantity(BTC)) == (2 * Q, -2 * Q)
    in_order = [first.execution_id, second.execution_id]
    assert [e.execution_id for e in spooled] == sorted(
        (e.execution_id for e in spooled), key=in_order.index
    )
    assert [e.kind for e in spooled if e.execution_id == second.execution_id][:2] == [
        EntryKind.INTENT,
        EntryKind.INTENT,
    ]
    assert [r.execution_id for r in records] == [first.execution_id, second.execution_id]
    assert kept == (spooled, records)
    # two drains at once (a periodic one and recovery, say): each entry written once
    assert sorted(drained) == [0, len(spooled)]
    assert sorted(flushed) == [0, 2]
    stored = await _stored_entries(desk)
    assert len(stored) == len(set(stored)), "an entry landed twice"
    assert stored[-len(spooled) :] == spooled  # the backlog, in the order it was written
    executions_written = [e.execution_id for e in stored]
    assert executions_written == sorted(executions_written, key=in_order.index)
    assert await desk.journal.unfinished() == []
    assert await desk.store.load_execution_records() == records  # oldest first
    assert desk.spools_empty()


async def test_a_drain_cancelled_while_it_writes_still_empties_what_it_wrote(
    outage: Outage, desk: Desk
) -> None:
    a, b = OutageVenue("a", outage), OutageVenue("b", None)
    await desk.trade(a, b)
    spooled = desk.journal_spool()
    await outage.end()

    drain = asyncio.create_task(desk.journal.flush_spool())
    await asyncio.sleep(0)  # the drain is writing the spool back (shielded)
    drain.cancel()
    with pytest.raises(asyncio.CancelledError):
        await drain  # a shutdown, say
    again = await desk.journal.flush_spool()  # the next start

    stored = await _stored_entries(desk)
    assert stored[-len(spooled) :] == spooled
    assert len(stored) == len(set(stored)), "an entry landed twice"
    assert again == 0
    assert desk.journal_spool() == []
