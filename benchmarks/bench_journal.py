"""Journal overhead: a two-leg zero-latency atomic execution with and without the
write-ahead journal, on SQLite (a file) and on PostgreSQL.

    .venv/bin/python benchmarks/bench_journal.py [--runs N] [--postgres URL]

Prints a Markdown table. PostgreSQL defaults to the server on 127.0.0.1:5432 (trust auth,
database ``test``); a fresh database is created for the run and dropped after it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench_atomic import _pair_specs, _venue
from common import Row, latency, print_table
from fundarb.execution import AtomicMultiOrderExecutor, AtomicOutcome, OrderExecutor
from fundarb.storage import Store
from fundarb.storage.journal import Journal


async def _timed(executor: AtomicMultiOrderExecutor, runs: int) -> list[int]:
    a, b = _venue("a", 0.0), _venue("b", 0.0)
    samples = []
    for i in range(runs + 10):
        start = time.perf_counter_ns()
        result = await executor.execute_atomically(_pair_specs(a, b))
        elapsed = time.perf_counter_ns() - start
        assert result.outcome is AtomicOutcome.FILLED, result.error_message
        if i >= 10:
            samples.append(elapsed)
    return samples


async def _with_journal(url: str, runs: int, spool: Path) -> list[int]:
    async with Store.open(url) as store:
        await store.upgrade()
        journal = Journal(store, spool_path=spool)
        return await _timed(AtomicMultiOrderExecutor(executor=OrderExecutor(journal=journal)), runs)


async def run(runs: int, postgres: str) -> list[Row]:
    base = await _timed(AtomicMultiOrderExecutor(), runs)
    rows: list[Row] = [("two-leg execution, no journal", latency(base), f"{runs} runs")]
    with tempfile.TemporaryDirectory() as folder:
        spool = Path(folder) / "spool.jsonl"
        sqlite = await _with_journal(f"sqlite:///{folder}/journal.db", runs, spool)
        rows.append(_added("SQLite file (WAL)", sqlite, base, runs))
        import asyncpg

        admin = await asyncpg.connect(postgres)
        name = f"fundarb_bench_{uuid.uuid4().hex[:8]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            pg = await _with_journal(f"{postgres.rsplit('/', 1)[0]}/{name}", runs, spool)
            rows.append(_added("PostgreSQL (local)", pg, base, runs))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    return rows


def _added(name: str, samples: list[int], base: list[int], runs: int) -> Row:
    added_ms = (statistics.median(samples) - statistics.median(base)) / 1e6
    return (
        f"with the journal on {name}",
        latency(samples),
        f"p50 added: {added_ms:.2f} ms (goal ≤ 2 ms); 5 entries in 2 commits per execution",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="runs (default: %(default)s)")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="an admin URL to create a scratch database (default: %(default)s)",
    )
    args = parser.parse_args()
    print_table(asyncio.run(run(args.runs, args.postgres)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
