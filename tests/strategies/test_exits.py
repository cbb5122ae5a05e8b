"""Each exit rule closes the pair with its reason; planned exits may wait for a payment."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fundarb.strategies.funding_arbitrage import FundingArbitrage, PairPosition, PositionState
from fundarb.venues.sim import FundingConfig
from tests.strategies.books import (
    assert_books_balance,
    assert_flat,
    hold,
    move_book,
    open_one,
    reduce_outside,
)
from tests.strategies.conftest import World, easy_settings, world


def _settings(**exit_rules: Any) -> Any:
    return easy_settings(
        symbols=("SOL",),
        max_positions=1,
        exit={"wait_for_funding_s": 0, **exit_rules},
    )


async def _closed(strategy: FundingArbitrage, position: PairPosition) -> PairPosition:
    assert position.position_id not in strategy.positions, [e.text for e in strategy.events]
    row = next(
        r for r in await strategy.store.load_positions() if r.position_id == position.position_id
    )
    assert row.state == PositionState.CLOSED.value
    assert row.exit_reason == position.exit_reason
    return position


def _set_rate(client: Any, symbol: str, rate: str) -> None:
    """Make the venue settle ``rate`` on ``symbol`` from now on."""
    core = client.core
    config = core.symbols[symbol]
    core.symbols[symbol] = replace(
        config, funding=FundingConfig(rate=Decimal(rate), interval_s=config.funding.interval_s)
    )


async def _below_threshold(sim_world: World, strategy: FundingArbitrage, p: PairPosition) -> None:
    await strategy.monitor()  # the spread (~27 % APR) is below the 100 % threshold


async def _flipped(sim_world: World, strategy: FundingArbitrage, p: PairPosition) -> None:
    await hold(strategy, 1800)
    assert p.state is PositionState.OPEN  # not before the spread flips
    _set_rate(sim_world.sims[p.long.venue], p.long.symbol, "0.001")  # longs pay here now
    _set_rate(sim_world.sims[p.short.venue], p.short.symbol, "-0.001")  # and shorts there
    await strategy.rates.collect()
    await strategy.monitor()


async def _held_too_long(sim_world: World, strategy: FundingArbitrage, p: PairPosition) -> None:
    await hold(strategy, 3000)
    assert p.state is PositionState.OPEN
    await hold(strategy, 900)  # past the hour


async def _profit(sim_world: World, strategy: FundingArbitrage, p: PairPosition) -> None:
    await strategy.monitor()
    assert p.state is PositionState.OPEN  # fees paid: below the target
    await move_book(sim_world.sims[p.long.venue], p.long.symbol, Decimal("0.02"))  # long +2 %
    await strategy.monitor()


CASES = [
    ("spread_below_threshold", {"min_net_spread_apr": "100"}, _below_threshold),
    ("spread_flipped", {"close_on_flip": True}, _flipped),
    ("max_holding_time", {"max_holding_hours": "1"}, _held_too_long),
    ("profit_target", {"profit_target_usd": "20"}, _profit),
]


@pytest.mark.parametrize(("reason", "rules", "act"), CASES, ids=[c[0] for c in CASES])
async def test_exit_rule_closes_the_pair(
    tmp_path: Path, reason: str, rules: dict[str, Any], act: Any
) -> None:
    async with world(tmp_path) as sim_world:
        before = await sim_world.equity()
        strategy = sim_world.strategy(_settings(**rules))
        position = await open_one(strategy)

        await act(sim_world, strategy, position)

        assert position.exit_reason == reason
        await _closed(strategy, position)
        await assert_flat(sim_world)
        assert_books_balance(strategy, before, await sim_world.equity())


async def test_planned_exit_waits_for_an_imminent_payment(tmp_path: Path) -> None:
    async with world(tmp_path) as sim_world:
        strategy = sim_world.strategy(
            easy_settings(
                symbols=("SOL",),
                max_positions=1,
                exit={"max_holding_hours": "7.9", "wait_for_funding_s": 900},
            )
        )
        position = await open_one(strategy)
        payment = sim_world.clock().replace(hour=8)  # both legs settle every 8 h: 08:00
        await hold(strategy, 7 * 3600 + 55 * 60)  # 07:55: held past 7.9 h, payment in 5 min

        assert position.state is PositionState.OPEN
        assert not any(f.funding_time == payment for f in position.funding)

        await hold(strategy, 6 * 60)  # 08:01: paid, no payment near: close
        assert position.exit_reason == "max_holding_time"
        await _closed(strategy, position)
        assert position.closed_at is not None
        assert position.closed_at > payment
        assert {(f.venue, f.funding_time) for f in position.funding} == {
            (position.long.venue, payment),
            (position.short.venue, payment),
        }
        await assert_flat(sim_world)


async def test_critical_exit_does_not_wait_for_a_payment(tmp_path: Path) -> None:
    async with world(tmp_path) as sim_world:
        strategy = sim_world.strategy(
            easy_settings(symbols=("SOL",), max_positions=1, exit={"wait_for_funding_s": 900})
        )
        position = await open_one(strategy)
        payment = sim_world.clock().replace(hour=8)
        await hold(strategy, 7 * 3600 + 55 * 60)  # 07:55
        await reduce_outside(
            sim_world.sims[position.short.venue], position.short.symbol, Decimal("0.2")
        )

        await strategy.monitor()

        assert position.exit_reason == "delta_drift"
        await _closed(strategy, position)
        assert position.closed_at is not None
        assert position.closed_at < payment
        assert position.closed_at >= payment - timedelta(minutes=5)  # at 07:55, at once
        assert not position.funding
        await assert_flat(sim_world)
