"""Database faults (issue 9, part 3): while the bot trades against two ``fundarb simex``
servers, its PostgreSQL database is cut off (every backend terminated, new connections
refused) for several seconds, then given back. Nothing may be lost: the bot keeps running,
the journal's and the tracker's spools drain, and after a clean stop the database holds
every venue order's intent, every venue fill once, every execution, and positions that
match the venues (see :mod:`tests.reliability.crashes` for the venue checks).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.reliability.crashes import Finding, check_positions, check_venues
from tests.reliability.harness import (
    LONG,
    STEP_TIMEOUT_S,
    World,
    database_cut,
    read,
    stop,
    world,
)

pytestmark = pytest.mark.looptime(False)  # real processes, sockets and a real database

CUTS = int(os.environ.get("FUNDARB_RELIABILITY_DB_CUTS", "8" if LONG else "3"))
CUT_S = 8.0  # how long each cut lasts
_ACTIVE = "SELECT count(*) FROM positions WHERE state IN ('opening', 'open', 'closing')"


@dataclass
class Cut:
    index: int
    trigger: str  # what the cut waited for
    seconds: float
    journal_spooled: bool  # the journal's spool file had entries during the cut
    tracker_spooled: bool  # the tracker's spool file existed during the cut
    bot_alive: bool  # the bot still ran when the database came back
    drained: bool = False  # both spools empty once trading resumed (the bot still running)
    left: str = ""  # else what was left in them


@dataclass
class DatabaseReport:
    cuts: list[Cut] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    exit_code: int | None = None
    restarts: int = 0  # the bot exited during a cut and had to be started again
    venue_orders: int = 0
    venue_fills: int = 0
    executions: int = 0
    seconds: float = 0.0
    bot_log: str = ""

    def of(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]


def _nonempty(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


async def _journal_count(w: World, kind: str) -> int:
    return int(await w.scalar("SELECT count(*) FROM journal WHERE kind = :k", k=kind))


async def _wait_until_trading(w: World, *, outcomes: int) -> None:
    async with asyncio.timeout(STEP_TIMEOUT_S):
        while await _journal_count(w, "outcome") < outcomes:
            if w.bot is not None and w.bot.returncode is not None:
                raise AssertionError(f"the bot died by itself:\n{read(w.bot_log)[-4000:]}")
            await asyncio.sleep(0.1)


async def _wait_for_intent(w: World) -> None:
    """Until a new order intent is journalled: an execution is under way."""
    baseline = await _journal_count(w, "intent")
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        if await _journal_count(w, "intent") > baseline:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no new order intent in {STEP_TIMEOUT_S:.0f} s")


async def _cut(w: World, index: int, trigger: str, report: DatabaseReport) -> None:
    journal_spool = w.root / "journal-spool.jsonl"
    tracker_spool = w.root / "spool.jsonl"
    journal_spooled = tracker_spooled = False
    began = time.monotonic()
    async with database_cut(w.url):
        while time.monotonic() - began < CUT_S:
            journal_spooled |= _nonempty(journal_spool)
            tracker_spooled |= tracker_spool.exists()
            await asyncio.sleep(0.1)
    alive = w.bot is not None and w.bot.returncode is None
    report.cuts.append(
        Cut(index, trigger, time.monotonic() - began, journal_spooled, tracker_spooled, alive)
    )
    assert w.store is not None
    await w.store.engine.dispose()  # the suite's own pooled connections were cut too
    if not alive:
        report.findings.append(Finding(f"cut {index}", "bot_exited", read(w.bot_log)[-2000:]))
        report.restarts += 1
        await w.start_bot()


async def database_faults(root: Path) -> DatabaseReport:
    report = DatabaseReport()
    started = time.monotonic()
    kill_file = root / "stop-entries"
    async with world(root, kill_switch_file=kill_file) as w:
        await w.start_bot()
        await _wait_until_trading(w, outcomes=2)
        for index in range(1, CUTS + 1):
            # odd cuts land just as an order's intent is journalled (an execution under
            # way); even ones at whatever moment the previous wait ended
            trigger = "intent" if index % 2 else "any"
            if trigger == "intent":
                await _wait_for_intent(w)
            await _cut(w, index, trigger, report)
            # trading resumes on the restored database, and the spools drain meanwhile (the
            # journal's write-back brings outcomes of its own: counted from after it)
            deadline = time.monotonic() + STEP_TIMEOUT_S / 2
            while time.monotonic() < deadline:
                if not _nonempty(w.root / "journal-spool.jsonl"):
                    break
                await asyncio.sleep(0.1)
            await _wait_until_trading(w, outcomes=await _journal_count(w, "outcome") + 2)
            left = {
                name: len((w.root / name).read_text().splitlines())
                for name in ("journal-spool.jsonl", "spool.jsonl")
                if _nonempty(w.root / name)
            }
            report.cuts[-1].drained = not left
            report.cuts[-1].left = str(left)
        # no new entries; what is open closes by its rules; then SIGTERM
        kill_file.touch()
        # (bounded, not failed: a pair the database shows open by mistake is a finding of
        # check_positions below)
        deadline = time.monotonic() + STEP_TIMEOUT_S / 2
        while time.monotonic() < deadline:
            if not await w.scalar(_ACTIVE):
                break
            await asyncio.sleep(0.2)
        report.exit_code = await stop(w.bot, signal.SIGTERM)
        w.bot = None
        if report.exit_code != 0:
            report.findings.append(Finding("final", "unclean_stop", f"exit {report.exit_code}"))
        report.findings += await check_venues(w, "final")
        report.findings += await check_positions(w, "final")
        report.findings += await _check_spools_and_executions(w, report)
        for venue in w.venues:
            report.venue_orders += len(await venue.all_orders())
            report.venue_fills += len(await venue.trades())
        report.bot_log = read(w.bot_log)
    report.seconds = time.monotonic() - started
    return report


async def _check_spools_and_executions(w: World, report: DatabaseReport) -> list[Finding]:
    found = []
    journal_spool = w.root / "journal-spool.jsonl"
    if _nonempty(journal_spool):
        lines = journal_spool.read_text().splitlines()
        found.append(Finding("final", "journal_spool_left", f"{len(lines)} entries"))
    tracker_spool = w.root / "spool.jsonl"
    if _nonempty(tracker_spool):
        lines = tracker_spool.read_text().splitlines()
        found.append(Finding("final", "tracker_spool_left", f"{len(lines)} records"))
    # every execution that ended in the bot (journalled outcome, not recovery's) has its
    # record in the executions table
    ended = {
        execution_id
        for execution_id, detail in await w.rows(
            "SELECT execution_id, detail FROM journal WHERE kind = 'outcome'"
        )
        if not str(detail).startswith("recovered")
    }
    stored = {row[0] for row in await w.rows("SELECT execution_id FROM executions")}
    report.executions = len(stored)
    found += [
        Finding("final", "execution_not_stored", execution_id)
        for execution_id in sorted(ended - stored)
    ]
    return found


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> DatabaseReport:
    root = tmp_path_factory.mktemp("database-faults")
    with ThreadPoolExecutor(max_workers=1) as apart:  # see test_crash_anywhere.py
        report = apart.submit(asyncio.run, database_faults(root)).result()
    print(
        f"\ndatabase faults: {len(report.cuts)} cuts in {report.seconds:.0f} s, "
        f"{report.venue_orders} venue orders, {report.venue_fills} venue fills, "
        f"{report.executions} executions stored, exit {report.exit_code}, "
        f"{report.restarts} restarts; logs in {root}"
    )
    for cut in report.cuts:
        print(f"  {cut}")
    for finding in report.findings:
        print(f"  {finding.point} {finding.check}: {finding.detail[-300:]}")
    return report


def _lines(report: DatabaseReport, check: str) -> str:
    return "\n".join(f"{f.point}: {f.detail}" for f in report.of(check))


def test_the_cuts_reached_the_bot(faults: DatabaseReport) -> None:
    assert len(faults.cuts) == CUTS
    # the outage was real: the bot had to spool (journal or tracker) during at least one
    assert any(c.journal_spooled or c.tracker_spooled for c in faults.cuts), faults.cuts


def test_the_bot_survives_and_stops_cleanly(faults: DatabaseReport) -> None:
    assert not faults.of("bot_exited"), _lines(faults, "bot_exited")
    assert faults.exit_code == 0, faults.bot_log[-3000:]


def test_the_spools_drain(faults: DatabaseReport) -> None:
    # while the bot runs (the next commits that reach the database write them back) ...
    assert [(c.index, c.left) for c in faults.cuts if not c.drained] == []
    # ... and nothing is left after the stop
    assert not faults.of("journal_spool_left"), _lines(faults, "journal_spool_left")
    assert not faults.of("tracker_spool_left"), _lines(faults, "tracker_spool_left")


def test_every_venue_order_has_its_intent_in_the_database(faults: DatabaseReport) -> None:
    assert faults.venue_orders > 0
    assert not faults.of("order_not_journalled"), _lines(faults, "order_not_journalled")
    assert not faults.of("duplicate_order"), _lines(faults, "duplicate_order")


def test_every_venue_fill_is_stored_once(faults: DatabaseReport) -> None:
    assert faults.venue_fills > 0
    assert not faults.of("fill_not_recorded"), _lines(faults, "fill_not_recorded")


def test_every_execution_is_stored(faults: DatabaseReport) -> None:
    assert faults.executions > 0
    assert not faults.of("execution_not_stored"), _lines(faults, "execution_not_stored")


def test_nothing_open_or_unhedged_and_positions_match(faults: DatabaseReport) -> None:
    assert not faults.of("order_left_open"), _lines(faults, "order_left_open")
    assert not faults.of("unhedged"), _lines(faults, "unhedged")
    assert not faults.of("position_state"), _lines(faults, "position_state")
    assert not faults.of("position_mismatch"), _lines(faults, "position_mismatch")
