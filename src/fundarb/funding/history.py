"""Funding history: CSV import and statistics per (venue, symbol).

The CSV files are those of ``../shared/data/funding_history`` (header ``Symbol,Date,Funding
Rate``, one row per print, the rate a fraction per interval, the venue in the file name
``BTC-USDT_<venue>_...csv``). Their ``Date`` is not always UTC; :data:`CSV_SOURCES` holds,
per venue, the offset to remove and the funding interval.

Statistics compare venues per hour (or per year), never per print: dYdX prints every hour,
the others every eight.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal, InvalidOperation, localcontext
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from fundarb.errors import ConfigError
from fundarb.funding.rates import HOURS_PER_YEAR, FundingSample
from fundarb.funding.symbols import parse_listing

if TYPE_CHECKING:
    from fundarb.storage.store import Store

__all__ = [
    "CSV_SOURCES",
    "CsvSource",
    "FundingStats",
    "MalformedCsvError",
    "Progress",
    "funding_stats",
    "import_csv",
    "read_funding_csv",
    "stats_from_store",
]

HEADER = ("Symbol", "Date", "Funding Rate")
BATCH_ROWS = 1000  # samples per transaction (and per progress report) when importing

Progress = Callable[[int, int], None]
"""Called with (samples stored so far, samples in the file) while importing."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CsvSource:
    """How to read one venue's history file: ``Date`` is naive local time at ``utc_offset``
    (UTC = local − offset) and a print settles every ``interval``."""

    venue: str
    utc_offset: timedelta
    interval: timedelta
    note: str = ""


_UTC3 = timedelta(hours=3)
_8H = timedelta(hours=8)

CSV_SOURCES = MappingProxyType(
    {
        source.venue: source
        for source in (
            CsvSource(venue="binance", utc_offset=_UTC3, interval=_8H, note="03/11/19 h local"),
            CsvSource(venue="bybit", utc_offset=_UTC3, interval=_8H),
            CsvSource(venue="htx", utc_offset=_UTC3, interval=_8H),
            CsvSource(venue="mexc", utc_offset=_UTC3, interval=_8H),
            CsvSource(venue="kucoin", utc_offset=_UTC3, interval=_8H, note="settles 04/12/20 UTC"),
            CsvSource(
                venue="dydx",
                utc_offset=_UTC3,
                interval=timedelta(hours=1),
                note="hourly: the offset cannot be read off the data; UTC+3 like the others",
            ),
            CsvSource(venue="gate", utc_offset=timedelta(0), interval=_8H, note="already UTC"),
        )
    }
)
"""Per venue: the capture's local-time offset and the funding interval (SOURCES.md).

Binance, Bybit, HTX, MEXC and KuCoin wrote naive UTC+3 times (Binance's 03/11/19 h rows are
its 00/08/16 UTC settlements; KuCoin's 07/15/23 h are 04/12/20 UTC). Gate's are UTC already.
dYdX v3 prints every hour, so its offset cannot be read off the data (every hour has a
print either way): it is treated as UTC+3, like the other files of the same capture.
"""

_FILE_VENUE = re.compile(r"^[^_]+_([A-Za-z0-9]+)_")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?$")


class MalformedCsvError(ConfigError):
    """A history file fundarb cannot read; the message names the file and the line."""

    def __init__(self, message: str, *, path: Path, line: int | None = None) -> None:
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


# -- reading ----------------------------------------------------------------------------------


def read_funding_csv(path: str | Path, venue: str | None = None) -> list[FundingSample]:
    """The prints of a history file as settled samples, in file order.

    ``venue`` defaults to the one in the file name. Times become UTC by the venue's offset in
    :data:`CSV_SOURCES`, sub-second parts dropped (Binance stamps settlements a few ms late:
    the print keys the same funding time the live feed announced). The rate is parsed
    exactly from its text (``2.6e-05`` included); ``collected_at`` is the funding time (a
    settled print is known from then on). Raises :class:`MalformedCsvError` naming the file
    and line for a wrong header, a bad row, or an unknown venue.
    """
    file = Path(path)
    source = _source(file, venue)
    samples: list[FundingSample] = []
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            rows = csv.reader(handle)
            header = next(rows, None)
            if header is None or tuple(cell.strip() for cell in header) != HEADER:
                raise MalformedCsvError(
                    f"expected the header {','.join(HEADER)}, got {header!r}", path=file, line=1
                )
            for number, row in enumerate(rows, start=2):
                if not row:
                    continue  # a trailing blank line
                samples.append(_sample(row, source, file, number))
    except OSError as exc:
        raise MalformedCsvError(f"cannot read: {exc.strerror}", path=file) from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise MalformedCsvError(f"not a CSV file: {exc}", path=file) from exc
    return samples


async def import_csv(
    path: str | Path,
    venue: str | None = None,
    *,
    store: Store,
    progress: Progress | None = None,
) -> int:
    """Read a history file (see :func:`read_funding_csv`) into ``store``; returns how many
    prints were new (importing the same file again returns 0). Source ``csv:<venue>``.

    ``progress`` is called after each batch of :data:`BATCH_ROWS` with (done, total).
    """
    samples = read_funding_csv(path, venue)
    total = len(samples)
    if progress is not None:
        progress(0, total)
    inserted = 0
    for start in range(0, total, BATCH_ROWS):
        batch = samples[start : start + BATCH_ROWS]
        inserted += await store.save_samples(batch, source=f"csv:{batch[0].venue}")
        if progress is not None:
            progress(start + len(batch), total)
    return inserted


def _source(file: Path, venue: str | None) -> CsvSource:
    if venue is None:
        match = _FILE_VENUE.match(file.name)
        if match is None:
            raise MalformedCsvError(
                "no venue in the file name (expected <pair>_<venue>_...csv): give the venue",
                path=file,
            )
        venue = match.group(1)
    source = CSV_SOURCES.get(venue.lower())
    if source is None:
        raise MalformedCsvError(
            f"unknown venue {venue!r}: history files are read for {', '.join(CSV_SOURCES)}",
            path=file,
        )
    return source


def _sample(row: list[str], source: CsvSource, file: Path, line: int) -> FundingSample:
    if len(row) != len(HEADER):
        raise MalformedCsvError(
            f"expected {len(HEADER)} fields (symbol, date, rate), got {len(row)}: {row!r}",
            path=file,
            line=line,
        )
    venue_symbol, date_text, rate_text = (cell.strip() for cell in row)
    try:
        listing = parse_listing(venue_symbol)
    except ValueError as exc:
        raise MalformedCsvError(f"bad symbol: {exc}", path=file, line=line) from exc
    if not _DATE.match(date_text):
        raise MalformedCsvError(
            f"bad date {date_text!r} (expected YYYY-MM-DD HH:MM:SS[.fff])", path=file, line=line
        )
    try:
        local = datetime.fromisoformat(date_text)
    except ValueError as exc:  # the right shape, an impossible day or hour
        raise MalformedCsvError(f"bad date {date_text!r}: {exc}", path=file, line=line) from exc
    try:
        rate = Decimal(rate_text)
    except InvalidOperation:
        rate = Decimal("NaN")
    if not rate.is_finite():
        raise MalformedCsvError(f"bad funding rate {rate_text!r}", path=file, line=line)
    funding_time = (local - source.utc_offset).replace(microsecond=0, tzinfo=UTC)
    return FundingSample(
        venue=source.venue,
        symbol=listing.symbol,
        venue_symbol=venue_symbol,
        rate=rate,
        interval=source.interval,
        funding_time=funding_time,
        collected_at=funding_time,
        multiplier=listing.multiplier,
    )


# -- statistics -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingStats:
    """Funding of one (venue, symbol) over a window. Rates are fractions (not percent).

    - ``mean_rate_per_hour``: what holding through every print earned per hour: the sum of
      the rates over the sum of their intervals (exact).
    - ``mean_apr``: that, × 8760 (simple, not compounded).
    - ``volatility_per_hour``: the sample standard deviation (n − 1) of the per-hour rates,
      ``None`` below two prints.
    - ``positive_share``: the share of prints above zero (longs paid shorts); zero prints
      count as not positive (exact).
    - ``autocorrelation``: lag-1 autocorrelation of the per-print series — how much one
      print predicts the next (persistence); ``None`` below three prints or when every
      print is the same.

    Standard deviation and autocorrelation are computed in Decimal at 28 significant digits
    and rounded to :data:`STAT_PLACES` places (no float on the way).
    """

    venue: str
    symbol: str
    count: int
    mean_rate_per_hour: Decimal
    mean_apr: Decimal
    volatility_per_hour: Decimal | None
    positive_share: Decimal
    autocorrelation: Decimal | None
    first_time: datetime
    last_time: datetime


STAT_PLACES = 18
_STAT_QUANTUM = Decimal(1).scaleb(-STAT_PLACES)


def funding_stats(
    samples: Iterable[FundingSample],
    *,
    window: timedelta | None = None,
    end: datetime | None = None,
) -> FundingStats:
    """Statistics of one (venue, symbol)'s prints with ``end − window < funding_time <= end``.

    ``end`` defaults to the latest print; without ``window``, every print up to ``end``.
    Raises :class:`ValueError` for samples of more than one (venue, symbol) or none in the
    window.
    """
    ordered = sorted(samples, key=lambda s: s.funding_time)
    if window is not None and window <= timedelta(0):
        raise ValueError(f"a statistics window is longer than zero, got {window}")
    markets = {(s.venue, s.symbol) for s in ordered}
    if len(markets) > 1:
        raise ValueError(f"statistics are per (venue, symbol), got {sorted(markets)}")
    if ordered:
        last = end if end is not None else ordered[-1].funding_time
        start = last - window if window is not None else None
        ordered = [
            s
            for s in ordered
            if s.funding_time <= last and (start is None or s.funding_time > start)
        ]
    if not ordered:
        raise ValueError("no funding prints in the window")
    with localcontext(Context(prec=28)):
        return _stats(ordered)


def _stats(ordered: Sequence[FundingSample]) -> FundingStats:
    count = len(ordered)
    hourly = [s.rate_per_hour for s in ordered]
    total_rate = sum((s.rate for s in ordered), Decimal(0))
    total_hours = sum((s.interval_hours for s in ordered), Decimal(0))
    positive = sum(1 for s in ordered if s.rate > 0)
    print_mean = sum(hourly, Decimal(0)) / count
    deviations = [x - print_mean for x in hourly]
    squares = sum((d * d for d in deviations), Decimal(0))
    volatility = (squares / (count - 1)).sqrt() if count > 1 else None
    autocorrelation = None
    if count > 2 and squares > 0:
        lagged = sum((a * b for a, b in pairwise(deviations)), Decimal(0))
        autocorrelation = lagged / squares
    return FundingStats(
        venue=ordered[0].venue,
        symbol=ordered[0].symbol,
        count=count,
        mean_rate_per_hour=total_rate / total_hours,
        mean_apr=total_rate * HOURS_PER_YEAR / total_hours,  # one rounding, not two
        volatility_per_hour=_rounded(volatility),
        positive_share=Decimal(positive) / count,
        autocorrelation=_rounded(autocorrelation),
        first_time=ordered[0].funding_time,
        last_time=ordered[-1].funding_time,
    )


def _rounded(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(_STAT_QUANTUM).normalize()


async def stats_from_store(
    store: Store, symbol: str, venue: str, hours: int
) -> FundingStats | None:
    """:func:`funding_stats` of ``venue``'s ``symbol`` (canonical) over the ``hours`` up to its
    latest stored print; ``None`` when the store holds none."""
    if hours <= 0:
        raise ValueError(f"a statistics window is longer than zero, got {hours} h")
    window = timedelta(hours=hours)
    newest = await store.load_samples(symbol=symbol, venue=venue, limit=1)
    if not newest:
        return None
    end = newest[0].funding_time
    samples = await store.load_samples(symbol=symbol, venue=venue, since=end - window, until=end)
    return funding_stats(samples, window=window, end=end)
