"""The scheduler's queue and the algorithms' checkpoints on the real store (migration 0004):
one row per idempotency key, claims by compare-and-set, and a restart on a reopened
database that neither loses nor repeats an execution."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import inspect

from fundarb.execution.algos import (
    ExecutionScheduler,
    ScheduledExecution,
    ScheduleState,
    atomic_handler,
    twap_handler,
)
from fundarb.storage import Store
from fundarb.storage.scheduled import ScheduleStore
from fundarb.venues.sim import Fault
from tests.conftest import BTC, static_venue

pytestmark = pytest.mark.looptime(False)  # real files and sockets: real time

NOW = datetime(2024, 8, 8, 8, 0, tzinfo=UTC)


def _item(key: str = "k", **over: Any) -> ScheduledExecution:
    values: dict[str, Any] = {
        "schedule_id": f"sch-{key}",
        "idempotency_key": key,
        "kind": "atomic",
        "run_at": NOW,
        "payload": {"legs": [], "quantity": "0.123456789"},
        "created_at": NOW,
    }
    values.update(over)
    return ScheduledExecution(**values)


async def _tables(store: Store) -> set[str]:
    async with store.engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_migration_0004_goes_up_and_down(database_url: str) -> None:
    async with Store.open(database_url) as store:
        await store.upgrade()
        assert {"scheduled_executions", "algo_checkpoints"} <= await _tables(store)
        await store.downgrade("0003")
        assert not {"scheduled_executions", "algo_checkpoints"} & await _tables(store)
        await store.upgrade()
        assert await store.current_revision() is not None


async def test_one_row_per_key_and_claims_by_compare_and_set(database_url: str) -> None:
    async with Store.open(database_url) as store:
        await store.upgrade()
        schedule = ScheduleStore(store)

        first = await schedule.add_scheduled(_item())
        again = await schedule.add_scheduled(_item(schedule_id="sch-other"))
        claims = await asyncio.gather(
            *(
                schedule.transition(
                    first.schedule_id,
                    from_states=(ScheduleState.PENDING,),
                    to=ScheduleState.CLAIMED,
                    at=NOW,
                )
                for _ in range(5)
            )
        )
        cancel = await schedule.transition(
            first.schedule_id,
            from_states=(ScheduleState.PENDING,),
            to=ScheduleState.CANCELLED,
            at=NOW,
        )
        (stored,) = await schedule.load_scheduled()

    assert again.schedule_id == first.schedule_id == "sch-k"
    assert sorted(claims) == [False] * 4 + [True]  # exactly one scheduler gets it
    assert cancel is False  # a cancel loses to a claim
    assert stored.state is ScheduleState.CLAIMED
    assert stored.claimed_at == NOW
    assert stored.payload == {"legs": [], "quantity": "0.123456789"}


async def test_a_checkpoint_is_replaced_and_read_back_exactly(database_url: str) -> None:
    async with Store.open(database_url) as store:
        await store.upgrade()
        schedule = ScheduleStore(store)
        assert await schedule.load_checkpoint("t") is None
        await schedule.save_checkpoint("t", "pair_twap", "running", {"cost": "0.1", "n": 1})
        await schedule.save_checkpoint("t", "pair_twap", "completed", {"cost": "0.25", "n": 2})
        loaded = await schedule.load_checkpoint("t")

    assert loaded == {"cost": "0.25", "n": 2}


async def _until(check: Any, limit_s: float = 20.0) -> None:
    for _ in range(int(limit_s / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never became true")


async def test_restart_on_a_reopened_database(database_url: str) -> None:
    """An atomic execution claimed when the process died is never sent again; a pair TWAP
    claimed mid-way is resumed and ends at exactly its quantity."""
    a, b = static_venue(venue="a"), static_venue(venue="b")
    for venue in (a, b):
        venue.set_book(BTC, asks=[("50000.0", "5")], bids=[("49999.9", "5")])
    clients = {"a": a, "b": b}
    b.faults.add(Fault.slow(delay_s=3, on=frozenset({"place_limit_order"}), count=1))
    atomic_payload = {
        "legs": [
            {"venue": "a", "symbol": BTC, "side": "buy", "quantity": "0.1", "mode": "market_only"},
            {"venue": "b", "symbol": BTC, "side": "sell", "quantity": "0.1", "mode": "market_only"},
        ]
    }
    twap_payload = {
        "buy": {"venue": "a", "symbol": "BTC-PERP"},
        "sell": {"venue": "b", "symbol": "BTC-PERP"},
        "quantity": "0.4",
        "config": {"duration_s": 2.0, "slices": 4, "seed": 1, "slice_mode": "market_only"},
    }
    now = datetime.now(UTC)

    async with Store.open(database_url) as store:
        await store.upgrade()
        schedule = ScheduleStore(store)
        first = ExecutionScheduler(schedule, poll_interval_s=0.05)
        first.register("atomic", atomic_handler(clients))
        first.register("pair_twap", twap_handler(clients, checkpoints=schedule), resumable=True)
        atomic = await first.schedule("atomic", run_at=now, payload=atomic_payload)
        twap = await first.schedule(
            "pair_twap", run_at=now + timedelta(seconds=0.5), payload=twap_payload
        )

        async def twap_half_done() -> bool:
            data = await schedule.load_checkpoint(twap.schedule_id)
            return data is not None and data["slices_started"] >= 2

        async with asyncio.TaskGroup() as group:
            task = group.create_task(first.run())
            await _until(twap_half_done)
            task.cancel()  # the process goes away: the atomic's b leg is still on its way
    orders = len(b.core.orders)

    async with Store.open(database_url) as store:  # a new process, the same database
        schedule = ScheduleStore(store)
        second = ExecutionScheduler(schedule, poll_interval_s=0.05)
        second.register("atomic", atomic_handler(clients))
        second.register("pair_twap", twap_handler(clients, checkpoints=schedule), resumable=True)

        async def twap_done() -> bool:
            items = {i.schedule_id: i for i in await schedule.load_scheduled()}
            return items[twap.schedule_id].state.final

        async with asyncio.TaskGroup() as group:
            task = group.create_task(second.run())
            await _until(twap_done)
            task.cancel()
        items = {i.schedule_id: i for i in await schedule.load_scheduled()}

    assert items[atomic.schedule_id].state is ScheduleState.INTERRUPTED
    done = items[twap.schedule_id]
    assert done.state is ScheduleState.DONE
    assert done.result is not None
    assert (done.result["state"], done.result["resumed"]) == ("completed", True)
    assert (done.result["filled_buy"], done.result["filled_sell"]) == ("0.400", "0.400")
    # the TWAP's 0.4, plus the interrupted atomic's pair if it was completed on the way out
    # (rolled back otherwise): level either way
    a_net, b_net = a.core.account.quantity(BTC), b.core.account.quantity(BTC)
    assert a_net == -b_net
    assert a_net in (D("0.4"), D("0.5"))
    assert len(b.core.orders) > orders  # the TWAP's remaining slices, sent once
