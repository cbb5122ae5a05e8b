"""The strategy end to end on the three simulated venues, fast-forwarded."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from fundarb.strategies.funding_arbitrage import PositionState
from tests.strategies.conftest import World, world


async def test_opens_accrues_funding_and_closes_with_pnl_adding_up(tmp_path: Path) -> None:
    async with world(tmp_path) as sim_world:
        await _opens_accrues_and_closes(sim_world)


async def _opens_accrues_and_closes(sim_world: World) -> None:
    before = await sim_world.equity()
    strategy = sim_world.strategy()
    await strategy.start()
    await strategy.run(until=sim_world.clock() + timedelta(hours=30))
    await strategy.close_all("end of test")
    rows = await sim_world.store.load_positions()
    assert rows, "nothing opened"
    assert all(r.state in ("closed", "failed") for r in rows)
    print([(r.symbol, r.state, r.exit_reason, r.funding_usd, r.pnl_usd) for r in rows])
    pnl = strategy.total_pnl()
    after = await sim_world.equity()
    assert abs((after - before) - pnl.total) < Decimal("0.01"), (after - before, pnl)
    assert any(r.funding_usd != 0 for r in rows)
    for client in sim_world.sims.values():
        assert not await client.get_open_orders()
        assert all(p.quantity == 0 for p in await client.get_positions())
    assert PositionState.CLOSED.value in {r.state for r in rows}
