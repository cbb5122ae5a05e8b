"""Taking a database down for real, for the tests of what happens meanwhile.

PostgreSQL: connections to the test's own database are refused and its backends killed.
SQLite: another connection holds ``BEGIN EXCLUSIVE`` (the tests run as root, so file
permissions would not stop a write). The ``outage`` fixture (in this folder's conftest) gives
a fresh, migrated database of each kind, always brought back up and dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path
from typing import Protocol

import asyncpg

PG_ADMIN = os.environ.get("FUNDARB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SQLITE_BUSY_TIMEOUT_S = 0.2  # how long a write waits for the lock before it gives up


class Outage(Protocol):
    """A database that can be taken down and brought back (both idempotent)."""

    url: str
    down: bool

    async def begin(self) -> None: ...

    async def end(self) -> None: ...


class PostgresOutage:
    """No new connections to the database, and every open one terminated."""

    def __init__(self, admin: asyncpg.Connection, name: str) -> None:
        self.admin = admin
        self.name = name
        self.url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
        self.down = False

    async def begin(self) -> None:
        if self.down:
            return
        self.down = True
        await self.admin.execute(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false')
        # the 5 s timeout: wait until each backend has really exited, not just been signalled
        await self.admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.name,
        )

    async def end(self) -> None:
        await self.admin.execute(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true')
        self.down = False


class SqliteOutage:
    """Another connection holds the database's write lock (``BEGIN EXCLUSIVE``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}?timeout={SQLITE_BUSY_TIMEOUT_S}"
        self.down = False
        self._holder: sqlite3.Connection | None = None

    async def begin(self) -> None:
        if self.down:
            return
        self.down = True
        # in a thread: a write of ours in flight must finish (on its own thread) before the
        # lock is ours, and the loop must not be blocked meanwhile
        self._holder = await asyncio.to_thread(self._lock)

    def _lock(self) -> sqlite3.Connection:
        holder = sqlite3.connect(
            self.path, timeout=5, isolation_level=None, check_same_thread=False
        )
        holder.execute("BEGIN EXCLUSIVE")
        return holder

    async def end(self) -> None:
        holder, self._holder = self._holder, None
        if holder is not None:
            holder.close()  # rolls the locking transaction back; the lock is released
        self.down = False
