"""Maker ladder on synthetic venues: the patient leg rests post-only, each fill is hedged at
once on the other venue, within the unhedged quantity and time bounds."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

from fundarb.errors import ConfigError
from fundarb.execution.algos import (
    LadderState,
    MakerLadder,
    MakerLadderConfig,
    MakerLadderResult,
    PairLeg,
)
from fundarb.venues.sim import Fault, SimulatedExchange
from tests.conftest import BTC
from tests.execution.algos.venues import market_venue, position

Q = D("2")
BOUND = D("0.2")


async def _watched(
    ladder: MakerLadder, a: SimulatedExchange, b: SimulatedExchange
) -> tuple[MakerLadderResult, list[D]]:
    gaps: list[D] = []
    async with asyncio.TaskGroup() as group:
        task = group.create_task(ladder.run())
        while not task.done():
            gaps.append(position(a) + position(b))
            await asyncio.sleep(0.05)
    return task.result(), gaps


async def test_fills_on_the_patient_leg_are_hedged_at_once() -> None:
    a = market_venue("a", seed=1)
    b = market_venue("b", seed=2, maker_fee_rate=D("-0.0001"))  # a rebate: b is patient
    ladder = MakerLadder(
        buy=PairLeg(a, BTC),
        sell=PairLeg(b, BTC),
        quantity=Q,
        config=MakerLadderConfig(max_unhedged_quantity=BOUND, max_unhedged_s=5, timeout_s=900),
    )

    async with a, b:
        result, gaps = await _watched(ladder, a, b)

    assert result.patient == "sell"
    assert result.state is LadderState.COMPLETED
    assert (position(a), position(b)) == (Q, -Q)
    assert (result.filled_buy, result.filled_sell) == (Q, Q)
    assert result.maker_quantity == Q  # every patient fill was a maker fill
    assert result.hedges >= Q / BOUND
    assert max(abs(g) for g in gaps) <= BOUND  # the quantity bound, on the venues
    assert result.max_unhedged <= BOUND
    assert result.unhedged_quantity_s > 0
    assert not a.core.open_orders
    assert not b.core.open_orders


async def test_a_hedge_venue_that_refuses_ends_it_with_the_excess_closed() -> None:
    a = market_venue("a", seed=1)
    b = market_venue("b", seed=2)
    a.faults.add(Fault.reject(count=None))  # the hedge venue refuses every order
    ladder = MakerLadder(
        buy=PairLeg(a, BTC),
        sell=PairLeg(b, BTC),
        quantity=Q,
        config=MakerLadderConfig(
            max_unhedged_quantity=BOUND, max_unhedged_s=3, timeout_s=600, patient="sell"
        ),
    )

    async with a, b:
        result, gaps = await _watched(ladder, a, b)

    assert result.state is LadderState.FAILED
    assert "unhedged" in (result.error or "")
    assert position(a) == 0
    assert position(b) == 0  # the patient fills were closed where they were made
    assert max(abs(g) for g in gaps) <= BOUND
    assert not b.core.open_orders


@pytest.mark.parametrize("finish", [True, False])
async def test_timeout_finishes_with_takers_or_stops_balanced(finish: bool) -> None:
    a = market_venue("a", seed=1, taker_rate_per_s=0.05, volatility_per_sqrt_s=0.0)
    b = market_venue("b", seed=2, taker_rate_per_s=0.05, volatility_per_sqrt_s=0.0)
    ladder = MakerLadder(
        buy=PairLeg(a, BTC),
        sell=PairLeg(b, BTC),
        quantity=Q,
        config=MakerLadderConfig(
            max_unhedged_quantity=BOUND, timeout_s=60, patient="buy", finish_with_taker=finish
        ),
    )

    async with a, b:
        result, _ = await _watched(ladder, a, b)

    assert position(a) == -position(b)
    if finish:
        assert result.state is LadderState.COMPLETED
        assert position(a) == Q
    else:
        assert result.state is LadderState.STOPPED
        assert position(a) < Q
    assert not a.core.open_orders


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ConfigError):
        MakerLadderConfig(max_unhedged_quantity=D(0))
    with pytest.raises(ConfigError):
        MakerLadderConfig(max_unhedged_quantity=BOUND, patient="both")  # type: ignore[arg-type]
