"""Venue faults over the wire (issue 9, part 2): during one bot run, one ``fundarb simex``
server drops its websockets, answers 429, then 5xx, then slowly, goes down, and accepts an
order and times out its answer (see :mod:`tests.reliability.venue_faults`). The bot keeps
running, never duplicates an order, leaves nothing open or unhedged, keeps new entries off
the degraded venue, and opens pairs there again once the fault clears.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability.venue_faults import DEGRADING, VenueFaultReport, run_venue_faults

pytestmark = pytest.mark.looptime(False)  # real processes, sockets and a real database

PHASES = (
    "websocket_drop",
    "rate_limit_429",
    "server_error_5xx",
    "slow",
    "venue_down",
    "accept_then_timeout",
)


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> VenueFaultReport:
    """One bot run through every fault, shared by the checks below."""
    root = tmp_path_factory.mktemp("venue-faults")
    with ThreadPoolExecutor(max_workers=1) as apart:  # see test_crash_anywhere.py
        report = apart.submit(asyncio.run, run_venue_faults(root)).result()
    print(
        f"\nvenue faults: {len(report.phases)} phases in {report.seconds:.0f} s, "
        f"{report.pairs_opened} pairs opened, {report.venue_orders} venue orders, "
        f"{report.venue_fills} venue fills, exit {report.exit_code}; logs in {root}"
    )
    for p in report.phases:
        print(
            f"  {p.name:<20} injected {p.injected}  alive {p.bot_alive}  "
            f"entries in window {len(p.entries_in_window)} {p.entries_in_window}  "
            f"probes {p.probes}  "
            f"recovered after {None if p.recovered_s is None else round(p.recovered_s, 1)} s"
            f"  sockets closed {p.sockets_closed}  waited for a slot {p.capacity_wait_s:.1f} s"
            f"  {p.note}"
        )
    return report


def _lines(report: VenueFaultReport, check: str) -> str:
    return "\n".join(f"{f.point}: {f.detail}" for f in report.of(check))


def test_every_fault_was_injected_and_the_bot_kept_running(faults: VenueFaultReport) -> None:
    assert not faults.of("bot_died"), _lines(faults, "bot_died")
    assert [p.name for p in faults.phases] == list(PHASES)
    assert all(p.injected > 0 and p.bot_alive for p in faults.phases), faults.phases


def test_the_bot_returns_to_normal_after_each_fault(faults: VenueFaultReport) -> None:
    assert not faults.of("not_recovered"), _lines(faults, "not_recovered")


def test_a_degraded_venue_gets_no_new_entry_once_seen_failing(faults: VenueFaultReport) -> None:
    """The strategy learns that a venue is degraded only from a call that fails: at most
    the one entry whose pre-entry checks met the fault first (its OPENING row is written
    before them; it fails them, and no order is sent), then nothing until it clears."""
    during = {p.name: p.entries_in_window for p in faults.phases if p.name in DEGRADING}
    assert set(during) == set(DEGRADING)
    for name, rows in during.items():
        assert len(rows) <= 1, (name, rows)
        assert all(reason == "entry_failed" for _, _, reason in rows), (name, rows)


@pytest.mark.xfail(
    strict=True,
    reason="finding: `fundarb run` builds its ccxt venues over REST only (CcxtExchangeClient's "
    "use_websockets is not reachable from the config), so the bot holds no websocket to drop",
)
def test_websocket_drops_hit_the_bots_connections(faults: VenueFaultReport) -> None:
    assert faults.phase("websocket_drop").sockets_closed > 0


def test_no_order_is_duplicated_and_every_one_was_journalled(faults: VenueFaultReport) -> None:
    assert faults.venue_orders > 0
    assert not faults.of("duplicate_order"), _lines(faults, "duplicate_order")
    assert not faults.of("order_not_journalled"), _lines(faults, "order_not_journalled")


def test_nothing_left_open_or_unhedged_after_a_clean_stop(faults: VenueFaultReport) -> None:
    assert faults.exit_code == 0, _lines(faults, "unclean_stop")
    assert not faults.of("order_left_open"), _lines(faults, "order_left_open")
    assert not faults.of("unhedged"), _lines(faults, "unhedged")
    assert not faults.of("position_state"), _lines(faults, "position_state")
    assert not faults.of("position_mismatch"), _lines(faults, "position_mismatch")


def test_every_venue_fill_is_in_the_database_exactly_once(faults: VenueFaultReport) -> None:
    assert faults.venue_fills > 0
    assert not faults.of("fill_not_recorded"), _lines(faults, "fill_not_recorded")
