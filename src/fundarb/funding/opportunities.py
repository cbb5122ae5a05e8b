"""Funding arbitrage opportunities: every venue pair of every symbol, costed and ranked.

An opportunity is long a symbol on one venue and short it on another, ``N`` USD of notional
on each leg, held ``H`` hours from ``now``. A positive rate means longs pay shorts, so the
short collects its rate and the long pays its own: the pair is **long the venue whose
expected rate per hour is lower, short the higher** (ties: long the venue whose name sorts
first). Rates are fractions; money is quote units (USD); everything is ``Decimal``.

Expected rate of a leg, the print blended with the history mean (both per hour)::

    w = h / (H × ln 2) × (1 − 2^(−H/h))            h = half_life_hours (default 8)
    expected_per_hour = w × current_per_hour + (1 − w) × history_mean_per_hour

``w`` is the time average over the horizon of 2^(−t/h): the current print predicts the
next hours, the history the rest (H = 72 h, h = 8 h: w ≈ 0.160; H = 8 h: w ≈ 0.721). A leg
with no history mean uses w = 1, and its rate per payment is then the print itself.

Funding, each leg on its own schedule (t0 the sample's funding time, I its interval)::

    payments n = #{k ≥ 0 : now < t0 + k × I ≤ now + H}
    rate per payment r = expected_per_hour × I_hours           (the print when w = 1)
    long leg receives −r_long × n_long × N; short leg receives +r_short × n_short × N

A 1 h venue pays 72 times in 72 h, an 8 h venue 9 times; a sample whose funding time has
passed is rolled forward on its own interval.

Costs, once per round trip (entry and exit; never per interval, never annualised)::

    fee rate f = m × maker_rate + (1 − m) × taker_rate    m = maker share (by mode)
    entry fees = N × (f_long + f_short); exit fees the same
    slippage of buying N  = walk.notional − walk.quantity × mid   (exact walk of the asks)
    slippage of selling N = walk.quantity × mid − walk.notional   (exact walk of the bids)
    entry buys on the long venue and sells on the short; exit the reverse, **estimated on
    the current books** (the books at exit are unknown)

Slippage is charged in full whatever the mode (a passive fill would pay less: the estimate
is what it costs when the order ends up taking). A book that cannot absorb ``N`` on a side,
a missing book or a venue without a fee schedule makes the opportunity infeasible, with
the reasons; nothing is extrapolated beyond what the book shows.

Net::

    net = expected funding − (entry + exit fees) − (entry + exit slippage)
    net_return_pct = net / N;  net_apr = net / N / H × 8760
    break_even_hours = (fees + slippage) / (N × expected spread per hour)  (None if ≤ 0)

Speed: each (venue, symbol) is costed once per pass, so a pair costs a comparison. With
``min_net_apr`` set, a pair is dropped before its exact figures are built or any book is
walked when even zero slippage could not lift it to the filter, per unit of notional::

    (carry_short − 2 f_short) − (carry_long + 2 f_long) < min_net_apr × H / 8760

where ``carry = r × n``. The pruning is exact: slippage against the mid is never negative on
an uncrossed book (asks above the mid, bids below), and what it keeps is judged on its exact
figures (it keeps pairs within 1e-18 of the threshold, far beyond 28-digit rounding).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType

from fundarb.errors import ConfigError
from fundarb.execution import ExecutionMode, OrderBook
from fundarb.funding.rates import HOURS_PER_YEAR, FundingSample
from fundarb.numbers import to_decimal
from fundarb.venues.markets import FeeSchedule
from fundarb.venues.orders import Side

__all__ = [
    "DEFAULT_MAKER_SHARE",
    "Opportunity",
    "OpportunityFilters",
    "OpportunityLeg",
    "current_weight",
    "rank_opportunities",
]

_ZERO = Decimal(0)
_ONE = Decimal(1)
_TWO = Decimal(2)
_US_PER_HOUR = Decimal(3_600_000_000)
# Pruning compares sums that are rounded at the context's precision (28 digits): keep pairs
# this close to the threshold (per unit of notional) and let the exact check decide them.
_PRUNE_MARGIN = Decimal("1e-18")

DEFAULT_MAKER_SHARE: Mapping[ExecutionMode, Decimal] = MappingProxyType(
    {
        ExecutionMode.MARKET_ONLY: Decimal(0),  # every fill takes
        ExecutionMode.AGGRESSIVE_LIMIT: Decimal("0.25"),  # two passive rungs, then crossing
        ExecutionMode.LIMIT_WITH_FALLBACK: Decimal("0.5"),  # rests first, takes the rest
        ExecutionMode.ADAPTIVE: Decimal("0.5"),  # any of the above: the middle
        ExecutionMode.LIMIT_ONLY: Decimal(1),  # fills only passively (when it fills)
        ExecutionMode.POST_ONLY: Decimal(1),
    }
)
"""The share of each execution mode's volume assumed to fill as maker (a planning guess)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OpportunityFilters:
    """Which opportunities :func:`rank_opportunities` returns; ``None`` means no limit.

    Per leg (both legs must pass; a figure the venue does not report fails a minimum, a
    missing book fails ``max_spread_bps``): ``min_open_interest_usd``,
    ``min_volume_24h_usd``, ``max_spread_bps`` (of the live book), ``allow_venues``,
    ``deny_venues``. Per pair: ``symbols`` (canonical names), ``min_net_apr`` (a fraction,
    0.1 = 10 %; an infeasible opportunity, whose costs are unknown, is judged on its funding
    minus the fees that are known) and ``feasible_only``. Raises :class:`ConfigError` for
    values out of range.
    """

    min_net_apr: Decimal | None = None
    min_open_interest_usd: Decimal | None = None
    min_volume_24h_usd: Decimal | None = None
    max_spread_bps: Decimal | None = None
    allow_venues: frozenset[str] | None = None
    deny_venues: frozenset[str] = frozenset()
    symbols: frozenset[str] | None = None
    feasible_only: bool = False

    def __post_init__(self) -> None:
        if self.min_net_apr is not None:
            object.__setattr__(self, "min_net_apr", _decimal(self.min_net_apr, "min_net_apr"))
        for name in ("min_open_interest_usd", "min_volume_24h_usd", "max_spread_bps"):
            value = getattr(self, name)
            if value is not None:
                number = _decimal(value, name)
                if number < 0:
                    raise ConfigError(f"{name} must not be negative, got {value!r}")
                object.__setattr__(self, name, number)
        for name in ("allow_venues", "deny_venues", "symbols"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _names(value, name))
        if not isinstance(self.feasible_only, bool):
            raise ConfigError(f"feasible_only must be a bool, got {self.feasible_only!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class OpportunityLeg:
    """One leg of an opportunity: the funding inputs on its venue and what trading it costs.

    Rates are fractions per ``interval_hours`` unless named per hour; ``apr`` is simple
    (× 8760). Money is USD; ``expected_funding_usd`` is what this leg receives (negative is
    paid). Slippage is None when the book cannot say (see the opportunity's reasons).
    """

    venue: str
    venue_symbol: str
    sample: FundingSample  # the input, as given
    rate: Decimal  # the print used, per interval
    rate_source: str  # "current" (sample.rate) or "predicted" (sample.predicted_rate)
    interval_hours: Decimal
    rate_per_hour: Decimal  # rate / interval_hours
    apr: Decimal  # rate_per_hour × 8760
    history_per_hour: Decimal | None  # the history mean given for this venue and symbol
    current_weight: Decimal  # w: the print's share of the expected rate (1 without history)
    expected_per_hour: Decimal  # w × rate_per_hour + (1 − w) × history_per_hour
    expected_rate: Decimal  # per payment: expected_per_hour × interval_hours
    next_funding_time: datetime  # the first payment after ``now``
    payments: int  # payments in (now, now + H]
    expected_funding_usd: Decimal  # ∓ expected_rate × payments × notional
    fee_rate: Decimal | None  # m × maker + (1 − m) × taker; None: no fee schedule
    entry_fee_usd: Decimal | None  # fee_rate × notional
    exit_fee_usd: Decimal | None
    entry_slippage_usd: Decimal | None  # against the mid; positive is cost
    exit_slippage_usd: Decimal | None  # the same, estimated on the current book
    mid_price: Decimal | None
    spread_bps: Decimal | None
    open_interest_usd: Decimal | None
    volume_24h_usd: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Opportunity:
    """Long ``symbol`` on ``long_venue``, short on ``short_venue``: expected carry, costs, net.

    Fractions throughout (``net_return_pct`` 0.001 = 0.1 % of notional; APRs are simple
    annual fractions). The net figures are None when the opportunity is infeasible, and
    ``reasons`` then says why. :meth:`explain` shows the arithmetic.
    """

    symbol: str
    long_venue: str
    short_venue: str
    notional_usd: Decimal  # per leg
    horizon_hours: Decimal
    maker_share: Decimal
    long_leg: OpportunityLeg
    short_leg: OpportunityLeg
    spread_per_hour: Decimal  # of the prints: short − long, per hour
    spread_apr: Decimal  # spread_per_hour × 8760 (gross)
    expected_spread_per_hour: Decimal  # of the expected rates
    expected_funding_usd: Decimal  # both legs over the horizon, on their schedules
    gross_apr: Decimal  # expected_funding_usd / N / H × 8760
    entry_fees_usd: Decimal | None  # None when a venue has no fee schedule
    exit_fees_usd: Decimal | None
    fees_usd: Decimal | None
    entry_slippage_usd: Decimal | None
    exit_slippage_usd: Decimal | None
    slippage_usd: Decimal | None
    net_return_usd: Decimal | None  # expected_funding_usd − fees_usd − slippage_usd
    net_return_pct: Decimal | None  # net_return_usd / N
    net_apr: Decimal | None  # net_return_usd / N / H × 8760
    break_even_hours: Decimal | None  # costs / (N × expected spread per hour)
    feasible: bool
    reasons: tuple[str, ...]  # why not feasible

    def explain(self) -> str:
        """The opportunity's arithmetic, a few lines of text."""
        n, h = self.notional_usd, self.horizon_hours
        lines = [
            f"{self.symbol}: long {self.long_venue}, short {self.short_venue}, "
            f"{n} USD a leg for {h} h (maker share {self.maker_share})"
        ]
        for name, leg in (("long", self.long_leg), ("short", self.short_leg)):
            history = (
                "no history"
                if leg.history_per_hour is None
                else f"w {leg.current_weight:.4f} with history {leg.history_per_hour:.6g}/h"
            )
            lines.append(
                f"  {name} {leg.venue} ({leg.venue_symbol}): {leg.rate_source} rate {leg.rate} "
                f"per {leg.interval_hours} h = {leg.rate_per_hour:.6g}/h ({leg.apr:.2%} APR); "
                f"expected {leg.expected_per_hour:.6g}/h ({history}); {leg.payments} payments "
                f"of {leg.expected_rate:.6g} from {leg.next_funding_time:%Y-%m-%d %H:%M}; "
                f"funding {leg.expected_funding_usd:+.6f} USD"
            )
        lines.append(f"  funding {self.expected_funding_usd:.6f} USD ({self.gross_apr:.2%} APR)")
        if self.fees_usd is not None:
            lines.append(
                f"  fees {self.entry_fees_usd:.6f} entry + {self.exit_fees_usd:.6f} exit = "
                f"{self.fees_usd:.6f} USD, once for the round trip"
            )
        if self.slippage_usd is not None:
            lines.append(
                f"  slippage {self.entry_slippage_usd:.6f} entry + "
                f"{self.exit_slippage_usd:.6f} exit (on the current books) = "
                f"{self.slippage_usd:.6f} USD"
            )
        if self.net_return_usd is None or self.net_return_pct is None or self.net_apr is None:
            lines.append("  infeasible: " + "; ".join(self.reasons))
            return "\n".join(lines)
        breakeven = "never" if self.break_even_hours is None else f"{self.break_even_hours:.1f} h"
        lines.append(
            f"  net {self.net_return_usd:.6f} USD = {self.net_return_pct:.4%} of notional = "
            f"{self.net_apr:.2%} APR; break-even after {breakeven}"
        )
        return "\n".join(lines)


def current_weight(horizon_hours: Decimal | int, half_life_hours: Decimal | int) -> Decimal:
    """``w``: the time average of 2^(−t/half_life) over (0, horizon], in (0, 1).

    ``w = h / (H ln 2) × (1 − 2^(−H/h))``. Raises :class:`ConfigError` unless both are
    finite and greater than zero.
    """
    horizon = _positive(horizon_hours, "horizon_hours")
    half_life = _positive(half_life_hours, "half_life_hours")
    x = horizon / half_life * _TWO.ln()  # H ln 2 / h
    return (_ONE - (-x).exp()) / x


def rank_opportunities(
    samples: Iterable[FundingSample],
    books: Mapping[tuple[str, str], OrderBook],
    fees: Mapping[str, FeeSchedule],
    *,
    notional_usd: Decimal,
    horizon_hours: Decimal | int = 72,
    now: datetime,
    history: Mapping[tuple[str, str], Decimal] | None = None,
    filters: OpportunityFilters | None = None,
    mode: ExecutionMode = ExecutionMode.MARKET_ONLY,
    maker_share: Decimal | None = None,
    half_life_hours: Decimal | int = 8,
    use_predicted: bool = False,
) -> list[Opportunity]:
    """Every pair of venues listing the same symbol, costed, filtered, best net APR first.

    ``samples``: funding samples (only the latest per venue and symbol is used: latest
    ``collected_at``). ``books``: live books by (venue, canonical symbol). ``fees``: fee
    schedule by venue (a venue without one makes its pairs infeasible, with the reason).
    ``notional_usd`` per leg; ``horizon_hours`` held from ``now`` (timezone-aware).
    ``history``: mean rate per hour by (venue, symbol). ``maker_share`` overrides the
    mode's default (:data:`DEFAULT_MAKER_SHARE`). ``use_predicted`` takes a sample's
    ``predicted_rate`` as its print where it has one. The model is the module docstring.

    Infeasible opportunities (no book, a book too thin for the size, no fee schedule) come
    after every feasible one, by gross APR. Raises :class:`ConfigError` (a ``ValueError``)
    for invalid parameters, a non-finite rate, fee rate or history mean.
    """
    notional = _positive(notional_usd, "notional_usd")
    horizon = _positive(horizon_hours, "horizon_hours")
    half_life = _positive(half_life_hours, "half_life_hours")
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise ConfigError(f"now must be a timezone-aware datetime, got {now!r}")
    share = _maker_share(mode, maker_share)
    chosen = filters if filters is not None else OpportunityFilters()
    if not isinstance(chosen, OpportunityFilters):
        raise ConfigError(f"filters must be OpportunityFilters, got {type(chosen).__name__}")
    try:
        end = now + timedelta(microseconds=int(horizon * _US_PER_HOUR))
    except OverflowError:
        raise ConfigError(f"horizon_hours is too large: {horizon}") from None
    latest = _latest(samples, chosen)
    context = _Context(
        notional=notional,
        horizon=horizon,
        now=now,
        end=end,
        weight=current_weight(horizon, half_life),
        history=history or {},
        books=books,
        use_predicted=bool(use_predicted),
        filters=chosen,
        fee_rates=_fee_rates(fees, share),
        venues={venue for listed in latest.values() for venue in listed},
    )
    found: list[Opportunity] = []
    for symbol, listed in latest.items():
        if len(listed) < 2:
            continue
        for long, short in context.pairs(listed.values()):
            opportunity = context.opportunity(symbol, long, short, share)
            if _passes(opportunity, chosen):
                found.append(opportunity)
    found.sort(key=_rank)
    return found


# -- internals ---------------------------------------------------------------------------------

# One listing as the pruning sees it: a plain tuple, because every listing gets one (the
# pass's hot loop). (short bound, long bound + threshold, sample, print used, its source,
# history mean, payments, first payment, interval hours), where per unit of notional
#   carry       = rate per payment × payments  (what a short receives)
#   short bound = carry − 2 × fee rate         (what being short is worth before slippage)
#   long bound  = carry + 2 × fee rate         (what being long costs before slippage)
_Row = tuple[
    Decimal, Decimal, FundingSample, Decimal, str, Decimal | None, int, datetime, Decimal
]  # fmt: skip


class _Leg:
    """One (venue, symbol) of a pair that is kept: its exact figures, its book walks (done
    once) and its public long and short legs (built once each)."""

    __slots__ = (
        "buy_cost",
        "buy_problem",
        "expected_per_hour",
        "expected_rate",
        "fee_problem",
        "fee_rate",
        "first_payment",
        "history_per_hour",
        "hours",
        "long",
        "order",
        "payments",
        "rate",
        "rate_per_hour",
        "sample",
        "sell_cost",
        "sell_problem",
        "short",
        "source",
        "walked",
        "weight",
    )

    def __init__(self, row: _Row, fee_rate: Decimal | None, weight: Decimal) -> None:
        _, _, sample, rate, source, mean, payments, first, hours = row
        self.sample = sample
        self.rate = rate
        self.source = source  # "current" or "predicted"
        self.hours = hours
        self.rate_per_hour = per_hour = rate / hours
        self.history_per_hour = mean
        if mean is None:  # the print alone: its rate per payment is the print itself
            self.weight = _ONE
            self.expected_per_hour = expected = per_hour
            self.expected_rate = rate
        else:
            self.weight = weight
            self.expected_per_hour = expected = weight * per_hour + (_ONE - weight) * mean
            self.expected_rate = expected * hours
        self.order = (expected, sample.venue)  # long the lower: the pair's direction
        self.payments = payments
        self.first_payment = first
        self.fee_rate = fee_rate
        self.fee_problem = None if fee_rate is not None else f"no fee schedule for {sample.venue}"
        self.walked = False
        self.buy_cost: Decimal | None = None
        self.sell_cost: Decimal | None = None
        self.buy_problem: str | None = None
        self.sell_problem: str | None = None
        self.long: OpportunityLeg | None = None
        self.short: OpportunityLeg | None = None


class _Context:
    """One ranking pass: its parameters and the caches shared by its legs."""

    def __init__(
        self,
        *,
        notional: Decimal,
        horizon: Decimal,
        now: datetime,
        end: datetime,
        weight: Decimal,
        history: Mapping[tuple[str, str], Decimal],
        books: Mapping[tuple[str, str], OrderBook],
        use_predicted: bool,
        filters: OpportunityFilters,
        fee_rates: dict[str, Decimal],
        venues: Iterable[str],
    ) -> None:
        self.notional = notional
        self.horizon = horizon
        self.now = now
        self.end = end
        self.weight = weight
        self.history = history
        self.books = books
        self.use_predicted = use_predicted
        self.filters = filters
        self.fee_rates = fee_rates
        # the pruning threshold, per unit of notional over the horizon (None: keep all)
        self.threshold: Decimal | None = None
        if filters.min_net_apr is not None:
            self.threshold = filters.min_net_apr * horizon / HOURS_PER_YEAR - _PRUNE_MARGIN
        slack = self.threshold if self.threshold is not None else _ZERO
        # 2 × fee rate (entry and exit) by venue, for the bounds; a venue without a fee
        # schedule counts 0 there (its pairs are infeasible, and judged without fees)
        self._short_fees = {venue: fee_rates.get(venue, _ZERO) * _TWO for venue in venues}
        self._long_fees = {venue: fee + slack for venue, fee in self._short_fees.items()}
        # by funding time, then interval: payments, first payment, interval hours, and the
        # carry's coefficients of the print and of the history mean
        self._schedules: dict[
            datetime, dict[timedelta, tuple[int, datetime, Decimal, Decimal, Decimal]]
        ] = {}

    def pairs(self, listed: Iterable[FundingSample]) -> Iterable[tuple[_Leg, _Leg]]:
        """The (long, short) pairs of one symbol's samples that pass the per-leg filters and
        whose bound before slippage reaches the pruning threshold (all, without one)."""
        rows = self._rows(listed)
        if len(rows) < 2:
            return
        kept: dict[int, _Leg] = {}  # by id(row): a listing in several pairs is built once

        def leg(row: _Row) -> _Leg:
            built = kept.get(id(row))
            if built is None:
                venue = row[2].venue
                built = kept[id(row)] = _Leg(row, self.fee_rates.get(venue), self.weight)
            return built

        if self.threshold is None:
            legs = sorted(map(leg, rows), key=_by_order)
            for j, short in enumerate(legs):
                for long in legs[:j]:
                    yield long, short
            return
        # short bound(s) − long bound(l) ≥ threshold, in either direction; the direction of
        # what passes is then decided exactly (long the lower expected rate per hour)
        floor = min(row[1] for row in rows)
        for short_row in rows:
            short_bound = short_row[0]
            if short_bound < floor:
                continue
            for long_row in rows:
                if short_bound >= long_row[1] and long_row is not short_row:
                    long, short = leg(long_row), leg(short_row)
                    if long.order < short.order:
                        yield long, short

    def _rows(self, listed: Iterable[FundingSample]) -> list[_Row]:
        """One row per sample that passes the per-leg filters: the pass's hot loop, so
        everything it needs is bound to a local first, and it rounds nothing it need not."""
        f = self.filters
        screened = (
            f.min_open_interest_usd is not None
            or f.min_volume_24h_usd is not None
            or f.max_spread_bps is not None
        )
        history, use_predicted, schedules = self.history, self.use_predicted, self._schedules
        short_fees, long_fees = self._short_fees, self._long_fees
        rows: list[_Row] = []
        for sample in listed:
            if screened and not self._passes_leg_filters(sample):
                continue
            venue = sample.venue
            rate, source = sample.rate, "current"
            if use_predicted and sample.predicted_rate is not None:
                rate, source = sample.predicted_rate, "predicted"
            if not rate.is_finite():
                raise ConfigError(f"{venue} {sample.symbol}: the funding rate is {rate}")
            # two levels: a datetime and a timedelta cache their hashes, a tuple does not
            by_interval = schedules.get(sample.funding_time)
            if by_interval is None:
                by_interval = schedules[sample.funding_time] = {}
            schedule = by_interval.get(sample.interval)
            if schedule is None:
                schedule = by_interval[sample.interval] = self._schedule(sample)
            payments, first, hours, of_print, of_mean = schedule
            mean = history.get((venue, sample.symbol)) if history else None
            if mean is None:
                carry = rate * payments
            elif mean.is_finite():
                # (w × rate / hours + (1 − w) × mean) × hours × payments, grouped so that
                # the per-schedule factors are computed once
                carry = rate * of_print + mean * of_mean
            else:
                raise ConfigError(f"{venue} {sample.symbol}: the history mean is {mean}")
            rows.append(
                (
                    carry - short_fees[venue],
                    carry + long_fees[venue],
                    sample,
                    rate,
                    source,
                    mean,
                    payments,
                    first,
                    hours,
                )
            )
        return rows

    def _passes_leg_filters(self, sample: FundingSample) -> bool:
        f = self.filters
        if f.min_open_interest_usd is not None and not (
            sample.open_interest_usd is not None
            and sample.open_interest_usd >= f.min_open_interest_usd
        ):
            return False
        if f.min_volume_24h_usd is not None and not (
            sample.volume_24h_usd is not None and sample.volume_24h_usd >= f.min_volume_24h_usd
        ):
            return False
        if f.max_spread_bps is not None:
            book = self.books.get((sample.venue, sample.symbol))
            spread = book.spread_bps if book is not None else None
            if spread is None or spread > f.max_spread_bps:
                return False
        return True

    def _schedule(self, sample: FundingSample) -> tuple[int, datetime, Decimal, Decimal, Decimal]:
        """Payments in (now, end] on ``sample``'s schedule, the first after now, the
        interval in hours, and the carry's factors w × payments and (1 − w) × hours ×
        payments."""
        t0, interval = sample.funding_time, sample.interval
        if t0.tzinfo is None:
            raise ConfigError(
                f"{sample.venue} {sample.symbol}: funding_time must be timezone-aware"
            )
        hours = sample.interval_hours  # validates the interval
        skipped = 0 if t0 > self.now else (self.now - t0) // interval + 1
        first = t0 + skipped * interval
        payments = 0 if first > self.end else (self.end - first) // interval + 1
        w = self.weight
        return payments, first, hours, w * payments, (_ONE - w) * hours * payments

    def walk(self, leg: _Leg) -> None:
        """Walk ``leg``'s book both ways for the notional, once (slippage against the mid)."""
        leg.walked = True
        sample, notional = leg.sample, self.notional
        book = self.books.get((sample.venue, sample.symbol))
        where = f"{sample.venue} {sample.symbol}"
        if book is None:
            leg.buy_problem = leg.sell_problem = f"{where}: no order book"
            return
        mid = book.mid
        if mid is None:
            missing = "bids" if not book.bids else "asks"
            leg.buy_problem = leg.sell_problem = f"{where}: the book has no {missing}"
            return
        buy = book.walk(Side.BUY, notional=notional)
        if buy.complete:
            leg.buy_cost = buy.notional - buy.quantity * mid
        else:
            leg.buy_problem = (
                f"{where}: the asks show {buy.notional} USD in {buy.levels} levels, "
                f"short of the {notional} USD to buy"
            )
        sell = book.walk(Side.SELL, notional=notional)
        if sell.complete:
            leg.sell_cost = sell.quantity * mid - sell.notional
        else:
            leg.sell_problem = (
                f"{where}: the bids show {sell.notional} USD in {sell.levels} levels, "
                f"short of the {notional} USD to sell"
            )

    def public_leg(self, leg: _Leg, *, long: bool) -> OpportunityLeg:
        """``leg`` as the long or the short side of a pair (built once per side)."""
        cached = leg.long if long else leg.short
        if cached is not None:
            return cached
        if not leg.walked:
            self.walk(leg)
        notional, sample = self.notional, leg.sample
        book = self.books.get((sample.venue, sample.symbol))
        fee = leg.fee_rate * notional if leg.fee_rate is not None else None
        entry, exit_ = (leg.buy_cost, leg.sell_cost) if long else (leg.sell_cost, leg.buy_cost)
        funding = leg.expected_rate * leg.payments * notional
        built = OpportunityLeg(
            venue=sample.venue,
            venue_symbol=sample.venue_symbol,
            sample=sample,
            rate=leg.rate,
            rate_source=leg.source,
            interval_hours=leg.hours,
            rate_per_hour=leg.rate_per_hour,
            apr=leg.rate_per_hour * HOURS_PER_YEAR,
            history_per_hour=leg.history_per_hour,
            current_weight=leg.weight,
            expected_per_hour=leg.expected_per_hour,
            expected_rate=leg.expected_rate,
            next_funding_time=leg.first_payment,
            payments=leg.payments,
            expected_funding_usd=-funding if long else funding,
            fee_rate=leg.fee_rate,
            entry_fee_usd=fee,
            exit_fee_usd=fee,
            entry_slippage_usd=entry,
            exit_slippage_usd=exit_,
            mid_price=book.mid if book is not None else None,
            spread_bps=book.spread_bps if book is not None else None,
            open_interest_usd=sample.open_interest_usd,
            volume_24h_usd=sample.volume_24h_usd,
        )
        if long:
            leg.long = built
        else:
            leg.short = built
        return built

    def opportunity(self, symbol: str, long: _Leg, short: _Leg, share: Decimal) -> Opportunity:
        n, h = self.notional, self.horizon
        lg = self.public_leg(long, long=True)
        sh = self.public_leg(short, long=False)
        funding = lg.expected_funding_usd + sh.expected_funding_usd
        entry_fees = _plus(lg.entry_fee_usd, sh.entry_fee_usd)
        exit_fees = _plus(lg.exit_fee_usd, sh.exit_fee_usd)
        fees = _plus(entry_fees, exit_fees)
        entry_slip = _plus(lg.entry_slippage_usd, sh.entry_slippage_usd)
        exit_slip = _plus(lg.exit_slippage_usd, sh.exit_slippage_usd)
        slippage = _plus(entry_slip, exit_slip)
        spread = sh.rate_per_hour - lg.rate_per_hour
        expected_spread = sh.expected_per_hour - lg.expected_per_hour
        # entry then exit of each leg: the long buys then sells, the short the reverse
        problems = (
            long.fee_problem,
            long.buy_problem,
            long.sell_problem,
            short.fee_problem,
            short.sell_problem,
            short.buy_problem,
        )
        reasons = tuple(dict.fromkeys(p for p in problems if p is not None))
        net: Decimal | None = None
        net_pct: Decimal | None = None
        net_apr: Decimal | None = None
        breakeven: Decimal | None = None
        if fees is not None and slippage is not None:
            net = funding - fees - slippage
            net_pct = net / n
            net_apr = net / n / h * HOURS_PER_YEAR
            if expected_spread > 0:
                paid = fees + slippage
                breakeven = paid / (n * expected_spread) if paid > 0 else _ZERO
        return Opportunity(
            symbol=symbol,
            long_venue=lg.venue,
            short_venue=sh.venue,
            notional_usd=n,
            horizon_hours=h,
            maker_share=share,
            long_leg=lg,
            short_leg=sh,
            spread_per_hour=spread,
            spread_apr=spread * HOURS_PER_YEAR,
            expected_spread_per_hour=expected_spread,
            expected_funding_usd=funding,
            gross_apr=funding / n / h * HOURS_PER_YEAR,
            entry_fees_usd=entry_fees,
            exit_fees_usd=exit_fees,
            fees_usd=fees,
            entry_slippage_usd=entry_slip,
            exit_slippage_usd=exit_slip,
            slippage_usd=slippage,
            net_return_usd=net,
            net_return_pct=net_pct,
            net_apr=net_apr,
            break_even_hours=breakeven,
            feasible=not reasons,
            reasons=reasons,
        )


def _plus(first: Decimal | None, second: Decimal | None) -> Decimal | None:
    return None if first is None or second is None else first + second


def _latest(
    samples: Iterable[FundingSample], filters: OpportunityFilters
) -> dict[str, dict[str, FundingSample]]:
    """By symbol, then venue: the latest sample of each that the venue and symbol filters
    allow (latest ``collected_at``; the same instant twice is decided by content)."""
    allow, deny, symbols = filters.allow_venues, filters.deny_venues, filters.symbols
    latest: dict[str, dict[str, FundingSample]] = {}
    for sample in samples:
        venue, symbol = sample.venue, sample.symbol
        if (
            (allow is not None and venue not in allow)
            or venue in deny
            or (symbols is not None and symbol not in symbols)
        ):
            continue
        by_venue = latest.get(symbol)
        if by_venue is None:
            latest[symbol] = {venue: sample}
            continue
        held = by_venue.get(venue)
        if (
            held is None
            or sample.collected_at > held.collected_at
            or (sample.collected_at == held.collected_at and _tie_key(sample) > _tie_key(held))
        ):
            by_venue[venue] = sample
    return latest


def _tie_key(sample: FundingSample) -> tuple[datetime, Decimal, str]:
    return (sample.funding_time, sample.rate, sample.venue_symbol)


def _fee_rates(fees: Mapping[str, FeeSchedule], share: Decimal) -> dict[str, Decimal]:
    """The blended fee rate of each venue: ``share × maker + (1 − share) × taker``."""
    rates: dict[str, Decimal] = {}
    for venue, schedule in fees.items():
        maker, taker = schedule.maker_rate, schedule.taker_rate
        if not all(isinstance(x, Decimal) and x.is_finite() for x in (maker, taker)):
            raise ConfigError(f"{venue}: fee rates must be finite Decimals, got {schedule}")
        rates[venue] = share * maker + (_ONE - share) * taker
    return rates


def _passes(opportunity: Opportunity, filters: OpportunityFilters) -> bool:
    if not opportunity.feasible:
        if filters.feasible_only:
            return False
        if filters.min_net_apr is not None:  # costs unknown: judge funding − known fees
            n, h = opportunity.notional_usd, opportunity.horizon_hours
            bound = opportunity.expected_funding_usd - (opportunity.fees_usd or _ZERO)
            return bound / n / h * HOURS_PER_YEAR >= filters.min_net_apr
        return True
    assert opportunity.net_apr is not None
    return filters.min_net_apr is None or opportunity.net_apr >= filters.min_net_apr


def _by_order(leg: _Leg) -> tuple[Decimal, str]:
    return leg.order


def _rank(o: Opportunity) -> tuple[int, Decimal, str, str, str]:
    if o.net_apr is not None:
        return (0, -o.net_apr, o.symbol, o.long_venue, o.short_venue)
    return (1, -o.gross_apr, o.symbol, o.long_venue, o.short_venue)


def _maker_share(mode: ExecutionMode, maker_share: Decimal | None) -> Decimal:
    if maker_share is None:
        try:
            return DEFAULT_MAKER_SHARE[ExecutionMode(mode)]
        except ValueError:
            raise ConfigError(f"mode must be an ExecutionMode, got {mode!r}") from None
    share = _decimal(maker_share, "maker_share")
    if not (0 <= share <= 1):
        raise ConfigError(f"maker_share must be in [0, 1], got {maker_share!r}")
    return share


def _decimal(value: object, name: str) -> Decimal:
    try:
        return to_decimal(value, name=name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _positive(value: object, name: str) -> Decimal:
    number = _decimal(value, name)
    if number <= 0:
        raise ConfigError(f"{name} must be greater than zero, got {value!r}")
    return number


def _names(value: object, name: str) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"{name} must be a collection of names, got {value!r}")
    names = frozenset(value)
    if not all(isinstance(item, str) for item in names):
        raise ConfigError(f"{name} must hold str names, got {sorted(map(repr, names))}")
    return names
