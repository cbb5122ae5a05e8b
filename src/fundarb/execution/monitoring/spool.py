"""The spool file: execution records as JSON lines, for while the store is down.

Blocking file work, each function run in a worker thread by the tracker, which serialises
them with a lock. Every write is fsynced, and so is the directory when an entry is created,
renamed or removed. A flush first moves the spool aside to ``<spool>.flushing`` (appending
onto what an unfinished flush left), so records spooled while the store is being written are
never truncated away; lines that cannot be parsed go to ``<spool>.rejected``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fundarb.execution.monitoring.records import ExecutionRecord

__all__ = ["append", "claim", "discard", "flushing_path", "read", "rejected_path"]


def flushing_path(spool: Path) -> Path:
    return spool.with_name(spool.name + ".flushing")


def rejected_path(spool: Path) -> Path:
    return spool.with_name(spool.name + ".rejected")


def append(path: Path, lines: list[str]) -> None:
    """Append ``lines`` to ``path`` (created 0600) and fsync; a torn last line is closed first."""
    created = not path.exists()
    if created:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = "".join(line + "\n" for line in lines).encode()
    with open(path, "a+b", opener=lambda p, flags: os.open(p, flags, 0o600)) as out:
        size = out.seek(0, os.SEEK_END)
        if size:
            out.seek(size - 1)
            if out.read(1) != b"\n":  # a crash mid-line: do not glue the next record to it
                data = b"\n" + data
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    if created:
        _fsync_dir(path.parent)


def claim(spool: Path) -> tuple[list[ExecutionRecord], int]:
    """Move the spool aside (onto what an unfinished flush left) and parse it.

    Returns the records and the number of unparsable lines (moved to ``.rejected``).
    """
    flushing = flushing_path(spool)
    if spool.exists():
        if flushing.exists():
            append(flushing, spool.read_text(encoding="utf-8", errors="replace").splitlines())
            spool.unlink()  # a crash before this only duplicates records (sent once, upserted)
        else:
            spool.replace(flushing)
        _fsync_dir(spool.parent)
    if not flushing.exists():
        return [], 0
    records, bad = _parse(flushing.read_text(encoding="utf-8", errors="replace"))
    if bad:
        append(rejected_path(spool), bad)
        # the good lines alone, so the bad ones are not rejected twice
        kept = [json.dumps(r.to_dict(), separators=(",", ":")) for r in records]
        tmp = flushing.with_name(flushing.name + ".tmp")
        tmp.unlink(missing_ok=True)
        if kept:
            append(tmp, kept)
            tmp.replace(flushing)
        else:
            flushing.unlink()
        _fsync_dir(spool.parent)
    return records, len(bad)


def read(spool: Path) -> list[ExecutionRecord]:
    """The records in the spool and in an unfinished flush, without moving anything."""
    records: list[ExecutionRecord] = []
    for path in (flushing_path(spool), spool):
        if path.exists():
            records.extend(_parse(path.read_text(encoding="utf-8", errors="replace"))[0])
    return records


def _parse(text: str) -> tuple[list[ExecutionRecord], list[str]]:
    records: list[ExecutionRecord] = []
    bad: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            records.append(ExecutionRecord.from_dict(json.loads(line)))
        except ValueError:  # json's errors are ValueErrors too
            bad.append(line)
    return records, bad


def discard(path: Path) -> None:
    if path.exists():
        path.unlink()
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a created, renamed or removed directory entry durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
