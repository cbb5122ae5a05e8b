"""LiquidityAnalyzer on static simulated venues: each recommendation reached on a real book.

The touch is 49999.9 / 50000.0 unless a test sets another book; sizes are USD unless given
as ``quantity``. Time is the fast-forwarded loop's, so "waiting" for a book to age is free.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from typing import Any

import pytest

from fundarb.errors import ConfigError, InvalidOrderError, VenueUnavailableError
from fundarb.execution import LiquidityAnalyzer, LiquidityReport, Recommendation
from fundarb.venues.sim import Fault, SimConfig, SimulatedExchange
from tests.conftest import BOOK, BTC, btc_symbol, static_venue
from tests.execution.thirdparty import LooseClient

Levels = list[tuple[str, str]]


class RecordingVenue(SimulatedExchange):
    """A static venue that remembers how many levels each book request asked for."""

    def __init__(self) -> None:
        super().__init__(SimConfig(venue="recording", symbols=(btc_symbol(),), market="static"))
        self.asked: list[int] = []

    async def get_order_book_depth(self, symbol: str, levels: int = 20) -> dict[str, Any]:
        self.asked.append(levels)
        return await super().get_order_book_depth(symbol, levels)


def _venue(bids: Levels | None = None, asks: Levels | None = None) -> SimulatedExchange:
    venue = static_venue()
    venue.set_book(BTC, bids=BOOK["bids"] if bids is None else bids, asks=asks or BOOK["asks"])
    return venue


async def _check(client: Any, analyzer: LiquidityAnalyzer | None = None, **size: Any) -> Any:
    analyzer = analyzer or LiquidityAnalyzer()
    if not size:
        size = {"size_usd": D("1000")}
    return await analyzer.check_execution_feasibility(
        exchange_client=client, symbol=BTC, side=size.pop("side", "buy"), **size
    )


# -- each recommendation -----------------------------------------------------------------------


async def test_a_size_at_the_touch_of_a_deep_tight_book_uses_market() -> None:
    analyzer = LiquidityAnalyzer()

    report = await _check(_venue(), analyzer)

    assert report.recommendation is Recommendation.USE_MARKET
    assert report.depth_sufficient
    assert (report.quantity, report.size_usd) == (D("0.02"), D("1000"))
    assert report.reference_price == report.expected_price == D("50000.0")
    assert report.expected_slippage_pct == 0
    assert report.spread_bps == D("0.1") / D("49999.95") * 10_000
    assert report.liquidity_score == pytest.approx(0.4 + 0.3 * (1 - 0.02 / 50) + 0.3, abs=1e-4)
    assert (report.visible_depth_quantity, report.visible_depth_usd) == (D(3), D("150000.3"))
    assert (report.visible_levels, report.levels_used) == (3, 1)
    assert report.venue == "static"
    assert "at about the touch" in report.reason
    assert analyzer.is_execution_acceptable(report)


async def test_slippage_within_the_limit_but_not_negligible_uses_an_aggressive_limit() -> None:
    analyzer = LiquidityAnalyzer()
    venue = _venue(asks=[("50000.0", "0.01"), ("50200.0", "5")])

    report = await _check(venue, analyzer)

    assert report.recommendation is Recommendation.USE_AGGRESSIVE_LIMIT
    assert report.expected_slippage_bps is not None
    assert D(10) < report.expected_slippage_bps < D(50)  # over a fifth of the limit, under it
    assert report.levels_used == 2
    assert analyzer.is_execution_acceptable(report)


async def test_slippage_over_the_limit_rests_passively_and_is_not_acceptable() -> None:
    analyzer = LiquidityAnalyzer()
    venue = _venue(asks=[("50000.0", "0.001"), ("51000.0", "5")])

    report = await _check(venue, analyzer)

    assert report.recommendation is Recommendation.USE_LIMIT
    assert report.depth_sufficient
    assert report.expected_slippage_pct is not None
    assert report.expected_slippage_pct > analyzer.max_slippage_pct
    assert "rest passively" in report.reason
    assert not analyzer.is_execution_acceptable(report)


async def test_a_thin_book_with_a_wide_spread_scores_low_and_rests_passively() -> None:
    analyzer = LiquidityAnalyzer()
    venue = _venue(bids=[("49800.0", "1")], asks=[("50000.0", "0.022")])

    report = await _check(venue, analyzer)

    # depth 1100/1000 -> 0.22, spread 40.08/50 bps -> 0.2, no slippage -> 1
    expected = 0.4 * 0.22 + 0.3 * (1 - float(D(200) / D(49900) * 10_000) / 50) + 0.3
    assert report.liquidity_score == pytest.approx(expected)
    assert report.liquidity_score < analyzer.min_liquidity_score
    assert report.recommendation is Recommendation.USE_LIMIT
    assert not analyzer.is_execution_acceptable(report)


@pytest.mark.parametrize(
    "size",
    [{"quantity": D("3.001")}, {"size_usd": D("200000")}, {"side": "sell", "quantity": D(4)}],
)
async def test_more_than_the_venue_shows_is_insufficient_depth_not_a_guess(
    size: dict[str, Any],
) -> None:
    analyzer = LiquidityAnalyzer()

    report = await _check(_venue(), analyzer, **size)

    assert report.recommendation is Recommendation.INSUFFICIENT_DEPTH
    assert not report.depth_sufficient
    assert report.expected_price is None
    assert report.expected_slippage_pct is None
    assert report.liquidity_score == 0.0
    assert report.visible_depth_quantity == D(3)
    assert report.levels_used == report.visible_levels == 3
    assert "needs more than the 3" in report.reason
    assert not analyzer.is_execution_acceptable(report)


@pytest.mark.parametrize(
    ("bids", "reason"),
    [([("49000.0", "1")], "over the 50 bps"), ([], "no bids")],
    ids=["200 bps", "no bids"],
)
async def test_a_wide_or_unknown_spread_is_spread_too_wide(bids: Levels, reason: str) -> None:
    analyzer = LiquidityAnalyzer()

    report = await _check(_venue(bids=bids), analyzer)

    assert report.recommendation is Recommendation.SPREAD_TOO_WIDE
    assert report.depth_sufficient  # the asks would take it; the spread is the problem
    assert reason in report.reason
    assert not analyzer.is_execution_acceptable(report)


@pytest.mark.parametrize(("age_s", "stale"), [(2.0, False), (10.0, True)])
async def test_a_book_older_than_allowed_is_reported_stale(age_s: float, stale: bool) -> None:
    analyzer = LiquidityAnalyzer(max_book_age_s=5.0)
    venue = _venue()
    await _check(venue, analyzer)  # the venue serves (and remembers) a fresh book
    await asyncio.sleep(age_s)
    venue.faults.add(Fault.stale_book())  # the next book call repeats that book

    report = await _check(venue, analyzer)

    if stale:
        assert report.recommendation is Recommendation.STALE_BOOK
        assert "stale" in report.reason
        assert report.expected_price is None
        assert report.liquidity_score == 0.0
        assert not analyzer.is_execution_acceptable(report)
    else:
        assert report.recommendation is Recommendation.USE_MARKET


async def test_an_empty_book_is_insufficient_depth() -> None:
    venue = _venue()
    venue.faults.add(Fault.empty_book())

    report = await _check(venue)

    assert report.recommendation is Recommendation.INSUFFICIENT_DEPTH
    assert "empty" in report.reason
    assert report.visible_levels == 0


async def test_an_unreachable_venue_raises_its_error() -> None:
    venue = _venue()
    venue.faults.add(Fault.outage(start_s=0.0, duration_s=60.0))

    with pytest.raises(VenueUnavailableError):
        await _check(venue)


# -- the levels request grows with the size ----------------------------------------------------


def _deep_venue() -> RecordingVenue:
    """200 ask levels of 0.01 BTC from 50000.0 up, a tick apart (2 BTC in all)."""
    venue = RecordingVenue()
    asks = [(str(D("50000.0") + D("0.1") * i), "0.01") for i in range(200)]
    venue.set_book(BTC, bids=BOOK["bids"], asks=asks)
    return venue


@pytest.mark.parametrize("loose", [False, True], ids=["sim", "loose"])
@pytest.mark.parametrize(
    ("quantity", "asked", "recommendation", "used"),
    [
        ("0.1", [20], Recommendation.USE_MARKET, 10),
        ("1.5", [20, 100, 500], Recommendation.USE_MARKET, 150),
        ("3", [20, 100, 500], Recommendation.INSUFFICIENT_DEPTH, 200),
    ],
)
async def test_the_levels_request_grows_until_the_size_is_covered_or_all_is_shown(
    loose: bool, quantity: str, asked: list[int], recommendation: Recommendation, used: int
) -> None:
    venue = _deep_venue()
    client = LooseClient(venue) if loose else venue

    report = await _check(client, quantity=D(quantity))

    assert venue.asked == asked
    assert report.recommendation is recommendation
    assert report.levels_used == used
    assert report.visible_levels == (200 if len(asked) > 1 else 20)


# -- third-party clients, quantities, bad input --------------------------------------------------


async def test_a_loose_client_with_list_books_and_floats_gives_the_same_report() -> None:
    ours = await _check(_venue())
    theirs = await _check(LooseClient(_venue()))

    assert theirs.venue == "loose-static"
    assert theirs.recommendation is ours.recommendation is Recommendation.USE_MARKET
    for name in ("expected_price", "expected_slippage_pct", "spread_bps", "visible_depth_usd"):
        assert getattr(theirs, name) == getattr(ours, name), name
    assert theirs.liquidity_score == ours.liquidity_score


async def test_a_quantity_reports_what_it_costs() -> None:
    report = await _check(_venue(), side="sell", quantity=D("1.5"))

    assert report.quantity == D("1.5")
    assert report.size_usd == D("74999.80")
    assert report.expected_price == D("74999.80") / D("1.5")
    assert report.reference_price == D("49999.9")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"side": "buy"},
        {"side": "buy", "size_usd": D(1), "quantity": D(1)},
        {"side": "buy", "size_usd": D(0)},
        {"side": "buy", "size_usd": D(-1)},
        {"side": "buy", "size_usd": D("NaN")},
        {"side": "buy", "quantity": D("Infinity")},
        {"side": "buy", "quantity": float("nan")},
        {"side": "hold", "size_usd": D(1)},
        {"side": "buy", "size_usd": D(1), "symbol": ""},
    ],
)
async def test_bad_input_raises_before_any_book_is_fetched(kwargs: dict[str, Any]) -> None:
    venue = RecordingVenue()
    kwargs.setdefault("symbol", BTC)

    with pytest.raises(InvalidOrderError):
        await LiquidityAnalyzer().check_execution_feasibility(exchange_client=venue, **kwargs)
    assert venue.asked == []


# -- the score and the configuration -------------------------------------------------------------


@pytest.mark.parametrize(
    ("depth_ratio", "spread_bps", "slippage_pct", "score"),
    [
        ("5", "0", "0", 1.0),
        ("50", "0", "0", 1.0),  # depth is capped at 5x the size
        ("2.5", "0", "0", 0.8),
        ("5", "25", "0", 0.85),
        ("5", "50", "0", 0.7),
        ("5", "100", "0", 0.7),  # spread floored at 0
        ("5", "0", "0.0025", 0.85),
        ("5", "0", "0.01", 0.7),  # slippage floored at 0
        ("1", "10", "0.001", 0.56),
        ("0", "50", "0.005", 0.0),
    ],
)
def test_liquidity_score_formula(
    depth_ratio: str, spread_bps: str, slippage_pct: str, score: float
) -> None:
    analyzer = LiquidityAnalyzer(max_slippage_pct=D("0.005"), max_spread_bps=50)

    result = analyzer.liquidity_score(
        depth_ratio=D(depth_ratio), spread_bps=D(spread_bps), slippage_pct=D(slippage_pct)
    )

    assert result == pytest.approx(score)


async def test_acceptability_is_judged_by_the_analyzer_asked() -> None:
    venue = _venue(asks=[("50000.0", "0.01"), ("50200.0", "5")])  # ~20 bps to take 1000 USD
    report: LiquidityReport = await _check(venue)
    strict = LiquidityAnalyzer(max_slippage_pct=D("0.001"))

    assert LiquidityAnalyzer().is_execution_acceptable(report)
    assert not strict.is_execution_acceptable(report)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_slippage_pct": D(0)},
        {"max_slippage_pct": D(1)},
        {"max_slippage_pct": D("NaN")},
        {"max_slippage_pct": "lots"},
        {"max_spread_bps": 0},
        {"max_spread_bps": -5},
        {"max_spread_bps": float("inf")},
        {"min_liquidity_score": 1.5},
        {"min_liquidity_score": -0.1},
        {"min_liquidity_score": float("nan")},
        {"min_liquidity_score": True},
        {"max_book_age_s": 0},
        {"max_book_age_s": float("inf")},
        {"max_book_age_s": "5"},
    ],
)
def test_bad_limits_are_config_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        LiquidityAnalyzer(**kwargs)


def test_limits_are_read_only_and_keyword_only() -> None:
    analyzer = LiquidityAnalyzer(max_spread_bps=20, min_liquidity_score=0.5)

    assert (analyzer.max_spread_bps, analyzer.min_liquidity_score) == (D(20), 0.5)
    with pytest.raises(AttributeError):
        analyzer.max_spread_bps = D(100)  # type: ignore[misc]
    with pytest.raises(TypeError):
        LiquidityAnalyzer(D("0.005"))  # type: ignore[misc]
