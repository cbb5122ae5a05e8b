"""Funding history files: per-source time zones, exact rates, clear errors for bad rows, and
statistics checked against numbers worked out by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from itertools import pairwise
from pathlib import Path

import pytest

from fundarb.errors import ConfigError
from fundarb.funding import FundingSample
from fundarb.funding.history import (
    CSV_SOURCES,
    MalformedCsvError,
    funding_stats,
    read_funding_csv,
)
from tests.conftest import SHARED_DATA, needs_shared_data

HISTORY = SHARED_DATA / "funding_history"
BINANCE = HISTORY / "BTC-USDT_binance_2020-01-01_2024-01-01_funding_history.csv"
GATE = HISTORY / "BTC-USDT_gate_2020-01-01_2024-01-01_funding_history.csv"
DYDX = HISTORY / "BTC-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv"
KUCOIN = HISTORY / "BTC-USDT_kucoin_2021-01-01_2024-01-01_funding_history.csv"
HTX = HISTORY / "BTC-USDT_htx_2021-01-01_2024-01-01_funding_history.csv"

H = timedelta(hours=1)
HEADER = "Symbol,Date,Funding Rate\n"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def write(folder: Path, venue: str, body: str) -> Path:
    path = folder / f"BTC-USDT_{venue}_2020-01-01_2024-01-01_funding_history.csv"
    path.write_text(HEADER + body)
    return path


# -- time zones and intervals -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("venue", "local", "expected"),
    [
        ("binance", "2020-01-01 03:00:00.000", utc(2020, 1, 1, 0)),
        ("bybit", "2021-01-01 11:00:00", utc(2021, 1, 1, 8)),
        ("htx", "2021-01-01 19:00:00", utc(2021, 1, 1, 16)),
        ("mexc", "2021-01-01 03:00:00", utc(2021, 1, 1, 0)),
        ("kucoin", "2021-01-01 07:00:00", utc(2021, 1, 1, 4)),
        ("dydx", "2022-01-01 00:00:00", utc(2021, 12, 31, 21)),
        ("gate", "2020-01-01 16:00:00", utc(2020, 1, 1, 16)),  # already UTC
        ("binance", "2023-12-31 11:00:00.047", utc(2023, 12, 31, 8)),  # ms late: dropped
    ],
)
def test_each_source_is_read_in_its_own_time_zone(
    tmp_path: Path, venue: str, local: str, expected: datetime
) -> None:
    path = write(tmp_path, venue, f"BTC-USDT,{local},0.0001\n")

    (sample,) = read_funding_csv(path)

    assert sample.funding_time == expected
    assert sample.collected_at == expected  # a settled print
    assert (sample.venue, sample.symbol, sample.venue_symbol) == (venue, "BTC", "BTC-USDT")


def test_the_offsets_and_intervals_are_one_table() -> None:
    offsets = {venue: source.utc_offset for venue, source in CSV_SOURCES.items()}
    intervals = {venue: source.interval for venue, source in CSV_SOURCES.items()}

    assert offsets == {
        "binance": 3 * H,
        "bybit": 3 * H,
        "htx": 3 * H,
        "mexc": 3 * H,
        "kucoin": 3 * H,
        "dydx": 3 * H,
        "gate": timedelta(0),
    }
    assert intervals == {venue: (1 if venue == "dydx" else 8) * H for venue in CSV_SOURCES}


def test_the_venue_can_be_given_when_the_file_name_has_none(tmp_path: Path) -> None:
    path = tmp_path / "prints.csv"
    path.write_text(HEADER + "BTC-USDT,2020-01-01 03:00:00,0.0001\n")

    (sample,) = read_funding_csv(path, "Binance")

    assert (sample.venue, sample.funding_time) == ("binance", utc(2020, 1, 1, 0))


@needs_shared_data(BINANCE)
@pytest.mark.shared_data
def test_binance_prints_fall_at_00_08_16_utc() -> None:
    samples = read_funding_csv(BINANCE)

    assert samples[0].funding_time == utc(2020, 1, 1, 0)
    assert samples[0].rate == D("-0.00012359")
    assert {s.funding_time.hour for s in samples} == {0, 8, 16}
    assert {s.interval for s in samples} == {8 * H}


@needs_shared_data(GATE)
@pytest.mark.shared_data
def test_gate_rows_are_taken_as_utc_unchanged() -> None:
    samples = read_funding_csv(GATE)

    assert [s.funding_time for s in samples[:3]] == [
        utc(2020, 1, 1, 0),
        utc(2020, 1, 1, 8),
        utc(2020, 1, 1, 16),
    ]
    assert samples[2].rate == D("0.000026")  # written 2.6e-05


@needs_shared_data(KUCOIN)
@pytest.mark.shared_data
def test_kucoin_settles_at_04_12_20_utc() -> None:
    assert {s.funding_time.hour for s in read_funding_csv(KUCOIN)} == {4, 12, 20}


@needs_shared_data(DYDX)
@pytest.mark.shared_data
def test_dydx_prints_every_hour() -> None:
    samples = read_funding_csv(DYDX)
    steps = {b.funding_time - a.funding_time for a, b in pairwise(samples)}

    assert samples[0].funding_time == utc(2021, 12, 31, 21)  # 2022-01-01 00:00 at UTC+3
    assert steps == {H}
    assert samples[0].rate_per_hour == samples[0].rate == D("0.0000058615")


@needs_shared_data(HTX)
@pytest.mark.shared_data
def test_eighteen_decimal_places_are_kept_exactly() -> None:
    assert read_funding_csv(HTX)[0].rate == D("0.000658153991747989")


# -- Binance's prints -------------------------------------------------------------------------


@needs_shared_data(BINANCE)
@pytest.mark.shared_data
def test_binance_touches_the_cap_of_plus_minus_0_003_exactly() -> None:
    samples = read_funding_csv(BINANCE)
    by_time = {s.funding_time: s.rate for s in samples}

    assert max(by_time.values()) == D("0.003")
    assert min(by_time.values()) == D("-0.003")
    assert by_time[utc(2020, 2, 12, 0)] == D("0.00300000")  # line 128, 03:00 at UTC+3
    assert by_time[utc(2020, 3, 13, 8)] == D("-0.00300000")  # line 219, 11:00 at UTC+3


@needs_shared_data(BINANCE)
@pytest.mark.shared_data
def test_about_40_percent_of_binance_prints_are_the_interest_only_rate() -> None:
    samples = read_funding_csv(BINANCE)
    interest_only = sum(1 for s in samples if s.rate == D("0.0001"))

    assert len(samples) == 4383
    assert interest_only == 1785
    assert 0.39 < interest_only / len(samples) < 0.42


# -- malformed files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("BTC-USDT,2020-01-01 03:00:00,0.0001\nBTC-USDT,2020-01-01 11:00:00\n", 3, "3 fields"),
        ("BTC-USDT,2020-01-01 03:00:00,abc\n", 2, "bad funding rate 'abc'"),
        ("BTC-USDT,2020-01-01 03:00:00,\n", 2, "bad funding rate ''"),
        ("BTC-USDT,2020-01-01 03:00:00,NaN\n", 2, "bad funding rate 'NaN'"),
        ("BTC-USDT,01/01/2020 03:00,0.0001\n", 2, "bad date"),
        ("BTC-USDT,2020-02-30 03:00:00,0.0001\n", 2, "bad date"),
        ("BTC-USDT,2020-01-01T03:00:00+03:00,0.0001\n", 2, "bad date"),
        ("???,2020-01-01 03:00:00,0.0001\n", 2, "bad symbol"),
    ],
)
def test_a_malformed_row_is_refused_naming_the_file_and_line(
    tmp_path: Path, body: str, line: int, message: str
) -> None:
    path = write(tmp_path, "binance", body)

    with pytest.raises(MalformedCsvError, match=message) as caught:
        read_funding_csv(path)

    assert caught.value.line == line
    assert caught.value.path == path
    assert f"{path}, line {line}: " in str(caught.value)
    assert isinstance(caught.value, ConfigError)


def test_a_wrong_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "BTC-USDT_binance_x.csv"
    path.write_text("time,rate\n2020-01-01 03:00:00,0.0001\n")

    with pytest.raises(MalformedCsvError, match="line 1: expected the header"):
        read_funding_csv(path)


@pytest.mark.parametrize(
    ("name", "venue", "message"),
    [
        ("BTC-USDT_okx_2020.csv", None, "unknown venue 'okx'"),
        ("prints.csv", None, "no venue in the file name"),
        ("BTC-USDT_binance_2020.csv", "nowhere", "unknown venue 'nowhere'"),
    ],
)
def test_an_unknown_venue_is_refused(
    tmp_path: Path, name: str, venue: str | None, message: str
) -> None:
    path = tmp_path / name
    path.write_text(HEADER)

    with pytest.raises(MalformedCsvError, match=message):
        read_funding_csv(path, venue)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MalformedCsvError, match="cannot read"):
        read_funding_csv(tmp_path / "BTC-USDT_binance_none.csv")


def test_a_header_only_file_has_no_prints(tmp_path: Path) -> None:
    assert read_funding_csv(write(tmp_path, "gate", "")) == []


# -- statistics -------------------------------------------------------------------------------


def prints(*rates: str, venue: str = "binance", hours: int = 8) -> list[FundingSample]:
    start = utc(2024, 1, 1, 0)
    return [
        FundingSample(
            venue=venue,
            symbol="BTC",
            venue_symbol="BTCUSDT",
            rate=D(rate),
            interval=hours * H,
            funding_time=start + k * hours * H,
            collected_at=start + k * hours * H,
        )
        for k, rate in enumerate(rates)
    ]


def test_statistics_of_five_prints_match_the_hand_computed_values() -> None:
    # rates per 8 h: mean 0.0001; deviations (in 0.0001) +2 −2 +2 −2 0
    samples = prints("0.0003", "-0.0001", "0.0003", "-0.0001", "0.0001")

    stats = funding_stats(samples)

    assert stats.count == 5
    assert stats.mean_rate_per_hour == D("0.0000125")  # 0.0005 over 40 h
    assert stats.mean_apr == D("0.1095")  # × 8760
    # per hour: deviations ±0.000025, squares sum to 4 × 0.000025², / (5 − 1), sqrt
    assert stats.volatility_per_hour == D("0.000025")
    assert stats.positive_share == D("0.6")  # 3 of 5
    # lag 1: (2·−2 + −2·2 + 2·−2 + −2·0) / (4+4+4+4+0) = −12/16
    assert stats.autocorrelation == D("-0.75")
    assert (stats.first_time, stats.last_time) == (utc(2024, 1, 1, 0), utc(2024, 1, 2, 8))
    assert (stats.venue, stats.symbol) == ("binance", "BTC")


def test_hourly_prints_compare_per_hour_not_per_print() -> None:
    eight_hourly = funding_stats(prints("0.0008", "0.0008"))
    hourly = funding_stats(prints(*["0.0001"] * 16, venue="dydx", hours=1))

    assert eight_hourly.mean_rate_per_hour == hourly.mean_rate_per_hour == D("0.0001")
    assert hourly.mean_apr == D("0.876")
    assert hourly.volatility_per_hour == D(0)
    assert hourly.autocorrelation is None  # every print the same: no persistence to measure


def test_the_mean_is_weighted_by_time_when_the_interval_changes() -> None:
    # 0.0008 over 8 h, then 0.0001 over 1 h: 0.0009 over 9 h
    samples = [*prints("0.0008"), *prints("0.0001", hours=1)]
    samples[1] = replace(samples[1], funding_time=utc(2024, 1, 1, 9))

    assert funding_stats(samples).mean_rate_per_hour == D("0.0001")


def test_the_window_counts_back_from_the_latest_print() -> None:
    samples = prints("0.0009", "0.0001", "0.0002", "0.0003")  # 00, 08, 16, 24 h

    day = funding_stats(samples, window=24 * H)
    earlier = funding_stats(samples, window=16 * H, end=utc(2024, 1, 1, 16))

    assert (day.count, day.first_time) == (3, utc(2024, 1, 1, 8))  # the 00 h print is out
    assert day.mean_rate_per_hour == D("0.000025")  # 0.0006 over 24 h
    assert (earlier.count, earlier.last_time) == (2, utc(2024, 1, 1, 16))


def test_few_prints_leave_volatility_and_persistence_undefined() -> None:
    one = funding_stats(prints("0.0001"))
    two = funding_stats(prints("0.0001", "0.0003"))

    assert (one.volatility_per_hour, one.autocorrelation) == (None, None)
    assert two.volatility_per_hour is not None
    assert two.autocorrelation is None


def test_a_zero_print_is_not_positive() -> None:
    assert funding_stats(prints("0", "0.0001", "-0.0001", "0")).positive_share == D("0.25")


def test_statistics_are_per_venue_and_symbol_and_need_a_print() -> None:
    mixed = [*prints("0.0001"), *prints("0.0001", venue="bybit")]

    with pytest.raises(ValueError, match="per \\(venue, symbol\\)"):
        funding_stats(mixed)
    with pytest.raises(ValueError, match="no funding prints"):
        funding_stats([])
    with pytest.raises(ValueError, match="no funding prints"):
        funding_stats(prints("0.0001"), end=utc(2023, 1, 1))
