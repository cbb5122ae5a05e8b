"""The HTML report: what the strategy earned and what execution cost, from the database.

::

    async with Store.open(url) as store:
        await store.upgrade()
        path = await write_report(store, "fundarb-report.html")

One self-contained file (inline CSS and SVG charts; no script, nothing fetched): summary
figures, the equity curve split into funding, basis, fees and slippage, funding per position,
leg slippage per (venue, mode), and tables of positions, executions and incidents.
:func:`render_report` is the pure part, from rows to HTML.
"""

from fundarb.report.page import render_report
from fundarb.report.summary import Summary, summarize
from fundarb.report.write import ReportData, write_report

__all__ = ["ReportData", "Summary", "render_report", "summarize", "write_report"]
