"""A restart mid-position: the new strategy resumes from the database, or closes a pair the
venues no longer match."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fundarb.strategies.funding_arbitrage import FundingArbitrage, PositionState
from tests.strategies.books import assert_books_balance, assert_flat, open_one, reduce_outside
from tests.strategies.conftest import World, easy_settings, world


async def _run_then_kill(sim_world: World, hours: float) -> FundingArbitrage:
    """Run a strategy task for ``hours`` of venue time, then cancel it."""
    strategy = sim_world.strategy()
    task = asyncio.create_task(strategy.run())
    await asyncio.sleep(hours * 3600)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return strategy


async def test_a_new_strategy_resumes_open_pairs_and_the_books_balance(tmp_path: Path) -> None:
    async with world(tmp_path) as sim_world:
        before = await sim_world.equity()
        first = await _run_then_kill(sim_world, 3)
        held = {p.position_id: p.quantity for p in first.positions.values()}
        assert held, "nothing was open when the task was killed"
        assert all(p.state is PositionState.OPEN for p in first.positions.values())
        for client in sim_world.sims.values():  # positions stay, no order is left
            assert not await client.get_open_orders()
        legs = [p for c in sim_world.sims.values() for p in await c.get_positions()]
        assert len(legs) == 2 * len(held)

        second = sim_world.strategy()
        await second.start()

        assert {p.position_id: p.quantity for p in second.positions.values()} == held
        assert all(p.state is PositionState.OPEN for p in second.positions.values())
        funding_before = second.total_pnl().funding
        await second.run(until=sim_world.clock() + timedelta(hours=9))  # monitored: paid
        assert second.total_pnl().funding != funding_before
        await second.close_all("end of test")
        await assert_flat(sim_world)
        rows = await sim_world.store.load_positions()
        assert all(r.state in ("closed", "failed") for r in rows)
        assert_books_balance(second, before, await sim_world.equity())


async def test_a_pair_the_venues_no_longer_match_is_closed_at_restart(tmp_path: Path) -> None:
    async with world(tmp_path) as sim_world:
        first = await _run_then_kill(sim_world, 1)
        position = next(iter(first.positions.values()))
        await reduce_outside(  # someone closes the long leg by hand meanwhile
            sim_world.sims[position.long.venue], position.long.symbol, Decimal(1)
        )

        second = sim_world.strategy()
        await second.start()

        resumed = [p for p in second.closed if p.position_id == position.position_id]
        assert resumed, [e.text for e in second.events]
        assert resumed[0].exit_reason == "restart_mismatch"
        assert resumed[0].state is PositionState.CLOSED
        for leg in resumed[0].legs:
            assert resumed[0].net_quantity(leg) == 0
        assert any(e.kind == "incident" for e in second.events)
        others = list(second.positions.values())
        assert all(p.state is PositionState.OPEN for p in others)  # the rest resumed
        await second.close_all("end of test")
        await assert_flat(sim_world)


async def test_a_second_start_changes_nothing(tmp_path: Path) -> None:
    async with world(tmp_path) as sim_world:
        strategy = sim_world.strategy(easy_settings(symbols=("SOL",), max_positions=1))
        await open_one(strategy)
        await strategy.close_all("end of test")
        pnl, closed = strategy.total_pnl(), len(strategy.closed)

        await strategy.start()

        assert strategy.total_pnl() == pnl
        assert len(strategy.closed) == closed
