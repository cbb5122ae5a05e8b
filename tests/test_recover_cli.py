"""`fundarb recover` as a user runs it, against a journal left by a crash."""

from __future__ import annotations

import asyncio
import os
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from fundarb.storage import Store
from fundarb.storage.journal import EntryKind, Journal, JournalEntry

pytestmark = pytest.mark.looptime(False)  # a real process: real time


async def _crashed_journal(url: str) -> None:
    """Intents with no outcome: one on a configured simulated venue, one on a venue the
    config does not know."""
    async with Store.open(url) as store:
        await store.upgrade()
        journal = Journal(store)
        for execution_id, venue in (("aaaa00000001", "alpha"), ("bbbb00000001", "kraken")):
            await journal.append(
                JournalEntry(
                    execution_id=execution_id,
                    kind=EntryKind.INTENT,
                    leg=0,
                    venue=venue,
                    symbol="BTCUSDT",
                    client_order_id=f"{execution_id}-0",
                    side="buy",
                    quantity=Decimal("0.01"),
                    reduce_only=False,
                )
            )


async def _recover(tmp_path: Path, url: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fundarb",
        "recover",
        "--url",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "FUNDARB_HOME": str(tmp_path), "FUNDARB_DATABASE_URL": ""},
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_recover_reports_what_it_found_and_did(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    await _crashed_journal(url)

    code, out, err = await _recover(tmp_path, url)

    assert code == 1, err  # one execution could not be checked
    assert "2 unfinished execution(s)" in out
    assert "aaaa00000001: 1 orders journalled" in out
    assert "nothing to do: no exposure left" in out  # alpha has no such order
    assert "bbbb00000001" in out
    assert "no client for venue 'kraken'" in out

    code, out, _ = await _recover(tmp_path, url)
    assert "1 unfinished execution(s)" in out  # only the escalated one is left
    assert code == 1
