"""Funding intervals: where each venue states them, and what holds when it states nothing.

A rate means nothing without its interval: 0.01 % per hour is eight times 0.01 % per 8 h.
The interval of a ccxt funding structure is resolved from, in order:

1. the venue's own field in the payload (``fundingIntervalHour`` of Bybit's tickers,
   ``fundingIntervalHours`` of Binance's fundingInfo): the freshest statement;
2. ccxt's unified ``interval`` (``'8h'``; Bybit's comes from the instrument's
   ``fundingInterval`` in minutes, OKX's from the settlement times, Hyperliquid's is fixed);
3. a per-symbol table fetched from the venue (Binance ``GET /fapi/v1/fundingInfo`` through
   ccxt's ``fetch_funding_intervals``);
4. the difference of two settlement times in the payload (``nextFundingTimestamp`` −
   ``fundingTimestamp``, or ``fundingTimestamp`` − ``previousFundingTimestamp``);
5. the market's own field (Bybit instruments-info ``fundingInterval``, minutes);
6. :data:`DEFAULT_INTERVALS`, the venue's documented schedule. Using it is logged, never
   silent; a venue with no entry and no override gets no sample rather than a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Any

__all__ = ["DEFAULT_INTERVALS", "IntervalSource", "parse_interval", "resolve_interval"]

DEFAULT_INTERVALS: Mapping[str, timedelta] = MappingProxyType(
    {
        # fundingInfo lists only the symbols whose interval or caps were adjusted; every
        # other USDⓈ-M perpetual settles at 00:00, 08:00 and 16:00 UTC
        "binanceusdm": timedelta(hours=8),
        "binance": timedelta(hours=8),
        # tickers carry fundingIntervalHour and instruments fundingInterval; 8 h is standard
        "bybit": timedelta(hours=8),
        # the payload carries fundingTime and nextFundingTime; 8 h is the standard schedule
        "okx": timedelta(hours=8),
        # funding is paid every hour (Hyperliquid docs, "Funding")
        "hyperliquid": timedelta(hours=1),
    }
)

_MIN = timedelta(minutes=1)
_MAX = timedelta(days=7)
_UNITS = {"m": 60, "h": 3600, "d": 86400}
_TEXT = re.compile(r"^\s*(\d+)\s*([mhd])\s*$", re.IGNORECASE)
# payload fields that state the interval in hours (unambiguous: the unit is in the name)
_HOUR_FIELDS = ("fundingIntervalHours", "fundingIntervalHour")
# market info fields, per venue, with their unit in seconds
_MARKET_FIELDS: Mapping[str, tuple[str, int]] = MappingProxyType({"bybit": ("fundingInterval", 60)})


class IntervalSource(StrEnum):
    """Where a sample's interval came from (the order in which they are tried)."""

    PAYLOAD = "payload"  # the venue's own field in the funding payload
    UNIFIED = "unified"  # ccxt's unified ``interval``
    TABLE = "table"  # a per-symbol table fetched from the venue (Binance fundingInfo)
    TIMESTAMPS = "timestamps"  # the difference of two settlement times
    MARKET = "market"  # the market's info (Bybit instruments-info)
    DEFAULT = "default"  # the venue's documented schedule (logged)


def _plausible(interval: timedelta) -> timedelta | None:
    return interval if _MIN <= interval <= _MAX else None


def _seconds(value: object, unit_s: int) -> timedelta | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0:
        return None
    seconds = amount * unit_s
    if seconds != seconds.to_integral_value():
        return None
    return _plausible(timedelta(seconds=int(seconds)))


def parse_interval(text: object) -> timedelta | None:
    """ccxt's interval text as a duration: ``'8h'``, ``'30m'``, ``'1d'``; a bare number is
    milliseconds (what ccxt's OKX parser passes through for an interval it has no name for).
    None when absent or implausible (under a minute, over a week)."""
    if not isinstance(text, str):
        return None
    match = _TEXT.match(text)
    if match:
        return _seconds(match.group(1), _UNITS[match.group(2).lower()])
    if text.strip().isdigit():
        milliseconds = int(text)
        return _seconds(milliseconds // 1000, 1) if milliseconds % 1000 == 0 else None
    return None


def _between(later: object, earlier: object) -> timedelta | None:
    if isinstance(later, bool) or isinstance(earlier, bool):
        return None
    if not isinstance(later, int | float) or not isinstance(earlier, int | float):
        return None
    # settlement prints can be a few ms off the hour (Binance history): round to seconds
    seconds = round((later - earlier) / 1000)
    return _plausible(timedelta(seconds=seconds)) if seconds > 0 else None


def resolve_interval(
    venue: str,
    funding: Mapping[str, Any],
    market: Mapping[str, Any],
    table: Mapping[str, timedelta],
    default: timedelta | None,
) -> tuple[timedelta, IntervalSource] | None:
    """The interval of one ccxt funding structure and where it came from (see the module
    docstring for the order); None when nothing states it and there is no ``default``."""
    info = funding.get("info")
    if isinstance(info, Mapping):
        for key in _HOUR_FIELDS:
            found = _seconds(info.get(key), 3600)
            if found is not None:
                return found, IntervalSource.PAYLOAD
    found = parse_interval(funding.get("interval"))
    if found is not None:
        return found, IntervalSource.UNIFIED
    symbol = funding.get("symbol")
    if isinstance(symbol, str) and symbol in table:
        return table[symbol], IntervalSource.TABLE
    found = _between(funding.get("nextFundingTimestamp"), funding.get("fundingTimestamp"))
    if found is None:
        found = _between(funding.get("fundingTimestamp"), funding.get("previousFundingTimestamp"))
    if found is not None:
        return found, IntervalSource.TIMESTAMPS
    field = _MARKET_FIELDS.get(venue)
    market_info = market.get("info")
    if field is not None and isinstance(market_info, Mapping):
        found = _seconds(market_info.get(field[0]), field[1])
        if found is not None:
            return found, IntervalSource.MARKET
    if default is not None:
        return default, IntervalSource.DEFAULT
    return None
