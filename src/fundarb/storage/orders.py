"""The ``orders`` table: every order we sent, one row per (venue, client order id), kept from
the journal.

The journal is the source and this table its materialised view: :func:`write_orders` runs in
the transaction that writes the journal rows (``Journal._write``), so a flush, a batch spooled
while the database was down and written back later, and the table never disagree.

- INTENT inserts the order: state ``intent``, nothing filled, kind ``market`` (no price) or
  ``limit``, created = updated = the entry's time. An intent seen again (a resend under the
  same client order id) changes nothing.
- ACK sets the order id, the state (the prefix of its detail, ``"filled: ..."``; ``acked`` if
  it names no state we know) and the filled quantity.
- FILL raises the filled quantity (cumulative).
- CANCEL sets the state (its detail) and the filled quantity; RESOLVED the order id and the
  state where present, and the filled quantity.
- ``updated`` is the time of the newest entry applied.

Entries can arrive out of order across batches (a spooled batch is written back after later
ones were committed), so an entry only moves a row forward: the filled quantity is never
lowered; a state never goes back (intent, then open states, then final ones), and between two
of the same rank the newer entry wins. A FILL carries no state, so the filled quantity speaks
for it: an order filled to its quantity is ``filled``; an acknowledged one with some filled is
``partially_filled`` (as the execution layer tracks it). Entries of an order whose intent is
not in the table are ignored (the journal itself is never refused for them).

Cost, on top of the journal's insert: one insert for the batch's intents (executemany), and
for the other entries one select of the rows they touch and one update (executemany), whatever
the batch (the select is split per thousand orders, for a long spool written back at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import RowMapping, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from fundarb.storage.tables import orders
from fundarb.storage.types import ExactDecimal, UTCDateTime

if TYPE_CHECKING:
    from fundarb.storage.journal import JournalEntry
    from fundarb.storage.store import Store

__all__ = ["ORDER_STATES", "OrderRow", "load_orders", "write_orders"]

# The execution layer's order states (``OrderState`` values; a test keeps the two equal). Not
# imported from there: the execution package imports the storage one.
_FINAL_STATES = frozenset({"filled", "cancelled", "rejected", "expired"})
_OPEN_STATES = frozenset({"new", "acknowledged", "partially_filled", "cancel_pending", "unknown"})
ORDER_STATES = _FINAL_STATES | _OPEN_STATES
INTENT = "intent"  # journalled, not known to have reached the venue
ACKED = "acked"  # acknowledged, in words we could not read
_FILLING = frozenset({INTENT, ACKED, "new", "acknowledged"})  # partially_filled once filling

# ``EntryKind`` values (that enum lives in the journal module, which imports this one)
_INTENT = "intent"
_ACK = "ack"
_FILL = "fill"
_UPDATES = frozenset({_ACK, _FILL, "cancel", "resolved"})

_Key = tuple[str, str]
_CHUNK = 1000  # client order ids per select: a spool written back may hold many orders


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRow:
    """One row of the ``orders`` table; quantities and prices exact."""

    venue: str
    client_order_id: str
    execution_id: str
    leg: int
    order_id: str | None
    symbol: str
    side: str
    kind: str  # market | limit
    quantity: Decimal
    price: Decimal | None
    reduce_only: bool
    state: str  # intent | acked | an OrderState value
    filled: Decimal
    created: datetime
    updated: datetime


async def write_orders(connection: AsyncConnection, entries: Sequence[JournalEntry]) -> None:
    """Bring the ``orders`` rows up to date with ``entries``, on ``connection`` (the journal's
    transaction). Entries without a venue and client order id (an outcome) are skipped."""
    intents: dict[_Key, dict[str, Any]] = {}
    changes: dict[_Key, list[JournalEntry]] = {}
    for entry in entries:
        if entry.venue is None or entry.client_order_id is None:
            continue
        key = (entry.venue, entry.client_order_id)
        if entry.kind == _INTENT:
            new = _intent_row(entry)
            if new is not None:
                intents.setdefault(key, new)  # the first intent of an id is the order
        elif entry.kind in _UPDATES:
            changes.setdefault(key, []).append(entry)
    postgres = connection.dialect.name == "postgresql"
    if intents:
        dialect = postgresql if postgres else sqlite
        statement = dialect.insert(orders).on_conflict_do_nothing(
            index_elements=["venue", "client_order_id"]
        )
        await connection.execute(statement, list(intents.values()))
    if not changes:
        return
    venues = sorted({venue for venue, _ in changes})
    clients = sorted({client for _, client in changes})
    updates = []
    for start in range(0, len(clients), _CHUNK):  # one select, unless a long spool is written
        query = select(
            orders.c.venue,
            orders.c.client_order_id,
            orders.c.quantity,
            orders.c.order_id,
            orders.c.state,
            orders.c.filled,
            orders.c.updated,
        ).where(  # both on the primary key's index (a row-value IN scans the table on SQLite)
            orders.c.venue.in_(venues),
            orders.c.client_order_id.in_(clients[start : start + _CHUNK]),
        )
        if postgres:  # another writer of the same order waits for this transaction
            query = query.with_for_update()
        for row in (await connection.execute(query)).mappings():
            touching = changes.get((row["venue"], row["client_order_id"]))  # None: not asked
            if touching is not None and (change := _fold(row, touching)) is not None:
                updates.append(change)
    if updates:
        updates.sort(key=lambda u: (u["key_venue"], u["key_client_order_id"]))  # lock order
        await connection.execute(_UPDATE, updates)


_UPDATE = (
    update(orders)
    .where(
        orders.c.venue == bindparam("key_venue"),
        orders.c.client_order_id == bindparam("key_client_order_id"),
    )
    .values(
        order_id=bindparam("new_order_id", type_=orders.c.order_id.type),
        state=bindparam("new_state", type_=orders.c.state.type),
        filled=bindparam("new_filled", type_=ExactDecimal()),
        updated=bindparam("new_updated", type_=UTCDateTime()),
    )
)


def _intent_row(entry: JournalEntry) -> dict[str, Any] | None:
    """The new row for an INTENT; None if it lacks what an order row needs (never expected:
    skipped rather than fail the journal's commit)."""
    if entry.leg is None or entry.symbol is None or entry.side is None or entry.quantity is None:
        return None
    return {
        "venue": entry.venue,
        "client_order_id": entry.client_order_id,
        "execution_id": entry.execution_id,
        "leg": entry.leg,
        "order_id": entry.order_id,
        "symbol": entry.symbol,
        "side": entry.side,
        "kind": "market" if entry.price is None else "limit",
        "quantity": entry.quantity,
        "price": entry.price,
        "reduce_only": bool(entry.reduce_only),
        "state": INTENT,
        "filled": Decimal(0),
        "created": entry.time,
        "updated": entry.time,
    }


def _fold(row: RowMapping, entries: list[JournalEntry]) -> dict[str, Any] | None:
    """The row after ``entries`` (in journal order), as update parameters; None if unchanged."""
    order_id: str | None = row["order_id"]
    state: str = row["state"]
    filled: Decimal = row["filled"]
    updated: datetime = row["updated"]
    for entry in entries:
        if entry.order_id is not None and (order_id is None or entry.time >= updated):
            order_id = entry.order_id
        if entry.quantity is not None and entry.quantity > filled:
            filled = entry.quantity
        new = _entry_state(entry)
        if new is not None and (
            _rank(new) > _rank(state) or (_rank(new) == _rank(state) and entry.time >= updated)
        ):
            state = new
        updated = max(updated, entry.time)
    if state not in _FINAL_STATES and filled > 0 and filled >= row["quantity"]:
        state = "filled"
    elif state in _FILLING and filled > 0:
        state = "partially_filled"
    if (order_id, state, filled, updated) == tuple(
        row[name] for name in ("order_id", "state", "filled", "updated")
    ):
        return None
    return {
        "key_venue": row["venue"],
        "key_client_order_id": row["client_order_id"],
        "new_order_id": order_id,
        "new_state": state,
        "new_filled": filled,
        "new_updated": updated,
    }


def _entry_state(entry: JournalEntry) -> str | None:
    """The state an entry reports: its detail's prefix before ``:``, if it is one we know."""
    if entry.kind == _FILL:
        return None
    head = entry.detail.split(":", 1)[0].strip().lower()
    if head in ORDER_STATES:
        return head
    return ACKED if entry.kind == _ACK else None


def _rank(state: str) -> int:
    """Intent, then open states, then final ones: a state never goes back."""
    if state == INTENT:
        return 0
    return 2 if state in _FINAL_STATES else 1


async def load_orders(store: Store, execution_id: str | None = None) -> list[OrderRow]:
    """Orders (of one execution, or all), oldest first."""
    query = select(orders).order_by(
        orders.c.created, orders.c.leg, orders.c.venue, orders.c.client_order_id
    )
    if execution_id is not None:
        query = query.where(orders.c.execution_id == execution_id)
    async with store.engine.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()
    return [OrderRow(**row) for row in rows]
