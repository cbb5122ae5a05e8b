"""The executors record every execution when given a tracker."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from fundarb.execution import (
    AtomicMultiOrderExecutor,
    ExecutionTracker,
    OrderExecutor,
    OrderSpec,
)
from tests.conftest import BOOK, BTC, static_venue


async def test_order_executor_records_each_execution(tmp_path: Path) -> None:
    venue = static_venue()
    venue.set_book(BTC, **BOOK)
    tracker = ExecutionTracker(spool_path=tmp_path / "spool.jsonl")
    executor = OrderExecutor(tracker=tracker, strategy_name="unit")

    result = await executor.execute_order(venue, BTC, "buy", quantity=D("0.5"), mode="market_only")

    (record,) = tracker.records()
    assert record.execution_id == result.execution_id
    assert record.strategy_name == "unit"
    assert record.filled
    assert tracker.get_execution_stats("unit", 24, now=record.time)["count"] == 1


async def test_atomic_executor_records_one_record_per_execution(tmp_path: Path) -> None:
    a, b = static_venue(venue="a"), static_venue(venue="b")
    for venue in (a, b):
        venue.set_book(BTC, **BOOK)
    tracker = ExecutionTracker(spool_path=tmp_path / "spool.jsonl")
    executor = AtomicMultiOrderExecutor(tracker=tracker, strategy_name="funding_arb")

    result = await executor.execute_atomically(
        [
            OrderSpec(a, BTC, "buy", None, "market_only", quantity=D("0.5")),
            OrderSpec(b, BTC, "sell", None, "market_only", quantity=D("0.5")),
        ]
    )

    (record,) = tracker.records()
    assert record.execution_id == result.execution_id
    assert record.outcome == "filled"
    assert len([leg for leg in record.legs if leg.role == "entry"]) == 2
