"""``Store``: the database, opened, checked and migrated; one async context manager.

::

    async with Store.open() as store:          # FUNDARB_DATABASE_URL, or the SQLite default
        await store.upgrade()                  # Alembic migrations to the newest revision

Opening checks what a trader would otherwise discover mid-trade: the URL is valid, the
database answers, a SQLite file's folder exists and is writable. Every failure is a
:class:`~fundarb.errors.StorageError` (or :class:`~fundarb.errors.ConfigError` for a bad
URL) whose message names the database with its password hidden. SQLite runs in WAL mode
with foreign keys on.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from fundarb.errors import StorageError
from fundarb.storage.executions import load_execution_records, save_execution_records
from fundarb.storage.funding import (
    latest_samples,
    load_funding_payments,
    load_samples,
    save_funding_payments,
    save_samples,
)
from fundarb.storage.ledger import load_incidents, save_fills, save_incidents
from fundarb.storage.orders import OrderRow, load_orders
from fundarb.storage.positions import (
    EquityPoint,
    PositionRow,
    load_equity,
    load_positions,
    save_equity,
    save_positions,
)
from fundarb.storage.url import resolve_database_url, safe_url

if TYPE_CHECKING:
    from fundarb.execution.monitoring.records import ExecutionRecord
    from fundarb.execution.patterns.incidents import Incident
    from fundarb.funding.rates import FundingSample
    from fundarb.venues.accounts import FundingPayment
    from fundarb.venues.orders import Fill

__all__ = ["Store"]


class Store:
    """An open database. Create with :meth:`open`; use as an async context manager."""

    def __init__(self, engine: AsyncEngine, url: URL) -> None:
        self.engine = engine
        self.url = url

    @property
    def name(self) -> str:
        """The database, password hidden (for messages and logs)."""
        return safe_url(self.url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str | None = None) -> AsyncIterator[Store]:
        """Open and check the database at ``url`` (see :mod:`fundarb.storage.url`)."""
        resolved = resolve_database_url(url)
        if resolved.drivername.startswith("sqlite"):
            _check_sqlite_path(resolved)
        engine = create_async_engine(resolved)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        store = cls(engine, resolved)
        try:
            await store.ping()
            yield store
        finally:
            await engine.dispose()

    async def ping(self) -> None:
        """Raise :class:`StorageError` unless the database answers."""
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError(f"cannot reach the database {self.name}: {_reason(exc)}") from exc

    # -- execution records (the ExecutionTracker's store) -------------------------------------

    async def save_execution_records(self, records: Sequence[ExecutionRecord]) -> None:
        """Write execution records (one transaction; a record saved again replaces the old)."""
        try:
            await save_execution_records(self, records)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot write to {self.name}: {_reason(exc)}") from exc

    async def load_execution_records(
        self, *, since: datetime | None = None
    ) -> list[ExecutionRecord]:
        """Execution records from ``since``, oldest first, exactly as saved."""
        try:
            return await load_execution_records(self, since=since)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read from {self.name}: {_reason(exc)}") from exc

    # -- fills and incidents ----------------------------------------------------------------

    async def save_fills(self, new: Sequence[Fill], *, execution_id: str | None = None) -> int:
        """Store fills (a fill already stored is skipped); returns how many were new."""
        try:
            return await save_fills(self, new, execution_id)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot write to {self.name}: {_reason(exc)}") from exc

    async def save_incidents(self, records: Sequence[Incident]) -> None:
        """Store incidents (an incident saved again, e.g. resolved, replaces the old row)."""
        try:
            await save_incidents(self, records)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot write to {self.name}: {_reason(exc)}") from exc

    async def load_incidents(self, *, unresolved_only: bool = False) -> list[Incident]:
        try:
            return await load_incidents(self, unresolved_only=unresolved_only)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read from {self.name}: {_reason(exc)}") from exc

    # -- orders (kept from the journal) -----------------------------------------------------

    async def load_orders(self, execution_id: str | None = None) -> list[OrderRow]:
        """The orders the journal recorded (of one execution, or all), oldest first, with
        their latest known state and filled quantity; quantities and prices exact."""
        try:
            return await load_orders(self, execution_id)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read from {self.name}: {_reason(exc)}") from exc

    # -- funding samples and payments -------------------------------------------------------

    async def save_samples(
        self, samples: Sequence[FundingSample], *, source: str = "collector"
    ) -> int:
        """Store funding samples (settled ones once; a live one replaced by a newer one);
        returns how many rows were new. See :mod:`fundarb.storage.funding`."""
        try:
            return await save_samples(self, samples, source=source)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot write to {self.name}: {_reason(exc)}") from exc

    async def load_samples(
        self,
        *,
        symbol: str | None = None,
        venue: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[FundingSample]:
        """Funding samples from ``since`` to ``until`` (both included), oldest first; with
        ``limit``, the newest ``limit`` of them."""
        try:
            return await load_samples(
                self, symbol=symbol, venue=venue, since=since, until=until, limit=limit
            )
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read from {self.name}: {_reason(exc)}") from exc

    async def latest_samples(self) -> list[FundingSample]:
        """The latest funding sample of each (venue, symbol)."""
        try:
            return await latest_samples(self)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read from {self.name}: {_reason(exc)}") from exc

    async def save_funding_payments(
        self,
        payments: Sequence[FundingPayment],
        *,
        position_id: str | None = None,
        execution_id: str | None = None,
    ) -> int:
        """Store funding payments (a payment already stored is skipped); returns how many
        were new."""
        try:
            return await save_funding_payments(
                self, payments, position_id=position_id, execution_id=execution_id
            )
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot write to {self.name}: {_reason(exc)}") from exc

    async def load_funding_payments(
        self,
        *,
        venue: str | None = None,
        symbol: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        position_id: str | None = None,
        execution_id: str | None = None,
    ) -> list[FundingPayment]:
        """Funding payments from ``since`` to ``until`` (both included), oldest first."""
        try:
            return await load_funding_payments(
                self,
                venue=venue,
                symbol=symbol,
                since=since,
                until=until,
                position_id=position_id,
                execution_id=execution_id,
            )
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read from {self.name}: {_reason(exc)}") from exc

    # -- the strategy's positions and equity curve --------------------------------------------

    async def save_positions(self, rows: Sequence[PositionRow]) -> None:
        """Store positions (a position saved again replaces its row), in one transaction."""
        try:
            await save_positions(self, rows)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot write to {self.name}: {_reason(exc)}") from exc

    async def load_positions(
        self, *, states: Sequence[str] | None = None, strategy_name: str | None = None
    ) -> list[PositionRow]:
        """Positions, oldest first (only those in ``states`` when given)."""
        try:
            return await load_positions(self, states=states, strategy_name=strategy_name)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read from {self.name}: {_reason(exc)}") from exc

    async def save_equity(self, points: Sequence[EquityPoint]) -> None:
        """Append equity points."""
        try:
            await save_equity(self, points)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot write to {self.name}: {_reason(exc)}") from exc

    async def load_equity(self, *, strategy_name: str | None = None) -> list[EquityPoint]:
        """Equity points in time order."""
        try:
            return await load_equity(self, strategy_name=strategy_name)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read from {self.name}: {_reason(exc)}") from exc

    # -- migrations -------------------------------------------------------------------------

    async def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision``."""
        await self._migrate(command.upgrade, revision)

    async def downgrade(self, revision: str) -> None:
        """Undo migrations down to ``revision`` (``"base"``: an empty database)."""
        await self._migrate(command.downgrade, revision)

    async def current_revision(self) -> str | None:
        """The revision the database is at (None: never migrated)."""
        try:
            async with self.engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read the schema of {self.name}: {_reason(exc)}") from exc

    async def _migrate(self, step: Any, revision: str) -> None:
        def run(connection: Connection) -> None:
            config = _alembic_config()
            config.attributes["connection"] = connection
            step(config, revision)

        try:
            async with self.engine.begin() as connection:
                await connection.run_sync(run)
        except SQLAlchemyError as exc:
            raise StorageError(f"migrating {self.name} failed: {_reason(exc)}") from exc


def head_revision() -> str:
    """The newest migration this version of fundarb knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("fundarb.storage") / "migrations")
    )
    return config


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each WAL checkpoint, fast
    cursor.close()


def _check_sqlite_path(url: URL) -> None:
    database = url.database or ""
    if database == ":memory:":
        return
    path = Path(database).expanduser()
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the database folder {folder}: {exc.strerror}") from exc
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        raise StorageError(f"the database {path} is not writable (read-only path)")


def _reason(exc: BaseException) -> str:
    """The first line of the underlying error, without SQL or parameters."""
    original = getattr(exc, "orig", None) or exc.__cause__ or exc
    return str(original).splitlines()[0] if str(original) else type(original).__name__
