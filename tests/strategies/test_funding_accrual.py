"""Funding accrued by a pair is what the venues settled on its legs, stored with it."""

from __future__ import annotations

from pathlib import Path

from tests.strategies.books import assert_books_balance, assert_flat, hold, open_one
from tests.strategies.conftest import easy_settings, world


async def test_funding_entries_are_the_venues_payments_and_are_stored(tmp_path: Path) -> None:
    async with world(tmp_path) as sim_world:
        before = await sim_world.equity()
        strategy = sim_world.strategy(easy_settings(symbols=("SOL",), max_positions=1))
        position = await open_one(strategy)

        await hold(strategy, 17 * 3600, every_s=3600)  # two 8 h settlements: 08:00, 16:00

        expected = set()
        for leg in position.legs:
            client = sim_world.sims[leg.venue]
            for p in await client.get_funding_payments(leg.symbol):
                expected.add((p.venue, p.symbol, p.funding_time, p.rate, p.amount))
        assert len(expected) >= 4, expected  # two per leg at least
        entries = {(f.venue, f.symbol, f.funding_time, f.rate, f.amount) for f in position.funding}
        assert entries == expected
        assert len(position.funding) == len(expected)  # each payment once
        assert not any(f.estimated for f in position.funding)
        stored = await sim_world.store.load_funding_payments(position_id=position.position_id)
        assert {(p.venue, p.symbol, p.funding_time, p.rate, p.amount) for p in stored} == expected
        assert strategy.total_pnl().funding == sum(e[4] for e in expected)

        await strategy.close_all("end of test")
        await assert_flat(sim_world)
        assert_books_balance(strategy, before, await sim_world.equity())
