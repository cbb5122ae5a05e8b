"""Fills and incidents in the database.

Fills are unique per (venue, trade id): saving a fill twice (a duplicate event, a replay of
the venue's history after a crash) stores it once. Incidents are saved whole and replaced
when saved again (a resolution updates the row); unresolved residual incidents read back at
start re-arm the kill switch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from fundarb.storage.tables import fills, incidents

if TYPE_CHECKING:
    from fundarb.execution.patterns.incidents import Incident
    from fundarb.storage.store import Store
    from fundarb.venues.orders import Fill

__all__ = ["load_incidents", "save_fills", "save_incidents"]


async def save_fills(store: Store, new: Sequence[Fill], execution_id: str | None) -> int:
    """Store ``new`` fills; returns how many were not stored before."""
    if not new:
        return 0
    rows = [
        {
            "venue": f.venue,
            "trade_id": f.trade_id,
            "execution_id": execution_id,
            "symbol": f.symbol,
            "order_id": f.order_id,
            "client_order_id": f.client_order_id,
            "side": f.side.value,
            "price": f.price,
            "quantity": f.quantity,
            "fee": f.fee,
            "liquidity": f.liquidity.value,
            "time": f.timestamp,
        }
        for f in new
    ]
    dialect = postgresql if store.dialect == "postgresql" else sqlite
    statement = (
        dialect.insert(fills)
        .on_conflict_do_nothing(index_elements=["venue", "trade_id"])
        .returning(fills.c.trade_id)  # only the rows really inserted come back
    )
    async with store.engine.begin() as connection:
        inserted = (await connection.execute(statement, rows)).all()
    return len(inserted)


async def save_incidents(store: Store, records: Sequence[Incident]) -> None:
    """Store (or replace) incidents, in one transaction."""
    if not records:
        return
    rows = [
        {
            "incident_id": i.incident_id,
            "kind": i.kind.value,
            "execution_id": i.execution_id,
            "time": i.time,
            "cost_usd": i.cost_usd,
            "resolved": i.resolved,
            "resolution": i.resolution,
            "legs": json.dumps(
                [
                    {
                        "venue": leg.venue,
                        "symbol": leg.symbol,
                        "quantity": str(leg.quantity),
                        "price": str(leg.price) if leg.price is not None else None,
                    }
                    for leg in i.legs
                ]
            ),
            "actions": json.dumps(list(i.actions)),
        }
        for i in records
    ]
    ids = [row["incident_id"] for row in rows]
    async with store.engine.begin() as connection:
        await connection.execute(delete(incidents).where(incidents.c.incident_id.in_(ids)))
        await connection.execute(insert(incidents), rows)


async def load_incidents(store: Store, *, unresolved_only: bool = False) -> list[Incident]:
    """Incidents, oldest first."""
    from decimal import Decimal

    from fundarb.execution.patterns.incidents import Incident, IncidentKind, IncidentLeg

    query = select(incidents).order_by(incidents.c.time)
    if unresolved_only:
        query = query.where(incidents.c.resolved.is_(False))
    async with store.engine.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()

    def leg(data: dict[str, Any]) -> IncidentLeg:
        price = data.get("price")
        return IncidentLeg(
            data["venue"],
            data["symbol"],
            Decimal(data["quantity"]),
            Decimal(price) if price is not None else None,
        )

    return [
        Incident(
            incident_id=row["incident_id"],
            kind=IncidentKind(row["kind"]),
            execution_id=row["execution_id"],
            time=row["time"],
            cost_usd=row["cost_usd"],
            legs=tuple(leg(d) for d in json.loads(row["legs"])),
            actions=tuple(json.loads(row["actions"])),
            resolved=row["resolved"],
            resolution=row["resolution"],
        )
        for row in rows
    ]
