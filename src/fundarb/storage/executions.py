"""Execution records in the database: the tracker's store (``ExecutionRecordStore``).

A record is stored as searchable columns (time, strategy, symbol, venue, mode, outcome and the
money figures as exact decimals), one row per leg, and its complete exact JSON, from which
it is read back unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from fundarb.storage.tables import execution_legs, executions

if TYPE_CHECKING:
    from fundarb.execution.monitoring.records import ExecutionRecord
    from fundarb.storage.store import Store

__all__ = ["load_execution_records", "save_execution_records"]


def _decimal(value: Any) -> Decimal | None:
    return Decimal(str(value)) if value is not None else None


async def save_execution_records(store: Store, records: Sequence[ExecutionRecord]) -> None:
    """Write ``records`` in one transaction (a record saved again replaces the old one)."""
    if not records:
        return
    ids = [r.execution_id for r in records]
    rows = []
    legs = []
    for record in records:
        data = record.to_dict()
        rows.append(
            {
                "execution_id": record.execution_id,
                "time": record.time,
                "strategy_name": record.strategy_name,
                "symbol": record.symbol,
                "venue": record.venue,
                "mode": record.mode,
                "filled": record.filled,
                "outcome": record.outcome,
                "slippage_pct": record.slippage_pct,
                "rollback_cost_usd": record.rollback_cost_usd,
                "leg_skew_ms": _decimal(record.leg_skew_ms),
                "record": json.dumps(data, sort_keys=True),
            }
        )
        for number, leg in enumerate(record.legs):
            legs.append(
                {
                    "execution_id": record.execution_id,
                    "leg": number,
                    "venue": leg.venue,
                    "symbol": leg.symbol,
                    "side": str(leg.side),
                    "mode": leg.mode,
                    "quantity_asked": leg.quantity,
                    "quantity_filled": leg.filled_quantity,
                    "fill_vwap": leg.fill_price,
                    "fees": leg.fees,
                    "slippage_bps": leg.slippage_bps,
                }
            )
    async with store.engine.begin() as connection:
        await connection.execute(
            delete(execution_legs).where(execution_legs.c.execution_id.in_(ids))
        )
        await connection.execute(delete(executions).where(executions.c.execution_id.in_(ids)))
        await connection.execute(insert(executions), rows)
        if legs:
            await connection.execute(insert(execution_legs), legs)


async def load_execution_records(
    store: Store, *, since: datetime | None = None
) -> list[ExecutionRecord]:
    """Records from ``since`` (all when None), oldest first, exactly as they were saved."""
    from fundarb.execution.monitoring.records import ExecutionRecord  # storage stays below

    query = select(executions.c.record).order_by(executions.c.time)
    if since is not None:
        query = query.where(executions.c.time >= since)
    async with store.engine.connect() as connection:
        texts = (await connection.execute(query)).scalars().all()
    return [ExecutionRecord.from_dict(json.loads(text)) for text in texts]
