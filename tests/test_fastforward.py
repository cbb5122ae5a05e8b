"""SQLite calls hold a fast-forwarded clock (the demo's three days depend on it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fundarb.fastforward import track_sqlite
from fundarb.storage import Store


async def _database_calls_while_a_timer_waits(path: Path) -> float:
    loop = asyncio.get_running_loop()
    async with Store.open(f"sqlite+aiosqlite:///{path}") as store:
        await store.upgrade()
        ticker = asyncio.create_task(asyncio.sleep(60))  # something to fast-forward to
        started = loop.time()
        for _ in range(20):
            await store.ping()
        elapsed = loop.time() - started
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
    return elapsed


async def test_sqlite_calls_do_not_let_fast_forwarded_time_pass(tmp_path: Path) -> None:
    with track_sqlite():
        assert await _database_calls_while_a_timer_waits(tmp_path / "a.db") == 0


async def test_the_patch_is_undone_on_exit(tmp_path: Path) -> None:
    import aiosqlite.core

    before = aiosqlite.core.asyncio
    with track_sqlite():
        assert aiosqlite.core.asyncio is not before
    assert aiosqlite.core.asyncio is before
