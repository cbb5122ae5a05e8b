"""``ExecutionScheduler``: executions queued for a time, persisted, never run twice.

::

    scheduler = ExecutionScheduler(ScheduleStore(store), clock=venue_clock)
    scheduler.register("atomic", atomic_handler(clients))
    scheduler.register("pair_twap", twap_handler(clients, checkpoints=schedule), resumable=True)
    item = await scheduler.schedule("pair_twap", run_at=after_funding, payload={...},
                                    idempotency_key="open-BTC-2024-08-08T08")
    async with asyncio.TaskGroup() as group:
        group.create_task(scheduler.run())        # until cancelled

An item's life (:class:`ScheduleState`): PENDING until its time; CLAIMED — written, with a
compare-and-set on PENDING, *before* its handler sends anything — then DONE, FAILED or, if
cancelled in time, CANCELLED. Two schedulers on one database cannot both claim an item, and
a restart never runs a claimed item as if it were new: at start, an item found CLAIMED
(its process went away mid-run) is resumed when its handler is *resumable* (it checks what
was done, e.g. a pair TWAP from its checkpoint and the venues' positions), and otherwise
marked INTERRUPTED and left to the journal recovery (``fundarb recover``). The same
``idempotency_key`` scheduled twice is one item.

Times are UTC from ``clock`` (a venue's time, so "just after the funding payment" means the
venue's payment); the scheduler waits on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from fundarb.errors import ConfigError, FundarbError, InvalidOrderError
from fundarb.execution.algos.pair import Clock, utc_clock
from fundarb.logs import log_event

__all__ = [
    "ExecutionScheduler",
    "Handler",
    "MemorySchedule",
    "ScheduleBackend",
    "ScheduleState",
    "ScheduledExecution",
]

logger = logging.getLogger("fundarb.execution.algos")


class ScheduleState(StrEnum):
    PENDING = "pending"  # waiting for its time
    CLAIMED = "claimed"  # taken by a scheduler, written before its handler sends anything
    DONE = "done"  # the handler finished (its result says how the trade went)
    FAILED = "failed"  # the handler raised a fundarb error (see ``error``)
    CANCELLED = "cancelled"  # cancelled while still pending: nothing was sent
    INTERRUPTED = "interrupted"  # claimed when its process stopped; not resumable: recover

    @property
    def final(self) -> bool:
        return self not in (ScheduleState.PENDING, ScheduleState.CLAIMED)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledExecution:
    """One queued execution. ``payload`` and ``result`` are JSON-able mappings."""

    schedule_id: str
    idempotency_key: str
    kind: str
    run_at: datetime
    payload: Mapping[str, Any]
    state: ScheduleState = ScheduleState.PENDING
    created_at: datetime
    claimed_at: datetime | None = None
    finished_at: datetime | None = None
    result: Mapping[str, Any] | None = None
    error: str | None = None


class ScheduleBackend(Protocol):
    """Where scheduled executions live (:class:`fundarb.storage.scheduled.ScheduleStore`,
    or :class:`MemorySchedule`)."""

    async def add_scheduled(self, item: ScheduledExecution) -> ScheduledExecution:
        """Insert ``item``; if its idempotency key exists, return the stored item instead."""
        ...

    async def load_scheduled(
        self, *, states: Collection[ScheduleState] | None = None
    ) -> list[ScheduledExecution]:
        """Items (in ``states``), by run time."""
        ...

    async def transition(
        self,
        schedule_id: str,
        *,
        from_states: Collection[ScheduleState],
        to: ScheduleState,
        at: datetime,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        """Compare-and-set: move the item to ``to`` only if it is in ``from_states``."""
        ...


Handler = Callable[[ScheduledExecution, bool], Awaitable[Mapping[str, Any]]]
"""``await handler(item, resuming)`` executes ``item``; ``resuming`` is True when a restart
found it CLAIMED. Returns a JSON-able summary; raises :class:`FundarbError` to fail it."""


@dataclass(slots=True)
class MemorySchedule:
    """A schedule in memory (JSON-able values kept as given): tests and one-offs."""

    items: dict[str, ScheduledExecution] = field(default_factory=dict)

    async def add_scheduled(self, item: ScheduledExecution) -> ScheduledExecution:
        for known in self.items.values():
            if known.idempotency_key == item.idempotency_key:
                return known
        self.items[item.schedule_id] = item
        return item

    async def load_scheduled(
        self, *, states: Collection[ScheduleState] | None = None
    ) -> list[ScheduledExecution]:
        chosen = [i for i in self.items.values() if states is None or i.state in states]
        return sorted(chosen, key=lambda i: (i.run_at, i.created_at))

    async def transition(
        self,
        schedule_id: str,
        *,
        from_states: Collection[ScheduleState],
        to: ScheduleState,
        at: datetime,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        item = self.items.get(schedule_id)
        if item is None or item.state not in from_states:
            return False
        claimed = at if to is ScheduleState.CLAIMED else item.claimed_at
        finished = at if to.final else None
        self.items[schedule_id] = replace(
            item, state=to, claimed_at=claimed, finished_at=finished, result=result, error=error
        )
        return True


@dataclass(frozen=True, slots=True)
class _Registered:
    handler: Handler
    resumable: bool


class ExecutionScheduler:
    """Runs queued executions at their time (see the module docstring).

    ``poll_interval_s``: how often the backend is re-read while waiting (another process
    may have added or cancelled items); items added through this scheduler wake it at once.
    """

    def __init__(
        self,
        backend: ScheduleBackend,
        *,
        clock: Clock | None = None,
        poll_interval_s: float = 30.0,
    ) -> None:
        if not (math.isfinite(poll_interval_s) and poll_interval_s > 0):
            raise ConfigError(f"poll_interval_s must be above zero, got {poll_interval_s}")
        self.backend = backend
        self.clock = clock or utc_clock
        self.poll_interval_s = poll_interval_s
        self._handlers: dict[str, _Registered] = {}
        self._wake = asyncio.Event()
        self._running: set[str] = set()

    def register(self, kind: str, handler: Handler, *, resumable: bool = False) -> None:
        """Run items of ``kind`` with ``handler``. ``resumable``: the handler can be called
        again for an item a restart found CLAIMED, and does only what is left."""
        self._handlers[kind] = _Registered(handler, resumable)

    async def schedule(
        self,
        kind: str,
        *,
        run_at: datetime,
        payload: Mapping[str, Any],
        idempotency_key: str | None = None,
    ) -> ScheduledExecution:
        """Queue an execution of ``kind`` for ``run_at`` (UTC). The same ``idempotency_key``
        again returns the item already queued. Raises :class:`InvalidOrderError` for an
        unknown kind or a naive time."""
        if kind not in self._handlers:
            raise InvalidOrderError(f"no handler registered for {kind!r}")
        if run_at.tzinfo is None:
            raise InvalidOrderError("run_at must be timezone-aware (UTC)")
        schedule_id = f"sch-{uuid.uuid4().hex[:12]}"
        item = await self.backend.add_scheduled(
            ScheduledExecution(
                schedule_id=schedule_id,
                idempotency_key=idempotency_key or schedule_id,
                kind=kind,
                run_at=run_at,
                payload=dict(payload),
                created_at=self.clock(),
            )
        )
        log_event(
            logger,
            logging.INFO,
            "schedule.add" if item.schedule_id == schedule_id else "schedule.add.known",
            schedule_id=item.schedule_id,
            kind=kind,
            run_at=item.run_at,
            key=item.idempotency_key,
        )
        self._wake.set()
        return item

    async def cancel(self, schedule_id: str) -> bool:
        """Cancel a pending item; False when it has already been claimed (or is gone)."""
        done = await self.backend.transition(
            schedule_id,
            from_states=(ScheduleState.PENDING,),
            to=ScheduleState.CANCELLED,
            at=self.clock(),
        )
        log_event(logger, logging.INFO, "schedule.cancel", schedule_id=schedule_id, done=done)
        self._wake.set()
        return done

    async def items(
        self, *, states: Collection[ScheduleState] | None = None
    ) -> list[ScheduledExecution]:
        return await self.backend.load_scheduled(states=states)

    async def run(self) -> None:
        """Resume what a restart left claimed, then run items as they fall due, until
        cancelled. Every handler runs in a task this coroutine owns."""
        async with asyncio.TaskGroup() as group:
            for item in await self.backend.load_scheduled(states=(ScheduleState.CLAIMED,)):
                registered = self._handlers.get(item.kind)
                if registered is not None and registered.resumable:
                    log_event(
                        logger, logging.WARNING, "schedule.resume", schedule_id=item.schedule_id
                    )
                    self._running.add(item.schedule_id)
                    group.create_task(self._execute(item, registered, resuming=True))
                else:
                    await self._interrupted(item)
            while True:
                wait = await self._start_due(group)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()

    async def _start_due(self, group: asyncio.TaskGroup) -> float:
        """Claim and start every due item; seconds until the next one (or the poll)."""
        now = self.clock()
        wait = self.poll_interval_s
        for item in await self.backend.load_scheduled(states=(ScheduleState.PENDING,)):
            due_in = (item.run_at - now).total_seconds()
            if due_in > 0:
                wait = min(wait, due_in)
                continue
            registered = self._handlers.get(item.kind)
            if registered is None or item.schedule_id in self._running:
                continue
            # claimed before anything is sent: a restart will not take it for new
            if not await self.backend.transition(
                item.schedule_id,
                from_states=(ScheduleState.PENDING,),
                to=ScheduleState.CLAIMED,
                at=self.clock(),
            ):
                continue  # cancelled meanwhile, or another scheduler took it
            self._running.add(item.schedule_id)
            group.create_task(self._execute(item, registered, resuming=False))
        return max(wait, 0.0)

    async def _execute(
        self, item: ScheduledExecution, registered: _Registered, *, resuming: bool
    ) -> None:
        log_event(
            logger,
            logging.INFO,
            "schedule.start",
            schedule_id=item.schedule_id,
            kind=item.kind,
            late_s=(self.clock() - item.run_at).total_seconds(),
            resuming=resuming,
        )
        try:
            try:
                result = await registered.handler(item, resuming)
            except FundarbError as exc:
                log_event(
                    logger,
                    logging.ERROR,
                    "schedule.failed",
                    schedule_id=item.schedule_id,
                    error=exc,
                )
                await self._finish(item, ScheduleState.FAILED, error=f"{type(exc).__name__}: {exc}")
            else:
                log_event(
                    logger,
                    logging.INFO,
                    "schedule.done",
                    schedule_id=item.schedule_id,
                    result=dict(result),
                )
                await self._finish(item, ScheduleState.DONE, result=dict(result))
        finally:
            self._running.discard(item.schedule_id)

    async def _finish(
        self,
        item: ScheduledExecution,
        state: ScheduleState,
        *,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        try:
            await self.backend.transition(
                item.schedule_id,
                from_states=(ScheduleState.CLAIMED,),
                to=state,
                at=self.clock(),
                result=result,
                error=error,
            )
        except FundarbError as exc:  # the trade is done; a restart finds it CLAIMED
            log_event(
                logger,
                logging.CRITICAL,
                "schedule.not_recorded",
                schedule_id=item.schedule_id,
                state=state.value,
                error=exc,
            )

    async def _interrupted(self, item: ScheduledExecution) -> None:
        await self.backend.transition(
            item.schedule_id,
            from_states=(ScheduleState.CLAIMED,),
            to=ScheduleState.INTERRUPTED,
            at=self.clock(),
            error="claimed when its process stopped; not resumable: reconcile with fundarb recover",
        )
        log_event(
            logger,
            logging.CRITICAL,
            "schedule.interrupted",
            schedule_id=item.schedule_id,
            kind=item.kind,
        )
