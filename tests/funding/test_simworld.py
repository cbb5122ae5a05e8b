"""The simulated world: symbol filter, model step, the venue built from a real capture, and
funding that settles on every venue over three fast-forwarded days."""

from __future__ import annotations

import asyncio
import gzip
import json
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from fundarb.errors import ConfigError
from fundarb.funding.simworld import WorldConfig, sim_world
from fundarb.venues.sim import MarketModelConfig, SimulatedExchange
from fundarb.venues.sim.calibrate import _fit_depth, calibrate_from_capture
from tests.conftest import USDM_CAPTURE, needs_shared_data

START = datetime(2024, 8, 9, tzinfo=UTC)
BTC_ETH_SOL = frozenset({"BTC", "ETH", "SOL"})


def _btc(venue: SimulatedExchange) -> str:
    (symbol,) = (s.symbol for s in venue.config.symbols if s.price_path == "BTC")
    return symbol


# -- calibration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sizes", "depth", "growth"),
    [
        ([2.0] * 40, 2.0, 0.0),  # flat
        ([1.0 + 0.1 * i for i in range(40)], 1.0, 0.1),  # the model's own profile
        ([5.0, 0.0, 0.0, 0.0], 1.25, 0.0),  # thinning away from the touch: flat at the mean
    ],
)
def test_the_depth_fit_recovers_a_linear_profile(
    sizes: list[float], depth: float, growth: float
) -> None:
    fitted_depth, fitted_growth = _fit_depth(sizes)

    assert fitted_depth == pytest.approx(depth)
    assert fitted_growth == pytest.approx(growth, abs=1e-9)


def _line(stamp_ns: int, message: dict[str, object]) -> str:
    return f"{stamp_ns} {json.dumps(message)}\n"


def _trade(t_ms: int, price: str, qty: str, buyer_is_maker: bool) -> dict[str, object]:
    data = {"e": "trade", "T": t_ms, "s": "BTCUSDT", "p": price, "q": qty, "m": buyer_is_maker}
    return {"stream": "btcusdt@trade", "data": data}


def _ticker(bid: str, ask: str) -> dict[str, object]:
    data = {"e": "bookTicker", "s": "BTCUSDT", "b": bid, "B": "1", "a": ask, "A": "1"}
    return {"stream": "btcusdt@bookTicker", "data": data}


def test_calibration_reads_a_small_capture(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gz"
    second = 1_000_000_000
    lines = [
        _line(0, _trade(1, "100.0", "9", False)),  # before the snapshot: not counted
        _line(0, {"lastUpdateId": 1, "E": 1, "bids": [["99.90", "2"]], "asks": [["100.00", "2"]]}),
        _line(1, {"stream": "btcusdt@depth@0ms", "data": {"U": 1, "u": 2, "pu": 0}}),
        _line(second, _ticker("99.9", "100.0")),
        _line(second, _trade(1000, "100.0", "0.5", False)),  # one buy order, two prints
        _line(second, _trade(1000, "100.1", "0.5", False)),
        _line(3 * second, _trade(3000, "99.9", "1", True)),  # one sell order
        _line(3 * second, _ticker("99.9", "100.0")),
    ]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(lines)

    calibration = calibrate_from_capture(path)

    assert calibration.symbol == "BTCUSDT"
    assert calibration.tick_size == Decimal("0.1")
    assert calibration.mid_price == Decimal("99.95")
    assert calibration.initial_price == Decimal("99.9")
    assert (calibration.trades, calibration.taker_orders) == (3, 2)
    assert calibration.duration_s == pytest.approx(2.0)
    assert calibration.taker_rate_per_s == pytest.approx(0.5)  # 2 orders / 2 s / 2 sides
    assert calibration.taker_mean_size == Decimal("1.000")
    assert calibration.volatility_per_sqrt_s == 0.0  # the mid never moved
    assert calibration.depth_per_level == Decimal("0.050")  # 2 BTC at the touch / 40 ticks


def test_a_capture_without_a_snapshot_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(_line(0, _ticker("1.0", "1.1")))

    with pytest.raises(ValueError, match="no depth snapshot"):
        calibrate_from_capture(path)


@needs_shared_data(USDM_CAPTURE)
def test_calibration_on_the_real_capture_is_plausible() -> None:
    calibration = calibrate_from_capture(USDM_CAPTURE)

    assert calibration.symbol == "BTCUSDT"
    assert calibration.tick_size == Decimal("0.1")
    assert calibration.mid_price == Decimal("61800.25")  # 61800.2 / 61800.3 in the snapshot
    assert calibration.initial_price == Decimal("61800.2")
    assert Decimal("0.01") < calibration.depth_per_level < Decimal(10)
    assert calibration.depth_growth_per_level >= 0
    assert 0.5 < calibration.taker_rate_per_s < 100
    assert Decimal("0.001") < calibration.taker_mean_size < Decimal(10)
    assert calibration.taker_orders <= calibration.trades == 21_308
    assert 300 < calibration.duration_s < 360  # six minutes
    assert 1e-5 < calibration.volatility_per_sqrt_s < 1e-3  # ~6 % to ~560 % a year


# -- the world ---------------------------------------------------------------------------------


def test_symbols_filter_the_listings() -> None:
    venues = sim_world(WorldConfig(start_time=START, symbols=frozenset({"BTC", "SOL"})))

    listed = {v.config.venue: [s.price_path for s in v.config.symbols] for v in venues}
    assert listed == {"alpha": ["BTC", "SOL"], "beta": ["BTC", "SOL"], "gamma": ["BTC", "SOL"]}


def test_a_venue_left_without_symbols_is_not_built() -> None:
    venues = sim_world(WorldConfig(start_time=START, symbols=frozenset({"PEPE"})))

    assert [v.config.venue for v in venues] == ["alpha", "gamma"]


@pytest.mark.parametrize(
    "overrides",
    [{"symbols": frozenset({"DOGE"})}, {"symbols": frozenset()}, {"step_s": 0.0}],
)
def test_a_bad_world_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="world"):
        WorldConfig(**overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(("step_s", "expected"), [(None, MarketModelConfig().step_s), (60.0, 60.0)])
def test_the_step_reaches_every_venue(step_s: float | None, expected: float) -> None:
    venues = sim_world(WorldConfig(start_time=START, step_s=step_s))

    assert [v.config.model.step_s for v in venues] == [expected] * 3


def test_a_missing_capture_keeps_the_synthetic_world(tmp_path: Path) -> None:
    plain = sim_world(WorldConfig(start_time=START))
    missing = sim_world(WorldConfig(start_time=START, capture=tmp_path / "absent.gz"))

    assert [v.config for v in missing] == [v.config for v in plain]


@needs_shared_data(USDM_CAPTURE)
def test_alpha_btc_is_built_from_the_capture() -> None:
    calibration = calibrate_from_capture(USDM_CAPTURE)

    venues = sim_world(WorldConfig(start_time=START, step_s=60, capture=USDM_CAPTURE))

    alpha = venues[0]
    (btc,) = (s for s in alpha.config.symbols if s.symbol == "BTCUSDT")
    assert (btc.tick_size, btc.lot_size, btc.min_notional) == (
        Decimal("0.1"),
        Decimal("0.001"),
        Decimal("100"),
    )
    assert btc.depth_per_level == calibration.depth_per_level
    assert btc.taker_mean_size == calibration.taker_mean_size
    assert alpha.config.model.taker_rate_per_s == calibration.taker_rate_per_s
    assert alpha.config.model.depth_growth_per_level == calibration.depth_growth_per_level
    # one price path: same start, same step, same volatility on every venue
    starts = {s.initial_price for v in venues for s in v.config.symbols if s.price_path == "BTC"}
    assert starts == {calibration.initial_price}
    assert {v.config.model.volatility_per_sqrt_s for v in venues} == {
        calibration.volatility_per_sqrt_s
    }
    assert {(v.config.model.step_s, v.config.model.price_seed) for v in venues} == {(60, 7)}


# -- three days of funding ---------------------------------------------------------------------


def _without_taker_flow(venue: SimulatedExchange) -> SimulatedExchange:
    """The same venue with no random takers: three days of flow would take a minute of CPU."""
    model = replace(venue.config.model, taker_rate_per_s=0.0)
    return SimulatedExchange(replace(venue.config, model=model))


async def test_funding_settles_on_every_venue_over_three_days() -> None:
    world = sim_world(WorldConfig(start_time=START, step_s=60, symbols=BTC_ETH_SOL))
    venues = [_without_taker_flow(v) for v in world]
    async with AsyncExitStack() as stack:
        for venue in venues:
            await stack.enter_async_context(venue)
            await venue.place_market_order(_btc(venue), Decimal("0.002"), "buy")

        await asyncio.sleep(3 * 24 * 3600 + 60)  # past the last settlement of the third day

    for venue in venues:
        symbol = _btc(venue)
        funding = next(s.funding for s in venue.config.symbols if s.symbol == symbol)
        payments = [p for p in venue.core.funding_payments if p.symbol == symbol]
        assert len(payments) == 3 * 24 * 3600 // funding.interval_s, venue.config.venue
        for payment in payments:
            settlement = round(payment.funding_time.timestamp()) // funding.interval_s
            assert payment.rate == funding.rate_at(settlement)
            assert payment.position_quantity == Decimal("0.002")
            assert payment.amount == -payment.position_quantity * payment.mark_price * payment.rate
        assert len({p.rate for p in payments}) > 1  # the rate moves over the days
