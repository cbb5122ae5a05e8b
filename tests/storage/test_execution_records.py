"""The tracker on the real store (SQLite and PostgreSQL): exact round trips, and nothing lost
while the database is down."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from fundarb.execution import (
    AtomicMultiOrderExecutor,
    ExecutionRecord,
    ExecutionTracker,
    OrderExecutor,
    OrderSpec,
)
from fundarb.storage import Store
from tests.conftest import BOOK, BTC, static_venue

pytestmark = pytest.mark.looptime(False)  # real sockets and files: real time


async def _records() -> list[ExecutionRecord]:
    a, b = static_venue(venue="a"), static_venue(venue="b")
    for venue in (a, b):
        venue.set_book(BTC, **BOOK)
    single = await OrderExecutor().execute_order(
        a, BTC, "buy", quantity=D("0.3"), mode="market_only"
    )
    pair = await AtomicMultiOrderExecutor().execute_atomically(
        [
            OrderSpec(a, BTC, "buy", None, "market_only", quantity=D("0.5")),
            OrderSpec(b, BTC, "sell", None, "market_only", quantity=D("0.5")),
        ]
    )
    return [
        ExecutionRecord.from_result(single, strategy_name="s"),
        ExecutionRecord.from_atomic(pair, strategy_name="funding_arb"),
    ]


async def test_records_come_back_exactly_from_the_database(
    database_url: str, tmp_path: Path
) -> None:
    records = await _records()
    async with Store.open(database_url) as store:
        await store.upgrade()
        tracker = ExecutionTracker(store, spool_path=tmp_path / "spool.jsonl")
        for record in records:
            await tracker.record_execution(record)
        fresh = ExecutionTracker(store, spool_path=tmp_path / "spool.jsonl")
        loaded = await fresh.load()

    assert loaded == len(records)
    assert sorted(fresh.records(), key=lambda r: r.execution_id) == sorted(
        records, key=lambda r: r.execution_id
    )
    now = max(r.time for r in records)
    assert fresh.get_execution_stats(None, 24, now=now) == tracker.get_execution_stats(
        None, 24, now=now
    )


async def test_database_down_mid_run_spools_and_lands_later(tmp_path: Path) -> None:
    records = await _records()
    async with Store.open(f"sqlite:///{tmp_path / 'f.db'}") as store:
        await store.upgrade()
        tracker = ExecutionTracker(store, spool_path=tmp_path / "spool.jsonl")
        async with store.engine.begin() as connection:  # the database "goes down"
            await connection.exec_driver_sql("ALTER TABLE executions RENAME TO executions_away")

        await tracker.record_execution(records[0])  # the trade is not blocked
        spooled = (tmp_path / "spool.jsonl").read_text()

        async with store.engine.begin() as connection:  # and comes back
            await connection.exec_driver_sql("ALTER TABLE executions_away RENAME TO executions")
        await tracker.record_execution(records[1])  # the next write flushes the spool too
        stored = await store.load_execution_records()

    assert records[0].execution_id in spooled
    assert {r.execution_id for r in stored} == {r.execution_id for r in records}
    assert not (tmp_path / "spool.jsonl").exists() or not (tmp_path / "spool.jsonl").read_text()
