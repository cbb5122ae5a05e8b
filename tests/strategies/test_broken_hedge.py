"""Critical exits: a leg liquidated, delta drift, liquidation too near. They close at once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from fundarb.config import StrategySettings
from fundarb.strategies.funding_arbitrage import PositionState
from tests.strategies.books import (
    assert_books_balance,
    assert_flat,
    hold,
    move_book,
    open_one,
    reduce_outside,
    withdraw_to,
)
from tests.strategies.conftest import easy_settings, world


def _one_pair() -> StrategySettings:
    return easy_settings(symbols=("SOL",), max_positions=1, exit={"wait_for_funding_s": 0})


async def test_a_liquidated_leg_closes_the_other_at_once_and_books_balance(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as sim_world:
        before = await sim_world.equity()
        strategy = sim_world.strategy(_one_pair())
        position = await open_one(strategy)
        await hold(strategy, 1800)
        short = sim_world.sims[position.short.venue]
        # a thin account: maintenance 5 % of the leg, equity a little above it
        short.core.account.maintenance_rates[position.short.symbol] = Decimal("0.05")
        taken = withdraw_to(short, Decimal("300"))

        await move_book(short, position.short.symbol, Decimal("0.02"))  # against the short
        assert short.core.liquidations, "the venue did not liquidate"
        await strategy.monitor()

        assert position.exit_reason == "liquidated"
        assert position.state is PositionState.CLOSED
        liquidations = [t for t in position.trades if t.kind == "liquidation"]
        assert len(liquidations) == 1
        event = short.core.liquidations[0]
        assert liquidations[0].venue == position.short.venue
        assert liquidations[0].price == event.price
        assert liquidations[0].fee == event.fee
        assert liquidations[0].quantity == abs(event.quantity) == position.quantity
        for leg in position.legs:
            assert position.net_quantity(leg) == 0
        await assert_flat(sim_world)
        assert_books_balance(strategy, before, await sim_world.equity(), taken_out=taken)


async def test_delta_drift_closes_at_once(tmp_path: Path) -> None:
    async with world(tmp_path) as sim_world:
        strategy = sim_world.strategy(_one_pair())
        position = await open_one(strategy)
        long = sim_world.sims[position.long.venue]
        await reduce_outside(long, position.long.symbol, Decimal("0.1"))  # 10 % > 2 % band

        await strategy.monitor()

        assert position.exit_reason == "delta_drift"
        assert position.state is PositionState.CLOSED
        await assert_flat(sim_world)
        for leg in position.legs:  # the part closed outside is booked: the pair is flat
            assert position.net_quantity(leg) == 0
        # booked when monitoring saw it (at the mark), before the exit
        assert [t.kind for t in position.trades if t.venue == position.long.venue] == [
            "entry",
            "reconstructed",
            "exit",
        ]


async def test_drift_within_the_band_is_left_alone(tmp_path: Path) -> None:
    async with world(tmp_path) as sim_world:
        strategy = sim_world.strategy(
            easy_settings(symbols=("SOL",), max_positions=1, risk={"max_delta_drift": "0.05"})
        )
        position = await open_one(strategy)
        await reduce_outside(
            sim_world.sims[position.long.venue], position.long.symbol, Decimal("0.03")
        )

        await strategy.monitor()

        assert position.state is PositionState.OPEN


async def test_liquidation_distance_closes_at_once(tmp_path: Path) -> None:
    async with world(tmp_path) as sim_world:
        before = await sim_world.equity()
        strategy = sim_world.strategy(_one_pair())  # min_liquidation_distance 5 %
        position = await open_one(strategy)
        await strategy.monitor()
        assert position.active  # nothing to see yet
        short = sim_world.sims[position.short.venue]
        # 3 % of the leg's notional left: liquidation about 3 % above the mark
        taken = withdraw_to(short, position.notional_usd * Decimal("0.03"))
        listed = await short.get_position(position.short.symbol)
        assert listed is not None
        assert listed.liquidation_price is not None
        assert listed.liquidation_price < listed.mark_price * Decimal("1.05")

        await strategy.monitor()

        assert position.exit_reason == "liquidation_distance"
        assert position.state is PositionState.CLOSED
        assert not short.core.liquidations
        await assert_flat(sim_world)
        assert_books_balance(strategy, before, await sim_world.equity(), taken_out=taken)
