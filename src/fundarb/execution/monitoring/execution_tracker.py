"""``ExecutionTracker``: every execution's record kept, written through, and never lost.

::

    tracker = ExecutionTracker(store)          # in memory only when store is None
    await tracker.record_execution(ExecutionRecord.from_result(result, strategy_name="arb"))
    stats = tracker.get_execution_stats("arb", time_window_hours=24)

Records are kept in memory, indexed by time, for the statistics (the :mod:`.stats` module
says what each figure means). With a store, each record is also written through
:meth:`ExecutionRecordStore.save_execution_records`. When that write fails, for any reason,
the record is appended as one JSON line to the spool file (fsynced) and a WARNING is
logged: the trade is never blocked by bookkeeping. The spool is written to the store by
:meth:`ExecutionTracker.flush_spool`, which runs by itself after the next successful write,
and is removed only once the store has taken every record in it.

The spool is ``$FUNDARB_SPOOL`` when set, else ``spool.jsonl`` in fundarb's data directory
(``$FUNDARB_HOME``, else ``$XDG_DATA_HOME/fundarb``, else ``~/.local/share/fundarb``; the
database's default directory). How it is written and flushed: :mod:`.spool`; lines that
cannot be parsed are moved to ``<spool>.rejected`` and logged at ERROR, never dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

from fundarb.concurrency import finish_shielded
from fundarb.execution.monitoring import export, spool
from fundarb.execution.monitoring.records import ExecutionRecord, LegRecord
from fundarb.execution.monitoring.stats import RecordIndex, window_bounds
from fundarb.logs import log_event

__all__ = [
    "ExecutionRecord",
    "ExecutionRecordStore",
    "ExecutionTracker",
    "LegRecord",
    "default_spool_path",
]

logger = logging.getLogger("fundarb.execution")

_FLUSH_BATCH: Final = 500  # records per store call when a spool is flushed


class ExecutionRecordStore(Protocol):
    """Where execution records are kept for good (the storage layer implements this).

    Saving must be idempotent per ``execution_id`` (an upsert, or a no-op for a record
    already stored): the tracker re-sends spooled records, and a write that raised may have
    been committed all the same.
    """

    async def save_execution_records(self, records: Sequence[ExecutionRecord]) -> None:
        """Store ``records`` (all of them, or raise)."""
        ...

    async def load_execution_records(
        self, *, since: datetime | None = None
    ) -> list[ExecutionRecord]:
        """The stored records whose ``time`` is ``since`` or later (all when None)."""
        ...


def default_spool_path() -> Path:
    """The spool file used when none is given (see the module docstring)."""
    explicit = os.environ.get("FUNDARB_SPOOL")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("FUNDARB_HOME")
    if home:
        return Path(home).expanduser() / "spool.jsonl"
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "fundarb" / "spool.jsonl"


class ExecutionTracker:
    """Keeps execution records in memory and in ``store``; computes statistics over them."""

    def __init__(
        self, store: ExecutionRecordStore | None = None, *, spool_path: str | Path | None = None
    ) -> None:
        self._store = store
        path = Path(spool_path).expanduser() if spool_path is not None else default_spool_path()
        self._spool_path = path
        self._flushing = spool.flushing_path(path)
        self._index = RecordIndex()
        self._spool_lock = asyncio.Lock()  # appends vs a flush moving the spool aside
        self._flush_lock = asyncio.Lock()  # one flush at a time
        self._unsaved: list[ExecutionRecord] = []  # neither the store nor the spool took them
        # an earlier run may have left a spool: look at the first successful write
        self._spool_pending = store is not None

    @property
    def store(self) -> ExecutionRecordStore | None:
        return self._store

    @property
    def spool_path(self) -> Path:
        return self._spool_path

    def __len__(self) -> int:
        return len(self._index)

    # -- recording ---------------------------------------------------------------------------

    async def record_execution(self, record: ExecutionRecord) -> None:
        """Keep ``record`` (replacing one with the same id) and write it to the store.

        Never raises because of the store: a failed write spools the record (WARNING).
        A cancellation during the write spools it too, then propagates. Raises
        ``TypeError`` for anything but an :class:`ExecutionRecord`.
        """
        if not isinstance(record, ExecutionRecord):
            raise TypeError(f"record must be an ExecutionRecord, got {type(record).__name__}")
        self._index.add(record)
        if self._store is None:
            return
        try:
            await self._store.save_execution_records([record])
        except asyncio.CancelledError:
            # the write's fate is unknown: spool the record (saving is idempotent)
            await finish_shielded(self._to_spool([record], "cancelled during the write"))
            raise
        except Exception as exc:  # noqa: BLE001
            # whatever the store raised, the trade must not be blocked by bookkeeping: the
            # record waits in the spool until the store is back
            await self._to_spool([record], repr(exc))
            return
        if self._spool_pending and not self._flush_lock.locked():
            await self._flush_quietly()

    async def flush_spool(self) -> int:
        """Write the spooled records to the store; returns how many were written.

        The spool is removed only after the store took every record; if the store raises,
        the error propagates and the records stay spooled. Without a store, returns 0.
        """
        if self._store is None:
            return 0
        async with self._flush_lock:
            async with self._spool_lock:
                spooled, rejected = await asyncio.to_thread(spool.claim, self._spool_path)
                unsaved = list(self._unsaved)
            if rejected:
                log_event(
                    logger,
                    logging.ERROR,
                    "tracker.spool_rejected",
                    path=self._spool_path,
                    lines=rejected,
                    moved_to=spool.rejected_path(self._spool_path),
                )
            # a record spooled twice (re-recorded, or a flush interrupted) is sent once, last wins
            batch = list({r.execution_id: r for r in (*spooled, *unsaved)}.values())
            for start in range(0, len(batch), _FLUSH_BATCH):
                await self._store.save_execution_records(batch[start : start + _FLUSH_BATCH])
            async with self._spool_lock:
                await asyncio.to_thread(spool.discard, self._flushing)
                sent = {id(r) for r in unsaved}
                self._unsaved = [r for r in self._unsaved if id(r) not in sent]
                self._spool_pending = bool(self._unsaved) or await asyncio.to_thread(
                    self._spool_path.exists
                )
        if batch:
            log_event(
                logger,
                logging.INFO,
                "tracker.spool_flushed",
                records=len(batch),
                path=self._spool_path,
            )
        return len(batch)

    async def load(self, *, since: datetime | None = None) -> int:
        """Fill memory from the store, then from the spool (records not in the store yet).

        Only records with ``time >= since`` (all when None); records already in memory are
        kept as they are. Returns how many were added; raises what the store raises.
        """
        stored = (
            [] if self._store is None else await self._store.load_execution_records(since=since)
        )
        async with self._spool_lock:
            spooled = await asyncio.to_thread(spool.read, self._spool_path)
        pending = [r for r in (*spooled, *self._unsaved) if since is None or r.time >= since]
        added = 0
        # the store's first, then what it has not got yet; in time order, so the index appends
        for records in (stored, pending):
            for record in sorted(records, key=lambda r: r.time):
                added += self._index.add(record, replace=False)
        return added

    async def _flush_quietly(self) -> None:
        try:
            await self.flush_spool()
        except Exception as exc:  # noqa: BLE001
            # a failed flush leaves the spool as it was; the next successful write retries
            log_event(
                logger,
                logging.WARNING,
                "tracker.flush_failed",
                path=self._spool_path,
                error=repr(exc),
            )

    async def _to_spool(self, records: list[ExecutionRecord], cause: str) -> None:
        lines = [json.dumps(r.to_dict(), separators=(",", ":")) for r in records]
        async with self._spool_lock:
            self._spool_pending = True
            try:
                await asyncio.to_thread(spool.append, self._spool_path, lines)
            except OSError as exc:
                self._unsaved.extend(records)  # kept for the next flush; the log keeps a copy
                for line in lines:
                    log_event(
                        logger,
                        logging.CRITICAL,
                        "tracker.spool_failed",
                        path=self._spool_path,
                        error=repr(exc),
                        cause=cause,
                        record=line,
                    )
                return
        for record in records:
            log_event(
                logger,
                logging.WARNING,
                "tracker.spooled",
                execution_id=record.execution_id,
                path=self._spool_path,
                error=cause,
            )

    # -- statistics and exports --------------------------------------------------------------

    def records(
        self,
        strategy_name: str | None = None,
        time_window_hours: float | None = None,
        *,
        venue: str | None = None,
        symbol: str | None = None,
        mode: str | None = None,
        now: datetime | None = None,
    ) -> list[ExecutionRecord]:
        """The records in the window that match the filters, oldest first (records of one
        time in the order recorded); every record up to ``now`` by default."""
        start, end = window_bounds(time_window_hours, now)
        return self._index.select(
            strategy_name, start, end, venue, symbol, mode
        ).execution_records()

    def get_execution_stats(
        self,
        strategy_name: str | None = None,
        time_window_hours: float | None = 24,
        *,
        venue: str | None = None,
        symbol: str | None = None,
        mode: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Figures over the records of the last ``time_window_hours`` before ``now``.

        Keys: ``count``, ``filled_count``, ``success_rate`` (filled records / count),
        ``outcomes`` (count per outcome), ``fill_rate`` (filled / asked quantity over the
        legs), ``avg_slippage_pct`` (the records' mean, a fraction), ``slippage_bps_p50``,
        ``slippage_bps_p95``, ``slippage_bps_mean`` (over the legs), ``maker_ratio`` (maker
        / traded quantity), ``fees``, ``leg_count``, ``time_to_ack_ms_p50``,
        ``time_to_fill_ms_p50``, ``time_to_fill_ms_p95``, ``leg_skew_ms_p50``,
        ``rollback_count`` (outcome ``rolled_back``), ``rollback_cost_usd``, and the
        window as ``window_start`` (exclusive; None for all) and ``window_end``. Conventions
        (filters, nearest-rank percentiles, None for no data) are in
        :mod:`fundarb.execution.monitoring.stats`. Raises ``ValueError`` for a bad window.
        """
        start, end = window_bounds(time_window_hours, now)
        selection = self._index.select(strategy_name, start, end, venue, symbol, mode)
        return {**selection.summarise(), "window_start": start, "window_end": end}

    def hourly_series(
        self,
        strategy_name: str | None = None,
        time_window_hours: float | None = 24,
        *,
        venue: str | None = None,
        symbol: str | None = None,
        mode: str | None = None,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """One dict per clock hour (UTC) of the window, oldest first, empty hours included:
        ``hour`` (its start) and the keys of :meth:`get_execution_stats` for its records."""
        start, end = window_bounds(time_window_hours, now)
        selection = self._index.select(strategy_name, start, end, venue, symbol, mode)
        return [{"hour": hour, **part.summarise()} for hour, part in selection.hours(start, end)]

    def export_csv(
        self,
        path: str | Path,
        strategy_name: str | None = None,
        time_window_hours: float | None = None,
        *,
        venue: str | None = None,
        symbol: str | None = None,
        mode: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Write the selected records (all by default) to ``path`` as CSV, one row per leg
        (format: :mod:`fundarb.execution.monitoring.export`); returns the row count."""
        selected = self.records(
            strategy_name, time_window_hours, venue=venue, symbol=symbol, mode=mode, now=now
        )
        return export.write_csv(path, selected)

    def export_parquet(
        self,
        path: str | Path,
        strategy_name: str | None = None,
        time_window_hours: float | None = None,
        *,
        venue: str | None = None,
        symbol: str | None = None,
        mode: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Write the selected records (all by default) to ``path`` as Parquet, one row per
        leg, decimals as exact strings (see :mod:`~fundarb.execution.monitoring.export`);
        returns the row count."""
        selected = self.records(
            strategy_name, time_window_hours, venue=venue, symbol=symbol, mode=mode, now=now
        )
        return export.write_parquet(path, selected)
