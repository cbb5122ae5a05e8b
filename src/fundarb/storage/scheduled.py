"""The execution scheduler's queue and the algorithms' checkpoints in the database.

:class:`ScheduleStore` is the scheduler's backend (``ScheduleBackend``) and a pair TWAP's
``CheckpointStore`` over one :class:`~fundarb.storage.Store`:

- an item is inserted once per ``idempotency_key`` (a second insert returns the first row);
- its state moves only by compare-and-set (``UPDATE ... WHERE state IN (...)``), so two
  schedulers on one database cannot both claim it, and a cancel loses to a claim;
- a checkpoint is one row per algorithm, replaced on every save.

Payloads, results and checkpoints are JSON text; decimals travel as strings.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from fundarb.errors import StorageError
from fundarb.storage.tables import algo_checkpoints, scheduled_executions

if TYPE_CHECKING:
    from fundarb.execution.algos.scheduler import ScheduledExecution, ScheduleState
    from fundarb.storage.store import Store

__all__ = ["ScheduleStore"]

_T = scheduled_executions


class ScheduleStore:
    """Scheduled executions and algorithm checkpoints in ``store`` (migrated to 0004)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def add_scheduled(self, item: ScheduledExecution) -> ScheduledExecution:
        row = {
            "schedule_id": item.schedule_id,
            "idempotency_key": item.idempotency_key,
            "kind": item.kind,
            "run_at": item.run_at,
            "state": item.state.value,
            "payload": json.dumps(dict(item.payload)),
            "created_at": item.created_at,
            "claimed_at": item.claimed_at,
            "finished_at": item.finished_at,
            "result": json.dumps(dict(item.result)) if item.result is not None else None,
            "error": item.error,
        }
        dialect = postgresql if self.store.dialect == "postgresql" else sqlite
        statement = dialect.insert(_T).on_conflict_do_nothing(index_elements=["idempotency_key"])
        try:
            async with self.store.engine.begin() as connection:
                await connection.execute(statement, [row])
                stored = (
                    (
                        await connection.execute(
                            select(_T).where(_T.c.idempotency_key == item.idempotency_key)
                        )
                    )
                    .mappings()
                    .one()
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot write to {self.store.name}: {exc}") from exc
        return _item(stored)

    async def load_scheduled(
        self, *, states: Collection[ScheduleState] | None = None
    ) -> list[ScheduledExecution]:
        query = select(_T).order_by(_T.c.run_at, _T.c.created_at)
        if states is not None:
            query = query.where(_T.c.state.in_([s.value for s in states]))
        try:
            async with self.store.engine.connect() as connection:
                rows = (await connection.execute(query)).mappings().all()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read from {self.store.name}: {exc}") from exc
        return [_item(row) for row in rows]

    async def transition(
        self,
        schedule_id: str,
        *,
        from_states: Collection[ScheduleState],
        to: ScheduleState,
        at: datetime,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        from fundarb.execution.algos.scheduler import ScheduleState

        values: dict[str, Any] = {"state": to.value, "result": None, "error": error}
        if result is not None:
            values["result"] = json.dumps(dict(result))
        if to is ScheduleState.CLAIMED:
            values["claimed_at"] = at
        if to.final:
            values["finished_at"] = at
        statement = (
            update(_T)
            .where(_T.c.schedule_id == schedule_id, _T.c.state.in_([s.value for s in from_states]))
            .values(**values)
        )
        try:
            async with self.store.engine.begin() as connection:
                changed = (await connection.execute(statement)).rowcount
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot write to {self.store.name}: {exc}") from exc
        return bool(changed == 1)

    # -- checkpoints (a pair TWAP's CheckpointStore) ----------------------------------------

    async def save_checkpoint(
        self, algo_id: str, kind: str, state: str, data: Mapping[str, Any]
    ) -> None:
        row = {
            "algo_id": algo_id,
            "kind": kind,
            "state": state,
            "data": json.dumps(dict(data)),
            "updated_at": datetime.now(UTC),
        }
        dialect = postgresql if self.store.dialect == "postgresql" else sqlite
        insert = dialect.insert(algo_checkpoints)
        statement = insert.on_conflict_do_update(
            index_elements=["algo_id"],
            set_={
                "kind": insert.excluded.kind,
                "state": insert.excluded.state,
                "data": insert.excluded.data,
                "updated_at": insert.excluded.updated_at,
            },
        )
        try:
            async with self.store.engine.begin() as connection:
                await connection.execute(statement, [row])
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot write to {self.store.name}: {exc}") from exc

    async def load_checkpoint(self, algo_id: str) -> dict[str, Any] | None:
        query = select(algo_checkpoints.c.data).where(algo_checkpoints.c.algo_id == algo_id)
        try:
            async with self.store.engine.connect() as connection:
                raw = (await connection.execute(query)).scalar_one_or_none()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read from {self.store.name}: {exc}") from exc
        if raw is None:
            return None
        data: dict[str, Any] = json.loads(raw)
        return data


def _item(row: Any) -> ScheduledExecution:
    from fundarb.execution.algos.scheduler import ScheduledExecution, ScheduleState

    return ScheduledExecution(
        schedule_id=row["schedule_id"],
        idempotency_key=row["idempotency_key"],
        kind=row["kind"],
        run_at=row["run_at"],
        payload=json.loads(row["payload"]),
        state=ScheduleState(row["state"]),
        created_at=row["created_at"],
        claimed_at=row["claimed_at"],
        finished_at=row["finished_at"],
        result=json.loads(row["result"]) if row["result"] is not None else None,
        error=row["error"],
    )
