"""Can this size be executed here now, and how? A book walk turned into a recommendation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from fundarb.errors import ConfigError, EmptyBookError, InvalidOrderError, StaleMarketDataError
from fundarb.execution.core.book import BookWalk, OrderBook
from fundarb.execution.core.gateway import VenueGateway, gateway_for
from fundarb.execution.core.slippage_calculator import ExpectedSlippage
from fundarb.numbers import to_decimal, to_positive_decimal
from fundarb.venues.orders import Side, parse_side

__all__ = ["LiquidityAnalyzer", "LiquidityReport", "Recommendation"]

_ZERO = Decimal(0)
_ONE = Decimal(1)


class Recommendation(StrEnum):
    """How to execute a size, judged from the book (checked in this order)."""

    STALE_BOOK = "stale_book"  # the book is older than allowed: judge nothing from it
    INSUFFICIENT_DEPTH = "insufficient_depth"  # the venue shows less than the size (or nothing)
    SPREAD_TOO_WIDE = "spread_too_wide"  # spread above the limit, or no price on the other side
    USE_MARKET = "use_market"  # the book absorbs the size at about the touch: take it
    USE_AGGRESSIVE_LIMIT = "use_aggressive_limit"  # taking is within limits but costs: ladder
    USE_LIMIT = "use_limit"  # taking costs too much or liquidity is thin: rest passively


@dataclass(frozen=True, slots=True, kw_only=True)
class LiquidityReport:
    """What the book says about executing one size. Percentages are fractions (0.001 = 0.1 %).

    ``expected_price`` and the slippage are None unless the visible depth covers the whole
    size: a shortfall is reported, never extrapolated. Visible depth is what the book, as
    fetched for this size, shows on the side taken.
    """

    venue: str
    symbol: str
    side: Side
    size_usd: Decimal | None  # as asked, or what the quantity costs when that was asked
    quantity: Decimal | None  # as asked, or what size_usd buys when that was asked
    depth_sufficient: bool
    reference_price: Decimal | None  # the touch a taker trades at first
    expected_price: Decimal | None  # VWAP of the walk
    expected_slippage_pct: Decimal | None  # VWAP vs the touch; positive is cost
    expected_slippage_bps: Decimal | None
    spread_bps: Decimal | None  # None when either side is empty or the book unusable
    liquidity_score: float  # 0..1, see LiquidityAnalyzer
    recommendation: Recommendation
    reason: str
    visible_depth_quantity: Decimal  # base units
    visible_depth_usd: Decimal  # quote units
    visible_levels: int
    levels_used: int


_TRADEABLE = frozenset(
    {Recommendation.USE_MARKET, Recommendation.USE_AGGRESSIVE_LIMIT, Recommendation.USE_LIMIT}
)


class LiquidityAnalyzer:
    """Walks a venue's book for a size and recommends how to execute it.

    The book is fetched deep enough for the size (the request grows until the walk
    completes or the venue has shown all it has) and checked for age (``max_book_age_s``,
    by the venue's clock when it has one).

    Liquidity score, 0..1 (0 when the depth is insufficient or the book unusable)::

        score = 0.4 * depth + 0.3 * spread + 0.3 * slippage
        depth    = min(1, visible depth / (5 x size))    in the unit of the size asked
        spread   = max(0, 1 - spread_bps / max_spread_bps)
        slippage = max(0, 1 - expected_slippage_pct / max_slippage_pct)

    Recommendation, first match: ``stale_book``; ``insufficient_depth``; ``spread_too_wide``
    (above ``max_spread_bps``, or the other side is empty); ``use_market`` when the score
    reaches ``min_liquidity_score`` and both slippage and spread are within a fifth of
    their limits; ``use_aggressive_limit`` when the score reaches the minimum and the
    slippage is within its limit; else ``use_limit``.

    Raises :class:`ConfigError` for limits out of range.
    """

    DEPTH_MULTIPLE = Decimal(5)  # a book showing 5x the size scores full marks for depth
    MARKET_FRACTION = Decimal("0.2")  # "about the touch": within a fifth of the limits
    _WEIGHTS = (Decimal("0.4"), Decimal("0.3"), Decimal("0.3"))  # depth, spread, slippage

    def __init__(
        self,
        *,
        max_slippage_pct: Decimal = Decimal("0.005"),
        max_spread_bps: Decimal | int | float = 50,
        min_liquidity_score: float = 0.6,
        max_book_age_s: float = 5.0,
    ) -> None:
        try:
            slippage = to_decimal(max_slippage_pct, name="max_slippage_pct")
            spread = to_decimal(max_spread_bps, name="max_spread_bps")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if not (0 < slippage < 1):
            raise ConfigError(f"max_slippage_pct must be a fraction in (0, 1), got {slippage}")
        if spread <= 0:
            raise ConfigError(f"max_spread_bps must be greater than zero, got {spread}")
        if not (_is_real(min_liquidity_score) and 0 <= min_liquidity_score <= 1):
            raise ConfigError(f"min_liquidity_score must be in [0, 1], got {min_liquidity_score!r}")
        if not (_is_real(max_book_age_s) and max_book_age_s > 0):
            raise ConfigError(f"max_book_age_s must be greater than zero, got {max_book_age_s!r}")
        self._max_slippage_pct = slippage
        self._max_spread_bps = spread
        self._min_liquidity_score = float(min_liquidity_score)
        self._max_book_age_s = float(max_book_age_s)

    @property
    def max_slippage_pct(self) -> Decimal:
        return self._max_slippage_pct

    @property
    def max_spread_bps(self) -> Decimal:
        return self._max_spread_bps

    @property
    def min_liquidity_score(self) -> float:
        return self._min_liquidity_score

    @property
    def max_book_age_s(self) -> float:
        return self._max_book_age_s

    async def check_execution_feasibility(
        self,
        *,
        exchange_client: Any,
        symbol: str,
        side: Side | str,
        size_usd: Decimal | None = None,
        quantity: Decimal | None = None,
    ) -> LiquidityReport:
        """Judge ``size_usd`` (quote) or ``quantity`` (base) on ``side``; give exactly one.

        ``exchange_client`` is any object with the core client methods (design notes §2).

        A stale or empty book gives a report (``stale_book``, ``insufficient_depth``), not
        an exception. Raises :class:`InvalidOrderError` for bad input (nothing is fetched),
        :class:`MarketDataError` for a book that cannot be trusted (malformed, crossed,
        another symbol's), and the client's :class:`VenueError` when it cannot be reached.
        """
        if not isinstance(symbol, str) or not symbol.strip():
            raise InvalidOrderError(f"symbol must be a non-empty str, got {symbol!r}")
        taker = parse_side(side)
        if (size_usd is None) == (quantity is None):
            raise InvalidOrderError("give exactly one of size_usd or quantity", symbol=symbol)
        try:
            usd = to_positive_decimal(size_usd, name="size_usd") if size_usd is not None else None
            qty = to_positive_decimal(quantity, name="quantity") if quantity is not None else None
        except ValueError as exc:
            raise InvalidOrderError(str(exc), symbol=symbol) from None
        gateway = gateway_for(exchange_client, max_book_age_s=self._max_book_age_s)
        draft = _Draft(gateway, symbol, taker, usd, qty)
        try:
            book, walk = await gateway.book_for(symbol, taker, quantity=qty, notional=usd)
        except StaleMarketDataError as exc:
            return draft.unusable(Recommendation.STALE_BOOK, f"stale book, {exc}")
        except EmptyBookError:
            return draft.unusable(Recommendation.INSUFFICIENT_DEPTH, "the book is empty")
        return self._judge(draft, book, walk)

    def assess(
        self, gateway: VenueGateway, symbol: str, side: Side, quantity: Decimal, book: OrderBook
    ) -> LiquidityReport:
        """Judge ``quantity`` on a book already fetched (deep enough: see ``book_for``)."""
        draft = _Draft(gateway, symbol, side, None, quantity)
        return self._judge(draft, book, book.walk(side, quantity=quantity))

    def is_execution_acceptable(self, report: LiquidityReport) -> bool:
        """True when ``report`` is within this analyzer's limits: depth, slippage, spread and
        score, and its recommendation is to trade."""
        return (
            report.recommendation in _TRADEABLE
            and report.depth_sufficient
            and report.expected_slippage_pct is not None
            and report.expected_slippage_pct <= self._max_slippage_pct
            and report.spread_bps is not None
            and report.spread_bps <= self._max_spread_bps
            and report.liquidity_score >= self._min_liquidity_score
        )

    def liquidity_score(
        self, *, depth_ratio: Decimal, spread_bps: Decimal, slippage_pct: Decimal
    ) -> float:
        """The score of the class docstring; ``depth_ratio`` is visible depth / size."""
        depth = min(_ONE, depth_ratio / self.DEPTH_MULTIPLE)
        spread = max(_ZERO, _ONE - spread_bps / self._max_spread_bps)
        slippage = max(_ZERO, _ONE - slippage_pct / self._max_slippage_pct)
        w_depth, w_spread, w_slippage = self._WEIGHTS
        return float(w_depth * depth + w_spread * spread + w_slippage * slippage)

    def _judge(self, draft: _Draft, book: OrderBook, walk: BookWalk) -> LiquidityReport:
        depth_qty, depth_usd = book.depth(draft.side)
        taken = "asks" if draft.side is Side.BUY else "bids"
        if not walk.complete:
            reason = (
                f"{draft.describe()} needs more than the {depth_qty} ({depth_usd} USD) the "
                f"venue shows on the {taken} in {walk.levels} levels"
            )
            return draft.report(Recommendation.INSUFFICIENT_DEPTH, reason, book, walk)
        expected = ExpectedSlippage.from_walk(book, walk)
        slippage = expected.slippage_pct
        what = (
            f"{draft.describe()} walks {walk.levels} level(s) to a VWAP of "
            f"{expected.expected_price:.10g} ({expected.slippage_bps:.2f} bps past the touch "
            f"{expected.reference_price})"
        )
        spread = book.spread_bps
        if spread is None:
            other = "bids" if draft.side is Side.BUY else "asks"
            reason = f"{what}; there are no {other}, so the spread is unknown"
            return draft.report(Recommendation.SPREAD_TOO_WIDE, reason, book, walk, expected)
        if draft.size_usd is not None:
            ratio = depth_usd / draft.size_usd
        else:
            assert draft.quantity is not None
            ratio = depth_qty / draft.quantity
        score = self.liquidity_score(depth_ratio=ratio, spread_bps=spread, slippage_pct=slippage)
        judged = f"{what}; spread {spread:.2f} bps, score {score:.2f}"
        near = self.MARKET_FRACTION
        good_enough = score >= self._min_liquidity_score
        if spread > self._max_spread_bps:
            recommendation = Recommendation.SPREAD_TOO_WIDE
            reason = f"{judged}: the spread is over the {self._max_spread_bps} bps allowed"
        elif (
            good_enough
            and slippage <= self._max_slippage_pct * near
            and spread <= self._max_spread_bps * near
        ):
            recommendation = Recommendation.USE_MARKET
            reason = f"{judged}: the book absorbs it at about the touch"
        elif good_enough and slippage <= self._max_slippage_pct:
            recommendation = Recommendation.USE_AGGRESSIVE_LIMIT
            reason = f"{judged}: within limits, but taking it all at once costs"
        elif slippage > self._max_slippage_pct:
            recommendation = Recommendation.USE_LIMIT
            reason = (
                f"{judged}: taking costs more than the "
                f"{self._max_slippage_pct * 10_000:.2f} bps allowed, rest passively"
            )
        else:
            recommendation = Recommendation.USE_LIMIT
            reason = f"{judged}: under the {self._min_liquidity_score:.2f} required, rest passively"
        return draft.report(recommendation, reason, book, walk, expected, score)


@dataclass(frozen=True, slots=True)
class _Draft:
    """What is known of a report before the book is read."""

    gateway: VenueGateway
    symbol: str
    side: Side
    size_usd: Decimal | None
    quantity: Decimal | None

    def describe(self) -> str:
        amount = f"{self.size_usd} USD" if self.size_usd is not None else f"{self.quantity}"
        return f"{self.gateway.name} {self.symbol}: {self.side.value} {amount}"

    def unusable(self, recommendation: Recommendation, reason: str) -> LiquidityReport:
        return self.report(recommendation, f"{self.describe()}: {reason}", None, None)

    def report(
        self,
        recommendation: Recommendation,
        reason: str,
        book: OrderBook | None,
        walk: BookWalk | None,
        expected: ExpectedSlippage | None = None,
        score: float = 0.0,
    ) -> LiquidityReport:
        depth_qty, depth_usd = book.depth(self.side) if book is not None else (_ZERO, _ZERO)
        visible = 0
        if book is not None:
            visible = len(book.asks if self.side is Side.BUY else book.bids)
        return LiquidityReport(
            venue=self.gateway.name,
            symbol=self.symbol,
            side=self.side,
            size_usd=expected.notional_usd if expected is not None else self.size_usd,
            quantity=expected.quantity if expected is not None else self.quantity,
            depth_sufficient=expected is not None,
            reference_price=book.touch(self.side) if book is not None else None,
            expected_price=expected.expected_price if expected is not None else None,
            expected_slippage_pct=expected.slippage_pct if expected is not None else None,
            expected_slippage_bps=expected.slippage_bps if expected is not None else None,
            spread_bps=book.spread_bps if book is not None else None,
            liquidity_score=score,
            recommendation=recommendation,
            reason=reason,
            visible_depth_quantity=depth_qty,
            visible_depth_usd=depth_usd,
            visible_levels=visible,
            levels_used=walk.levels if walk is not None else 0,
        )


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
