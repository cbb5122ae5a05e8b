"""ExecutionTracker statistics against hand-computed values: windows, filters, percentiles.

The fixture (strategy ``arb`` unless noted; NOW = 12:30 UTC):

=====  ======  ==============  ========  ===========  =====================================
rec    time    outcome         slip pct  rollback $   entry legs (venue mode qty/filled, bps)
=====  ======  ==============  ========  ===========  =====================================
R1     -1 h    filled          0.001     0            a market 1/1 (3), b market 1/1 (1)
R2     -2 h    hedged          0.003     4.2          a post 2/1.5 (-2), b limit 2/1.5 (5)
                                                      + an unwind on a (market): not counted
R3     -3 h    rolled_back     None      10.05        c market 1/0 (None), ETH-PERP
R4     -30 h   filled          0.01      0            a market 1/1 (50)
R5     -1 h    filled (other)  0.0005    0            no legs: one sample of 5 bps
=====  ======  ==============  ========  ===========  =====================================
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest

from fundarb.execution import ExecutionRecord, ExecutionTracker, LegRecord

NOW = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
BTC, ETH = "BTC-PERP", "ETH-PERP"


def _leg(
    venue: str,
    mode: str,
    quantity: str,
    filled: str,
    bps: str | None,
    *,
    maker: str = "0",
    taker: str = "0",
    fees: str = "0",
    fill_ms: float | None = None,
    side: str = "buy",
    symbol: str = BTC,
    role: str = "entry",
) -> LegRecord:
    return LegRecord(
        venue=venue,
        symbol=symbol,
        side=side,
        mode=mode,
        quantity=D(quantity),
        filled_quantity=D(filled),
        maker_quantity=D(maker),
        taker_quantity=D(taker),
        fees=D(fees),
        slippage_bps=D(bps) if bps is not None else None,
        time_to_fill_ms=fill_ms,
        role=role,
    )


def _records() -> list[ExecutionRecord]:
    hour = timedelta(hours=1)
    return [
        ExecutionRecord(
            execution_id="R1",
            strategy_name="arb",
            symbol=BTC,
            filled=True,
            slippage_pct=D("0.001"),
            time=NOW - hour,
            leg_skew_ms=2.0,
            legs=(
                _leg("a", "market_only", "1", "1", "3", taker="1", fees="2.5", fill_ms=100),
                _leg(
                    "b",
                    "market_only",
                    "1",
                    "1",
                    "1",
                    maker="0.5",
                    taker="0.5",
                    fees="1.5",
                    fill_ms=300,
                    side="sell",
                ),
            ),
        ),
        ExecutionRecord(
            execution_id="R2",
            strategy_name="arb",
            symbol=BTC,
            filled=False,
            outcome="hedged",
            slippage_pct=D("0.003"),
            rollback_cost_usd=D("4.2"),
            time=NOW - 2 * hour,
            leg_skew_ms=4.0,
            legs=(
                _leg("a", "post_only", "2", "1.5", "-2", maker="1.5", fees="-0.3", fill_ms=1000),
                _leg("a", "market_only", "0.5", "0.5", "9", taker="0.5", role="unwind"),
                _leg("b", "limit_with_fallback", "2", "1.5", "5", taker="1.5", fees="0.9"),
            ),
        ),
        ExecutionRecord(
            execution_id="R3",
            strategy_name="arb",
            symbol=ETH,
            filled=False,
            outcome="rolled_back",
            rollback_cost_usd=D("10.05"),
            time=NOW - 3 * hour,
            legs=(_leg("c", "market_only", "1", "0", None, symbol=ETH),),
        ),
        ExecutionRecord(
            execution_id="R4",
            strategy_name="arb",
            symbol=BTC,
            filled=True,
            slippage_pct=D("0.01"),
            time=NOW - 30 * hour,
            legs=(_leg("a", "market_only", "1", "1", "50", taker="1"),),
        ),
        ExecutionRecord(
            execution_id="R5",
            strategy_name="other",
            symbol=BTC,
            filled=True,
            slippage_pct=D("0.0005"),
            time=NOW - hour,
        ),
    ]


async def _tracker(records: list[ExecutionRecord] | None = None) -> ExecutionTracker:
    tracker = ExecutionTracker()
    for record in _records() if records is None else records:
        await tracker.record_execution(record)
    return tracker


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {"strategy_name": "arb"},
            {
                "count": 3,
                "filled_count": 1,
                "success_rate": 1 / 3,
                "outcomes": {"filled": 1, "hedged": 1, "rolled_back": 1},
                "fill_rate": D(5) / D(7),  # (1 + 1 + 1.5 + 1.5 + 0) / (1 + 1 + 2 + 2 + 1)
                "avg_slippage_pct": D("0.002"),  # R3 has none
                "slippage_bps_p50": D(1),  # [-2, 1, 3, 5]: rank ceil(0.5 * 4) = 2
                "slippage_bps_p95": D(5),  # rank ceil(0.95 * 4) = 4
                "slippage_bps_mean": D("1.75"),
                "maker_ratio": D("0.4"),  # 2 / (2 + 3)
                "fees": D("4.6"),  # 2.5 + 1.5 - 0.3 + 0.9 + 0
                "leg_count": 5,
                "time_to_ack_ms_p50": None,
                "time_to_fill_ms_p50": 300.0,  # [100, 300, 1000]: rank 2
                "time_to_fill_ms_p95": 1000.0,  # rank 3
                "leg_skew_ms_p50": 2.0,  # [2, 4]: rank 1
                "rollback_count": 1,
                "rollback_cost_usd": D("14.25"),
            },
        ),
        (
            {"strategy_name": "arb", "venue": "a"},  # R1 and R2; their legs on a only
            {
                "count": 2,
                "success_rate": 0.5,
                "fill_rate": D("2.5") / D(3),
                "avg_slippage_pct": D("0.002"),
                "slippage_bps_p50": D(-2),  # [-2, 3]
                "slippage_bps_p95": D(3),
                "slippage_bps_mean": D("0.5"),
                "maker_ratio": D("0.6"),  # 1.5 / (1.5 + 1)
                "fees": D("2.2"),
                "leg_count": 2,
                "time_to_fill_ms_p50": 100.0,
                "rollback_count": 0,
                "rollback_cost_usd": D("4.2"),
            },
        ),
        (
            {"strategy_name": "arb", "mode": "market_only"},  # R1, R3 (an unwind's mode: no)
            {
                "count": 2,
                "outcomes": {"filled": 1, "rolled_back": 1},
                "fill_rate": D(2) / D(3),
                "slippage_bps_p50": D(1),
                "slippage_bps_p95": D(3),
                "slippage_bps_mean": D(2),
                "maker_ratio": D("0.25"),
                "fees": D(4),
                "leg_count": 3,
                "rollback_count": 1,
                "rollback_cost_usd": D("10.05"),
            },
        ),
        (
            {"strategy_name": "arb", "symbol": ETH},
            {
                "count": 1,
                "success_rate": 0.0,
                "fill_rate": D(0),
                "avg_slippage_pct": None,
                "slippage_bps_p50": None,
                "slippage_bps_mean": None,
                "maker_ratio": None,  # nothing traded
                "fees": D(0),
                "leg_count": 1,
            },
        ),
        (
            {"strategy_name": "arb", "venue": "b", "mode": "limit_with_fallback"},
            {"count": 1, "leg_count": 1, "fill_rate": D("0.75"), "slippage_bps_p50": D(5)},
        ),
        (
            {},  # every strategy: R5 adds a record and one 5 bps sample, no leg
            {
                "count": 4,
                "success_rate": 0.5,
                "avg_slippage_pct": D("0.0015"),  # (0.001 + 0.003 + 0.0005) / 3
                "slippage_bps_p50": D(3),  # [-2, 1, 3, 5, 5]: rank 3
                "slippage_bps_p95": D(5),
                "slippage_bps_mean": D("2.4"),
                "leg_count": 5,
            },
        ),
        (
            {"strategy_name": "arb", "time_window_hours": 48},  # R4 too
            {"count": 4, "slippage_bps_p95": D(50), "avg_slippage_pct": D("0.014") / 3},
        ),
        (
            {"strategy_name": "arb", "time_window_hours": None},
            {"count": 4, "window_start": None, "window_end": NOW},
        ),
        (
            {"strategy_name": "arb", "time_window_hours": 2},  # R2 is on the edge: out
            {"count": 1, "outcomes": {"filled": 1}, "success_rate": 1.0},
        ),
        (
            {"strategy_name": "arb", "time_window_hours": 2.5},
            {"count": 2, "window_start": NOW - timedelta(hours=2.5)},
        ),
        (
            {"strategy_name": "nobody"},
            {
                "count": 0,
                "filled_count": 0,
                "success_rate": None,
                "outcomes": {},
                "fill_rate": None,
                "avg_slippage_pct": None,
                "slippage_bps_p50": None,
                "slippage_bps_p95": None,
                "slippage_bps_mean": None,
                "maker_ratio": None,
                "fees": None,
                "leg_count": 0,
                "time_to_fill_ms_p50": None,
                "leg_skew_ms_p50": None,
                "rollback_count": 0,
                "rollback_cost_usd": None,
            },
        ),
        ({"venue": "nowhere"}, {"count": 0, "leg_count": 0, "fill_rate": None}),
    ],
)
async def test_stats_match_hand_computed_values(
    query: dict[str, Any], expected: dict[str, Any]
) -> None:
    tracker = await _tracker()

    stats = tracker.get_execution_stats(now=NOW, **query)

    assert {key: stats[key] for key in expected} == expected
    for key in expected:  # Decimal stays Decimal, float stays float
        assert type(stats[key]) is type(expected[key]), key


async def test_the_window_ends_at_now_inclusive_and_defaults_to_24_hours() -> None:
    tracker = await _tracker()
    at_now = ExecutionRecord(
        execution_id="at-now", strategy_name="arb", symbol=BTC, filled=True, time=NOW
    )
    await tracker.record_execution(at_now)

    stats = tracker.get_execution_stats("arb", now=NOW)
    before = tracker.get_execution_stats("arb", now=NOW - timedelta(microseconds=1))

    assert (stats["count"], before["count"]) == (4, 3)
    assert stats["window_start"] == NOW - timedelta(hours=24)


async def test_now_defaults_to_the_wall_clock() -> None:
    recent = ExecutionRecord(execution_id="recent", strategy_name="arb", symbol=BTC, filled=True)
    tracker = await _tracker([recent])

    assert tracker.get_execution_stats("arb", time_window_hours=1)["count"] == 1


@pytest.mark.parametrize(
    ("bps", "p50", "p95"),
    [
        (["5"], "5", "5"),
        (["1", "2"], "1", "2"),
        (["3", "1", "2"], "2", "3"),
        ([str(i) for i in range(1, 21)], "10", "19"),  # rank ceil(0.5 * 20) = 10, 19
        ([str(i) for i in range(1, 22)], "11", "20"),  # rank ceil(10.5) = 11, ceil(19.95) = 20
        (["-1.5", "0", "0", "0", "7.25"], "0", "7.25"),
        # floats cannot tell these apart; the exact Decimal of each rank is still returned
        (
            ["1.00000000000000000000000002", "1", "1.00000000000000000000000001"],
            "1.00000000000000000000000001",
            "1.00000000000000000000000002",
        ),
    ],
)
async def test_percentiles_are_nearest_rank_and_exact(bps: list[str], p50: str, p95: str) -> None:
    records = [
        ExecutionRecord(
            execution_id=f"e{i}",
            strategy_name="arb",
            symbol=BTC,
            filled=True,
            time=NOW - timedelta(minutes=i),
            legs=(_leg("a", "market_only", "1", "1", value),),
        )
        for i, value in enumerate(bps)
    ]
    tracker = await _tracker(records)

    stats = tracker.get_execution_stats("arb", now=NOW)

    assert str(stats["slippage_bps_p50"]) == p50
    assert str(stats["slippage_bps_p95"]) == p95


async def test_sums_are_exact_past_the_decimal_contexts_28_digits() -> None:
    fees = ["1000000000000", "0.1234567890123456789012345678", "-0.0000000000000000000000000001"]
    records = [
        ExecutionRecord(
            execution_id=f"e{i}",
            strategy_name="arb",
            symbol=BTC,
            filled=True,
            rollback_cost_usd=D(fee),
            time=NOW - timedelta(minutes=i),
            legs=(_leg("a", "market_only", "1", "1", "0", fees=fee),),
        )
        for i, fee in enumerate(fees)
    ]
    tracker = await _tracker(records)

    stats = tracker.get_execution_stats("arb", now=NOW)

    assert str(stats["fees"]) == "1000000000000.1234567890123456789012345677"
    assert stats["rollback_cost_usd"] == stats["fees"]


async def test_a_record_recorded_again_replaces_the_first() -> None:
    tracker = await _tracker()
    (r2,) = [r for r in _records() if r.execution_id == "R2"]
    filled_later = ExecutionRecord(
        execution_id="R2",
        strategy_name="arb",
        symbol=BTC,
        filled=True,
        slippage_pct=D("0.005"),
        time=r2.time + timedelta(minutes=1),
        legs=(_leg("d", "market_only", "4", "4", "8", taker="4"),),
    )

    await tracker.record_execution(filled_later)
    stats = tracker.get_execution_stats("arb", now=NOW)

    assert len(tracker) == 5
    assert (stats["count"], stats["filled_count"]) == (3, 2)
    assert stats["fill_rate"] == D(6) / D(7)  # R1: 2 of 2, R2 now 4 of 4, R3: 0 of 1
    assert stats["slippage_bps_p95"] == D(8)
    assert stats["rollback_cost_usd"] == D("10.05")
    assert tracker.get_execution_stats("arb", venue="d", now=NOW)["count"] == 1


async def test_records_added_in_any_order_give_the_same_figures() -> None:
    rng = random.Random(3)
    records = [
        ExecutionRecord(
            execution_id=f"e{i}",
            strategy_name=rng.choice(["arb", "basis"]),
            symbol=BTC,
            filled=(filled := rng.random() < 0.7),
            slippage_pct=D(rng.randrange(-50, 50)) / 100_000,
            rollback_cost_usd=D(rng.randrange(100)) / 7,
            time=NOW - timedelta(seconds=rng.randrange(40 * 3600)),
            leg_skew_ms=rng.random(),
            legs=tuple(
                _leg(
                    rng.choice("abc"),
                    rng.choice(["market_only", "post_only"]),
                    "1",
                    str(D(rng.randrange(11)) / 10),
                    str(D(rng.randrange(-100, 100)) / 3),
                    maker="0.3",
                    taker="0.7",
                    fees=str(D(rng.randrange(1000)) / 9),
                    fill_ms=rng.random() * 1000,
                )
                for _ in range(rng.randrange(3))
            ),
            outcome="filled" if filled else "hedged",
        )
        for i in range(300)
    ]
    in_order = await _tracker(sorted(records, key=lambda r: r.time))
    shuffled = list(records)
    rng.shuffle(shuffled)
    any_order = await _tracker(shuffled)
    queries: list[dict[str, Any]] = [
        {},
        {"strategy_name": "basis", "time_window_hours": 6},
        {"venue": "b", "mode": "post_only"},
        {"strategy_name": "arb", "time_window_hours": None},
    ]

    for query in queries:
        expected = in_order.get_execution_stats(now=NOW, **query)
        assert any_order.get_execution_stats(now=NOW, **query) == expected
        window = {"time_window_hours": 24, **query}
        assert expected["count"] == len(in_order.records(now=NOW, **window))


async def test_records_lists_the_window_oldest_first() -> None:
    tracker = await _tracker()

    ids = [r.execution_id for r in tracker.records(time_window_hours=24, now=NOW)]
    arb_on_c = tracker.records("arb", venue="c", now=NOW)

    assert ids == ["R3", "R2", "R1", "R5"]  # R1 and R5 share a time: in the order recorded
    assert [r.execution_id for r in arb_on_c] == ["R3"]
    assert len(tracker.records(now=NOW)) == 5  # no window: everything up to now


@pytest.mark.parametrize(
    "query",
    [
        {"time_window_hours": 0},
        {"time_window_hours": -1},
        {"time_window_hours": float("inf")},
        {"time_window_hours": True},
        {"now": datetime(2026, 1, 1)},  # naive
    ],
)
async def test_a_bad_window_is_refused(query: dict[str, Any]) -> None:
    tracker = await _tracker()

    with pytest.raises(ValueError, match=r"time_window_hours|now"):
        tracker.get_execution_stats("arb", **query)


async def test_hourly_series_has_every_clock_hour_of_the_window() -> None:
    tracker = await _tracker()

    series = tracker.hourly_series("arb", time_window_hours=4, now=NOW)

    # the window is (08:30, 12:30]: hours 08:00 .. 12:00; R3 09:30, R2 10:30, R1 11:30
    assert [s["hour"] for s in series] == [
        datetime(2026, 1, 1, h, tzinfo=UTC) for h in (8, 9, 10, 11, 12)
    ]
    assert [s["count"] for s in series] == [0, 1, 1, 1, 0]
    assert [s["outcomes"] for s in series] == [
        {},
        {"rolled_back": 1},
        {"hedged": 1},
        {"filled": 1},
        {},
    ]
    assert series[2]["fill_rate"] == D("0.75")
    assert series[3]["slippage_bps_mean"] == D(2)
    assert series[0]["success_rate"] is None


async def test_hourly_series_with_filters_and_without_a_window() -> None:
    tracker = await _tracker()

    on_a = tracker.hourly_series("arb", time_window_hours=4, venue="a", now=NOW)
    everything = tracker.hourly_series("arb", time_window_hours=None, now=NOW)

    assert [s["count"] for s in on_a] == [0, 0, 1, 1, 0]
    assert [s["leg_count"] for s in on_a] == [0, 0, 1, 1, 0]
    assert everything[0]["hour"] == datetime(2025, 12, 31, 6, tzinfo=UTC)  # R4: 30 h before
    assert len(everything) == 31
    assert sum(s["count"] for s in everything) == 4
    assert ExecutionTracker().hourly_series(time_window_hours=None, now=NOW) == []
