"""`fundarb recover` as a user runs it, against a journal left by a crash."""

from __future__ import annotations

import asyncio
import os
import subprocess
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


def _recover(tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fundarb", "recover", "--url", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "FUNDARB_HOME": str(tmp_path), "FUNDARB_DATABASE_URL": ""},
    )


def test_recover_reports_what_it_found_and_did(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    asyncio.run(_crashed_journal(url))

    first = _recover(tmp_path, url)

    assert first.returncode == 1, first.stderr  # one execution could not be checked
    assert "2 unfinished execution(s)" in first.stdout
    assert "aaaa00000001: 1 orders journalled" in first.stdout
    assert "nothing to do: no exposure left" in first.stdout  # alpha has no such order
    assert "bbbb00000001" in first.stdout
    assert "no client for venue 'kraken'" in first.stdout

    again = _recover(tmp_path, url)
    assert "1 unfinished execution(s)" in again.stdout  # only the escalated one is left
    assert again.returncode == 1
