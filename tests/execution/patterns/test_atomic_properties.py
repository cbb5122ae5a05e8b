"""AtomicMultiOrderExecutor under random fault schedules (Hypothesis): design notes §3 holds.

Each example builds two or three static venues from ``BOOK``: a hedge pair (a buys, b sells
BTC) and sometimes a lone leg (c, on ETH), or an unbalanced third BTC leg that pre-flight
must refuse. Every venue gets zero to four faults drawn from: reject (once or always),
partial fill, accept-then-timeout and dropped request (on a place or a cancel), a cancel
that loses to a fill, a fill after the cancel (see ``LATE_FILL_ON_ADJUSTMENTS_FIXED``),
cancels that fail, a rate limit, duplicate fill events; ``skip`` aims them at later orders
(hedges, rollbacks). Sizes, modes, short timeouts, latency, the imbalance policy,
``rollback_on_partial`` and taker flow from the market during the run are drawn too. After
every run:

- FILLED: every leg at its target; HEDGED: each hedge group's buys equal its sells (a lone
  leg whole or flat); ROLLED_BACK: every leg flat; RESIDUAL_EXPOSURE: the reported exposure
  is the venues' real positions, recorded as an unresolved incident; ABORTED_PREFLIGHT: no
  order at all on any venue;
- always: no order of ours open, no leg over its target, each leg's reported net change
  equals the venue's position.

The number of examples comes from ``FUNDARB_PROPERTY_EXAMPLES`` (300 by default, as CI
runs it). The long form:

    FUNDARB_PROPERTY_EXAMPLES=10000 ./dev test tests/execution/patterns/test_atomic_properties.py
"""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal as D

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fundarb.execution import (
    AtomicExecutionResult,
    AtomicMultiOrderExecutor,
    AtomicOutcome,
    IncidentKind,
    OrderSpec,
)
from fundarb.venues.sim import Fault, FaultKind, SimulatedExchange
from tests.conftest import BOOK, BTC, btc_symbol, static_venue

EXAMPLES = int(os.environ.get("FUNDARB_PROPERTY_EXAMPLES", "300"))
ETH = "ETH-PERP"
LOT = D("0.001")
RUN_LIMIT_S = 3600.0  # loop seconds: far beyond every timeout and retry budget
# Every duration drawn here is a multiple of 1/64 s, so every sum of times is exact (a wait
# whose deadline fell a rounding error past a clock tick once spun for ever; fixed, and pinned
# by test_a_wait_whose_deadline_is_a_rounding_error_away_ends).
# fill_after_cancel on hedge and rollback orders once over-filled (their runners had no
# position to corroborate against); fixed, pinned by test_a_late_fill_on_a_hedge_order_is_counted.
LATE_FILL_ON_ADJUSTMENTS_FIXED = True

skips = st.integers(min_value=0, max_value=3)  # 0: the entry order; more: hedges, rollbacks
fractions = st.sampled_from([D("0.1"), D("0.4"), D("0.5"), D("0.9"), D("0.998")])
# the venue takes IOC, so market orders go out as IOC limits: place_limit_order carries them
calls = st.sampled_from(["place_limit_order", "place_limit_order", "cancel_order"])

faults = st.one_of(
    st.builds(Fault.reject, count=st.sampled_from([1, 1, None]), skip=skips),
    st.builds(Fault.partial_fill, fractions, skip=skips),
    st.builds(Fault.accept_then_timeout, on=calls, skip=skips),
    st.builds(Fault.drop_request, on=calls, skip=skips),
    st.builds(Fault.cancel_loses_race, skip=skips),
    st.builds(Fault.cancel_fails, count=st.integers(min_value=1, max_value=2), skip=skips),
    st.builds(
        Fault.rate_limit,
        count=st.just(1),
        skip=st.integers(min_value=0, max_value=12),
        retry_after_s=st.just(0.125),
    ),
    st.just(Fault.duplicate_fill_events()),
    *(
        [
            st.builds(
                Fault.fill_after_cancel,
                fractions,
                delay_s=st.sampled_from([0.125, 0.5, 2.0]),
                skip=skips,
            )
        ]
        if LATE_FILL_ON_ADJUSTMENTS_FIXED
        else []
    ),
)


def _cancels_refused(schedule: list[Fault]) -> int:
    """How many cancels in a row a venue's faults may refuse or drop, at most."""
    refused = 0
    for fault in schedule:
        if fault.kind is FaultKind.CANCEL_FAILS:
            refused += fault.count or 0
        elif fault.kind is FaultKind.RATE_LIMIT or (
            fault.kind is FaultKind.DROP_REQUEST and "cancel_order" in fault.calls
        ):
            refused += 1
    return refused


# A leg gives up on a cancel after six refusals in a row (three attempts, three more when it
# closes out); the order is then escalated as residual, never hedged on top of
# (test_an_order_that_could_not_be_cancelled_is_not_hedged_on_top). Schedules here stay
# within the budget, where nothing may be left open.
fault_lists = st.lists(faults, max_size=4).filter(lambda fs: _cancels_refused(fs) <= 5)
lots = st.integers(min_value=1, max_value=1000)  # within one level of BOOK (1 BTC)
modes = st.sampled_from(["market_only", "limit_with_fallback", "aggressive_limit"])
timeouts = st.sampled_from([0.5, 1.0, 2.0])


@dataclass(frozen=True)
class LegPlan:
    """One leg as drawn: side, size in lots, mode, timeout, and its venue's faults."""

    side: str
    lots: int
    mode: str
    timeout_s: float
    faults: list[Fault]


leg_shapes = st.tuples(lots, modes, timeouts, fault_lists)


@st.composite
def leg_plans(draw: st.DrawFn) -> list[LegPlan]:
    """The pair (a buys, b sells), then maybe a third leg on c: a lone leg on another
    asset, or an unbalanced BTC leg that pre-flight must refuse (see ``third_symbols``)."""
    plans = [LegPlan("buy", *draw(leg_shapes)), LegPlan("sell", *draw(leg_shapes))]
    if draw(st.booleans()):
        plans.append(LegPlan(draw(st.sampled_from(["buy", "sell"])), *draw(leg_shapes)))
    return plans


third_symbols = st.sampled_from([ETH, ETH, ETH, BTC])  # mostly a lone leg on another asset
# taker flow from the market while the execution runs: (at_s, venue index, side, lots)
flows = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.125, 0.5, 1.0, 2.5]),  # seconds after the start
        st.integers(min_value=0, max_value=2),
        st.sampled_from(["buy", "sell"]),
        st.integers(min_value=1, max_value=300),
    ),
    max_size=3,
)


def _venues(plans: list[LegPlan], third_symbol: str, latency_s: float) -> list[SimulatedExchange]:
    venues = []
    for name, plan in zip("abc", plans, strict=False):
        symbol = third_symbol if name == "c" else BTC
        venue = static_venue(venue=name, symbols=(btc_symbol(symbol=symbol),), latency_s=latency_s)
        venue.set_book(symbol, **BOOK)
        venue.faults.add(*plan.faults)
        venues.append(venue)
    return venues


async def _flow(venues: list[SimulatedExchange], events: list[tuple[float, int, str, int]]) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for at_s, index, side, n in sorted(events):
        await asyncio.sleep(start + at_s - loop.time())
        venue = venues[index % len(venues)]
        venue.trade_from_market(_symbol(venue), side, n * LOT)


def _symbol(venue: SimulatedExchange) -> str:
    return venue.config.symbols[0].symbol


def _position(venue: SimulatedExchange) -> D:
    return venue.core.account.quantity(_symbol(venue))


def _check(
    result: AtomicExecutionResult,
    executor: AtomicMultiOrderExecutor,
    venues: list[SimulatedExchange],
    plans: list[LegPlan],
) -> None:
    for venue in venues:
        assert not venue.core.open_orders, f"{venue.get_exchange_name()} has open orders"
    positions = [_position(v) for v in venues]
    outcome = result.outcome
    if outcome is AtomicOutcome.ABORTED_PREFLIGHT:
        assert all(v.core.orders == {} for v in venues), "aborted, yet orders were sent"
        assert result.legs == ()
        return
    assert len(result.legs) == len(venues)
    targets = [leg.target for leg in result.legs]
    # one base quantity for the pair: the smaller of the two, on the lot
    assert targets[0] == targets[1] == min(plans[0].lots, plans[1].lots) * LOT
    if len(plans) == 3:
        assert targets[2] == plans[2].lots * LOT
    signs = [1 if plan.side == "buy" else -1 for plan in plans]
    for leg, position, target, sign in zip(result.legs, positions, targets, signs, strict=True):
        assert abs(position) <= target, f"over-fill on {leg.venue}: {position} > {target}"
        assert position * sign >= 0, f"{leg.venue} ended on the wrong side: {position}"
        assert leg.net == position, f"{leg.venue} reports {leg.net}, the venue {position}"

    pair_balanced = positions[0] == -positions[1]
    lone_ok = len(plans) < 3 or positions[2] in (0, targets[2] * signs[2])
    if outcome is AtomicOutcome.FILLED:
        assert all(p == t * s for p, t, s in zip(positions, targets, signs, strict=True))
        assert result.all_filled
    elif outcome is AtomicOutcome.HEDGED:
        assert pair_balanced, f"hedged, yet the pair is uneven: {positions}"
        assert lone_ok, f"hedged, yet the lone leg is partial: {positions}"
        assert result.balanced_quantities["BTC"] == positions[0]
        if len(plans) == 2:
            assert result.hedged_quantity == positions[0]
    elif outcome is AtomicOutcome.ROLLED_BACK:
        assert positions == [0] * len(venues)
    else:
        assert outcome is AtomicOutcome.RESIDUAL_EXPOSURE
        real = {
            (v.get_exchange_name(), _symbol(v)): p for v, p in zip(venues, positions, strict=True)
        }
        assert result.residual_exposure, "residual exposure reported empty"
        for key, quantity in result.residual_exposure.items():
            assert quantity == real[key], f"{key}: reported {quantity}, the venue has {real[key]}"
        named = {venue for venue, _ in result.residual_exposure}
        if not named & {"a", "b"}:
            assert pair_balanced, f"the pair is uneven but not reported: {positions}"
        if "c" not in named:
            assert lone_ok, f"the lone leg is partial but not reported: {positions}"
        residuals = [i for i in result.incidents if i.kind is IncidentKind.RESIDUAL]
        assert residuals, "residual exposure without an incident"
        assert not any(i.resolved for i in residuals)
        assert executor.kill_switch_active


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    plans=leg_plans(),
    third_symbol=third_symbols,
    latency_s=st.sampled_from([0.0, 0.0, 0.015625]),
    policy=st.sampled_from(["hedge_then_rollback", "rollback", "hedge"]),
    rollback_on_partial=st.booleans(),
    max_imbalance_s=st.sampled_from([0.5, 1.0, 2.0]),
    flow=flows,
)
async def test_legs_end_whole_balanced_flat_or_reported(
    plans: list[LegPlan],
    third_symbol: str,
    latency_s: float,
    policy: str,
    rollback_on_partial: bool,
    max_imbalance_s: float,
    flow: list[tuple[float, int, str, int]],
) -> None:
    venues = _venues(plans, third_symbol, latency_s)
    executor = AtomicMultiOrderExecutor()
    orders = [
        OrderSpec(v, _symbol(v), p.side, None, p.mode, p.timeout_s, quantity=p.lots * LOT)
        for v, p in zip(venues, plans, strict=True)
    ]

    async with AsyncExitStack() as stack:
        for venue, plan in zip(venues, plans, strict=True):
            if any(f.kind is FaultKind.DUPLICATE_FILL_EVENTS for f in plan.faults):
                await stack.enter_async_context(venue.events())
        async with asyncio.TaskGroup() as group:
            market = group.create_task(_flow(venues, flow))
            async with asyncio.timeout(RUN_LIMIT_S):  # of loop time: a hang fails, fast
                result = await executor.execute_atomically(
                    orders,
                    rollback_on_partial=rollback_on_partial,
                    on_imbalance=policy,
                    max_imbalance_seconds=max_imbalance_s,
                )
            market.cancel()  # the venues are checked as the execution left them

    event(f"outcome: {result.outcome.value}")  # see --hypothesis-show-statistics
    for kind in sorted({kind.value for v in venues for _, _, kind in v.faults.fired}):
        event(f"fault fired: {kind}")
    _check(result, executor, venues, plans)
