"""Crash at every journal step, then recover with fresh objects against the same venues.

The crash is a hook in the journal: after writing entry k it kills the "process" — from then
on every venue call of the crashed objects and every further journal write raises, past all
cleanup (as SIGKILL would). Recovery then runs with a fresh journal object on the same
database and fresh clients of the same venues. For every k: nothing of ours is left open, no
net exposure (or a balanced, whole pair), and the journal says every execution ended.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from fundarb.execution import AtomicMultiOrderExecutor, OrderExecutor, OrderSpec
from fundarb.execution.recovery import recover
from fundarb.storage import Store
from fundarb.storage.journal import EntryKind, Journal, JournalEntry
from fundarb.venues.sim import Fault, SimulatedExchange
from tests.conftest import BOOK, BTC, static_venue

Q = D("0.5")


class Crash(BaseException):
    """The process died here (nothing of it runs any more)."""


class Dead:
    """Set once the crash happened: the crashed objects can no longer act."""

    def __init__(self) -> None:
        self.now = False


class CrashingJournal(Journal):
    """A journal that kills the process right after writing entry number ``at`` (0-based)."""

    def __init__(self, store: Store, spool: Path, at: int, dead: Dead) -> None:
        super().__init__(store, spool_path=spool)
        self.at = at
        self.written = 0
        self.dead = dead

    async def append(self, entry: JournalEntry) -> None:
        if self.dead.now:
            raise Crash
        await super().append(entry)
        self.written += 1
        if self.written > self.at:
            self.dead.now = True
            raise Crash


class CrashableClient:
    """A venue client of the crashed process: every call raises once it is dead."""

    def __init__(self, venue: SimulatedExchange, dead: Dead) -> None:
        self._venue = venue
        self._dead = dead
        self.supported_order_options = venue.supported_order_options

    def get_exchange_name(self) -> str:
        return self._venue.get_exchange_name()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._venue, name)
        if not callable(target):
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self._dead.now:
                raise Crash
            return await target(*args, **kwargs)

        return call


for _method in (
    "fetch_bbo_prices",
    "get_order_book_depth",
    "place_limit_order",
    "place_market_order",
    "cancel_order",
    "get_order_info",
    "get_market_spec",
    "get_position",
    "get_positions",
    "get_balance",
    "get_fills",
    "get_server_time",
    "get_order_by_client_id",
    "get_open_orders",
    "get_fee_schedule",
):
    # declared on the class too, so the executor's capability probes see them
    setattr(CrashableClient, _method, property(lambda self, _n=_method: self.__getattr__(_n)))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store.open(f"sqlite:///{tmp_path / 'journal.db'}") as opened:
        await opened.upgrade()
        yield opened


def _pair() -> tuple[SimulatedExchange, SimulatedExchange]:
    a, b = static_venue(venue="a"), static_venue(venue="b")
    for venue in (a, b):
        venue.set_book(BTC, **BOOK)
    return a, b


async def _run(
    store: Store, tmp_path: Path, at: int, mode: str, faults: list[Fault]
) -> tuple[SimulatedExchange, SimulatedExchange, bool]:
    """One atomic execution that dies after journal entry ``at``; then recovery."""
    a, b = _pair()
    b.faults.add(*faults)
    dead = Dead()
    journal = CrashingJournal(store, tmp_path / "spool.jsonl", at, dead)
    executor = AtomicMultiOrderExecutor(executor=OrderExecutor(journal=journal))
    crashed = False
    try:
        await executor.execute_atomically(
            [
                OrderSpec(CrashableClient(a, dead), BTC, "buy", None, mode, 2, quantity=Q),
                OrderSpec(CrashableClient(b, dead), BTC, "sell", None, mode, 2, quantity=Q),
            ]
        )
    except (Crash, BaseExceptionGroup):  # the crash, or the task group wrapping it
        crashed = True
    await store.engine.dispose()  # the dead process's connections (and locks) go with it
    fresh = Journal(store, spool_path=tmp_path / "spool.jsonl")
    report = await recover(fresh, {"a": a, "b": b})
    assert await fresh.unfinished() == [], report.lines()
    return a, b, crashed


def _assert_safe(a: SimulatedExchange, b: SimulatedExchange) -> None:
    assert not a.core.open_orders, "an order of ours is still open on a"
    assert not b.core.open_orders, "an order of ours is still open on b"
    long, short = a.core.account.quantity(BTC), b.core.account.quantity(BTC)
    # flat, or a whole balanced pair kept
    assert (long, short) in ((0, 0), (Q, -Q)), (long, short)


SCENARIOS = {
    "market legs": ("market_only", [], 5),
    "limit legs, fallback": ("limit_with_fallback", [], 11),
    "one leg refused: hedge then rollback": ("market_only", [Fault.reject(count=None)], 22),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_crash_at_every_journal_step_is_recovered(
    store: Store, tmp_path: Path, scenario: str
) -> None:
    mode, faults, steps = SCENARIOS[scenario]
    crashes = 0
    for at in range(steps):
        async with store.engine.begin() as connection:  # a clean journal for each k
            await connection.exec_driver_sql("DELETE FROM journal")
        a, b, crashed = await _run(store, tmp_path, at, mode, faults)
        crashes += crashed
        _assert_safe(a, b)
    assert crashes >= steps - 1  # the last step may land after the outcome


async def test_recovery_reports_and_is_idempotent(store: Store, tmp_path: Path) -> None:
    a, b = _pair()
    dead = Dead()
    journal = CrashingJournal(store, tmp_path / "spool.jsonl", 1, dead)  # after a's ack
    executor = AtomicMultiOrderExecutor(executor=OrderExecutor(journal=journal))
    with pytest.raises((Crash, BaseExceptionGroup)):
        await executor.execute_atomically(
            [
                OrderSpec(CrashableClient(a, dead), BTC, "buy", None, "market_only", quantity=Q),
                OrderSpec(CrashableClient(b, dead), BTC, "sell", None, "market_only", quantity=Q),
            ]
        )

    fresh = Journal(store, spool_path=tmp_path / "spool.jsonl")
    first = await recover(fresh, {"a": a, "b": b})
    second = await recover(fresh, {"a": a, "b": b})

    assert len(first.executions) == 1
    assert first.executions[0].exposure  # it found the long leg on a
    assert "flattened" in first.executions[0].action
    assert first.executions[0].fills_recorded >= 1  # a's fill, which the journal never saw
    # the crashed process never applied its journal to the orders table: recovery did
    crashed = [o for o in await store.load_orders() if o.venue in ("a", "b")]
    assert {o.venue for o in crashed} >= {"a"}
    assert second.lines() == ["nothing to recover: every journalled execution ended"]
    _assert_safe(a, b)


async def test_the_intent_is_written_before_the_order_is_sent(store: Store, tmp_path: Path) -> None:
    a, b = _pair()
    journal = Journal(store, spool_path=tmp_path / "spool.jsonl")

    await AtomicMultiOrderExecutor(executor=OrderExecutor(journal=journal)).execute_atomically(
        [
            OrderSpec(a, BTC, "buy", None, "market_only", quantity=Q),
            OrderSpec(b, BTC, "sell", None, "market_only", quantity=Q),
        ]
    )

    entries = await journal.entries()
    kinds = [(e.venue, e.kind) for e in entries]
    assert kinds.index(("a", EntryKind.INTENT)) < kinds.index(("a", EntryKind.ACK))
    assert entries[-1].kind is EntryKind.OUTCOME
    assert await journal.unfinished() == []


async def test_a_journal_that_cannot_be_written_anywhere_sends_nothing(tmp_path: Path) -> None:
    a, _ = _pair()
    (tmp_path / "not-a-dir").write_text("a file where the spool folder should be")
    async with Store.open(f"sqlite:///{tmp_path / 'unmigrated.db'}") as unmigrated:
        journal = Journal(unmigrated, spool_path=tmp_path / "not-a-dir" / "spool.jsonl")

        result = await OrderExecutor(journal=journal).execute_order(
            a, BTC, "buy", quantity=Q, mode="market_only"
        )

    assert not result.filled
    assert a.core.orders == {}
    assert "journal" in (result.error_message or "")


async def test_an_execution_that_cannot_be_checked_stays_unfinished(
    store: Store, tmp_path: Path
) -> None:
    a, b = _pair()
    dead = Dead()
    journal = CrashingJournal(store, tmp_path / "spool.jsonl", 1, dead)  # after a's ack
    executor = AtomicMultiOrderExecutor(executor=OrderExecutor(journal=journal))
    with pytest.raises((Crash, BaseExceptionGroup)):
        await executor.execute_atomically(
            [
                OrderSpec(CrashableClient(a, dead), BTC, "buy", None, "market_only", quantity=Q),
                OrderSpec(CrashableClient(b, dead), BTC, "sell", None, "market_only", quantity=Q),
            ]
        )
    fresh = Journal(store, spool_path=tmp_path / "spool.jsonl")

    blind = await recover(fresh, {"a": a})  # venue b is not reachable this time

    assert "escalated" in blind.executions[0].action
    assert "no client for venue 'b'" in "; ".join(blind.executions[0].problems)
    assert len(await fresh.unfinished()) >= 1  # left for the next run, not marked ended
    later = await recover(fresh, {"a": a, "b": b})
    assert "flattened" in later.executions[0].action
    assert await fresh.unfinished() == []
    _assert_safe(a, b)
