"""Cancelling the strategy's task during an entry: nothing left open, positions saved."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fundarb.strategies.funding_arbitrage import PositionState
from fundarb.venues.sim import Fault
from tests.strategies.books import assert_books_balance, assert_flat
from tests.strategies.conftest import easy_settings, world


async def test_cancel_during_an_entry_leaves_no_order_and_saves_the_position(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as sim_world:
        before = await sim_world.equity()
        settings = easy_settings(
            symbols=("SOL",),
            max_positions=1,
            execution={"mode": "limit_with_fallback", "timeout_s": 120},
        )
        slow = sim_world.sims["alpha"]  # SOL's short leg: its answers take 20 s
        slow.faults.add(Fault.slow(delay_s=20, on="place_limit_order", count=None))
        strategy = sim_world.strategy(settings)
        task = asyncio.create_task(strategy.run())
        for _ in range(600):  # until an order of the entry rests on the slow venue
            await asyncio.sleep(0.05)
            if await slow.get_open_orders():
                break
        entering = list(strategy.positions.values())
        assert entering, "no entry in flight"
        assert entering[0].state is PositionState.OPENING

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        for client in sim_world.sims.values():
            assert not await client.get_open_orders()
        position = entering[0]
        rows = {r.position_id: r for r in await sim_world.store.load_positions()}
        assert rows[position.position_id].state == position.state.value
        quantities = []
        for leg in position.legs:
            listed = await sim_world.sims[leg.venue].get_position(leg.symbol)
            quantities.append(listed.quantity if listed is not None else 0)
        assert quantities[0] == -quantities[1]  # whole, balanced or flat: never one leg

        slow.faults.clear()  # a new strategy picks it up and the books balance
        second = sim_world.strategy(settings)
        await second.start()
        if quantities[0] == 0:  # the entry never traded: failed at restart
            (failed,) = [p for p in second.closed if p.position_id == position.position_id]
            assert failed.state is PositionState.FAILED
        await second.close_all("end of test")
        await assert_flat(sim_world)
        assert_books_balance(second, before, await sim_world.equity())
