"""Execution records as flat tables: CSV (stdlib) and Parquet (pyarrow), and back.

One row per leg, the execution's fields repeated on each (a record without legs is one row
whose ``leg_*`` columns are empty). Columns: the record's fields in
:meth:`ExecutionRecord.to_dict` order without ``legs``, then each leg field as ``leg_<name>``.

Exact both ways: decimals are written as their exact decimal strings (Parquet ``string``
columns: a ``decimal128`` column would need one scale for every value, and a VWAP or a fee
has as many digits as the division gave it); times are ISO 8601 UTC in CSV and
``timestamp[us, UTC]`` in Parquet; ``client_order_ids`` is a JSON list in CSV and
``list<string>`` in Parquet; booleans are ``true``/``false`` in CSV. :func:`read_csv` and
:func:`read_parquet` rebuild the records.
"""

from __future__ import annotations

import csv
import importlib
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from fundarb.execution.monitoring.records import ExecutionRecord, LegRecord, field_kinds

__all__ = ["COLUMNS", "read_csv", "read_parquet", "rows", "write_csv", "write_parquet"]

_RECORD: Final = {k: v for k, v in field_kinds(ExecutionRecord).items() if k != "legs"}
_LEG: Final = field_kinds(LegRecord)
_KINDS: Final = {**_RECORD, **{f"leg_{k}": v for k, v in _LEG.items()}}
COLUMNS: Final = tuple(_KINDS)


def rows(records: Iterable[ExecutionRecord]) -> Iterator[dict[str, Any]]:
    """One flat dict per leg (typed values: Decimal, datetime, ...), in the column order."""
    for record in records:
        base = {name: getattr(record, name) for name in _RECORD}
        if not record.legs:
            yield {**base, **dict.fromkeys((f"leg_{k}" for k in _LEG), None)}
        for leg in record.legs:
            yield {**base, **{f"leg_{k}": getattr(leg, k) for k in _LEG}}


def _records(flat: Iterable[Mapping[str, Any]]) -> list[ExecutionRecord]:
    """The inverse of :func:`rows`: rows grouped by execution id, in first-seen order."""
    fields: dict[str, dict[str, Any]] = {}
    legs: dict[str, list[LegRecord]] = {}
    for row in flat:
        execution_id = row["execution_id"]
        if execution_id not in fields:
            fields[execution_id] = {name: row[name] for name in _RECORD}
            legs[execution_id] = []
        if row["leg_venue"]:  # a leg's venue is never empty: empty means no leg
            legs[execution_id].append(LegRecord(**{k: row[f"leg_{k}"] for k in _LEG}))
    return [ExecutionRecord(**values, legs=legs[eid]) for eid, values in fields.items()]


# -- CSV ----------------------------------------------------------------------------------------


def write_csv(path: str | Path, records: Iterable[ExecutionRecord]) -> int:
    """Write ``records`` to ``path`` as CSV (UTF-8, a header line); returns the row count."""
    count = 0
    with Path(path).open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for row in rows(records):
            writer.writerow(_to_text(_KINDS[name], value) for name, value in row.items())
            count += 1
    return count


def read_csv(path: str | Path) -> list[ExecutionRecord]:
    """The records of a file :func:`write_csv` wrote. Raises ``ValueError`` on bad content."""
    with Path(path).open(newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: not an execution export (columns {reader.fieldnames})")
        return _records(
            {name: _from_text(_KINDS[name], text, name) for name, text in line.items()}
            for line in reader
        )


def _to_text(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "bool":
        return "true" if value else "false"
    if kind == "time":
        return str(value.isoformat())
    if kind == "texts":
        return json.dumps(list(value))
    if kind == "float?":
        return repr(value)  # repr round-trips a float exactly
    return str(value)


def _from_text(kind: str, text: str | None, name: str) -> Any:
    if text is None:
        raise ValueError(f"a CSV row is missing its {name} cell")
    if kind == "text":
        return text
    if text == "":
        return None
    try:
        if kind in ("decimal", "decimal?"):
            return Decimal(text)
        if kind == "float?":
            return float(text)
        if kind == "int":
            return int(text)
        if kind == "bool":
            return {"true": True, "false": False}[text]
        if kind == "time":
            return datetime.fromisoformat(text)
        if kind == "texts":
            return tuple(json.loads(text))
    except (ArithmeticError, ValueError, KeyError):
        raise ValueError(f"bad {name} cell {text!r}") from None
    return text


# -- Parquet ------------------------------------------------------------------------------------


def write_parquet(path: str | Path, records: Iterable[ExecutionRecord]) -> int:
    """Write ``records`` to ``path`` as Parquet (schema in the module docstring); returns
    the row count. Imports pyarrow on first use."""
    pa, pq = _pyarrow()

    types = {
        "text": pa.string(),
        "text?": pa.string(),
        "decimal": pa.string(),
        "decimal?": pa.string(),
        "float?": pa.float64(),
        "int": pa.int64(),
        "bool": pa.bool_(),
        "time": pa.timestamp("us", tz="UTC"),
        "texts": pa.list_(pa.string()),
    }
    schema = pa.schema([(name, types[kind]) for name, kind in _KINDS.items()])
    columns: dict[str, list[Any]] = {name: [] for name in _KINDS}
    for row in rows(records):
        for name, value in row.items():
            kind = _KINDS[name]
            if value is not None and kind in ("decimal", "decimal?", "text"):
                value = str(value)
            elif value is not None and kind == "texts":
                value = list(value)
            columns[name].append(value)
    pq.write_table(pa.table(columns, schema=schema), str(path))
    return len(columns["execution_id"])


def read_parquet(path: str | Path) -> list[ExecutionRecord]:
    """The records of a file :func:`write_parquet` wrote."""
    _, pq = _pyarrow()
    table = pq.read_table(str(path))
    if tuple(table.column_names) != COLUMNS:
        raise ValueError(f"{path}: not an execution export (columns {table.column_names})")
    return _records(_from_arrow(row) for row in table.to_pylist())


def _pyarrow() -> tuple[Any, Any]:
    """pyarrow and pyarrow.parquet, imported on first use (they take a while to import);
    typed ``Any``: pyarrow's own annotations are placeholders."""
    return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")


def _from_arrow(row: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in row.items():
        kind = _KINDS[name]
        if value is not None and kind in ("decimal", "decimal?"):
            value = Decimal(value)
        elif value is not None and kind == "texts":
            value = tuple(value)
        values[name] = value
    return values
