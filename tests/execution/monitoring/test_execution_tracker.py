"""ExecutionTracker with a store: write-through, the spool while the store is down, flushing,
loading. Nothing is lost, nothing is written twice, and the trade is never blocked."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from fundarb.execution import (
    ExecutionMode,
    ExecutionRecord,
    ExecutionRecordStore,
    ExecutionTracker,
    OrderExecutor,
)
from fundarb.execution.monitoring.execution_tracker import default_spool_path
from tests.conftest import BOOK, BTC, static_venue

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class MemoryStore:
    """An :class:`ExecutionRecordStore` in memory (upserts by id) that fails on demand.

    ``down``: every save raises. ``gate``: the next save waits for it (once) after the
    ``down`` check. ``writes`` lists the ids of every save that succeeded, in order.
    """

    def __init__(self) -> None:
        self.saved: dict[str, ExecutionRecord] = {}
        self.writes: list[list[str]] = []
        self.down = False
        self.gate: asyncio.Event | None = None

    async def save_execution_records(self, records: Sequence[ExecutionRecord]) -> None:
        if self.down:
            raise ConnectionError("the database is down")
        gate, self.gate = self.gate, None
        if gate is not None:
            await gate.wait()
        self.saved.update((r.execution_id, r) for r in records)
        self.writes.append([r.execution_id for r in records])

    async def load_execution_records(
        self, *, since: datetime | None = None
    ) -> list[ExecutionRecord]:
        return [r for r in self.saved.values() if since is None or r.time >= since]

    @property
    def written(self) -> list[str]:
        return [execution_id for write in self.writes for execution_id in write]


class Logged(logging.Handler):
    """The tracker's log records (attached to its logger: immune to propagation settings)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def events(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == level]


@pytest.fixture
def logged() -> Iterator[Logged]:
    handler = Logged()
    logger = logging.getLogger("fundarb.execution")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _record(n: int, **overrides: object) -> ExecutionRecord:
    values: dict[str, object] = {
        "execution_id": f"e{n}",
        "strategy_name": "funding_arb",
        "symbol": BTC,
        "filled": True,
        "slippage_pct": D("0.0001") * n,
        "time": T0 + timedelta(minutes=n),
        "rollback_cost_usd": D("0.123456789012345678901234567890") * n,
    }
    values.update(overrides)
    return ExecutionRecord(**values)  # type: ignore[arg-type]


def _spooled_ids(path: Path) -> list[str]:
    """The ids waiting on disk: in a flush that did not finish, then in the spool."""
    ids = []
    for file in (path.with_name(path.name + ".flushing"), path):
        if file.exists():
            ids += [json.loads(line)["execution_id"] for line in file.read_text().splitlines()]
    return ids


def test_the_memory_store_implements_the_protocol() -> None:
    store: ExecutionRecordStore = MemoryStore()  # checked by mypy where tests are typed

    assert callable(store.save_execution_records)


async def test_without_a_store_records_stay_in_memory(tmp_path: Path) -> None:
    tracker = ExecutionTracker(spool_path=tmp_path / "spool.jsonl")

    await tracker.record_execution(_record(1))

    assert len(tracker) == 1
    assert tracker.store is None
    assert await tracker.flush_spool() == 0
    assert not (tmp_path / "spool.jsonl").exists()


async def test_records_are_written_through_to_the_store(tmp_path: Path) -> None:
    store = MemoryStore()
    tracker = ExecutionTracker(store, spool_path=tmp_path / "spool.jsonl")

    for n in range(3):
        await tracker.record_execution(_record(n))

    assert store.writes == [["e0"], ["e1"], ["e2"]]
    assert store.saved["e2"] == _record(2)
    assert not (tmp_path / "spool.jsonl").exists()


async def test_store_down_spools_then_the_next_good_write_flushes_nothing_lost_or_doubled(
    tmp_path: Path, logged: Logged
) -> None:
    spool = tmp_path / "data" / "spool.jsonl"  # its directory is created when needed
    store = MemoryStore()
    tracker = ExecutionTracker(store, spool_path=spool)
    await tracker.record_execution(_record(0))

    store.down = True
    for n in (1, 2, 3):
        await tracker.record_execution(_record(n))  # does not raise: the trade goes on

    assert _spooled_ids(spool) == ["e1", "e2", "e3"]
    assert stat.S_IMODE(spool.stat().st_mode) == 0o600
    assert logged.events(logging.WARNING) == ["tracker.spooled"] * 3
    assert tracker.get_execution_stats(now=T0 + timedelta(hours=1))["count"] == 4

    store.down = False
    await tracker.record_execution(_record(4))

    assert store.writes == [["e0"], ["e4"], ["e1", "e2", "e3"]]
    assert sorted(store.written) == [f"e{n}" for n in range(5)]  # each once
    assert all(store.saved[f"e{n}"] == _record(n) for n in range(5))  # exact, every digit
    assert not spool.exists()
    assert not spool.with_name("spool.jsonl.flushing").exists()

    await tracker.record_execution(_record(5))

    assert store.writes[-1] == ["e5"]  # the spool is not read again once it is empty


async def test_flush_spool_while_the_store_is_down_raises_and_keeps_the_spool(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool.jsonl"
    store = MemoryStore()
    tracker = ExecutionTracker(store, spool_path=spool)
    store.down = True
    await tracker.record_execution(_record(1))

    with pytest.raises(ConnectionError):
        await tracker.flush_spool()
    await tracker.record_execution(_record(2))  # spooled after the failed flush

    store.down = False
    assert await tracker.flush_spool() == 2

    assert store.writes == [["e1", "e2"]]
    assert not spool.exists()
    assert await tracker.flush_spool() == 0


async def test_a_failed_automatic_flush_is_logged_and_retried(
    tmp_path: Path, logged: Logged
) -> None:
    store = MemoryStore()
    tracker = ExecutionTracker(store, spool_path=tmp_path / "spool.jsonl")
    store.down = True
    await tracker.record_execution(_record(1))
    store.down = False
    store.gate = asyncio.Event()  # the write of e2 waits; meanwhile the store goes down

    async def go_down_then_open() -> None:
        await asyncio.sleep(1)
        store.down = True
        assert store.gate is None
        gate.set()

    gate = store.gate
    async with asyncio.TaskGroup() as group:
        group.create_task(tracker.record_execution(_record(2)))
        group.create_task(go_down_then_open())

    assert store.written == ["e2"]  # the flush after it failed
    assert "tracker.flush_failed" in logged.events(logging.WARNING)
    assert _spooled_ids(tmp_path / "spool.jsonl") == ["e1"]  # set aside for the next flush

    store.down = False
    await tracker.record_execution(_record(3))

    assert store.written == ["e2", "e3", "e1"]


async def test_records_spooled_during_a_flush_are_not_truncated_away(tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl"
    store = MemoryStore()
    tracker = ExecutionTracker(store, spool_path=spool)
    store.down = True
    await tracker.record_execution(_record(1))
    store.down = False
    store.gate = gate = asyncio.Event()  # the flush's write waits for the gate

    async def spool_one_during_the_flush() -> None:
        await asyncio.sleep(1)  # the flush has moved the spool aside and is writing
        store.down = True
        await tracker.record_execution(_record(2))
        store.down = False
        gate.set()

    async with asyncio.TaskGroup() as group:
        flushed = group.create_task(tracker.flush_spool())
        group.create_task(spool_one_during_the_flush())

    assert flushed.result() == 1
    assert _spooled_ids(spool) == ["e2"]
    assert await tracker.flush_spool() == 1
    assert sorted(store.written) == ["e1", "e2"]
    assert not spool.exists()


async def test_a_cancelled_write_is_spooled_and_the_cancellation_propagates(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool.jsonl"
    store = MemoryStore()
    store.gate = asyncio.Event()  # never set: the write hangs
    tracker = ExecutionTracker(store, spool_path=spool)

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(5):
            await tracker.record_execution(_record(1))

    assert _spooled_ids(spool) == ["e1"]
    assert len(tracker) == 1
    assert await tracker.flush_spool() == 1
    assert store.written == ["e1"]


async def test_a_spool_that_cannot_be_written_keeps_the_record_for_the_next_flush(
    tmp_path: Path, logged: Logged
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    store = MemoryStore()
    tracker = ExecutionTracker(store, spool_path=blocker / "spool.jsonl")
    store.down = True

    await tracker.record_execution(_record(1))  # neither the store nor the disk: no raise

    (critical,) = [r for r in logged.records if r.levelno == logging.CRITICAL]
    assert critical.getMessage() == "tracker.spool_failed"
    assert json.loads(critical.fields["record"]) == _record(1).to_dict()  # type: ignore[attr-defined]

    store.down = False
    await tracker.record_execution(_record(2))

    assert store.written == ["e2", "e1"]


async def test_a_new_tracker_picks_up_a_spool_left_by_an_earlier_run(tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl"
    store = MemoryStore()
    first = ExecutionTracker(store, spool_path=spool)
    store.down = True
    for n in (1, 2):
        await first.record_execution(_record(n))
    store.down = False

    second = ExecutionTracker(store, spool_path=spool)  # after a restart
    assert await second.load() == 2  # the spooled records, not yet in the store
    await second.record_execution(_record(3))

    assert sorted(store.written) == ["e1", "e2", "e3"]
    assert not spool.exists()
    assert len(second) == 3


async def test_unreadable_spool_lines_are_set_aside_not_dropped(
    tmp_path: Path, logged: Logged
) -> None:
    spool = tmp_path / "spool.jsonl"
    good = json.dumps(_record(1).to_dict())
    spool.write_text(f'{good}\n{{"execution_id": "half\nnot json at all\n\n')
    store = MemoryStore()
    tracker = ExecutionTracker(store, spool_path=spool)

    assert await tracker.flush_spool() == 1

    assert store.written == ["e1"]
    rejected = spool.with_name("spool.jsonl.rejected").read_text().splitlines()
    assert rejected == ['{"execution_id": "half', "not json at all"]
    assert logged.events(logging.ERROR) == ["tracker.spool_rejected"]
    assert not spool.exists()


async def test_a_torn_last_line_does_not_swallow_the_next_record(tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl"
    spool.write_text(json.dumps(_record(1).to_dict())[:40])  # a crash mid-write
    store = MemoryStore()
    tracker = ExecutionTracker(store, spool_path=spool)
    store.down = True

    await tracker.record_execution(_record(2))
    store.down = False
    flushed = await tracker.flush_spool()

    assert flushed == 1
    assert store.written == ["e2"]
    assert spool.with_name("spool.jsonl.rejected").exists()


async def test_load_fills_memory_from_the_store_since_a_time(tmp_path: Path) -> None:
    store = MemoryStore()
    writer = ExecutionTracker(store, spool_path=tmp_path / "spool.jsonl")
    for n in range(6):
        await writer.record_execution(_record(n))
    reader = ExecutionTracker(store, spool_path=tmp_path / "spool.jsonl")
    await reader.record_execution(_record(5, filled=False))  # newer in memory: kept

    added = await reader.load(since=T0 + timedelta(minutes=3))

    assert added == 2  # e3, e4; e5 was already here
    assert [r.execution_id for r in reader.records(now=T0 + timedelta(hours=1))] == [
        "e3",
        "e4",
        "e5",
    ]
    assert reader.records(now=T0 + timedelta(hours=1))[-1].filled is False
    assert await reader.load() == 3  # e0, e1, e2


async def test_record_execution_refuses_anything_but_a_record(tmp_path: Path) -> None:
    tracker = ExecutionTracker(spool_path=tmp_path / "spool.jsonl")

    with pytest.raises(TypeError, match="ExecutionRecord"):
        await tracker.record_execution({"execution_id": "e1"})  # type: ignore[arg-type]


async def test_a_real_execution_recorded_while_the_database_is_down_lands_later(
    tmp_path: Path,
) -> None:
    venue = static_venue()
    venue.set_book(BTC, **BOOK)
    store = MemoryStore()
    store.down = True
    tracker = ExecutionTracker(store, spool_path=tmp_path / "spool.jsonl")

    result = await OrderExecutor().execute_order(
        venue, BTC, "sell", quantity=D("1.2"), mode=ExecutionMode.MARKET_ONLY
    )
    record = ExecutionRecord.from_result(result, strategy_name="funding_arb")
    await tracker.record_execution(record)
    store.down = False
    await tracker.flush_spool()

    assert store.saved[result.execution_id] == record
    assert store.saved[result.execution_id].legs[0].fill_price == result.fill_price


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"FUNDARB_SPOOL": "/x/my.jsonl", "FUNDARB_HOME": "/h"}, "/x/my.jsonl"),
        ({"FUNDARB_HOME": "/h", "XDG_DATA_HOME": "/xdg"}, "/h/spool.jsonl"),
        ({"XDG_DATA_HOME": "/xdg"}, "/xdg/fundarb/spool.jsonl"),
        ({}, "/home/trader/.local/share/fundarb/spool.jsonl"),
    ],
)
def test_the_default_spool_path(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name in ("FUNDARB_SPOOL", "FUNDARB_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/home/trader")
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert default_spool_path() == Path(expected)
    assert ExecutionTracker().spool_path == Path(expected)
