"""Opportunities: carry on each venue's own schedule, round-trip costs, net, filters, ranking.

Every expected figure is worked by hand in the comments. Rates are fractions per interval
(positive: longs pay shorts); money is USD; N is the notional of each leg.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fundarb.errors import ConfigError
from fundarb.execution import ExecutionMode, OrderBook
from fundarb.funding import FundingSample
from fundarb.funding.opportunities import (
    DEFAULT_MAKER_SHARE,
    Opportunity,
    OpportunityFilters,
    current_weight,
    rank_opportunities,
)
from fundarb.venues import FeeSchedule

NOW = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
N = D(10_000)


def sample(
    venue: str,
    rate: str,
    *,
    hours: int = 8,
    symbol: str = "BTC",
    funding_time: datetime | None = None,
    collected_at: datetime = NOW,
    **extra: Any,
) -> FundingSample:
    """A live sample; its next funding time is the next whole ``hours`` boundary after NOW
    (00:30): 08:00 for 8 h, 04:00 for 4 h, 01:00 for 1 h."""
    return FundingSample(
        venue=venue,
        symbol=symbol,
        venue_symbol=f"{symbol}USDT",
        rate=D(rate),
        interval=timedelta(hours=hours),
        funding_time=funding_time or datetime(2026, 1, 1, tzinfo=UTC) + hours * HOUR,
        collected_at=collected_at,
        **extra,
    )


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> OrderBook:
    return OrderBook.parse({"bids": bids, "asks": asks})


# A deep book around a mid of 100 (99 / 101): buying 9999 USD takes 9999 / 101 = 99 units
# worth 99 × 100 = 9900 at the mid, so it costs 99; selling 9999 USD gives 9999 / 99 = 101
# units worth 10100, so it costs 101. A round trip on one venue: 200.
WIDE = book([("99", "1000")], [("101", "1000")])
# A tight deep book (99.99 / 100.01) for the tests that are not about slippage.
DEEP = book([("99.99", "100000")], [("100.01", "100000")])
NO_FEES = FeeSchedule(D(0), D(0))
FEES = FeeSchedule(maker_rate=D("0.0002"), taker_rate=D("0.0005"))


def rank(
    samples: list[FundingSample],
    books: dict[tuple[str, str], OrderBook] | None = None,
    fees: dict[str, FeeSchedule] | None = None,
    **options: Any,
) -> list[Opportunity]:
    venues = {s.venue for s in samples}
    options.setdefault("notional_usd", N)
    options.setdefault("now", NOW)
    return rank_opportunities(
        samples,
        books if books is not None else {(s.venue, s.symbol): DEEP for s in samples},
        fees if fees is not None else dict.fromkeys(venues, NO_FEES),
        **options,
    )


def only(found: list[Opportunity]) -> Opportunity:
    assert len(found) == 1, found
    return found[0]


# -- funding on each venue's own schedule -----------------------------------------------------


def test_an_8h_venue_against_a_1h_venue_over_72_hours() -> None:
    # eight: 0.0008 per 8 h = 0.0001 /h; hourly: 0.00002 per 1 h = 0.00002 /h.
    # Long the lower (hourly), short the higher (eight).
    found = rank([sample("eight", "0.0008", hours=8), sample("hourly", "0.00002", hours=1)])

    o = only(found)
    assert (o.long_venue, o.short_venue) == ("hourly", "eight")
    # (00:30, 72:30]: eight pays at 08:00, 16:00, ..., 72:00 → 9 payments;
    # hourly at 01:00, 02:00, ..., 72:00 → 72 payments.
    assert (o.short_leg.payments, o.long_leg.payments) == (9, 72)
    assert o.short_leg.next_funding_time == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert o.long_leg.next_funding_time == datetime(2026, 1, 1, 1, tzinfo=UTC)
    # short receives +0.0008 × 9 × 10000 = 72; long receives −0.00002 × 72 × 10000 = −14.4
    assert o.short_leg.expected_funding_usd == D("72")
    assert o.long_leg.expected_funding_usd == D("-14.4")
    assert o.expected_funding_usd == D("57.6")
    # spread 0.0001 − 0.00002 = 0.00008 /h = 0.7008 APR (× 8760); the carry over exactly
    # 72 h of accrual on both legs annualises to the same: 57.6 / 10000 / 72 × 8760
    assert o.spread_per_hour == D("0.00008")
    assert o.spread_apr == D("0.7008")
    assert o.gross_apr == D("0.7008")
    assert (o.short_leg.rate_per_hour, o.long_leg.rate_per_hour) == (D("0.0001"), D("0.00002"))
    assert o.short_leg.apr == D("0.876")
    assert (o.short_leg.interval_hours, o.long_leg.interval_hours) == (D(8), D(1))


def test_payments_are_counted_from_the_next_funding_time_not_pro_rata() -> None:
    # Over 10 h from 00:30: the 8 h venue pays once (08:00), the 1 h venue 10 times
    # (01:00 ... 10:00). short: 0.0008 × 1 × 10000 = 8; long: −0.00002 × 10 × 10000 = −2.
    o = only(
        rank(
            [sample("eight", "0.0008", hours=8), sample("hourly", "0.00002", hours=1)],
            horizon_hours=10,
        )
    )

    assert (o.short_leg.payments, o.long_leg.payments) == (1, 10)
    assert o.expected_funding_usd == D("6")


def test_a_sample_whose_funding_time_has_passed_is_rolled_forward() -> None:
    # funding_time 2025-12-31 16:00 is before NOW (00:30): the schedule continues at 00:00
    # (also before NOW), then 08:00, 16:00, ... → 9 payments in (00:30, 72:30], from 08:00.
    stale = sample("old", "0.0008", funding_time=datetime(2025, 12, 31, 16, tzinfo=UTC))
    o = only(rank([stale, sample("other", "0", hours=8)]))

    assert o.short_leg.payments == 9
    assert o.short_leg.next_funding_time == datetime(2026, 1, 1, 8, tzinfo=UTC)


def test_the_pair_is_long_the_lower_rate_whichever_venue_has_it() -> None:
    a_high = only(rank([sample("a", "0.0003"), sample("b", "0.0001")]))
    b_high = only(rank([sample("a", "0.0001"), sample("b", "0.0003")]))

    assert (a_high.long_venue, a_high.short_venue) == ("b", "a")
    assert (b_high.long_venue, b_high.short_venue) == ("a", "b")
    # 9 payments each: (0.0003 − 0.0001) × 9 × 10000 = 18 either way
    assert a_high.expected_funding_usd == b_high.expected_funding_usd == D("18")


def test_the_direction_is_by_rate_per_hour_not_per_interval() -> None:
    # a: 0.0004 per 8 h = 0.00005 /h; b: 0.0001 per 1 h = 0.0001 /h. Per interval a looks
    # higher, per hour b is: short b, long a.
    o = only(rank([sample("a", "0.0004", hours=8), sample("b", "0.0001", hours=1)]))

    assert (o.long_venue, o.short_venue) == ("a", "b")


def test_negative_rates() -> None:
    # a: −0.0003 per 8 h (shorts pay longs 0.0000375 /h), b: −0.0001 per 8 h.
    # Lower per hour: a → long a (it receives), short b (it pays less).
    o = only(rank([sample("a", "-0.0003"), sample("b", "-0.0001")]))

    assert (o.long_venue, o.short_venue) == ("a", "b")
    # long a receives −(−0.0003) × 9 × 10000 = +27; short b receives −0.0001 × 9 × 10000 = −9
    assert o.long_leg.expected_funding_usd == D("27")
    assert o.short_leg.expected_funding_usd == D("-9")
    assert o.expected_funding_usd == D("18")
    # spread per hour: −0.0000125 − (−0.0000375) = 0.000025
    assert o.spread_per_hour == D("0.000025")


def test_equal_rates_break_the_tie_by_venue_name() -> None:
    o = only(rank([sample("zeta", "0.0001"), sample("alpha", "0.0001")]))

    assert (o.long_venue, o.short_venue) == ("alpha", "zeta")
    assert o.expected_funding_usd == 0
    assert o.break_even_hours is None  # no carry: never


def test_only_the_latest_sample_per_venue_and_symbol_counts() -> None:
    old = sample("a", "0.0009", collected_at=NOW - HOUR)
    new = sample("a", "0.0001", collected_at=NOW)
    found = rank([new, old, sample("b", "0.0002")])

    o = only(found)
    assert o.short_venue == "b"  # with the old 0.0009, a would have been the short
    assert o.long_leg.rate == D("0.0001")


def test_a_symbol_on_one_venue_has_no_pair_and_symbols_do_not_mix() -> None:
    found = rank(
        [sample("a", "0.0001"), sample("b", "0.0002"), sample("a", "0.0005", symbol="ETH")]
    )

    assert [(o.symbol, o.long_venue, o.short_venue) for o in found] == [("BTC", "a", "b")]


def test_the_predicted_rate_is_used_when_asked() -> None:
    a = sample("a", "0.0001", predicted_rate=D("0.0005"))
    plain = only(rank([a, sample("b", "0.0002")]))
    predicted = only(rank([a, sample("b", "0.0002")], use_predicted=True))

    assert plain.short_venue == "b"
    assert (predicted.short_venue, predicted.short_leg.rate_source) == ("a", "predicted")
    # (0.0005 − 0.0002) × 9 × 10000 = 27
    assert predicted.expected_funding_usd == D("27")


# -- blending the print with the history -------------------------------------------------------


def test_the_current_weight_is_the_time_average_of_the_decay() -> None:
    # w = h / (H ln 2) × (1 − 2^(−H/h)); H = 72, h = 8: 8 / (72 × 0.693147...) × (1 − 2^−9)
    # = 0.160298... × 0.998046875 = 0.15998636...
    assert abs(current_weight(D(72), D(8)) - D("0.1599863641")) < D("1e-10")
    # H = h: (1 − 1/2) / ln 2 = 0.7213475...
    assert abs(current_weight(D(8), D(8)) - D("0.7213475204")) < D("1e-10")
    # the shorter the horizon, the more the print counts
    assert current_weight(D(1), D(8)) > current_weight(D(8), D(8)) > current_weight(D(72), D(8))


def test_history_blends_into_the_expected_rate() -> None:
    # a: print 0.0008 per 8 h = 0.0001 /h, history 0.00002 /h; b: 0.00004 per 8 h, no history.
    # a: expected = w × 0.0001 + (1 − w) × 0.00002 = 0.00002 + 0.00008 w
    # b: expected = 0.000005 /h (w = 1: no history for it)
    w = current_weight(D(72), D(8))
    o = only(
        rank(
            [sample("a", "0.0008"), sample("b", "0.00004")],
            history={("a", "BTC"): D("0.00002")},
        )
    )

    short, long = o.short_leg, o.long_leg
    assert short.venue == "a"
    assert short.current_weight == w
    assert short.expected_per_hour == w * D("0.0001") + (1 - w) * D("0.00002")
    assert short.expected_rate == short.expected_per_hour * 8
    assert short.expected_funding_usd == short.expected_rate * 9 * N
    assert (long.current_weight, long.history_per_hour) == (1, None)
    assert long.expected_per_hour == D("0.000005")
    assert long.expected_funding_usd == D("-0.00004") * 9 * N  # the print itself: −3.6


def test_history_can_turn_the_direction() -> None:
    # Prints: a 0.0002 > b 0.0001 (per 8 h), but a's history is far below b's: over 72 h,
    # with w ≈ 0.16, a is expected lower → long a.
    o = only(
        rank(
            [sample("a", "0.0002"), sample("b", "0.0001")],
            history={("a", "BTC"): D("-0.0001"), ("b", "BTC"): D("0.0001")},
        )
    )

    assert (o.long_venue, o.short_venue) == ("a", "b")
    assert o.spread_per_hour < 0 < o.expected_spread_per_hour  # the print says the opposite


# -- costs: once per round trip ----------------------------------------------------------------


def test_the_whole_round_trip_by_hand() -> None:
    # N = 9999 on the WIDE books (99 / 101, mid 100), taker 0.0005 on both venues.
    # funding: short eight 0.0008 × 9 × 9999 = 71.9928; long hourly −0.00002 × 72 × 9999
    #          = −14.39856; total 57.59424
    # fees: entry 9999 × (0.0005 + 0.0005) = 9.999; exit the same; 19.998
    # slippage: long hourly buys (99) then sells (101); short eight sells (101) then buys (99)
    #          entry 99 + 101 = 200; exit 101 + 99 = 200; 400
    # net = 57.59424 − 19.998 − 400 = −362.40376
    books = {("eight", "BTC"): WIDE, ("hourly", "BTC"): WIDE}
    fees = {"eight": FEES, "hourly": FEES}
    o = only(
        rank(
            [sample("eight", "0.0008", hours=8), sample("hourly", "0.00002", hours=1)],
            books,
            fees,
            notional_usd=D(9999),
        )
    )

    assert o.expected_funding_usd == D("57.59424")
    assert (o.entry_fees_usd, o.exit_fees_usd, o.fees_usd) == (D("9.999"), D("9.999"), D("19.998"))
    assert (o.long_leg.entry_slippage_usd, o.long_leg.exit_slippage_usd) == (D(99), D(101))
    assert (o.short_leg.entry_slippage_usd, o.short_leg.exit_slippage_usd) == (D(101), D(99))
    assert (o.entry_slippage_usd, o.exit_slippage_usd, o.slippage_usd) == (D(200), D(200), D(400))
    assert o.net_return_usd == D("-362.40376")
    assert o.net_return_pct == D("-362.40376") / 9999
    assert o.net_apr == D("-362.40376") / 9999 / 72 * 8760
    # break-even: costs 419.998 over a carry of 9999 × 0.00008 = 0.79992 USD an hour
    assert o.break_even_hours == D("419.998") / D("0.79992")
    assert o.feasible
    assert o.reasons == ()
    assert o.long_leg.mid_price == D(100)
    assert o.long_leg.spread_bps == D(200)  # (101 − 99) / 100 × 10000


def test_fees_are_charged_once_per_round_trip_whatever_the_horizon() -> None:
    # taker 0.0005 each side: entry 10000 × 0.001 = 10, exit 10 → 20 for 72 h and for 720 h.
    # The classic bug, fees per funding interval, would charge 20 × 9 = 180 over 72 h.
    fees = {"a": FEES, "b": FEES}
    pair = [sample("a", "0.0001"), sample("b", "0.0003")]
    short = only(rank(pair, fees=fees, horizon_hours=72))
    long = only(rank(pair, fees=fees, horizon_hours=720))

    assert short.fees_usd == long.fees_usd == D(20)
    assert short.fees_usd != D(20) * short.short_leg.payments
    # funding grows with the horizon (9 → 90 payments of 0.0002 × 10000 = 2), fees do not
    assert (short.expected_funding_usd, long.expected_funding_usd) == (D(18), D(180))
    assert short.slippage_usd is not None
    assert long.slippage_usd == short.slippage_usd
    assert short.net_return_usd == D(18) - D(20) - short.slippage_usd
    assert long.net_return_usd == D(180) - D(20) - long.slippage_usd


@pytest.mark.parametrize(
    ("mode", "maker_share", "fees_usd"),
    [
        # market: all taker, 0.0005 → (10000 × 0.0005) × 2 venues × 2 trades = 20
        (ExecutionMode.MARKET_ONLY, None, D(20)),
        # limit with fallback, half maker: 0.5 × 0.0002 + 0.5 × 0.0005 = 0.00035 → 14
        (ExecutionMode.LIMIT_WITH_FALLBACK, None, D(14)),
        # post only, all maker: 0.0002 → 8
        (ExecutionMode.POST_ONLY, None, D(8)),
        # an explicit share wins: 0.25 × 0.0002 + 0.75 × 0.0005 = 0.000425 → 17
        (ExecutionMode.MARKET_ONLY, D("0.25"), D(17)),
    ],
)
def test_the_fee_mix_follows_the_execution_mode(
    mode: ExecutionMode, maker_share: D | None, fees_usd: D
) -> None:
    o = only(
        rank(
            [sample("a", "0.0001"), sample("b", "0.0003")],
            fees={"a": FEES, "b": FEES},
            mode=mode,
            maker_share=maker_share,
        )
    )

    assert o.fees_usd == fees_usd
    assert o.entry_fees_usd == o.exit_fees_usd == fees_usd / 2
    assert o.maker_share == (maker_share if maker_share is not None else DEFAULT_MAKER_SHARE[mode])


def test_a_maker_rebate_lowers_the_costs() -> None:
    # post only at maker −0.0001 on both: 10000 × −0.0001 × 4 trades = −4
    rebate = FeeSchedule(D("-0.0001"), D("0.0005"))
    o = only(
        rank(
            [sample("a", "0.0001"), sample("b", "0.0003")],
            fees={"a": rebate, "b": rebate},
            mode=ExecutionMode.POST_ONLY,
        )
    )

    assert o.fees_usd == D(-4)


def test_slippage_is_an_exact_walk_of_a_small_book_against_the_mid() -> None:
    # mid (99 + 101) / 2 = 100. Buying 7498 USD: 50 @ 101 (5050) + 24 @ 102 (2448) = 74 units
    # worth 7400 at the mid → 98. Selling 7498 USD: 50 @ 99 (4950) + 26 @ 98 (2548) = 76
    # units worth 7600 → 102.
    small = book([("99", "50"), ("98", "100")], [("101", "50"), ("102", "100")])
    o = only(
        rank(
            [sample("a", "0.0001"), sample("b", "0.0003")],
            {("a", "BTC"): small, ("b", "BTC"): DEEP},
            notional_usd=D(7498),
        )
    )

    assert o.long_venue == "a"
    assert (o.long_leg.entry_slippage_usd, o.long_leg.exit_slippage_usd) == (D(98), D(102))
    # DEEP (99.99 / 100.01): selling 7498 gives 7498 / 99.99 units, worth × 100 at the mid
    deep_sell = D(7498) / D("99.99") * 100 - 7498
    deep_buy = 7498 - D(7498) / D("100.01") * 100
    assert o.short_leg.entry_slippage_usd == deep_sell
    assert o.short_leg.exit_slippage_usd == deep_buy
    assert o.slippage_usd == D(98) + deep_sell + (D(102) + deep_buy)


def test_break_even_hours() -> None:
    # spread (0.0003 − 0.0001) / 8 = 0.000025 /h → 10000 × 0.000025 = 0.25 USD an hour.
    # costs: fees 20 + slippage on DEEP: each of the 4 trades pays about half the 0.02 spread
    # on 100 units, 1 USD (exactly 10000 / 99.99 × 100 − 10000 for a sell, 10000 − 10000 /
    # 100.01 × 100 for a buy), so about 24 in all → 24 / 0.25 = 96 hours.
    o = only(rank([sample("a", "0.0001"), sample("b", "0.0003")], fees={"a": FEES, "b": FEES}))

    per_venue = D(10000) / D("99.99") * 100 - 10000 + (10000 - D(10000) / D("100.01") * 100)
    assert o.fees_usd == D(20)
    assert o.slippage_usd is not None
    assert abs(o.slippage_usd - 2 * per_venue) < D("1e-20")
    assert o.break_even_hours == (D(20) + o.slippage_usd) / (N * D("0.000025"))
    assert D(96) < o.break_even_hours < D("96.000001")


# -- infeasible --------------------------------------------------------------------------------


def test_a_book_too_thin_for_the_size_is_infeasible_with_the_reason() -> None:
    # the asks show 50 @ 101 + 100 @ 102 = 15250 USD, short of the 20000 to buy (the long's
    # entry on a); the bids 4950 + 9800 = 14750, short of the 20000 to sell (its exit)
    thin = book([("99", "50"), ("98", "100")], [("101", "50"), ("102", "100")])
    o = only(
        rank(
            [sample("a", "0.0001"), sample("b", "0.0003")],
            {("a", "BTC"): thin, ("b", "BTC"): DEEP},
            notional_usd=D(20000),
        )
    )

    assert not o.feasible
    assert o.reasons == (
        "a BTC: the asks show 15250 USD in 2 levels, short of the 20000 USD to buy",
        "a BTC: the bids show 14750 USD in 2 levels, short of the 20000 USD to sell",
    )
    assert (o.slippage_usd, o.net_return_usd, o.net_apr, o.break_even_hours) == (None,) * 4
    assert o.long_leg.entry_slippage_usd is None
    assert o.short_leg.entry_slippage_usd is not None  # b's book is fine
    assert o.expected_funding_usd == D(36)  # still shown: 0.0002 × 9 × 20000
    assert "infeasible: a BTC: the asks show 15250 USD" in o.explain()


def test_missing_books_and_fee_schedules_are_reasons_not_errors() -> None:
    found = rank(
        [sample("a", "0.0001"), sample("b", "0.0003")],
        {("a", "BTC"): DEEP},
        {"a": FEES},
    )

    o = only(found)
    assert o.reasons == ("no fee schedule for b", "b BTC: no order book")
    assert (o.fees_usd, o.slippage_usd, o.net_return_usd) == (None, None, None)
    assert o.long_leg.fee_rate == D("0.0005")
    assert o.short_leg.fee_rate is None


def test_one_sided_book_is_infeasible() -> None:
    o = only(
        rank(
            [sample("a", "0.0001"), sample("b", "0.0003")],
            {("a", "BTC"): DEEP, ("b", "BTC"): book([], [("100", "1000")])},
        )
    )

    assert o.reasons == ("b BTC: the book has no bids",)


def test_infeasible_opportunities_rank_after_every_feasible_one() -> None:
    # BTC would pay more (spread 0.0009) but b has no BTC book; ETH (0.0001) is feasible
    samples = [
        sample("a", "0.0001"),
        sample("b", "0.0010"),
        sample("a", "0.0001", symbol="ETH"),
        sample("b", "0.0002", symbol="ETH"),
    ]
    books = {("a", "BTC"): DEEP, ("a", "ETH"): DEEP, ("b", "ETH"): DEEP}

    found = rank(samples, books)

    assert [(o.symbol, o.feasible) for o in found] == [("ETH", True), ("BTC", False)]


# -- ranking and filters -----------------------------------------------------------------------


def three_symbols() -> tuple[list[FundingSample], dict[tuple[str, str], OrderBook]]:
    """BTC on a, b, c (three pairs), ETH on a, b; gross spreads per 8 h between 0.0001 and
    0.0008 (4.1 % to 87.6 % APR); open interest and volume in millions, c reports none."""
    samples = [
        sample("a", "0.0001", open_interest_usd=D("5e6"), volume_24h_usd=D("9e6")),
        sample("b", "0.0003", open_interest_usd=D("1e6"), volume_24h_usd=D("2e6")),
        sample("c", "0.0009"),
        sample("a", "0.0001", symbol="ETH", open_interest_usd=D("5e6"), volume_24h_usd=D("9e6")),
        sample("b", "0.0002", symbol="ETH", open_interest_usd=D("1e6"), volume_24h_usd=D("2e6")),
    ]
    books = {(s.venue, s.symbol): DEEP for s in samples}
    books[("b", "BTC")] = book([("99.9", "100000")], [("100.1", "100000")])  # 20 bps
    return samples, books


def pairs(found: list[Opportunity]) -> list[tuple[str, str, str]]:
    return [(o.symbol, o.long_venue, o.short_venue) for o in found]


def test_ranked_by_net_apr() -> None:
    samples, books = three_symbols()

    found = rank(samples, books)

    # No fees; slippage about 1 USD a trade on the 2 bps books, 10 on b's BTC book (20 bps),
    # two trades a venue. Funding over 9 payments of 10000 × the spread per 8 h:
    #   BTC a/c: 0.0008 → 72 − (2 + 2)  ≈ 68 → 68 / 10000 / 72 × 8760 ≈ 82.7 %
    #   BTC b/c: 0.0006 → 54 − (20 + 2) ≈ 32 → ≈ 38.9 %
    #   ETH a/b: 0.0001 →  9 − (2 + 2)  ≈ 5  → ≈ 6.1 %
    #   BTC a/b: 0.0002 → 18 − (2 + 20) ≈ −4 → ≈ −4.9 % (more gross than ETH, less net)
    assert pairs(found) == [
        ("BTC", "a", "c"),
        ("BTC", "b", "c"),
        ("ETH", "a", "b"),
        ("BTC", "a", "b"),
    ]
    net = [o.net_apr for o in found]
    assert net == sorted(net, reverse=True)  # type: ignore[type-var]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        # net APR (see test_ranked_by_net_apr): 82.7 %, 38.9 %, 6.1 %, −4.9 %
        (OpportunityFilters(min_net_apr=D("0.3")), [("BTC", "a", "c"), ("BTC", "b", "c")]),
        (OpportunityFilters(min_net_apr=D("0.5")), [("BTC", "a", "c")]),
        (
            OpportunityFilters(min_net_apr=D("-0.05")),
            [("BTC", "a", "c"), ("BTC", "b", "c"), ("ETH", "a", "b"), ("BTC", "a", "b")],
        ),
        # c reports no open interest or volume: it fails a minimum
        (
            OpportunityFilters(min_open_interest_usd=D("1e6")),
            [("ETH", "a", "b"), ("BTC", "a", "b")],
        ),
        (OpportunityFilters(min_open_interest_usd=D("2e6")), []),
        (
            OpportunityFilters(min_volume_24h_usd=D("2e6")),
            [("ETH", "a", "b"), ("BTC", "a", "b")],
        ),
        # b's BTC book is 20 bps wide, the others 2 bps
        (
            OpportunityFilters(max_spread_bps=D(5)),
            [("BTC", "a", "c"), ("ETH", "a", "b")],
        ),
        (
            OpportunityFilters(allow_venues=frozenset({"a", "b"})),
            [("ETH", "a", "b"), ("BTC", "a", "b")],
        ),
        (OpportunityFilters(deny_venues=frozenset({"a"})), [("BTC", "b", "c")]),
        (
            OpportunityFilters(symbols=frozenset({"BTC"})),
            [("BTC", "a", "c"), ("BTC", "b", "c"), ("BTC", "a", "b")],
        ),
    ],
    ids=[
        "min_net_apr",
        "min_net_apr_high",
        "min_net_apr_negative",
        "min_oi",
        "min_oi_none",
        "min_volume",
        "max_spread",
        "allow",
        "deny",
        "sym",
    ],
)
def test_each_filter(filters: OpportunityFilters, expected: list[tuple[str, str, str]]) -> None:
    samples, books = three_symbols()

    assert pairs(rank(samples, books, filters=filters)) == expected


def test_feasible_only_and_min_net_apr_on_infeasible_opportunities() -> None:
    samples, books = three_symbols()
    del books[("c", "BTC")]  # a/c and b/c become infeasible

    everything = rank(samples, books)
    feasible = rank(samples, books, filters=OpportunityFilters(feasible_only=True))
    # infeasible: judged on funding − fees (here no fees): a/c 0.0008 × 9 / 72 × 8760
    # = 87.6 %, b/c 65.7 %; a min of 70 % keeps a/c only (and no feasible pair reaches it)
    strong = rank(samples, books, filters=OpportunityFilters(min_net_apr=D("0.7")))

    assert [o.feasible for o in everything] == [True, True, False, False]
    assert pairs(feasible) == [("ETH", "a", "b"), ("BTC", "a", "b")]
    assert pairs(strong) == [("BTC", "a", "c")]


def test_the_filter_on_net_apr_is_exact_at_the_boundary() -> None:
    samples, books = three_symbols()
    net_apr = rank(samples, books)[3].net_apr  # BTC a/b
    assert net_apr is not None

    at = rank(samples, books, filters=OpportunityFilters(min_net_apr=net_apr))
    above = rank(samples, books, filters=OpportunityFilters(min_net_apr=net_apr + D("1e-24")))

    assert ("BTC", "a", "b") in pairs(at)
    assert ("BTC", "a", "b") not in pairs(above)


def test_explain_shows_the_arithmetic() -> None:
    o = only(rank([sample("eight", "0.0008", hours=8), sample("hourly", "0.00002", hours=1)]))

    text = o.explain()

    assert "long hourly (BTCUSDT): current rate 0.00002 per 1 h" in text
    assert "72 payments of 0.00002 from 2026-01-01 01:00" in text
    assert "9 payments of 0.0008 from 2026-01-01 08:00" in text
    assert "funding 57.600000 USD (70.08% APR)" in text
    assert "once for the round trip" in text


# -- invalid parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"notional_usd": D(-1)}, "notional_usd must be greater than zero"),
        ({"notional_usd": D(0)}, "notional_usd must be greater than zero"),
        ({"notional_usd": D("NaN")}, "notional_usd must be finite"),
        ({"notional_usd": D("Infinity")}, "notional_usd must be finite"),
        ({"horizon_hours": 0}, "horizon_hours must be greater than zero"),
        ({"horizon_hours": D("NaN")}, "horizon_hours must be finite"),
        ({"horizon_hours": D("1e30")}, "horizon_hours is too large"),
        ({"half_life_hours": 0}, "half_life_hours must be greater than zero"),
        ({"now": datetime(2026, 1, 1)}, "now must be a timezone-aware datetime"),
        ({"maker_share": D("1.5")}, r"maker_share must be in \[0, 1\]"),
        ({"maker_share": D("NaN")}, "maker_share must be finite"),
        ({"mode": "sometimes"}, "mode must be an ExecutionMode"),
    ],
)
def test_invalid_parameters_raise_a_clear_value_error(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        rank([sample("a", "0.0001"), sample("b", "0.0003")], **options)
    assert isinstance(caught.value, ConfigError)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"min_net_apr": D("NaN")}, "min_net_apr must be finite"),
        ({"min_open_interest_usd": D(-1)}, "min_open_interest_usd must not be negative"),
        ({"min_volume_24h_usd": D(-1)}, "min_volume_24h_usd must not be negative"),
        ({"max_spread_bps": D(-1)}, "max_spread_bps must not be negative"),
        ({"allow_venues": "binance"}, "allow_venues must be a collection of names"),
        ({"symbols": frozenset({1})}, "symbols must hold str names"),
        ({"feasible_only": "yes"}, "feasible_only must be a bool"),
    ],
)
def test_invalid_filters_raise(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OpportunityFilters(**fields)


def test_unknown_filter_keys_are_errors() -> None:
    with pytest.raises(TypeError):
        OpportunityFilters(min_apr=D(1))  # type: ignore[call-arg]


def test_non_finite_inputs_are_refused() -> None:
    with pytest.raises(ConfigError, match="a BTC: the funding rate is NaN"):
        rank([sample("a", "NaN"), sample("b", "0.0003")])
    with pytest.raises(ConfigError, match="the history mean is Infinity"):
        rank(
            [sample("a", "0.0001"), sample("b", "0.0003")],
            history={("a", "BTC"): D("Infinity")},
        )


# -- properties --------------------------------------------------------------------------------

VENUES = ("alpha", "beta", "gamma", "delta")
# the half spread of a listing's book around 100; None: a book too thin for the notional
SPREADS = (None, "0.0001", "0.01", "1")

rates = st.decimals(min_value=D("-0.003"), max_value=D("0.003"), places=6)
listings = st.lists(
    st.tuples(
        st.sampled_from(VENUES),
        st.sampled_from(("BTC", "ETH")),
        rates,
        st.sampled_from((1, 4, 8)),
        st.sampled_from(SPREADS),
        st.booleans(),  # with a history mean
    ),
    min_size=2,
    max_size=10,
    unique_by=lambda t: (t[0], t[1]),
)
Drawn = list[tuple[str, str, D, int, str | None, bool]]


def market(
    drawn: Drawn,
) -> tuple[
    list[FundingSample],
    dict[tuple[str, str], OrderBook],
    dict[str, FeeSchedule],
    dict[tuple[str, str], D],
]:
    samples = [sample(v, str(r), hours=h, symbol=s) for v, s, r, h, _, _ in drawn]
    books = {}
    for v, s, _, _, half, _ in drawn:
        if half is None:
            books[(v, s)] = book([("99", "1")], [("101", "1")])
        else:
            bid, ask = 100 - D(half), 100 + D(half)
            books[(v, s)] = book(
                [(str(bid), "30"), (str(bid - 1), "100")], [(str(ask), "30"), (str(ask + 1), "100")]
            )
    fees = {
        v: FeeSchedule(D("0.0001") * i - D("0.0001"), D("0.0003") + D("0.0001") * i)
        for i, v in enumerate(VENUES)
    }
    history = {(v, s): r / 2 - D("0.0001") for v, s, r, _, _, mean in drawn if mean}
    return samples, books, fees, history


@settings(max_examples=200, deadline=None)
@given(
    drawn=listings,
    order=st.randoms(use_true_random=False),
    pick=st.integers(min_value=0, max_value=100),
    mode=st.sampled_from(list(ExecutionMode)),
)
def test_input_order_does_not_matter_and_net_is_funding_minus_costs(
    drawn: Drawn, order: Any, pick: int, mode: ExecutionMode
) -> None:
    samples, books, fees, history = market(drawn)
    shuffled = list(samples)
    order.shuffle(shuffled)
    options: dict[str, Any] = {"notional_usd": D(5000), "history": history, "mode": mode}

    found = rank(samples, books, fees, **options)
    again = rank(shuffled, dict(reversed(books.items())), fees, **options)

    assert found == again
    for o in found:
        assert o.long_leg.expected_per_hour <= o.short_leg.expected_per_hour
        if o.feasible:
            assert o.net_return_usd is not None
            assert o.fees_usd is not None
            assert o.slippage_usd is not None
            assert o.net_return_usd == o.expected_funding_usd - o.fees_usd - o.slippage_usd
            assert o.slippage_usd >= 0
        else:
            assert o.net_return_usd is None
            assert o.reasons

    # the pruning is exact: a min_net_apr filter returns what filtering the full list would,
    # at a threshold exactly on one opportunity's figure and just above it
    def judged(o: Opportunity) -> D:
        if o.net_apr is not None:
            return o.net_apr
        return (o.expected_funding_usd - (o.fees_usd or 0)) / 5000 / 72 * 8760

    if not found:
        return
    on = judged(found[pick % len(found)])
    for threshold in (on, on + D("1e-20")):
        filtered = rank(
            samples, books, fees, filters=OpportunityFilters(min_net_apr=threshold), **options
        )
        assert filtered == [o for o in found if judged(o) >= threshold]
