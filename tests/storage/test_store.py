"""The store on SQLite and PostgreSQL: migrations up and down, exact decimals, UTC times,
clear errors for bad configuration."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import insert, inspect, select

from fundarb.errors import ConfigError, StorageError
from fundarb.storage import Store, resolve_database_url
from fundarb.storage.store import head_revision
from fundarb.storage.tables import fills, metadata

pytestmark = pytest.mark.looptime(False)  # real sockets and files: real time

TABLES = {
    "executions",
    "execution_legs",
    "orders",
    "fills",
    "incidents",
    "journal",
    "funding_samples",
    "funding_payments",
    "positions",
    "equity_points",
}


async def _tables(store: Store) -> set[str]:
    async with store.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    return names - {"alembic_version"}


async def test_migrations_go_up_and_down(database_url: str) -> None:
    async with Store.open(database_url) as store:
        assert await store.current_revision() is None

        await store.upgrade()
        assert await store.current_revision() == head_revision()
        assert TABLES <= await _tables(store) == set(metadata.tables)
        await store.upgrade()  # again: nothing to do
        await store.downgrade("base")

        assert await store.current_revision() is None
        assert await _tables(store) == set()


@pytest.mark.parametrize(
    "value",
    [
        D("61800.20"),
        D("0.000000000000000001"),
        D("12345678901234567890.123456789012345678"),
        D("0.1"),
        D("-3.5"),
        D("0"),
    ],
)
async def test_decimals_come_back_exact(database_url: str, value: D) -> None:
    when = datetime(2024, 8, 8, 23, 59, 59, 123456, tzinfo=UTC)
    async with Store.open(database_url) as store:
        await store.upgrade()
        async with store.engine.begin() as connection:
            await connection.execute(
                insert(fills).values(
                    venue="a",
                    trade_id="t1",
                    execution_id="x",
                    symbol="BTC-PERP",
                    order_id="o",
                    client_order_id="c",
                    side="buy",
                    price=value,
                    quantity=value,
                    fee=value,
                    liquidity="maker",
                    time=when,
                )
            )
        async with store.engine.connect() as connection:
            row = (await connection.execute(select(fills))).one()

    assert row.price == value
    assert row.quantity == value
    assert row.time == when
    assert row.time.tzinfo is not None


async def test_times_are_stored_in_utc(database_url: str) -> None:
    local = datetime(2024, 1, 1, 3, 0, tzinfo=timezone(timedelta(hours=3)))
    async with Store.open(database_url) as store:
        await store.upgrade()
        async with store.engine.begin() as connection:
            await connection.execute(
                insert(fills).values(
                    venue="a",
                    trade_id="t1",
                    symbol="S",
                    order_id="o",
                    client_order_id="c",
                    side="buy",
                    price=D(1),
                    quantity=D(1),
                    fee=D(0),
                    liquidity="maker",
                    time=local,
                )
            )
        async with store.engine.connect() as connection:
            stored = (await connection.execute(select(fills.c.time))).scalar_one()

    assert stored == datetime(2024, 1, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("postgresql://postgres:hunter2@127.0.0.1:1/x", StorageError, "cannot reach"),
        ("nonsense", ConfigError, "not a URL"),
        ("mysql://root@localhost/db", ConfigError, "unsupported database"),
        ("sqlite:////etc/passwd/fundarb.db", StorageError, "cannot create the database folder"),
        ("sqlite://", ConfigError, "needs a file path"),
    ],
)
async def test_bad_configuration_is_a_clear_error_at_start(
    url: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as raised:
        async with Store.open(url):
            pass

    assert "hunter2" not in str(raised.value)


def test_default_url_is_a_sqlite_file_under_fundarb_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FUNDARB_DATABASE_URL", raising=False)
    monkeypatch.setenv("FUNDARB_HOME", str(tmp_path))

    url = resolve_database_url()

    assert url.drivername == "sqlite+aiosqlite"
    assert url.database == str(tmp_path / "fundarb.db")


def test_environment_url_is_used_with_the_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDARB_DATABASE_URL", "postgresql://u:p@db.example/fundarb")

    assert resolve_database_url().drivername == "postgresql+asyncpg"


def test_db_upgrade_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fundarb",
            "db",
            "--url",
            f"sqlite:///{tmp_path / 'f.db'}",
            "upgrade",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert f"at revision {head_revision()}" in done.stdout


def test_db_command_reports_an_unreachable_database_without_the_password() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fundarb",
            "db",
            "--url",
            "postgresql://postgres:hunter2@127.0.0.1:1/x",
            "current",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 2
    assert "cannot reach the database" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
