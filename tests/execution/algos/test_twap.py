"""Pair TWAP on synthetic venues quoting one price path, fast-forwarded.

The venues' own records (``position``) are the witness: the legs may differ by at most one
slice at any moment, are level whenever a slice starts, and end at exactly the quantity.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

from fundarb.errors import ConfigError, InvalidOrderError
from fundarb.execution import AtomicMultiOrderExecutor
from fundarb.execution.algos import (
    DeadlinePolicy,
    MemoryCheckpoints,
    PairLeg,
    PairTwap,
    TwapConfig,
    TwapProgress,
    TwapResult,
    TwapState,
)
from fundarb.venues.sim import Fault, SimulatedExchange
from tests.conftest import BTC
from tests.execution.algos.venues import loop_clock, market_venue, position

Q = D("2")
SLICE = D("0.1")


class Watch:
    """Samples both venues' positions every 50 ms of loop time, and at every slice start."""

    def __init__(self, a: SimulatedExchange, b: SimulatedExchange) -> None:
        self.a, self.b = a, b
        self.gaps: list[D] = []
        self.at_slice_start: list[D] = []
        self.events: list[TwapProgress] = []

    def gap(self) -> D:
        return position(self.a) + position(self.b)  # long on a, short on b

    def on_progress(self, progress: TwapProgress) -> None:
        self.events.append(progress)
        if progress.event == "slice_start":
            self.at_slice_start.append(self.gap())

    async def sample(self, done: asyncio.Event) -> None:
        while not done.is_set():
            self.gaps.append(self.gap())
            await asyncio.sleep(0.05)


async def _run(twap: PairTwap, watch: Watch) -> TwapResult:
    done = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        group.create_task(watch.sample(done))
        task = group.create_task(twap.run())
        task.add_done_callback(lambda _: done.set())
    return task.result()


def _twap(
    a: SimulatedExchange,
    b: SimulatedExchange,
    config: TwapConfig,
    watch: Watch | None = None,
    **kw: object,
) -> PairTwap:
    return PairTwap(
        buy=PairLeg(a, BTC),
        sell=PairLeg(b, BTC),
        quantity=Q,
        config=config,
        clock=loop_clock,
        on_progress=watch.on_progress if watch is not None else None,
        **kw,  # type: ignore[arg-type]
    )


async def test_twenty_slices_with_one_venue_slower_to_fill() -> None:
    a = market_venue("a", seed=1)
    b = market_venue("b", seed=2, taker_rate_per_s=0.3, latency_s=0.05)  # fewer takers
    watch = Watch(a, b)
    config = TwapConfig(duration_s=600, slices=20, seed=3)

    async with a, b:
        result = await _run(_twap(a, b, config, watch), watch)

    assert result.state is TwapState.COMPLETED
    assert (position(a), position(b)) == (Q, -Q)  # totals exact, on the venues
    assert (result.filled_buy, result.filled_sell) == (Q, Q)
    slices = result.slices
    assert len(slices) == 20
    assert sum(s.filled_buy for s in slices) == sum(s.filled_sell for s in slices) == Q
    assert all(s.quantity == SLICE for s in slices)
    # the bound: never more than one slice apart, and level whenever a slice starts
    assert max(abs(g) for g in watch.gaps) <= SLICE
    assert any(g != 0 for g in watch.gaps)  # the slow venue did lag: the bound was tested
    assert watch.at_slice_start == [D(0)] * 20
    # randomised within bounds: slice k starts in the first 30 % of its 30 s interval
    for s in slices:
        assert 30 * s.index <= s.started_s <= 30 * s.index + 9 + 0.5
    assert len({round(s.started_s % 30, 3) for s in slices}) > 10
    # progress was observable and ends at the totals
    last = watch.events[-1]
    assert last.event == "done"
    assert (last.filled_buy, last.filled_sell, last.slices_done) == (Q, Q, 20)
    assert last.cost_usd == result.cost_usd
    assert result.cost_bps is not None
    assert result.cost_bps > 0
    assert not a.core.open_orders
    assert not b.core.open_orders


@pytest.mark.parametrize(
    ("policy", "state"),
    [
        (DeadlinePolicy.STOP, TwapState.STOPPED),
        (DeadlinePolicy.FINISH_AGGRESSIVE, TwapState.COMPLETED),
    ],
)
async def test_deadline_reached(policy: DeadlinePolicy, state: TwapState) -> None:
    # passive-only slices on venues with almost no takers: the schedule falls behind
    a = market_venue("a", seed=1, taker_rate_per_s=0.05, volatility_per_sqrt_s=0.0)
    b = market_venue("b", seed=2, taker_rate_per_s=0.05, volatility_per_sqrt_s=0.0)
    watch = Watch(a, b)
    config = TwapConfig(
        duration_s=120,
        slices=10,
        slice_mode="limit_only",
        deadline_policy=policy,
        seed=5,
        max_failed_slices=100,
    )

    async with a, b:
        result = await _run(_twap(a, b, config, watch), watch)

    assert result.state is state
    filled = position(a)
    assert position(b) == -filled  # balanced either way
    assert max(abs(g) for g in watch.gaps) <= D("0.2")  # one slice
    slices = result.slices
    if policy is DeadlinePolicy.STOP:
        assert filled < Q
        assert result.filled_buy == result.filled_sell == filled
        assert "deadline" in (result.error or "")
        assert not any(s.aggressive for s in slices)
    else:
        assert filled == Q
        finishing = [s for s in slices if s.aggressive]
        assert finishing, "the deadline finished the rest aggressively"
        assert all(s.quantity <= D("0.2") for s in finishing)  # still one slice at a time
        assert all(s.started_s >= 120 for s in finishing)
    assert not a.core.open_orders
    assert not b.core.open_orders


@pytest.mark.parametrize(
    ("rejects", "undone"),
    [(1, 0), (12, 1)],
    ids=["hedged within the slice", "rolled back, made up later"],
)
async def test_a_slice_whose_leg_is_rejected(rejects: int, undone: int) -> None:
    a = market_venue("a", seed=1)
    b = market_venue("b", seed=2)
    # b refuses its 4th order (slice 3's leg) and, with 12, every order for a while: the
    # executor cannot hedge that slice and rolls it back; the schedule catches up
    b.faults.add(Fault.reject(skip=3, count=rejects))
    watch = Watch(a, b)
    config = TwapConfig(duration_s=300, slices=10, slice_mode="market_only", seed=2)

    async with a, b:
        result = await _run(_twap(a, b, config, watch), watch)

    assert result.state is TwapState.COMPLETED
    assert (position(a), position(b)) == (Q, -Q)
    slices = result.slices
    outcomes = [s.outcome for s in slices]
    failed = [s for s in slices if s.filled_buy == 0]
    assert len(failed) == undone, outcomes
    assert all(s.outcome == "rolled_back" for s in failed)
    assert len(slices) == 10 + undone  # each undone slice made up once, nothing doubled
    assert max(abs(g) for g in watch.gaps) <= D("0.2")
    assert watch.at_slice_start == [D(0)] * len(slices)
    assert result.max_imbalance == 0


async def test_restart_in_the_middle_resumes_without_doubling() -> None:
    a = market_venue("a", seed=1)
    b = market_venue("b", seed=2, taker_rate_per_s=0.5)
    checkpoints = MemoryCheckpoints()
    config = TwapConfig(duration_s=600, slices=20, seed=4)
    started = asyncio.Event()

    def crash_in_slice_8(progress: TwapProgress) -> None:
        if progress.event == "slice_start" and progress.slices_done == 7:
            started.set()

    async with a, b:
        first = _twap(a, b, config, twap_id="t1", checkpoints=checkpoints)
        first.on_progress = crash_in_slice_8
        async with asyncio.TaskGroup() as group:
            task = group.create_task(first.run())
            await started.wait()
            await asyncio.sleep(0.3)  # the slice's orders are out
            task.cancel()  # the process goes away mid-slice
        assert task.cancelled()
        assert checkpoints.states["t1"] == "running"
        mid_a, mid_b = position(a), position(b)
        assert mid_a == -mid_b  # the cancelled slice was levelled on the way out
        assert D("0.7") <= mid_a <= D("0.8")

        second = _twap(a, b, config, twap_id="t1", checkpoints=checkpoints)
        result = await second.run()

    assert result.resumed
    assert result.state is TwapState.COMPLETED
    assert (position(a), position(b)) == (Q, -Q)  # nothing doubled
    assert result.filled_buy == result.filled_sell == Q
    # the schedule kept its clock: the resumed part ran in the rest of the 600 s
    assert all(s.index >= 8 for s in result.slices)
    assert result.cost_usd > 0


class _FreezingCheckpoints(MemoryCheckpoints):
    """Saves until ``freeze_after`` saves, then hangs: the process died between a slice's
    fills and the write that records them."""

    def __init__(self, freeze_after: int) -> None:
        super().__init__()
        self.saves = 0
        self.freeze_after = freeze_after
        self.frozen = asyncio.Event()

    async def save_checkpoint(self, algo_id: str, kind: str, state: str, data: object) -> None:  # type: ignore[override]
        self.saves += 1
        if self.saves > self.freeze_after:
            self.frozen.set()
            await asyncio.Event().wait()
        await super().save_checkpoint(algo_id, kind, state, data)  # type: ignore[arg-type]


async def test_a_slice_done_but_not_recorded_is_not_sent_again() -> None:
    a = market_venue("a", seed=1)
    b = market_venue("b", seed=2)
    # saves: start, then per slice a claim and a record; the 5th save is slice 1's record
    frozen = _FreezingCheckpoints(freeze_after=4)
    config = TwapConfig(duration_s=100, slices=5, slice_mode="market_only", seed=1)
    q = D("0.5")

    async with a, b:
        first = PairTwap(
            buy=PairLeg(a, BTC), sell=PairLeg(b, BTC), quantity=q, config=config,
            clock=loop_clock, twap_id="t2", checkpoints=frozen,
        )  # fmt: skip
        async with asyncio.TaskGroup() as group:
            task = group.create_task(first.run())
            await frozen.frozen.wait()
            task.cancel()
        assert position(a) == D("0.2")  # two slices went through; the second's record did not
        orders_before = len(a.core.orders)

        frozen.freeze_after = 10**6
        second = PairTwap(
            buy=PairLeg(a, BTC), sell=PairLeg(b, BTC), quantity=q, config=config,
            clock=loop_clock, twap_id="t2", checkpoints=frozen,
        )  # fmt: skip
        result = await second.run()

    assert (position(a), position(b)) == (q, -q)
    assert result.state is TwapState.COMPLETED
    assert [s.index for s in result.slices] == [2, 3, 4]  # slices 0 and 1 never again
    assert len(a.core.orders) == orders_before + 3


async def test_stop_ends_after_the_slice_under_way() -> None:
    a = market_venue("a", seed=1)
    b = market_venue("b", seed=2)
    config = TwapConfig(duration_s=200, slices=10, slice_mode="market_only", seed=1)

    async with a, b:
        twap = _twap(a, b, config)
        twap.on_progress = lambda p: twap.stop() if p.slices_done == 3 else None
        result = await twap.run()

    assert result.state is TwapState.STOPPED
    assert position(a) == -position(b) == D("0.6")
    assert len(result.slices) == 3


async def test_participation_sizes_slices_from_visible_depth() -> None:
    a = market_venue("a", seed=1)
    b = market_venue("b", seed=2)
    config = TwapConfig(
        duration_s=300, participation=D("0.1"), depth_band_bps=D("0.2"), slice_mode="market_only"
    )

    async with a, b:
        # the asks of a (we buy there) and the bids of b (we sell there) within 0.2 bp
        # (1 USD) of each mid, read at the same instant as the TWAP reads them
        depths = []
        for venue, side in ((a, "asks"), (b, "bids")):
            book = await venue.get_order_book_depth(BTC, 100)
            mid = (book["bids"][0]["price"] + book["asks"][0]["price"]) / 2
            near = [lv["size"] for lv in book[side] if abs(lv["price"] - mid) <= D(1)]
            depths.append(sum(near, D(0)))
        result = await _twap(a, b, config).run()

    expected = (min(depths) * D("0.1") / D("0.001")).to_integral_value(rounding="ROUND_CEILING")
    assert result.slice_quantity == expected * D("0.001")
    assert D("0.1") < result.slice_quantity < D("2")
    assert result.state is TwapState.COMPLETED
    assert (position(a), position(b)) == (Q, -Q)


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ConfigError):
        TwapConfig(duration_s=60)  # neither slices nor participation
    with pytest.raises(ConfigError):
        TwapConfig(duration_s=60, slices=5, participation=D("0.1"))
    with pytest.raises(ConfigError):
        TwapConfig(duration_s=0, slices=5)
    with pytest.raises(ConfigError):
        TwapConfig(duration_s=60, slices=5, jitter=1.0)
    with pytest.raises(ValueError):
        TwapConfig(duration_s=60, slices=5, deadline_policy="later")  # type: ignore[arg-type]


async def test_bad_input_sends_nothing() -> None:
    a = market_venue("a", seed=1)
    config = TwapConfig(duration_s=60, slices=5)
    with pytest.raises(InvalidOrderError):
        PairTwap(buy=PairLeg(a, BTC), sell=PairLeg(a, BTC), quantity=Q, config=config)
    b = market_venue("b", seed=2)
    with pytest.raises(InvalidOrderError):
        PairTwap(buy=PairLeg(a, BTC), sell=PairLeg(b, BTC), quantity=D("-1"), config=config)
    tiny = PairTwap(
        buy=PairLeg(a, BTC), sell=PairLeg(b, BTC), quantity=D("0.0002"), config=config,
        clock=loop_clock, executor=AtomicMultiOrderExecutor(),
    )  # fmt: skip
    async with a, b:
        with pytest.raises(InvalidOrderError):
            await tiny.run()
    assert not a.core.orders
    assert not b.core.orders
