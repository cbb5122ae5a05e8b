"""Funding-rate collectors: one per venue, run together by a :class:`CollectorSet`.

- :class:`FundingCollector`: the protocol (``venue``, ``await collect(symbols)``).
- :class:`ExchangeClientCollector`: over any client with ``get_funding_rate`` (the
  simulated venues, third-party clients).
- :class:`CcxtFundingCollector`: over a ccxt ``async_support`` exchange instance.
- :class:`CollectorSet`: every venue concurrently; a failing venue is degraded and backs
  off while the others carry on; ``status()`` and ``latest()``.
"""

from fundarb.funding.collectors.ccxt import CcxtExchange, CcxtFundingCollector
from fundarb.funding.collectors.client import ExchangeClientCollector
from fundarb.funding.collectors.intervals import DEFAULT_INTERVALS, IntervalSource
from fundarb.funding.collectors.protocol import FundingCollector
from fundarb.funding.collectors.supervisor import (
    BackoffConfig,
    CollectorSet,
    CycleReport,
    VenueState,
    VenueStatus,
)

__all__ = [
    "DEFAULT_INTERVALS",
    "BackoffConfig",
    "CcxtExchange",
    "CcxtFundingCollector",
    "CollectorSet",
    "CycleReport",
    "ExchangeClientCollector",
    "FundingCollector",
    "IntervalSource",
    "VenueState",
    "VenueStatus",
]
