"""Funding rates per hour and per year, the sign convention, and one canonical symbol per
asset across venues (multiplier listings included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundarb.funding.rates import HOURS_PER_YEAR, FundingSample, apr, per_hour
from fundarb.funding.symbols import Listing, canonical_symbol, parse_listing

H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("rate", "interval", "hourly"),
    [
        (D("0.0001"), 8 * H, D("0.0000125")),  # 0.01 %/8 h = 0.00125 %/h
        (D("0.0001"), 4 * H, D("0.000025")),
        (D("0.0001"), 1 * H, D("0.0001")),
        (D("-0.003"), 8 * H, D("-0.000375")),  # Binance's old cap
        (D("0"), 8 * H, D("0")),
    ],
)
def test_a_rate_per_interval_is_exact_per_hour(rate: D, interval: timedelta, hourly: D) -> None:
    assert per_hour(rate, interval) == hourly


@pytest.mark.parametrize(
    ("rate", "interval", "annual"),
    [
        (D("0.0001"), 8 * H, D("0.1095")),  # 10.95 % a year, simple
        (D("0.0001"), 4 * H, D("0.219")),
        (D("0.0001"), 1 * H, D("0.876")),
        (D("-0.0001"), 8 * H, D("-0.1095")),
    ],
)
def test_apr_is_per_hour_times_8760(rate: D, interval: timedelta, annual: D) -> None:
    assert apr(rate, interval) == annual
    assert D(8760) == HOURS_PER_YEAR


def test_a_positive_rate_stays_positive_longs_pay_shorts() -> None:
    # positive: longs pay shorts, so a short collecting it earns a positive APR
    paid_by_longs = _sample(D("0.0003"))
    paid_by_shorts = _sample(D("-0.0003"))

    assert paid_by_longs.rate_per_hour > 0
    assert paid_by_longs.apr == D("0.3285")
    assert paid_by_shorts.rate_per_hour < 0
    assert paid_by_shorts.apr == -paid_by_longs.apr


def test_a_sample_normalises_its_own_interval() -> None:
    sample = _sample(D("0.0001"), interval=4 * H)

    assert (sample.interval_hours, sample.rate_per_hour, sample.apr) == (
        D(4),
        D("0.000025"),
        D("0.219"),
    )


@pytest.mark.parametrize("interval", [timedelta(0), -H, timedelta(milliseconds=1500)])
def test_an_interval_is_whole_seconds_above_zero(interval: timedelta) -> None:
    with pytest.raises(ValueError, match="whole number of seconds"):
        per_hour(D("0.0001"), interval)


def test_a_multiplier_listing_has_the_same_rate_and_scaled_prices_and_quantities() -> None:
    listing = parse_listing("1000PEPEUSDT")
    plain = _sample(D("0.0001"))
    bundled = _sample(D("0.0001"), venue_symbol="1000PEPEUSDT", multiplier=listing.multiplier)

    assert listing.multiplier == D(1000)
    assert bundled.rate_per_hour == plain.rate_per_hour  # a fraction of notional either way
    assert listing.to_base_price(D("0.0123")) == D("0.0000123")  # per listed unit → per PEPE
    assert listing.to_base_quantity(D(5)) == D(5000)
    assert listing.to_listed_quantity(D(2500)) == D("2.5")


@pytest.mark.parametrize(
    ("venue_symbol", "expected"),
    [
        ("BTCUSDT", Listing("BTCUSDT", "BTC", "USDT")),  # Binance, Bybit
        ("BTC/USDT:USDT", Listing("BTC/USDT:USDT", "BTC", "USDT")),  # ccxt
        ("BTC-PERP", Listing("BTC-PERP", "BTC", None)),  # Hyperliquid
        ("BTC-USD", Listing("BTC-USD", "BTC", "USD")),  # dYdX
        ("BTC-USDT-SWAP", Listing("BTC-USDT-SWAP", "BTC", "USDT")),  # OKX
        ("BTC_USDT", Listing("BTC_USDT", "BTC", "USDT")),  # Gate
        ("XBTUSDTM", Listing("XBTUSDTM", "BTC", "USDT")),  # KuCoin
        ("1000PEPEUSDT", Listing("1000PEPEUSDT", "PEPE", "USDT", D(1000))),
        ("kPEPE", Listing("kPEPE", "PEPE", None, D(1000))),  # Hyperliquid's kilo prefix
        ("KAVAUSDT", Listing("KAVAUSDT", "KAVA", "USDT")),  # a K that is not a prefix
    ],
)
def test_venue_symbols_map_to_one_canonical_name(venue_symbol: str, expected: Listing) -> None:
    assert parse_listing(venue_symbol) == expected
    assert canonical_symbol(venue_symbol) == expected.base


@pytest.mark.parametrize("venue_symbol", ["", "  ", "???"])
def test_a_symbol_without_a_base_is_refused(venue_symbol: str) -> None:
    with pytest.raises(ValueError):
        parse_listing(venue_symbol)


rates = st.decimals(min_value=D("-0.05"), max_value=D("0.05"), places=10, allow_nan=False)
interval_hours = st.sampled_from([1, 2, 4, 8])


@given(rate=rates, hours=interval_hours)
def test_per_hour_times_hours_gives_the_rate_back(rate: D, hours: int) -> None:
    assert per_hour(rate, timedelta(hours=hours)) * hours == rate


def _sample(
    rate: D,
    *,
    interval: timedelta = 8 * H,
    venue_symbol: str = "BTCUSDT",
    multiplier: D = D(1),
) -> FundingSample:
    when = datetime(2024, 8, 8, 8, tzinfo=UTC)
    return FundingSample(
        venue="binance",
        symbol=canonical_symbol(venue_symbol),
        venue_symbol=venue_symbol,
        rate=rate,
        interval=interval,
        funding_time=when,
        collected_at=when,
        multiplier=multiplier,
    )
