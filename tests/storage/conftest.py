"""Databases for the storage tests: a fresh SQLite file, and a fresh PostgreSQL database on
the server these machines run (127.0.0.1:5432, trust auth), dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from fundarb.storage import Store
from tests.storage.outages import PG_ADMIN, Outage, PostgresOutage, SqliteOutage


async def _pg_admin_connection():  # type: ignore[no-untyped-def]
    import asyncpg

    return await asyncpg.connect(
        PG_ADMIN.replace("postgresql+asyncpg://", "postgresql://"), timeout=5
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL to an empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fundarb.db'}"
        return
    try:
        admin = await _pg_admin_connection()
    except (OSError, Exception) as exc:  # noqa: BLE001 - any failure means: no server here
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}: {exc}")
    name = f"fundarb_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base = PG_ADMIN.rsplit("/", 1)[0]
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def outage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Outage]:
    """A fresh, migrated database of each kind that a test can take down; always brought
    back up (and, PostgreSQL, dropped) afterwards, whatever the test did."""
    if request.param == "sqlite":
        lite = SqliteOutage(tmp_path / "fundarb.db")
        async with Store.open(lite.url) as store:
            await store.upgrade()
        try:
            yield lite
        finally:
            await lite.end()
        return
    try:
        admin = await asyncpg.connect(
            PG_ADMIN.replace("postgresql+asyncpg://", "postgresql://"), timeout=5
        )
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}: {exc}")
    name = f"fundarb_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    pg = PostgresOutage(admin, name)
    try:
        async with Store.open(pg.url) as store:
            await store.upgrade()
        yield pg
    finally:
        try:
            await pg.end()
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
