"""The execution scheduler on a fast-forwarded loop: on time, cancellable, idempotent, and
never running an execution twice across a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest

from fundarb.errors import InvalidOrderError
from fundarb.execution.algos import (
    ExecutionScheduler,
    MemoryCheckpoints,
    MemorySchedule,
    ScheduledExecution,
    ScheduleState,
    atomic_handler,
    twap_handler,
)
from fundarb.venues.sim import Fault, SimulatedExchange
from tests.conftest import BOOK, BTC, static_venue
from tests.execution.algos.venues import loop_clock, market_venue, position


def _static_pair() -> tuple[SimulatedExchange, SimulatedExchange]:
    a, b = static_venue(venue="a"), static_venue(venue="b")
    for venue in (a, b):
        venue.set_book(BTC, **BOOK)
    return a, b


def _atomic_payload(quantity: str = "0.5") -> dict[str, Any]:
    return {
        "legs": [
            {
                "venue": "a",
                "symbol": BTC,
                "side": "buy",
                "quantity": quantity,
                "mode": "market_only",
            },
            {
                "venue": "b",
                "symbol": BTC,
                "side": "sell",
                "quantity": quantity,
                "mode": "market_only",
            },
        ]
    }


class Recorder:
    """Wraps a handler; notes when (loop time) and how it was called."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, float, bool]] = []
        self.started = asyncio.Event()

    async def __call__(self, item: ScheduledExecution, resuming: bool) -> Mapping[str, Any]:
        self.calls.append((item.schedule_id, asyncio.get_running_loop().time(), resuming))
        self.started.set()
        result: Mapping[str, Any] = await self.inner(item, resuming)
        return result


async def _until(check: Any, limit_s: float = 3600.0) -> None:
    """Wait (loop time) until ``check()`` is true."""
    for _ in range(int(limit_s / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition never became true")


async def _run_for(scheduler: ExecutionScheduler, seconds: float) -> None:
    async with asyncio.TaskGroup() as group:
        task = group.create_task(scheduler.run())
        await asyncio.sleep(seconds)
        task.cancel()


async def test_an_execution_runs_at_its_time_and_not_before() -> None:
    a, b = _static_pair()
    backend = MemorySchedule()
    scheduler = ExecutionScheduler(backend, clock=loop_clock)
    recorder = Recorder(atomic_handler({"a": a, "b": b}))
    scheduler.register("atomic", recorder)
    item = await scheduler.schedule(
        "atomic", run_at=loop_clock() + timedelta(seconds=90), payload=_atomic_payload()
    )

    await _run_for(scheduler, 120)

    assert [(sid, round(t)) for sid, t, _ in recorder.calls] == [(item.schedule_id, 90)]
    (done,) = await scheduler.items()
    assert done.state is ScheduleState.DONE
    assert done.result is not None
    assert done.result["outcome"] == "filled"
    assert done.claimed_at is not None
    assert done.claimed_at - item.run_at < timedelta(seconds=1)
    assert (position(a), position(b)) == (D("0.5"), D("-0.5"))


async def test_a_pending_execution_can_be_cancelled_a_claimed_one_cannot() -> None:
    a, b = _static_pair()
    b.faults.add(Fault.slow(delay_s=30, on=frozenset({"place_limit_order"})))
    scheduler = ExecutionScheduler(MemorySchedule(), clock=loop_clock)
    recorder = Recorder(atomic_handler({"a": a, "b": b}))
    scheduler.register("atomic", recorder)
    soon = await scheduler.schedule(
        "atomic", run_at=loop_clock() + timedelta(seconds=10), payload=_atomic_payload()
    )
    later = await scheduler.schedule(
        "atomic", run_at=loop_clock() + timedelta(seconds=60), payload=_atomic_payload()
    )

    async with asyncio.TaskGroup() as group:
        task = group.create_task(scheduler.run())
        await recorder.started.wait()  # ``soon`` is running (its leg on b is slow)
        refused = await scheduler.cancel(soon.schedule_id)
        cancelled = await scheduler.cancel(later.schedule_id)
        await asyncio.sleep(120)
        task.cancel()

    assert (refused, cancelled) == (False, True)
    states = {i.schedule_id: i.state for i in await scheduler.items()}
    assert states == {
        soon.schedule_id: ScheduleState.DONE,
        later.schedule_id: ScheduleState.CANCELLED,
    }
    assert [sid for sid, _, _ in recorder.calls] == [soon.schedule_id]
    assert position(a) == D("0.5")


async def test_the_same_idempotency_key_is_one_execution() -> None:
    a, b = _static_pair()
    scheduler = ExecutionScheduler(MemorySchedule(), clock=loop_clock)
    scheduler.register("atomic", atomic_handler({"a": a, "b": b}))
    at = loop_clock() + timedelta(seconds=5)
    first = await scheduler.schedule(
        "atomic", run_at=at, payload=_atomic_payload(), idempotency_key="k"
    )
    again = await scheduler.schedule(
        "atomic", run_at=at, payload=_atomic_payload(), idempotency_key="k"
    )

    await _run_for(scheduler, 30)

    assert again.schedule_id == first.schedule_id
    assert len(await scheduler.items()) == 1
    assert position(a) == D("0.5")  # once


async def test_restart_during_an_atomic_execution_does_not_run_it_again() -> None:
    a, b = _static_pair()
    b.faults.add(Fault.slow(delay_s=30, on=frozenset({"place_limit_order"})))
    backend = MemorySchedule()
    first = ExecutionScheduler(backend, clock=loop_clock)
    recorder = Recorder(atomic_handler({"a": a, "b": b}))
    first.register("atomic", recorder)
    item = await first.schedule("atomic", run_at=loop_clock(), payload=_atomic_payload())

    async with asyncio.TaskGroup() as group:
        task = group.create_task(first.run())
        await recorder.started.wait()
        await asyncio.sleep(1)  # the legs are out; b's answer is 30 s away
        task.cancel()  # the process goes away
    assert backend.items[item.schedule_id].state is ScheduleState.CLAIMED
    orders = (len(a.core.orders), len(b.core.orders))

    second = ExecutionScheduler(backend, clock=loop_clock)
    again = Recorder(atomic_handler({"a": a, "b": b}))
    second.register("atomic", again)
    await _run_for(second, 60)

    assert again.calls == []  # not resumable: never sent again
    restarted = backend.items[item.schedule_id]
    assert restarted.state is ScheduleState.INTERRUPTED
    assert "recover" in (restarted.error or "")
    assert (len(a.core.orders), len(b.core.orders)) == orders


async def test_restart_during_a_scheduled_twap_resumes_it_without_doubling() -> None:
    a = market_venue("a", seed=1)
    b = market_venue("b", seed=2)
    clients = {"a": a, "b": b}
    backend, checkpoints = MemorySchedule(), MemoryCheckpoints()
    payload = {
        "buy": {"venue": "a", "symbol": BTC},
        "sell": {"venue": "b", "symbol": BTC},
        "quantity": "1",
        "config": {"duration_s": 200, "slices": 10, "seed": 1, "slice_mode": "market_only"},
    }

    async with a, b:
        first = ExecutionScheduler(backend, clock=loop_clock)
        first.register(
            "pair_twap",
            twap_handler(clients, checkpoints=checkpoints, clock=loop_clock),
            resumable=True,
        )
        item = await first.schedule(
            "pair_twap", run_at=loop_clock() + timedelta(seconds=30), payload=payload
        )
        async with asyncio.TaskGroup() as group:
            task = group.create_task(first.run())
            await _until(lambda: position(a) >= D("0.4"))
            task.cancel()
        assert backend.items[item.schedule_id].state is ScheduleState.CLAIMED
        assert D("0.4") <= position(a) == -position(b) < D(1)

        second = ExecutionScheduler(backend, clock=loop_clock)
        recorder = Recorder(twap_handler(clients, checkpoints=checkpoints, clock=loop_clock))
        second.register("pair_twap", recorder, resumable=True)
        await _run_for(second, 300)

    assert [resuming for _, _, resuming in recorder.calls] == [True]
    done = backend.items[item.schedule_id]
    assert done.state is ScheduleState.DONE
    assert done.result is not None
    assert done.result["state"] == "completed"
    assert done.result["resumed"] is True
    assert (position(a), position(b)) == (D(1), D(-1))


async def test_a_malformed_payload_fails_its_item_and_nothing_else() -> None:
    a, b = _static_pair()
    scheduler = ExecutionScheduler(MemorySchedule(), clock=loop_clock)
    scheduler.register("atomic", atomic_handler({"a": a, "b": b}))
    bad = await scheduler.schedule(
        "atomic", run_at=loop_clock(), payload={"legs": [{"venue": "zz"}]}
    )
    good = await scheduler.schedule("atomic", run_at=loop_clock(), payload=_atomic_payload())

    await _run_for(scheduler, 10)

    items = {i.schedule_id: i for i in await scheduler.items()}
    assert items[bad.schedule_id].state is ScheduleState.FAILED
    assert "InvalidOrderError" in (items[bad.schedule_id].error or "")
    assert items[good.schedule_id].state is ScheduleState.DONE


async def test_unknown_kinds_and_naive_times_are_refused() -> None:
    scheduler = ExecutionScheduler(MemorySchedule(), clock=loop_clock)
    with pytest.raises(InvalidOrderError):
        await scheduler.schedule("nothing", run_at=loop_clock(), payload={})
    scheduler.register("atomic", atomic_handler({}))
    with pytest.raises(InvalidOrderError):
        await scheduler.schedule("atomic", run_at=loop_clock().replace(tzinfo=None), payload={})
