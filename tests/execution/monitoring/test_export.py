"""CSV and Parquet exports: one row per leg, and every decimal back exactly as it was."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fundarb.execution import ExecutionRecord, ExecutionTracker, LegRecord
from fundarb.execution.monitoring.export import COLUMNS, read_csv, read_parquet

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _records() -> list[ExecutionRecord]:
    leg = LegRecord(
        venue="a",
        symbol="BTC-PERP",
        side="buy",
        mode="market_only",
        quantity=D("0.500"),
        filled_quantity=D("0.5"),
        arrival_mid=D("49999.95"),
        decision_price=D("50000.0"),
        limit_price=D("50250.0"),
        fill_price=D("50000.03333333333333333333333"),
        maker_quantity=D("0E-3"),
        taker_quantity=D("0.5"),
        fees=D("-1.0000000000000000000000000001E-7"),
        fees_estimated=True,
        time_to_ack_ms=0.1 + 0.2,
        time_to_fill_ms=12.0,
        elapsed_ms=15.25,
        retries=2,
        client_order_ids=("fa-e1-0-0", 'with "quotes", commas'),
    )
    unwind = LegRecord(
        venue="a",
        symbol="BTC-PERP",
        side="sell",
        mode="",
        quantity=D("0.25"),
        role="unwind",
    )
    return [
        ExecutionRecord(
            execution_id="e1",
            strategy_name="funding_arb",
            symbol="BTC-PERP",
            filled=False,
            outcome="rolled_back",
            slippage_pct=D("0.00000066666666666666666666667"),
            time=NOW - timedelta(hours=1, microseconds=1),
            rollback_cost_usd=D("12.34000"),
            leg_skew_ms=0.095,
            elapsed_ms=1234.5,
            error_message='leg 1: "rejected", then\nrolled back',
            legs=(leg, unwind, LegRecord(**{**_fields(leg), "venue": "b", "index": 1})),
        ),
        ExecutionRecord(
            execution_id="e2",
            strategy_name="basis",
            symbol="ETH-PERP",
            filled=True,
            slippage_pct=None,
            time=NOW - timedelta(minutes=5),
        ),
    ]


def _fields(leg: LegRecord) -> dict[str, object]:
    return {name: getattr(leg, name) for name in leg.to_dict()}


async def _tracker() -> ExecutionTracker:
    tracker = ExecutionTracker()
    for record in _records():
        await tracker.record_execution(record)
    return tracker


def _exactly(records: list[ExecutionRecord]) -> list[dict[str, object]]:
    """Everything, down to each Decimal's digits and exponent."""
    return [record.to_dict() for record in records]


async def test_csv_round_trips_exactly(tmp_path: Path) -> None:
    tracker = await _tracker()
    path = tmp_path / "executions.csv"

    rows = tracker.export_csv(path)

    assert rows == 4  # three legs, and one row for the record without legs
    back = read_csv(path)
    assert back == _records()
    assert _exactly(back) == _exactly(_records())


async def test_csv_has_one_row_per_leg_with_the_execution_repeated(tmp_path: Path) -> None:
    tracker = await _tracker()
    path = tmp_path / "executions.csv"

    tracker.export_csv(path)

    with path.open(newline="") as source:
        lines = list(csv.DictReader(source))
    assert tuple(lines[0]) == COLUMNS
    assert [(line["execution_id"], line["leg_venue"], line["leg_role"]) for line in lines] == [
        ("e1", "a", "entry"),
        ("e1", "a", "unwind"),
        ("e1", "b", "entry"),
        ("e2", "", ""),
    ]
    assert {line["rollback_cost_usd"] for line in lines[:3]} == {"12.34000"}
    assert lines[0]["leg_fill_price"] == "50000.03333333333333333333333"
    assert lines[0]["leg_fees"] == "-1.0000000000000000000000000001E-7"
    assert lines[0]["time"] == "2026-01-01T10:59:59.999999+00:00"
    assert lines[0]["filled"] == "false"
    assert lines[3]["slippage_pct"] == ""


async def test_parquet_round_trips_exactly(tmp_path: Path) -> None:
    tracker = await _tracker()
    path = tmp_path / "executions.parquet"

    rows = tracker.export_parquet(path)

    assert rows == 4
    back = read_parquet(path)
    assert back == _records()
    assert _exactly(back) == _exactly(_records())


async def test_parquet_columns_are_typed_and_decimals_are_exact_strings(tmp_path: Path) -> None:
    tracker = await _tracker()
    path = tmp_path / "executions.parquet"

    tracker.export_parquet(path)

    table = pq.read_table(path)
    schema = table.schema
    assert tuple(schema.names) == COLUMNS
    assert schema.field("time").type == pa.timestamp("us", tz="UTC")
    assert schema.field("rollback_cost_usd").type == pa.string()
    assert schema.field("leg_fill_price").type == pa.string()
    assert schema.field("leg_time_to_ack_ms").type == pa.float64()
    assert schema.field("leg_retries").type == pa.int64()
    assert schema.field("filled").type == pa.bool_()
    assert schema.field("leg_client_order_ids").type == pa.list_(pa.string())
    first = table.slice(0, 1).to_pylist()[0]
    assert first["leg_fill_price"] == "50000.03333333333333333333333"
    assert first["leg_time_to_ack_ms"] == 0.1 + 0.2
    assert table.column("leg_venue").to_pylist() == ["a", "a", "b", None]


async def test_exports_take_the_same_filters_as_the_stats(tmp_path: Path) -> None:
    tracker = await _tracker()

    basis = tracker.export_csv(tmp_path / "basis.csv", "basis")
    last_hour = tracker.export_parquet(tmp_path / "hour.parquet", time_window_hours=1, now=NOW)
    on_b = tracker.export_csv(tmp_path / "b.csv", venue="b", now=NOW)

    assert basis == 1
    assert [r.execution_id for r in read_csv(tmp_path / "basis.csv")] == ["e2"]
    assert last_hour == 1  # e1 is one microsecond too old
    assert on_b == 3  # a record on b, with all of its legs
    assert read_csv(tmp_path / "b.csv") == _records()[:1]


async def test_an_empty_export_reads_back_empty(tmp_path: Path) -> None:
    tracker = ExecutionTracker()

    assert tracker.export_csv(tmp_path / "none.csv") == 0
    assert tracker.export_parquet(tmp_path / "none.parquet") == 0
    assert read_csv(tmp_path / "none.csv") == []
    assert read_parquet(tmp_path / "none.parquet") == []


def test_reading_something_else_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")

    with pytest.raises(ValueError, match="not an execution export"):
        read_csv(path)


async def test_a_bad_cell_is_refused_naming_its_column(tmp_path: Path) -> None:
    tracker = await _tracker()
    path = tmp_path / "executions.csv"
    tracker.export_csv(path)
    path.write_text(path.read_text().replace("12.34000", "12.34x"))

    with pytest.raises(ValueError, match="rollback_cost_usd"):
        read_csv(path)
