"""Entries: a rejected leg rolls back (FAILED, venues flat, nothing left behind), and the
kill switch stops new entries while open pairs are still managed."""

from __future__ import annotations

from pathlib import Path

from fundarb.execution.patterns.incidents import IncidentKind
from fundarb.strategies.funding_arbitrage import PositionState
from fundarb.venues.sim import Fault
from tests.strategies.books import assert_books_balance, assert_flat, hold, open_one
from tests.strategies.conftest import easy_settings, world


async def test_a_rejected_leg_rolls_back_and_the_next_scan_opens(tmp_path: Path) -> None:
    async with world(tmp_path) as sim_world:
        before = await sim_world.equity()
        strategy = sim_world.strategy(
            easy_settings(symbols=("SOL",), max_positions=1, cooldown_s=0)
        )
        await strategy.start()
        rejecting = sim_world.sims["alpha"]  # SOL's pair is beta (long) / alpha (short)
        rejecting.faults.add(Fault.reject(symbol="SOLUSDT", count=None))  # no hedge either

        assert await strategy.scan() == []

        assert rejecting.faults.fired, "the fault never fired"
        rows = await sim_world.store.load_positions()
        assert rows  # each SOL pair through alpha was tried (no cooldown) and failed
        for row in rows:
            assert row.state == PositionState.FAILED.value
            assert row.exit_reason == "entry_failed"
            assert "alpha" in (row.long_venue, row.short_venue)
        assert not strategy.positions
        await assert_flat(sim_world)  # the filled leg was rolled back
        assert not strategy.executor.kill_switch_active
        kinds = {i.kind for i in strategy.executor.incidents}
        assert IncidentKind.ROLLBACK in kinds
        assert IncidentKind.RESIDUAL not in kinds  # nothing left for a human

        rejecting.faults.clear()
        position = await open_one(strategy, start=False)  # the next scan may open again

        await strategy.close_all("end of test")
        assert position.state is PositionState.CLOSED
        await assert_flat(sim_world)
        assert_books_balance(strategy, before, await sim_world.equity())


async def test_kill_switch_stops_entries_but_open_pairs_still_close(tmp_path: Path) -> None:
    async with world(tmp_path) as sim_world:
        kill_file = tmp_path / "STOP"
        strategy = sim_world.strategy(
            easy_settings(
                symbols=("SOL",),
                max_positions=1,
                cooldown_s=0,
                kill_switch_file=str(kill_file),
                exit={"max_holding_hours": "1", "wait_for_funding_s": 0},
            )
        )
        await strategy.start()
        strategy.stop_entries("operator")  # the API
        assert await strategy.scan() == []
        assert strategy.snapshot().entries_stopped == "operator"
        assert not await sim_world.store.load_positions()
        strategy.resume_entries()
        assert strategy.entries_stopped is None
        position = await open_one(strategy, start=False)

        kill_file.touch()  # the file
        await strategy.monitor()
        stopped = strategy.snapshot().entries_stopped
        assert stopped is not None
        assert str(kill_file) in stopped
        await hold(strategy, 3900)  # the open pair still closes by its rule
        assert position.state is PositionState.CLOSED
        assert position.exit_reason == "max_holding_time"
        assert await strategy.scan() == []
        assert not strategy.positions
        assert len(await sim_world.store.load_positions()) == 1
        assert [e.kind for e in strategy.events].count("kill_switch") >= 3

        kill_file.unlink()
        strategy.resume_entries()
        await open_one(strategy, start=False)
        await strategy.close_all("end of test")
        await assert_flat(sim_world)


async def test_one_rejected_order_is_hedged_and_the_pair_opens(tmp_path: Path) -> None:
    async with world(tmp_path) as sim_world:
        before = await sim_world.equity()
        strategy = sim_world.strategy(easy_settings(symbols=("SOL",), max_positions=1))
        rejecting = sim_world.sims["alpha"]
        rejecting.faults.add(Fault.reject(symbol="SOLUSDT"))  # once: the hedge goes through

        position = await open_one(strategy)

        assert rejecting.faults.fired
        assert position.net_quantity(position.long) == -position.net_quantity(position.short)
        assert position.net_quantity(position.long) == position.quantity
        await strategy.close_all("end of test")
        await assert_flat(sim_world)
        assert_books_balance(strategy, before, await sim_world.equity())
