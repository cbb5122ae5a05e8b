"""Slippage before and after a trade: what the book says it will cost, what it did cost.

Sign convention, everywhere in this module: **positive slippage is a cost**. A buy that pays
more than its reference price, or a sell that receives less, has positive slippage; a fill
better than the reference has negative slippage. Percentages are fractions
(``Decimal("0.001")`` is 0.1 %, 10 bps); ``*_bps`` fields are the same value times 10,000.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from fundarb.errors import ConfigError, InvalidOrderError, MarketDataError
from fundarb.execution.core.book import BookWalk, OrderBook
from fundarb.numbers import to_decimal, to_positive_decimal
from fundarb.venues.orders import Side, parse_side

__all__ = ["ActualSlippage", "ExpectedSlippage", "SlippageCalculator"]

_BPS = Decimal(10_000)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectedSlippage:
    """The cost of taking a size from a book, before trading.

    When ``depth_sufficient`` is False the book ran out first: ``quantity``,
    ``notional_usd``, ``expected_price`` and the slippage describe only the visible depth (a
    lower bound on the real cost); nothing beyond what the book shows is guessed.
    """

    side: Side  # the taker's side: a buy takes the asks
    reference_price: Decimal  # the touch the taker trades at first (best ask for a buy)
    expected_price: Decimal  # VWAP of the walk
    slippage_pct: Decimal  # (VWAP vs the touch) as a fraction; positive is cost
    slippage_bps: Decimal
    quantity: Decimal  # base units the walk takes
    notional_usd: Decimal  # quote units the walk pays or receives
    worst_price: Decimal  # the last level touched
    levels_used: int
    depth_sufficient: bool

    @classmethod
    def from_walk(cls, book: OrderBook, walk: BookWalk) -> ExpectedSlippage:
        """Describe ``walk`` (taken from ``book``). Raises :class:`MarketDataError` when the
        side it takes is empty (there is no touch to measure against)."""
        reference = book.touch(walk.side)
        vwap = walk.vwap
        if reference is None or vwap is None or walk.worst_price is None:
            taken = "asks" if walk.side is Side.BUY else "bids"
            raise MarketDataError(f"no {taken} to {walk.side.value} from", symbol=book.symbol)
        pct = (vwap - reference) / reference * walk.side.sign
        return cls(
            side=walk.side,
            reference_price=reference,
            expected_price=vwap,
            slippage_pct=pct,
            slippage_bps=pct * _BPS,
            quantity=walk.quantity,
            notional_usd=walk.notional,
            worst_price=walk.worst_price,
            levels_used=walk.levels,
            depth_sufficient=walk.complete,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ActualSlippage:
    """The cost of a fill against the price expected for it.

    ``side_assumed`` is True when the caller gave no side: the buy convention was used
    (paying more than expected is a cost), which is wrong by sign for a sell.
    """

    side: Side
    side_assumed: bool
    expected_price: Decimal
    actual_fill_price: Decimal
    quantity: Decimal  # base units filled
    slippage_pct: Decimal  # fraction; positive is cost
    slippage_bps: Decimal
    cost_usd: Decimal  # (fill - expected) x quantity, signed as cost (quote units)


class SlippageCalculator:
    """Expected slippage from a book walk, actual slippage of a fill, and how they compare.

    :meth:`compare_execution_quality` rates the *excess* slippage (actual minus expected,
    in bps, positive when the fill was worse than the book predicted):

    ============  =============================================
    rating        excess slippage
    ============  =============================================
    excellent     ≤ 0 bps: as predicted or better
    good          ≤ ``good_excess_bps`` (default 2 bps)
    fair          ≤ ``fair_excess_bps`` (default 10 bps)
    poor          more
    ============  =============================================

    Raises :class:`ConfigError` for thresholds that are negative or out of order.
    """

    def __init__(
        self,
        *,
        good_excess_bps: Decimal = Decimal("2"),
        fair_excess_bps: Decimal = Decimal("10"),
    ) -> None:
        try:
            good = to_decimal(good_excess_bps, name="good_excess_bps")
            fair = to_decimal(fair_excess_bps, name="fair_excess_bps")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if not (0 <= good <= fair):
            raise ConfigError(
                f"need 0 <= good_excess_bps <= fair_excess_bps, got {good} and {fair}"
            )
        self.good_excess_bps = good
        self.fair_excess_bps = fair

    def calculate_expected_slippage(
        self,
        *,
        order_book: OrderBook | object,
        side: Side | str,
        size_usd: Decimal | None = None,
        quantity: Decimal | None = None,
    ) -> ExpectedSlippage:
        """Walk ``order_book`` for ``size_usd`` (quote) or ``quantity`` (base); give exactly one.

        ``order_book`` is an :class:`OrderBook` or any shape :meth:`OrderBook.parse` takes.
        Raises :class:`InvalidOrderError` for a bad side or size, :class:`MarketDataError`
        for a book that cannot be parsed or has nothing on the side taken.
        """
        taker = parse_side(side)
        if (size_usd is None) == (quantity is None):
            raise InvalidOrderError("give exactly one of size_usd or quantity")
        try:
            amount = to_positive_decimal(
                size_usd if size_usd is not None else quantity,
                name="size_usd" if size_usd is not None else "quantity",
            )
        except ValueError as exc:
            raise InvalidOrderError(str(exc)) from None
        book = order_book if isinstance(order_book, OrderBook) else _parse(order_book)
        if size_usd is not None:
            walk = book.walk(taker, notional=amount)
        else:
            walk = book.walk(taker, quantity=amount)
        return ExpectedSlippage.from_walk(book, walk)

    def calculate_actual_slippage(
        self,
        *,
        expected_price: Decimal,
        actual_fill_price: Decimal,
        quantity: Decimal,
        side: Side | str | None = None,
    ) -> ActualSlippage:
        """Slippage of a fill of ``quantity`` at ``actual_fill_price`` against ``expected_price``.

        Without ``side`` the buy convention is assumed (see :class:`ActualSlippage`). Prices
        and quantity must be finite and greater than zero; raises :class:`InvalidOrderError`.
        """
        taker = parse_side(side) if side is not None else Side.BUY
        try:
            expected = to_positive_decimal(expected_price, name="expected_price")
            actual = to_positive_decimal(actual_fill_price, name="actual_fill_price")
            qty = to_positive_decimal(quantity, name="quantity")
        except ValueError as exc:
            raise InvalidOrderError(str(exc)) from None
        difference = (actual - expected) * taker.sign
        pct = difference / expected
        return ActualSlippage(
            side=taker,
            side_assumed=side is None,
            expected_price=expected,
            actual_fill_price=actual,
            quantity=qty,
            slippage_pct=pct,
            slippage_bps=pct * _BPS,
            cost_usd=difference * qty,
        )

    def compare_execution_quality(
        self, expected: ExpectedSlippage, actual: ActualSlippage, size_usd: Decimal
    ) -> dict[str, Decimal | str | bool]:
        """Compare a fill with the book's prediction for an order of ``size_usd`` (quote).

        For a like-for-like comparison, ``actual`` should be measured against the same
        reference as ``expected``: pass ``expected.reference_price`` as its expected price.
        Keys: ``quality_rating`` (see the class docstring), ``expected_slippage_pct``,
        ``actual_slippage_pct``, ``slippage_difference_pct`` (actual minus expected; positive
        is worse than predicted), their ``*_bps`` twins, ``cost_vs_expected_usd`` (the
        difference times ``size_usd``; positive is money lost against the prediction),
        ``depth_sufficient`` and ``side_assumed``. Raises :class:`InvalidOrderError` for a
        bad ``size_usd`` or when both sides are known and differ.
        """
        try:
            size = to_positive_decimal(size_usd, name="size_usd")
        except ValueError as exc:
            raise InvalidOrderError(str(exc)) from None
        if not actual.side_assumed and actual.side is not expected.side:
            raise InvalidOrderError(
                f"cannot compare a {actual.side.value} fill with a {expected.side.value} estimate"
            )
        difference = actual.slippage_pct - expected.slippage_pct
        return {
            "quality_rating": self.rate(difference * _BPS),
            "expected_slippage_pct": expected.slippage_pct,
            "actual_slippage_pct": actual.slippage_pct,
            "slippage_difference_pct": difference,
            "expected_slippage_bps": expected.slippage_bps,
            "actual_slippage_bps": actual.slippage_bps,
            "slippage_difference_bps": difference * _BPS,
            "cost_vs_expected_usd": difference * size,
            "depth_sufficient": expected.depth_sufficient,
            "side_assumed": actual.side_assumed,
        }

    def rate(self, excess_bps: Decimal) -> str:
        """The quality rating of an excess slippage in bps (see the class docstring)."""
        if excess_bps <= _ZERO:
            return "excellent"
        if excess_bps <= self.good_excess_bps:
            return "good"
        if excess_bps <= self.fair_excess_bps:
            return "fair"
        return "poor"


def _parse(raw: object) -> OrderBook:
    try:
        return OrderBook.parse(raw)
    except ValueError as exc:
        raise MarketDataError(f"cannot use this order book: {exc}") from exc
