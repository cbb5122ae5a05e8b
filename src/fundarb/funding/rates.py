"""Funding rates as fundarb sees them: one sample type, normalised per hour and per year.

Sign convention (stated once, used everywhere): a **positive rate means longs pay shorts**.
A rate is a fraction of position notional per funding interval: ``0.0001`` per 8 h is
0.01 % per 8 h, which is 0.00125 % per hour and 10.95 % a year (APR, not compounded).

The rate is a fraction of notional, so it is the same for a multiplier listing
(``1000PEPE``) as for the plain one; what a multiplier scales is prices and quantities
(see :mod:`fundarb.funding.symbols`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

__all__ = ["HOURS_PER_YEAR", "FundingSample", "apr", "per_hour"]

HOURS_PER_YEAR = Decimal(365 * 24)  # APR convention: 365 days, simple (not compounded)


def _hours(interval: timedelta) -> Decimal:
    seconds = int(interval.total_seconds())
    if seconds <= 0 or seconds != interval.total_seconds():
        raise ValueError(f"a funding interval is a whole number of seconds above 0, got {interval}")
    return Decimal(seconds) / Decimal(3600)


def per_hour(rate: Decimal, interval: timedelta) -> Decimal:
    """``rate`` per ``interval`` as a rate per hour (exact: intervals are whole seconds)."""
    return rate / _hours(interval)


def apr(rate: Decimal, interval: timedelta) -> Decimal:
    """``rate`` per ``interval`` as a simple annual rate (fraction, not percent)."""
    return per_hour(rate, interval) * HOURS_PER_YEAR


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingSample:
    """One funding rate of one symbol on one venue, as collected or imported.

    ``rate`` is the venue's raw rate for ``interval`` (positive: longs pay shorts).
    ``funding_time`` is when this rate settles: the next funding time for a live sample, the
    settlement time for a historical print. ``symbol`` is canonical (``BTC``, ``PEPE``);
    ``venue_symbol`` is the venue's own name and ``multiplier`` the base units per listed
    unit (1000 for ``1000PEPE``). Market fields are ``None`` where the venue does not give
    them; prices are per listed unit (divide by ``multiplier`` for the base asset).
    """

    venue: str
    symbol: str
    venue_symbol: str
    rate: Decimal
    interval: timedelta
    funding_time: datetime
    collected_at: datetime
    multiplier: Decimal = Decimal(1)
    predicted_rate: Decimal | None = None  # the venue's estimate for the next-but-one period
    mark_price: Decimal | None = None
    index_price: Decimal | None = None
    open_interest_usd: Decimal | None = None
    volume_24h_usd: Decimal | None = None

    @property
    def rate_per_hour(self) -> Decimal:
        return per_hour(self.rate, self.interval)

    @property
    def apr(self) -> Decimal:
        return apr(self.rate, self.interval)

    @property
    def interval_hours(self) -> Decimal:
        return _hours(self.interval)
