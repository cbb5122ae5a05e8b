"""Reading the report's rows from the store and writing the file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fundarb.execution.monitoring.records import ExecutionRecord
from fundarb.execution.patterns.incidents import Incident
from fundarb.report.page import render_report
from fundarb.report.summary import Summary, summarize
from fundarb.storage.positions import EquityPoint, PositionRow

if TYPE_CHECKING:
    from fundarb.storage import Store

__all__ = ["ReportData", "write_report"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportData:
    """Everything the report shows, as read from one database."""

    database: str  # Store.name: the password hidden
    positions: tuple[PositionRow, ...]
    equity: tuple[EquityPoint, ...]
    executions: tuple[ExecutionRecord, ...]
    incidents: tuple[Incident, ...]

    @classmethod
    async def load(cls, store: Store) -> ReportData:
        """Read every position, equity point, execution record and incident.

        The store must be migrated (``await store.upgrade()``). Raises ``StorageError``.
        """
        return cls(
            database=store.name,
            positions=tuple(await store.load_positions()),
            equity=tuple(await store.load_equity()),
            executions=tuple(await store.load_execution_records()),
            incidents=tuple(await store.load_incidents()),
        )

    @property
    def summary(self) -> Summary:
        return summarize(self.positions, self.equity, self.executions, self.incidents)

    def render(self, *, title: str = "fundarb report", generated_at: datetime | None = None) -> str:
        """The HTML page (``generated_at`` defaults to now)."""
        return render_report(
            self.positions,
            self.equity,
            self.executions,
            self.incidents,
            title=title,
            generated_at=generated_at or datetime.now(UTC),
            database=self.database,
        )

    def write(
        self,
        path: Path | str,
        *,
        title: str = "fundarb report",
        generated_at: datetime | None = None,
    ) -> Path:
        """Write the page to ``path`` (replaced whole: a reader never sees half a file);
        returns the path. Raises ``OSError`` when it cannot be written."""
        target = Path(path).expanduser()
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(self.render(title=title, generated_at=generated_at), encoding="utf-8")
        try:
            os.replace(partial, target)
        except OSError:
            partial.unlink(missing_ok=True)
            raise
        return target


async def write_report(
    store: Store,
    path: Path | str,
    *,
    title: str = "fundarb report",
    generated_at: datetime | None = None,
) -> Path:
    """Render the report of everything in ``store`` (migrated) to ``path``; returns the
    path. Raises ``StorageError`` (reading) or ``OSError`` (writing)."""
    data = await ReportData.load(store)
    return data.write(path, title=title, generated_at=generated_at)
