"""Statistics over execution records: a time-sorted, columnar index and the figures from it.

Conventions of every figure (see :meth:`Selection.summarise`):

- A window of ``time_window_hours`` ending at ``now`` holds the records with
  ``now - window < time <= now``; ``None`` means every record up to ``now``.
- A ``venue``/``symbol``/``mode`` filter keeps a record when the record or one of its
  entry legs matches; the leg figures (fill rate, slippage bps, maker ratio, fees, times)
  then count only the matching legs. Leg figures count ``entry`` legs only: adjustments
  (hedges and unwinds) are priced in ``rollback_cost_usd``. A record without legs
  contributes its ``slippage_pct`` × 10,000 as one slippage-bps sample.
- Percentiles are nearest-rank: the ``p``-th percentile of ``n`` sorted values is the value
  at rank ``ceil(p × n / 100)`` (1-based): always one of the samples, never interpolated.
- Money and quantity figures are ``Decimal``; rates of counts and durations are ``float``;
  a figure with nothing to compute it from is ``None``.

How it stays fast (100,000 records in about 100 ms; see benchmarks/): records are kept in columns
sorted by time (integer microseconds since the epoch, so window edges are exact), one set
of columns for every record and one per strategy, so a window is two bisections and a
slice. Decimal figures are stored as integers at one exponent per column (:class:`_Exact`),
so sums are exact and run in C. Percentiles sort floats, then pick the exact ``Decimal``
among the samples equal to the chosen float (``float()`` of a Decimal never reverses an
order, so the rank is exact). Nothing per record is computed at query time.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from itertools import accumulate, islice
from operator import itemgetter
from typing import Any, Final, TypeVar

from fundarb.execution.monitoring.records import ExecutionRecord

__all__ = ["RecordIndex", "Selection", "micros", "window_bounds"]

_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
_BPS: Final = Decimal(10_000)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)
_HOUR_US: Final = 3_600_000_000
_EXACT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)  # never rounds

T = TypeVar("T")


def micros(time: datetime) -> int:
    """``time`` as whole microseconds since the epoch (exact, unlike a float timestamp)."""
    return (time - _EPOCH) // _US


def _rank(percent: int, count: int) -> int:
    """The nearest rank (1-based) of the ``percent``-th percentile of ``count`` values."""
    return max(1, -(-percent * count // 100))  # ceil(p * n / 100), at least 1


def window_bounds(
    time_window_hours: float | None, now: datetime | None
) -> tuple[datetime | None, datetime]:
    """The window's (exclusive) start and (inclusive) end, UTC; validates the arguments."""
    if now is None:
        now = datetime.now(UTC)
    elif not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got {now!r}")
    end = now.astimezone(UTC)
    if time_window_hours is None:
        return None, end
    if (
        isinstance(time_window_hours, bool)
        or not isinstance(time_window_hours, int | float)
        or not (math.isfinite(time_window_hours) and time_window_hours > 0)
    ):
        raise ValueError(f"time_window_hours must be above zero, got {time_window_hours!r}")
    return end - timedelta(hours=time_window_hours), end


class _Sums:
    """An integer column and its prefix sums (rebuilt lazily after an insert or delete
    in the middle), so the total of a time slice is one subtraction."""

    __slots__ = ("_prefix", "_valid", "values")

    def __init__(self) -> None:
        self.values: list[int] = []
        self._prefix: list[int] = [0]
        self._valid = 0  # prefix[: valid + 1] is right

    def insert(self, at: int, value: int) -> None:
        size = len(self.values)
        if at == size:
            self.values.append(value)
            if self._valid == size:
                self._prefix.append(self._prefix[-1] + value)
                self._valid += 1
        else:
            self.values.insert(at, value)
            self._stale_from(at)

    def delete(self, lo: int, hi: int) -> None:
        del self.values[lo:hi]
        self._stale_from(lo)

    def _stale_from(self, at: int) -> None:
        self._valid = min(self._valid, at)
        del self._prefix[self._valid + 1 :]  # always len(prefix) == valid + 1

    def scale(self, factor: int) -> None:
        self.values = [v * factor for v in self.values]
        self._prefix = [v * factor for v in self._prefix]

    def total(self, pick: _Pick) -> int:
        if pick.indices is not None:
            return sum(pick.take(self.values))
        if self._valid < len(self.values):
            sums = accumulate(self.values[self._valid :], initial=self._prefix[-1])
            self._prefix.extend(islice(sums, 1, None))
            self._valid = len(self.values)
        return self._prefix[pick.hi] - self._prefix[pick.lo]


class _Exact(_Sums):
    """Decimals held as integers at one exponent: exact totals, computed in C."""

    __slots__ = ("exp",)

    def __init__(self) -> None:
        super().__init__()
        self.exp = 0

    def insert_decimal(self, at: int, value: Decimal) -> None:
        scaled = value.scaleb(-self.exp, context=_EXACT)
        number = int(scaled)
        if number != scaled:  # a finer value: rescale the column, once per new exponent
            exp = value.as_tuple().exponent
            assert isinstance(exp, int)  # finite, checked by the records
            self.scale(10 ** (self.exp - exp))
            self.exp = exp
            number = int(value.scaleb(-exp, context=_EXACT))
        self.insert(at, number)

    def decimal(self, pick: _Pick) -> Decimal:
        """The exact total, without trailing zeros (``12.5``, ``0``; never ``0E-24``)."""
        total = Decimal(self.total(pick)).scaleb(self.exp, context=_EXACT).normalize(_EXACT)
        exp = total.as_tuple().exponent
        assert isinstance(exp, int)
        return total.quantize(_ONE, context=_EXACT) if exp > 0 else total


def _insert(column: list[T], at: int, value: T) -> None:
    if at == len(column):
        column.append(value)
    else:
        column.insert(at, value)


class _Columns:
    """Records (and their entry legs) in columns, sorted by time. Optional floats are
    stored as ``inf`` (it sorts after every real value) and counted apart."""

    def __init__(self) -> None:
        # one entry per record
        self.times: list[int] = []
        self.records: list[ExecutionRecord] = []
        self.tags: list[frozenset[str]] = []  # the record's and its legs' venues, symbols, modes
        self.outcome: list[str] = []
        self.filled, self.rolled_back = _Sums(), _Sums()
        self.has_slippage, self.slippage_pct = _Sums(), _Exact()  # 0 where None
        self.rollback_cost = _Exact()
        self.has_skew = _Sums()
        self.skew_ms: list[float] = []  # inf where None (it sorts last), counted by has_skew
        # one entry per entry leg (or record-level slippage sample), in the records' order
        self.leg_times: list[int] = []
        self.leg_owner: list[str] = []
        self.leg_venue: list[str] = []
        self.leg_symbol: list[str] = []
        self.leg_mode: list[str] = []
        self.leg_real = _Sums()  # 0 for a record-level slippage sample
        self.asked, self.filled_qty = _Exact(), _Exact()
        self.maker, self.taker, self.fees = _Exact(), _Exact(), _Exact()
        self.bps: list[Decimal | None] = []
        self.has_bps, self.bps_sum = _Sums(), _Exact()
        self.bps_float: list[float] = []
        self.has_ack, self.has_fill = _Sums(), _Sums()
        self.ack_ms: list[float] = []
        self.fill_ms: list[float] = []
        self.bps_by_float: dict[float, set[Decimal]] = {}  # grows only; see _exact_percentiles

    def add(self, record: ExecutionRecord, us: int) -> None:
        at = len(self.times)
        if at and us < self.times[-1]:
            at = bisect_right(self.times, us)
        _insert(self.times, at, us)
        _insert(self.records, at, record)
        _insert(self.tags, at, _tags(record))
        _insert(self.outcome, at, record.outcome)
        self.filled.insert(at, int(record.filled))
        self.rolled_back.insert(at, int(record.outcome == "rolled_back"))
        self.has_slippage.insert(at, int(record.slippage_pct is not None))
        self.slippage_pct.insert_decimal(at, record.slippage_pct or _ZERO)
        self.rollback_cost.insert_decimal(at, record.rollback_cost_usd)
        _optional(self.has_skew, self.skew_ms, at, record.leg_skew_ms)
        lat = len(self.leg_times)
        if lat and us < self.leg_times[-1]:
            lat = bisect_right(self.leg_times, us)
        for leg in record.legs:
            if leg.role == "entry":
                self._add_leg(lat, us, record.execution_id, leg.venue, leg.symbol, leg.mode, 1)
                self.asked.insert_decimal(lat, leg.quantity)
                self.filled_qty.insert_decimal(lat, leg.filled_quantity)
                self.maker.insert_decimal(lat, leg.maker_quantity)
                self.taker.insert_decimal(lat, leg.taker_quantity)
                self.fees.insert_decimal(lat, leg.fees)
                self._add_figures(lat, leg.slippage_bps, leg.time_to_ack_ms, leg.time_to_fill_ms)
                lat += 1
        if not record.legs and record.slippage_pct is not None:
            self._add_leg(lat, us, record.execution_id, record.venue, record.symbol, record.mode, 0)
            for column in (self.asked, self.filled_qty, self.maker, self.taker, self.fees):
                column.insert(lat, 0)
            self._add_figures(lat, record.slippage_pct * _BPS, None, None)

    def _add_leg(
        self, at: int, us: int, owner: str, venue: str, symbol: str, mode: str, real: int
    ) -> None:
        _insert(self.leg_times, at, us)
        _insert(self.leg_owner, at, owner)
        _insert(self.leg_venue, at, venue)
        _insert(self.leg_symbol, at, symbol)
        _insert(self.leg_mode, at, mode)
        self.leg_real.insert(at, real)

    def _add_figures(
        self, at: int, bps: Decimal | None, ack_ms: float | None, fill_ms: float | None
    ) -> None:
        _insert(self.bps, at, bps)
        self.bps_sum.insert_decimal(at, bps or _ZERO)
        _optional(self.has_bps, self.bps_float, at, float(bps) if bps is not None else None)
        if bps is not None:
            self.bps_by_float.setdefault(float(bps), set()).add(bps)
        _optional(self.has_ack, self.ack_ms, at, ack_ms)
        _optional(self.has_fill, self.fill_ms, at, fill_ms)

    def remove(self, record: ExecutionRecord, us: int) -> None:
        at = bisect_left(self.times, us)
        while self.records[at] is not record:
            at += 1
        for column in (self.times, self.records, self.tags, self.outcome, self.skew_ms):
            del column[at]
        for sums in (
            self.filled,
            self.rolled_back,
            self.has_slippage,
            self.slippage_pct,
            self.rollback_cost,
            self.has_skew,
        ):
            sums.delete(at, at + 1)
        lat = bisect_left(self.leg_times, us)
        while lat < len(self.leg_owner) and self.leg_owner[lat] != record.execution_id:
            lat += 1
        end = lat
        while end < len(self.leg_owner) and self.leg_owner[end] == record.execution_id:
            end += 1
        for leg_column in (
            self.leg_times,
            self.leg_owner,
            self.leg_venue,
            self.leg_symbol,
            self.leg_mode,
            self.bps,
            self.bps_float,
            self.ack_ms,
            self.fill_ms,
        ):
            del leg_column[lat:end]
        for leg_sums in (
            self.leg_real,
            self.asked,
            self.filled_qty,
            self.maker,
            self.taker,
            self.fees,
            self.has_bps,
            self.bps_sum,
            self.has_ack,
            self.has_fill,
        ):
            leg_sums.delete(lat, end)


def _optional(present: _Sums, column: list[float], at: int, value: float | None) -> None:
    present.insert(at, int(value is not None))
    _insert(column, at, math.inf if value is None else value)


def _tags(record: ExecutionRecord) -> frozenset[str]:
    tags = {f"venue\0{record.venue}", f"symbol\0{record.symbol}", f"mode\0{record.mode}"}
    for leg in record.legs:
        if leg.role == "entry":  # an unwind's market order does not make the record "market"
            tags.update((f"venue\0{leg.venue}", f"symbol\0{leg.symbol}", f"mode\0{leg.mode}"))
    return frozenset(tags)


class _Pick:
    """Positions in a column: a slice (fast) or a list of indices (after a filter), gathered
    by one ``itemgetter`` built once per pick (the gather then runs in C)."""

    __slots__ = ("_gather", "hi", "indices", "lo")

    def __init__(self, lo: int, hi: int, indices: list[int] | None = None) -> None:
        self.lo, self.hi, self.indices = lo, hi, indices
        self._gather = itemgetter(*indices) if indices is not None and len(indices) > 1 else None

    def take(self, column: list[T]) -> list[T]:
        if self.indices is None:
            return column[self.lo : self.hi]
        if self._gather is None:  # zero or one index: itemgetter would not give a tuple
            return [column[i] for i in self.indices]
        return list(self._gather(column))

    def __len__(self) -> int:
        return self.hi - self.lo if self.indices is None else len(self.indices)

    def split(self, times: list[int], edge: int) -> tuple[_Pick, _Pick]:
        """The positions before time ``edge`` and the rest."""
        if self.indices is None:
            cut = bisect_left(times, edge, self.lo, self.hi)
            return _Pick(self.lo, cut), _Pick(cut, self.hi)
        cut = bisect_left([times[i] for i in self.indices], edge)
        return _Pick(0, 0, self.indices[:cut]), _Pick(0, 0, self.indices[cut:])


@dataclass(frozen=True, slots=True)
class Selection:
    """The records (and legs) of one query: what :meth:`RecordIndex.select` returns."""

    columns: _Columns
    records: _Pick
    legs: _Pick

    def execution_records(self) -> list[ExecutionRecord]:
        return self.records.take(self.columns.records)

    def hours(self, start: datetime | None, end: datetime) -> Iterator[tuple[datetime, Selection]]:
        """Each clock hour (UTC) from the window's first to its last, with its selection."""
        cols = self.columns
        if start is None:
            times = self.records.take(cols.times)
            if not times:
                return
            first = times[0] // _HOUR_US
        else:
            first = (micros(start) + 1) // _HOUR_US  # the start itself is outside the window
        rest = self
        for hour in range(first, micros(end) // _HOUR_US + 1):
            edge = (hour + 1) * _HOUR_US
            records, later_records = rest.records.split(cols.times, edge)
            legs, later_legs = rest.legs.split(cols.leg_times, edge)
            yield _EPOCH + hour * _HOUR_US * _US, Selection(cols, records, legs)
            rest = Selection(cols, later_records, later_legs)

    def summarise(self) -> dict[str, Any]:
        """The figures of this selection (see the module docstring for the conventions)."""
        cols, recs, legs = self.columns, self.records, self.legs
        count = len(recs)
        filled = cols.filled.total(recs)
        with_slippage = cols.has_slippage.total(recs)
        asked = cols.asked.decimal(legs)
        maker = cols.maker.decimal(legs)
        traded = maker + cols.taker.decimal(legs)
        leg_count = cols.leg_real.total(legs)
        bps_count = cols.has_bps.total(legs)
        bps_p50, bps_p95 = _exact_percentiles(cols, legs, bps_count, (50, 95))
        fill_p50, fill_p95 = _percentiles(legs.take(cols.fill_ms), cols.has_fill.total(legs))
        ack_p50, _ = _percentiles(legs.take(cols.ack_ms), cols.has_ack.total(legs))
        skew_p50, _ = _percentiles(recs.take(cols.skew_ms), cols.has_skew.total(recs))
        return {
            "count": count,
            "filled_count": filled,
            "success_rate": filled / count if count else None,
            "outcomes": dict(Counter(recs.take(cols.outcome))),
            "fill_rate": cols.filled_qty.decimal(legs) / asked if asked else None,
            "avg_slippage_pct": (
                cols.slippage_pct.decimal(recs) / with_slippage if with_slippage else None
            ),
            "slippage_bps_p50": bps_p50,
            "slippage_bps_p95": bps_p95,
            "slippage_bps_mean": cols.bps_sum.decimal(legs) / bps_count if bps_count else None,
            "maker_ratio": maker / traded if traded else None,
            "fees": cols.fees.decimal(legs) if leg_count else None,
            "leg_count": leg_count,
            "time_to_ack_ms_p50": ack_p50,
            "time_to_fill_ms_p50": fill_p50,
            "time_to_fill_ms_p95": fill_p95,
            "leg_skew_ms_p50": skew_p50,
            "rollback_count": cols.rolled_back.total(recs),
            "rollback_cost_usd": cols.rollback_cost.decimal(recs) if count else None,
        }


def _percentiles(values: list[float], count: int) -> tuple[float | None, float | None]:
    """p50 and p95 of ``values``, whose ``count`` real values sort before the ``inf``s."""
    if not count:
        return None, None
    values.sort()  # our own copy: a slice or a gather
    return values[_rank(50, count) - 1], values[_rank(95, count) - 1]


def _exact_percentiles(
    cols: _Columns, legs: _Pick, count: int, percents: tuple[int, int]
) -> tuple[Decimal | None, Decimal | None]:
    """Nearest-rank percentiles of the legs' slippage bps, as the exact Decimals.

    The floats are sorted; a chosen float stands for one Decimal unless several distinct
    Decimals ever had that float (then the window's ties are sorted exactly).
    """
    if not count:
        return None, None
    ordered = legs.take(cols.bps_float)
    ordered.sort()
    results: list[Decimal] = []
    for percent in percents:
        rank = _rank(percent, count)
        value = ordered[rank - 1]
        candidates = cols.bps_by_float[value]
        if len(candidates) == 1:
            results.append(next(iter(candidates)))
            continue
        approx, exact = legs.take(cols.bps_float), legs.take(cols.bps)
        tied: list[Decimal] = []
        at = -1
        with suppress(ValueError):  # list.index: the search runs in C, we loop per tie only
            while True:
                at = approx.index(value, at + 1)
                found = exact[at]
                assert found is not None  # a finite float stands for a Decimal
                tied.append(found)
        tied.sort()
        results.append(tied[rank - 1 - bisect_left(ordered, value)])
    return results[0], results[1]


class RecordIndex:
    """Records by time, one per execution id (a later record with the same id replaces it)."""

    def __init__(self) -> None:
        self._all = _Columns()
        self._by_strategy: dict[str, _Columns] = {}
        self._by_id: dict[str, tuple[ExecutionRecord, int]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, execution_id: object) -> bool:
        return execution_id in self._by_id

    def add(self, record: ExecutionRecord, *, replace: bool = True) -> bool:
        """Index ``record``; returns False when its id is already here and not ``replace``."""
        old = self._by_id.get(record.execution_id)
        if old is not None:
            if not replace:
                return False
            old_record, old_us = old
            self._all.remove(old_record, old_us)
            self._by_strategy[old_record.strategy_name].remove(old_record, old_us)
        us = micros(record.time)
        self._all.add(record, us)
        strategy = self._by_strategy.get(record.strategy_name)
        if strategy is None:
            strategy = self._by_strategy[record.strategy_name] = _Columns()
        strategy.add(record, us)
        self._by_id[record.execution_id] = (record, us)
        return True

    def select(
        self,
        strategy_name: str | None,
        start: datetime | None,
        end: datetime,
        venue: str | None = None,
        symbol: str | None = None,
        mode: str | None = None,
    ) -> Selection:
        """The records with ``start < time <= end`` that match the filters, in time order."""
        cols = self._all if strategy_name is None else self._by_strategy.get(strategy_name)
        if cols is None:
            cols = _Columns()
        lo_us = None if start is None else micros(start)
        hi_us = micros(end)
        lo = 0 if lo_us is None else bisect_right(cols.times, lo_us)
        llo = 0 if lo_us is None else bisect_right(cols.leg_times, lo_us)
        records = _Pick(lo, bisect_right(cols.times, hi_us))
        legs = _Pick(llo, bisect_right(cols.leg_times, hi_us))
        filters = (("venue", venue), ("symbol", symbol), ("mode", mode))
        wanted = [f"{name}\0{value}" for name, value in filters if value is not None]
        if wanted:
            tags = frozenset(wanted)
            window = cols.tags[records.lo : records.hi]
            kept = [i for i, have in enumerate(window, records.lo) if tags <= have]
            records = _Pick(0, 0, kept)
            legs = _Pick(0, 0, _matching_legs(cols, legs, venue, symbol, mode))
        return Selection(cols, records, legs)


def _matching_legs(
    cols: _Columns, legs: _Pick, venue: str | None, symbol: str | None, mode: str | None
) -> list[int]:
    indices: Sequence[int] = range(legs.lo, legs.hi)
    for column, value in (
        (cols.leg_venue, venue),
        (cols.leg_symbol, symbol),
        (cols.leg_mode, mode),
    ):
        if value is not None:
            indices = [i for i in indices if column[i] == value]
    return list(indices)
