"""Crash anywhere (issue 9, part 1): the bot is SIGKILLed at chosen and random moments of
its entries, hedges and closes, against two ``fundarb simex`` servers and PostgreSQL;
after each kill ``fundarb recover -c`` runs and the venues are checked against our
database (see :mod:`tests.reliability.crashes`).

CI runs 8 kill points (one per moment, about two minutes); the long form
(``FUNDARB_RELIABILITY_LONG=1`` or ``scripts/reliability.py --long``) runs 30 or more, with
random moments and a random delay after each. The seed is ``FUNDARB_RELIABILITY_SEED``.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability.crashes import MOMENTS, CrashReport, crash_anywhere
from tests.reliability.harness import LONG

pytestmark = pytest.mark.looptime(False)  # real processes, sockets and a real database

POINTS = int(os.environ.get("FUNDARB_RELIABILITY_POINTS", "32" if LONG else "8"))
SEED = int(os.environ.get("FUNDARB_RELIABILITY_SEED", "20240909"))


@pytest.fixture(scope="module")
def crashes(tmp_path_factory: pytest.TempPathFactory) -> CrashReport:
    """One run of every kill point, shared by the checks below."""
    root = tmp_path_factory.mktemp("crash-anywhere")
    # on a thread of its own: asyncio.run on the main thread would leave the main thread
    # without an event loop, and the next implicit one is never closed (a ResourceWarning
    # that fails whichever later test is running when it is collected)
    with ThreadPoolExecutor(max_workers=1) as apart:
        report = apart.submit(
            asyncio.run,
            crash_anywhere(root, points=POINTS, seed=SEED, jitter_s=0.3 if LONG else 0.0),
        ).result()
    print(
        f"\ncrash anywhere: {len(report.kills)} kills in {report.seconds:.0f} s, seed {SEED}, "
        f"{report.venue_orders} venue orders, {report.venue_fills} venue fills; logs in {root}"
    )
    for kill in report.kills:
        print(f"  {kill.point:<12} after {kill.waited_s:5.1f} s  {kill.recovery[-160:]}")
    return report


def _lines(report: CrashReport, check: str) -> str:
    return "\n".join(f"{f.point}: {f.detail}" for f in report.of(check))


def test_every_kill_point_was_reached(crashes: CrashReport) -> None:
    assert len(crashes.kills) == POINTS
    assert [k.point for k in crashes.kills if not k.reached] == []
    assert {k.moment for k in crashes.kills} == set(MOMENTS[: min(POINTS, len(MOMENTS))])


def test_recovery_never_escalates(crashes: CrashReport) -> None:
    assert not crashes.of("recovery_escalated"), _lines(crashes, "recovery_escalated")


def test_no_order_of_ours_is_left_open(crashes: CrashReport) -> None:
    assert not crashes.of("order_left_open"), _lines(crashes, "order_left_open")


def test_no_unhedged_exposure_beyond_one_lot_step(crashes: CrashReport) -> None:
    assert not crashes.of("unhedged"), _lines(crashes, "unhedged")


def test_every_venue_order_was_journalled_and_sent_once(crashes: CrashReport) -> None:
    assert crashes.venue_orders > 0
    assert not crashes.of("order_not_journalled"), _lines(crashes, "order_not_journalled")
    assert not crashes.of("duplicate_order"), _lines(crashes, "duplicate_order")


def test_positions_match_the_venues_after_a_clean_stop(crashes: CrashReport) -> None:
    assert not crashes.of("position_state"), _lines(crashes, "position_state")
    assert not crashes.of("position_mismatch"), _lines(crashes, "position_mismatch")
    assert not crashes.of("unclean_stop"), _lines(crashes, "unclean_stop")


def test_every_venue_fill_is_in_the_database_exactly_once(crashes: CrashReport) -> None:
    assert crashes.venue_fills > 0
    assert not crashes.of("fill_not_recorded"), _lines(crashes, "fill_not_recorded")
