"""Venue faults over the wire: one ``fundarb simex`` server misbehaves while the bot runs.

In turn, on venue ``b`` (the bot keeps running throughout): websocket drops, HTTP 429 on
every call for a window, 503 (5xx) on every call for a window, slow answers (every call
delayed), the venue down (503 on every call and its websockets dropped and kept silent),
and an order accepted whose answer times out (503 -1007 after a delay: the order rests or
fills, we are not told). Faults are armed and cleared through the server's admin endpoints
(``/simex/admin/faults``, ``/simex/admin/sockets``).

Measured per fault: whether the bot stayed alive, which pairs it wrote during the window
(a degraded venue should get no new entries), and how long until a new pair opened after
the fault cleared. At the end the bot stops entering (the kill-switch file), and once no
pair is half-way it is stopped with SIGTERM (exit 0); the venues are then checked against
the database as in the crash suite (open pairs leg by leg): no order of ours open, no
unhedged exposure beyond one lot step, no duplicate client order id, every venue order
journalled, every fill stored once.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.reliability.crashes import Finding, check_positions, check_venues
from tests.reliability.harness import STEP_TIMEOUT_S, Venue, World, read, stop, world

WINDOW_S = 4.0  # how long a windowed fault lasts
MAX_POSITIONS = 3  # the harness's config (one pair per symbol, three symbols)
# pairs close after ~3.6 s here (the harness's 7.2 s halved), so a slot is free again soon
HOLDING = ("max_holding_hours: 0.002", "max_holding_hours: 0.001")
# faults that make the venue's reads fail, so the strategy sees it degraded
DEGRADING = ("rate_limit_429", "server_error_5xx", "venue_down")


@dataclass
class Phase:
    name: str
    injected: int  # windows armed, order calls hit, or socket drops
    started: datetime
    ended: datetime
    # pairs naming the venue written during the window: (id, state, exit reason)
    entries_in_window: list[tuple[str, str, str]] = field(default_factory=list)
    # entries that met the fault in their pre-entry checks (failed during the window; one
    # decided just before it may have been written just before it)
    probes: int = 0
    sockets_closed: int = 0
    capacity_wait_s: float = 0.0  # before arming, until the bot had a free slot
    recovered_s: float | None = None  # until a new pair on the venue opened
    bot_alive: bool = True
    note: str = ""


@dataclass
class VenueFaultReport:
    phases: list[Phase] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    exit_code: int | None = None
    venue_orders: int = 0
    venue_fills: int = 0
    pairs_opened: int = 0
    seconds: float = 0.0

    def of(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]

    def phase(self, name: str) -> Phase:
        return next(p for p in self.phases if p.name == name)


def _now() -> datetime:
    return datetime.now(UTC)


async def _arm(venue: Venue, fault: dict[str, Any]) -> None:
    await venue.admin("POST", "/simex/admin/faults", fault)


async def _clear(venue: Venue) -> None:
    await venue.admin("DELETE", "/simex/admin/faults", None)


async def _sockets(venue: Venue, action: str) -> int:
    return int(
        (await venue.admin("POST", "/simex/admin/sockets", {"action": action}))["connections"]
    )


def _alive(w: World) -> bool:
    return w.bot is not None and w.bot.returncode is None


async def _entries_between(
    w: World, venue: str, start: datetime, end: datetime
) -> list[tuple[str, str, str]]:
    rows = await w.rows(
        "SELECT position_id, state, coalesce(exit_reason, '') FROM positions "
        "WHERE (long_venue = :v OR short_venue = :v) AND created_at >= :s AND created_at < :e "
        "ORDER BY created_at",
        v=venue,
        s=start,
        e=end,
    )
    return [(str(a), str(b), str(c)) for a, b, c in rows]


async def _wait_for_open(w: World, venue: str, after: datetime) -> float | None:
    """Seconds until a pair naming ``venue`` opened after ``after`` (None: not in time)."""
    begun = time.monotonic()
    while time.monotonic() - begun < STEP_TIMEOUT_S:
        if not _alive(w):
            raise AssertionError(f"the bot died by itself:\n{read(w.bot_log)[-4000:]}")
        n = await w.scalar(
            "SELECT count(*) FROM positions WHERE (long_venue = :v OR short_venue = :v) "
            "AND opened_at > :t",
            v=venue,
            t=after,
        )
        if n:
            return time.monotonic() - begun
        await asyncio.sleep(0.2)
    return None


async def _wait_for_capacity(w: World) -> None:
    """Until the bot may enter again (a free slot), so a degraded venue is really tested."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        active = await w.scalar(
            "SELECT count(*) FROM positions WHERE state IN ('opening', 'open', 'closing')"
        )
        if active < MAX_POSITIONS:
            return
        await asyncio.sleep(0.1)


async def _window(w: World, venue: Venue, name: str, fault: dict[str, Any]) -> Phase:
    started = _now()
    await _arm(venue, fault)
    await asyncio.sleep(WINDOW_S)
    await _clear(venue)
    return Phase(name, 1, started, _now())


async def _down(w: World, venue: Venue) -> Phase:
    started = _now()
    await _arm(venue, {"kind": "outage", "count": None})
    dropped = await _sockets(venue, "mute") + await _sockets(venue, "drop")
    await asyncio.sleep(WINDOW_S)
    await _clear(venue)
    await _sockets(venue, "unmute")
    return Phase("venue_down", 1, started, _now(), sockets_closed=dropped)


async def _accept_then_timeout(w: World, venue: Venue) -> Phase:
    """The next order call on the venue takes effect; its answer is a 503 after 3 s."""
    started = _now()
    await _arm(venue, {"kind": "accept_then_timeout", "count": 1, "delay_s": 3})
    begun = time.monotonic()
    fired = False
    while time.monotonic() - begun < STEP_TIMEOUT_S:
        if not await venue.admin("GET", "/simex/admin/faults", None):
            fired = True
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(4)  # the delayed answer, and the bot's reaction to it
    await _clear(venue)
    phase = Phase("accept_then_timeout", int(fired), started, _now())
    if not fired:
        phase.note = "no order call came within the step timeout"
    return phase


async def _drops(w: World, venue: Venue) -> Phase:
    started = _now()
    closed = 0
    for _ in range(3):
        closed += await _sockets(venue, "drop")
        await asyncio.sleep(WINDOW_S / 3)
    return Phase("websocket_drop", 3, started, _now(), sockets_closed=closed)


async def run_venue_faults(root: Path) -> VenueFaultReport:
    report = VenueFaultReport()
    begun = time.monotonic()
    kill_file = root / "stop-entries"
    async with world(root, kill_switch_file=kill_file) as w:
        target = w.venues[1]
        w.config.write_text(w.config.read_text().replace(*HOLDING))
        await w.start_bot()
        if await _wait_for_open(w, target.name, datetime.min.replace(tzinfo=UTC)) is None:
            raise AssertionError(f"no pair opened before the faults:\n{read(w.bot_log)[-4000:]}")
        # the drops first: the bot holds no websocket (see the README), and a new pair comes
        # soonest while the first entries are still going in
        steps: list[Callable[[], Awaitable[Phase]]] = [
            lambda: _drops(w, target),
            lambda: _window(
                w,
                target,
                "rate_limit_429",
                {"kind": "rate_limit", "count": None, "retry_after_s": 1},
            ),
            lambda: _window(w, target, "server_error_5xx", {"kind": "outage", "count": None}),
            lambda: _window(w, target, "slow", {"kind": "slow", "count": None, "delay_s": 2}),
            lambda: _down(w, target),
            lambda: _accept_then_timeout(w, target),
        ]
        for index, step in enumerate(steps):
            waited = time.monotonic()
            if 1 <= index <= 4:  # 429, 5xx, slow, down: entries would come but for the fault
                await _wait_for_capacity(w)
            waited = time.monotonic() - waited
            phase = await step()
            phase.capacity_wait_s = waited
            phase.bot_alive = _alive(w)
            if not phase.bot_alive:
                report.phases.append(phase)
                report.findings.append(Finding(phase.name, "bot_died", read(w.bot_log)[-3000:]))
                break
            phase.entries_in_window = await _entries_between(
                w, target.name, phase.started, phase.ended
            )
            phase.probes = int(
                await w.scalar(
                    "SELECT count(*) FROM positions WHERE (long_venue = :v OR short_venue = :v) "
                    "AND exit_reason = 'entry_failed' AND closed_at >= :s AND closed_at < :e",
                    v=target.name,
                    s=phase.started,
                    e=phase.ended,
                )
            )
            phase.recovered_s = await _wait_for_open(w, target.name, phase.ended)
            if phase.recovered_s is None:
                report.findings.append(Finding(phase.name, "not_recovered", "no new pair"))
            report.phases.append(phase)
        # the end: no new entries; once no pair is half-way (opening or closing), SIGTERM.
        # Open pairs stay open (hedged): the checks compare them with the venues leg by leg
        kill_file.touch()
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while time.monotonic() < deadline and _alive(w):
            moving = await w.scalar(
                "SELECT count(*) FROM positions WHERE state IN ('opening', 'closing')"
            )
            if not moving:
                break
            await asyncio.sleep(0.1)
        report.exit_code = await stop(w.bot, signal.SIGTERM)
        w.bot = None
        if report.exit_code != 0:
            report.findings.append(
                Finding(
                    "final", "unclean_stop", f"exit {report.exit_code}: {read(w.bot_log)[-2000:]}"
                )
            )
        report.findings += await check_venues(w, "final")
        report.findings += await check_positions(w, "final")
        report.pairs_opened = int(
            await w.scalar("SELECT count(*) FROM positions WHERE opened_at IS NOT NULL")
        )
        for venue in w.venues:
            report.venue_orders += len(await venue.all_orders())
            report.venue_fills += len(await venue.trades())
    report.seconds = time.monotonic() - begun
    return report
