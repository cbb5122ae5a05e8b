"""Crash anywhere: kill the bot with SIGKILL at chosen and random moments, recover, check.

Each kill point waits for a moment in the bot's life that the database shows (an order's
intent journalled, its acknowledgement, a fill, a position written OPENING, OPEN or
CLOSING, an execution's outcome) or for a random delay, kills the bot there, runs
``fundarb recover -c``, checks the venues against the database, and starts the bot again
(its own start-up reconciles the positions). At the end the bot is asked to stop entering
(the kill-switch file), left to close what it holds, stopped with SIGTERM, and checked a
last time.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from tests.reliability.harness import STEP_TIMEOUT_S, World, read, stop, world

# moments the database or the venues show; "random" kills after a random delay instead.
# (the journal's acks and fills are not durable on their own: they reach the database with
# the next durable entry, often the outcome, so the venues are watched for those moments)
MOMENTS = ("intent", "opening", "resting", "fill", "open", "closing", "outcome", "random")
_JOURNAL = {"intent", "outcome"}
_POSITIONS = {
    "opening": "SELECT count(*) FROM positions",
    "open": "SELECT count(*) FROM positions WHERE opened_at IS NOT NULL",
    "closing": "SELECT count(*) FROM positions WHERE exit_reason IS NOT NULL "
    "AND exit_reason <> 'entry_failed'",
}
POLL_S = 0.02


@dataclass(frozen=True, slots=True)
class Finding:
    """A broken promise: where (the kill point), which check, what."""

    point: str
    check: str
    detail: str


@dataclass(frozen=True, slots=True)
class Kill:
    point: str  # e.g. "3:fill"
    moment: str
    waited_s: float
    reached: bool  # False: the moment did not come within the step timeout (killed anyway)
    recovery: str  # fundarb recover's summary lines


@dataclass
class CrashReport:
    kills: list[Kill] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    venue_orders: int = 0
    venue_fills: int = 0
    seconds: float = 0.0

    def of(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]


def plan(count: int, rng: random.Random) -> list[str]:
    """Every moment once (in order), then random moments."""
    moments = list(MOMENTS)[:count]
    while len(moments) < count:
        moments.append(rng.choice(MOMENTS))
    return moments


async def _state(w: World, moment: str) -> object:
    """What the moment is measured by: a count that grows, or the venues' open orders or
    positions (which change)."""
    if moment in _JOURNAL:
        return int(await w.scalar("SELECT count(*) FROM journal WHERE kind = :k", k=moment))
    if moment == "resting":  # an order of ours rests on a venue: an entry is under way
        ids: set[str] = set()
        for venue in w.venues:
            ids |= {f"{venue.name}:{o['orderId']}" for o in await venue.open_orders()}
        return ids
    if moment == "fill":  # a venue's position moved: one leg has (part) filled
        return [await venue.positions() for venue in w.venues]
    return int(await w.scalar(_POSITIONS[moment]))


def _happened(moment: str, baseline: object, now: object) -> bool:
    if isinstance(baseline, int) and isinstance(now, int):
        return now > baseline
    if isinstance(baseline, set) and isinstance(now, set):
        return bool(now - baseline)
    return now != baseline


async def _wait_for(w: World, moment: str, rng: random.Random, jitter_s: float) -> bool:
    """Until ``moment`` happens anew (relative to now); whether it did in time."""
    if moment == "random":
        await asyncio.sleep(rng.uniform(0.5, 8.0))
        return True
    baseline = await _state(w, moment)
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        if w.bot is not None and w.bot.returncode is not None:
            raise AssertionError(f"the bot died by itself:\n{read(w.bot_log)[-4000:]}")
        if _happened(moment, baseline, await _state(w, moment)):
            if jitter_s:
                await asyncio.sleep(rng.uniform(0, jitter_s))
            return True
        await asyncio.sleep(POLL_S)
    return False


async def check_venues(w: World, point: str, *, fills: bool = True) -> list[Finding]:
    """No order of ours open, no unhedged exposure beyond one lot step, every venue order
    journalled before it was sent (one venue order per client order id), every venue fill
    in the fills table."""
    found: list[Finding] = []
    net: dict[str, Decimal] = {}
    lot: dict[str, Decimal] = {}
    journalled = {
        (venue, cid)
        for venue, cid in await w.rows(
            "SELECT venue, client_order_id FROM journal WHERE kind = 'intent'"
        )
    }
    recorded = Counter(
        (venue, str(trade)) for venue, trade in await w.rows("SELECT venue, trade_id FROM fills")
    )
    for venue in w.venues:
        found.extend(
            Finding(
                point,
                "order_left_open",
                f"{venue.name} {o['symbol']} {o['clientOrderId']} {o['status']}",
            )
            for o in await venue.open_orders()
        )
        for symbol, quantity in (await venue.positions()).items():
            base = venue.bases[symbol]
            net[base] = net.get(base, Decimal(0)) + quantity
        for symbol, step in venue.lots.items():
            base = venue.bases[symbol]
            lot[base] = max(lot.get(base, Decimal(0)), step)
        orders = await venue.all_orders()
        by_client = Counter(o["clientOrderId"] for o in orders)
        for cid, n in by_client.items():
            if n > 1:
                found.append(Finding(point, "duplicate_order", f"{venue.name} {cid} x{n}"))
            if (venue.name, cid) not in journalled:
                found.append(Finding(point, "order_not_journalled", f"{venue.name} {cid}"))
        if fills:
            for trade in await venue.trades():
                n = recorded[(venue.name, str(trade["id"]))]
                if n != 1:
                    found.append(
                        Finding(
                            point,
                            "fill_not_recorded",
                            f"{venue.name} trade {trade['id']} "
                            f"(order {trade['orderId']}, {trade['symbol']}) stored {n} times",
                        )
                    )
    for base, quantity in net.items():
        if abs(quantity) > lot.get(base, Decimal(0)):
            found.append(Finding(point, "unhedged", f"{base} net {quantity} across venues"))
    return found


async def check_positions(w: World, point: str) -> list[Finding]:
    """Every pair the database holds active is what the venues hold, leg by leg, and no
    pair is left half-way (OPENING or CLOSING) once the bot has stopped cleanly."""
    found: list[Finding] = []
    expected: dict[tuple[str, str], Decimal] = {}
    for pid, state, lv, ls, sv, ss, quantity in await w.rows(
        "SELECT position_id, state, long_venue, long_symbol, short_venue, short_symbol, "
        "quantity FROM positions WHERE state IN ('opening', 'open', 'closing')"
    ):
        if state != "open":
            found.append(Finding(point, "position_state", f"{pid} left {state}"))
            continue
        q = Decimal(str(quantity))
        expected[(lv, ls)] = expected.get((lv, ls), Decimal(0)) + q
        expected[(sv, ss)] = expected.get((sv, ss), Decimal(0)) - q
    for venue in w.venues:
        held = await venue.positions()
        for symbol in set(held) | {s for v, s in expected if v == venue.name}:
            ours = expected.get((venue.name, symbol), Decimal(0))
            theirs = held.get(symbol, Decimal(0))
            if ours != theirs:
                found.append(
                    Finding(
                        point,
                        "position_mismatch",
                        f"{venue.name} {symbol}: database {ours}, venue {theirs}",
                    )
                )
    return found


def _summary(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return " | ".join(lines[-6:])


async def crash_anywhere(root: Path, *, points: int, seed: int, jitter_s: float) -> CrashReport:
    """Run the bot, kill it ``points`` times, recover and check after each kill."""
    rng = random.Random(seed)
    report = CrashReport()
    started = time.monotonic()
    kill_file = root / "stop-entries"
    async with world(root, kill_switch_file=kill_file) as w:
        for index, moment in enumerate(plan(points, rng)):
            point = f"{index + 1}:{moment}"
            await w.start_bot()
            begun = time.monotonic()
            reached = await _wait_for(w, moment, rng, jitter_s)
            await w.kill_bot()
            output = await w.recover()
            report.kills.append(
                Kill(point, moment, time.monotonic() - begun, reached, _summary(output))
            )
            if "escalated" in output:
                report.findings.append(Finding(point, "recovery_escalated", _summary(output)))
            report.findings += await check_venues(w, point)
        # the last start: no new entries; what is open closes by its rules; then SIGTERM
        kill_file.touch()
        await w.start_bot()
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while time.monotonic() < deadline:
            active = await w.scalar(
                "SELECT count(*) FROM positions WHERE state IN ('opening', 'open', 'closing')"
            )
            if not active:
                break
            await asyncio.sleep(0.2)
        code = await stop(w.bot, signal.SIGTERM)
        w.bot = None
        if code not in (0, 1, -signal.SIGTERM):
            report.findings.append(Finding("final", "unclean_stop", f"exit code {code}"))
        report.findings += await check_venues(w, "final")
        report.findings += await check_positions(w, "final")
        for venue in w.venues:
            report.venue_orders += len(await venue.all_orders())
            report.venue_fills += len(await venue.trades())
    report.seconds = time.monotonic() - started
    return report
