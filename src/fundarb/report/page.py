"""The report page: one self-contained HTML file (inline CSS and SVG, no script, nothing
fetched), built from stored rows by :func:`render_report`. Every stored string is escaped."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from typing import Final

from fundarb.execution.monitoring.records import ExecutionRecord
from fundarb.execution.patterns.incidents import Incident
from fundarb.report.charts import Bar, Box, Series, bar_chart, box_plot, line_chart
from fundarb.report.formats import bps, milliseconds, quantity, timestamp, usd
from fundarb.report.summary import (
    CurvePoint,
    Summary,
    equity_curve,
    exact_quantile,
    slippage_by_venue_mode,
    summarize,
)
from fundarb.storage.positions import EquityPoint, PositionRow

__all__ = ["render_report"]

_BPS: Final = Decimal(10_000)
_MAX_CURVE_POINTS: Final = 1_500
_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;
color:#222;background:#fff}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
.meta,.note{color:#666;font-size:.9rem}
.empty{background:#fff8e1;border:1px solid #f0d77a;padding:.8rem 1rem;border-radius:4px}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem .9rem;min-width:9rem}
.card .label{color:#666;font-size:.8rem}.card .value{font-size:1.3rem;font-weight:600}
.chart{width:100%;max-width:900px;height:auto;display:block}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.82rem;margin:.6rem 0}
th,td{border-bottom:1px solid #eee;padding:.25rem .5rem;text-align:left;white-space:nowrap}
th{background:#f6f6f6;position:sticky;top:0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.neg{color:#c0392b}.bad td{background:#fff4f2}
td.wrap{white-space:normal;max-width:28rem}
"""
# The equity curve's lines, in the order of _components: (name, colour).
_COMPONENTS: Final = (
    ("funding", "#2a9d8f"),
    ("basis", "#457b9d"),
    ("fees (cost)", "#e76f51"),
    ("slippage (cost)", "#f4a261"),
    ("total PnL", "#222222"),
)


def render_report(
    positions: Sequence[PositionRow],
    equity: Sequence[EquityPoint],
    executions: Sequence[ExecutionRecord],
    incidents: Sequence[Incident],
    *,
    generated_at: datetime,
    title: str = "fundarb report",
    database: str | None = None,
    max_rows: int = 500,
    max_bars: int = 40,
) -> str:
    """The report as one HTML document.

    ``equity`` in time order (as the store returns it). ``database`` is shown as given:
    pass ``Store.name``, which hides the password. Tables list the ``max_rows`` most recent
    rows, the funding chart the ``max_bars`` most recent positions; a note says so when
    there are more.
    """
    if max_rows < 1 or max_bars < 1:
        raise ValueError(f"max_rows and max_bars must be at least 1, got {max_rows}, {max_bars}")
    summary = summarize(positions, equity, executions, incidents)
    meta = f"Generated {timestamp(generated_at)} UTC"
    if database is not None:
        meta += f" from {database}"
    body = [f'<header><h1>{escape(title)}</h1><p class="meta">{escape(meta)}</p></header>']
    if summary.empty:
        body.append(
            '<p class="empty">The database holds no positions, equity points, executions or '
            "incidents yet: nothing to report. Run the strategy (or <code>fundarb demo</code>) "
            "first.</p>"
        )
    body += [
        _summary(summary, equity_curve(equity)),
        _equity_section(equity),
        _funding_section(positions, max_bars),
        _slippage_section(executions),
        _positions_section(positions, max_rows),
        _executions_section(executions, max_rows),
        _incidents_section(incidents, max_rows),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# -- sections ---------------------------------------------------------------------------------


def _summary(summary: Summary, curve: Sequence[CurvePoint]) -> str:
    cards = [
        ("Total PnL (USD)", usd(summary.pnl_usd)),
        ("Funding", usd(summary.funding_usd)),
        ("Basis", usd(summary.basis_usd)),
        ("Fees", usd(-summary.fees_usd)),
        ("Slippage", usd(-summary.slippage_usd)),
        ("Positions opened", str(summary.opened)),
        ("Closed / live / failed", f"{summary.closed} / {summary.live} / {summary.failed}"),
        ("Executions (filled)", f"{summary.executions} ({summary.filled})"),
        ("Rollback cost (USD)", usd(summary.rollback_cost_usd)),
        ("Incidents (unresolved)", f"{summary.incidents} ({summary.unresolved})"),
    ]
    if curve and curve[-1].equity_usd is not None:
        cards.append(("Equity, last (USD)", usd(curve[-1].equity_usd)))
    items = "".join(
        f'<div class="card"><div class="label">{escape(label)}</div>'
        f'<div class="value{_neg(value)}">{escape(value)}</div></div>'
        for label, value in cards
    )
    return (
        f'<section id="summary"><h2>Summary</h2><div class="cards">{items}</div>'
        '<p class="note">PnL = funding + basis − fees − slippage, over every stored position '
        "(open ones marked to market at their last update). Fees and slippage are shown as "
        "costs.</p></section>"
    )


def _equity_section(equity: Sequence[EquityPoint]) -> str:
    head = '<section id="equity"><h2>Equity curve</h2>'
    curve = equity_curve(equity)
    if not curve:
        return head + '<p class="note">No equity points recorded.</p></section>'
    shown = _thin(curve, _MAX_CURVE_POINTS)
    values = [(p.time.timestamp(), _components(p)) for p in shown]
    series = [
        Series(
            name,
            color,
            [(x, float(parts[i])) for x, parts in values],
            2.5 if name == "total PnL" else 1.5,
        )
        for i, (name, color) in enumerate(_COMPONENTS)
    ]
    span = curve[-1].time - curve[0].time
    time_format = "%m-%d %H:%M" if span.total_seconds() >= 86_400 else "%H:%M:%S"
    chart = line_chart(
        series,
        title="PnL over time by component (USD)",
        x_label=lambda x: f"{datetime.fromtimestamp(x, UTC):{time_format}}",
        y_label=_axis_number,
    )
    last = curve[-1]
    note = (
        f"{len(curve)} points from {timestamp(curve[0].time)} to {timestamp(last.time)} UTC "
        f"(venue time), summed over strategies; last: total {usd(last.pnl_usd)} USD = "
        f"funding {usd(last.funding_usd)} + basis {usd(last.basis_usd)} − fees "
        f"{usd(last.fees_usd)} − slippage {usd(last.slippage_usd)}."
    )
    if len(shown) < len(curve):
        note += f" The chart draws {len(shown)} of them, evenly spaced."
    return f'{head}{chart}<p class="note">{escape(note)}</p></section>'


def _funding_section(positions: Sequence[PositionRow], max_bars: int) -> str:
    head = '<section id="funding"><h2>Funding earned per position</h2>'
    held = [p for p in positions if p.opened_at is not None or p.funding_usd != 0]
    if not held:
        return head + '<p class="note">No position has been opened.</p></section>'
    shown = held[-max_bars:]
    bars = [
        Bar(
            f"{p.symbol} {p.long_venue}/{p.short_venue} {p.position_id[:8]}",
            float(p.funding_usd),
            f"{p.position_id} {p.symbol}: long {p.long_venue}, short {p.short_venue}; "
            f"funding {usd(p.funding_usd)} USD; {p.state}",
        )
        for p in shown
    ]
    chart = bar_chart(bars, title="Funding earned per position (USD)", value_label=_axis_number)
    note = "Funding received (positive) or paid, per position, oldest at the top."
    if len(shown) < len(held):
        note += f" The {len(shown)} most recent of {len(held)} positions."
    return f'{head}{chart}<p class="note">{escape(note)}</p></section>'


def _slippage_section(executions: Sequence[ExecutionRecord]) -> str:
    head = '<section id="slippage"><h2>Slippage per venue and mode</h2>'
    groups = slippage_by_venue_mode(executions)
    if not groups:
        return head + '<p class="note">No filled leg with a known arrival price.</p></section>'
    boxes = [
        Box(f"{venue} · {mode}", [float(v) for v in values])
        for (venue, mode), values in groups.items()
    ]
    chart = box_plot(boxes, title="Leg slippage (bps, positive is cost)", value_label=_axis_number)
    rows = [
        [
            _cell(venue),
            _cell(mode),
            _num(str(len(values))),
            _num(bps(sum(values, Decimal(0)) / len(values))),
            _num(bps(exact_quantile(values, Decimal("0.5")))),
            _num(bps(exact_quantile(values, Decimal("0.9")))),
            _num(bps(values[-1])),
        ]
        for (venue, mode), values in groups.items()
    ]
    table = _table(
        ["Venue", "Mode", "Legs", "Mean bps", "Median bps", "p90 bps", "Worst bps"], rows
    )
    note = (
        "Each filled order leg (entries, hedges and unwinds) against its arrival mid; the box "
        "spans the quartiles, the whiskers reach the furthest legs within 1.5 IQR, dots are "
        "the legs beyond."
    )
    return f'{head}{chart}<p class="note">{escape(note)}</p>{table}</section>'


def _positions_section(positions: Sequence[PositionRow], max_rows: int) -> str:
    head = '<section id="positions"><h2>Positions</h2>'
    if not positions:
        return head + '<p class="note">No positions recorded.</p></section>'
    shown = list(reversed(positions))[:max_rows]
    rows = [
        [
            _cell(timestamp(p.opened_at or p.created_at)),
            _cell(p.position_id),
            _cell(p.symbol),
            _cell(p.state),
            _cell(f"{p.long_venue} {p.long_symbol}"),
            _cell(f"{p.short_venue} {p.short_symbol}"),
            _num(quantity(p.quantity)),
            _num(usd(p.notional_usd)),
            _num(usd(p.funding_usd)),
            _num(usd(p.basis_usd)),
            _num(usd(p.fees_usd)),
            _num(usd(p.slippage_usd)),
            _num(usd(p.pnl_usd)),
            _cell(timestamp(p.closed_at)),
            _cell(p.exit_reason or "—"),
        ]
        for p in shown
    ]
    bad = [p.state == "failed" for p in shown]
    columns = ["Opened", "Position", "Symbol", "State", "Long", "Short", "Quantity"]
    columns += ["Notional", "Funding", "Basis", "Fees", "Slippage", "PnL", "Closed", "Exit"]
    return (
        head
        + _capped(len(shown), len(positions), "positions")
        + _table(columns, rows, bad)
        + "</section>"
    )


def _executions_section(executions: Sequence[ExecutionRecord], max_rows: int) -> str:
    head = '<section id="executions"><h2>Executions</h2>'
    if not executions:
        return head + '<p class="note">No executions recorded.</p></section>'
    shown = sorted(executions, key=lambda e: e.time, reverse=True)[:max_rows]
    rows = []
    for e in shown:
        venues = ", ".join(dict.fromkeys(leg.venue for leg in e.legs)) or e.venue or "—"
        slip = "—" if e.slippage_pct is None else bps(e.slippage_pct * _BPS)
        rows.append(
            [
                _cell(timestamp(e.time)),
                _cell(e.execution_id),
                _cell(e.strategy_name),
                _cell(e.symbol),
                _cell(e.outcome),
                _cell(e.mode or "—"),
                _cell(venues),
                _num(str(len(e.legs))),
                _num(slip),
                _num(usd(sum((leg.fees for leg in e.legs), Decimal(0)))),
                _num(usd(e.rollback_cost_usd)),
                _num(milliseconds(e.elapsed_ms)),
                _num(milliseconds(e.leg_skew_ms)),
                _cell(_clip(e.error_message or "", 300), wrap=True),
            ]
        )
    bad = [not e.filled for e in shown]
    columns = ["Time", "Execution", "Strategy", "Symbol", "Outcome", "Mode", "Venues", "Legs"]
    columns += ["Slippage bps", "Fees", "Rollback", "Elapsed ms", "Skew ms", "Error"]
    return (
        head
        + _capped(len(shown), len(executions), "executions")
        + _table(columns, rows, bad)
        + "</section>"
    )


def _incidents_section(incidents: Sequence[Incident], max_rows: int) -> str:
    head = '<section id="incidents"><h2>Incidents</h2>'
    if not incidents:
        return head + '<p class="note">No incidents: every hedge held.</p></section>'
    shown = sorted(incidents, key=lambda i: i.time, reverse=True)[:max_rows]
    rows = [
        [
            _cell(timestamp(i.time)),
            _cell(i.incident_id),
            _cell(str(i.kind)),
            _cell(i.execution_id),
            _cell(
                "; ".join(
                    f"{leg.venue} {leg.symbol} {quantity(leg.quantity)}"
                    + ("" if leg.price is None else f" @ {quantity(leg.price)}")
                    for leg in i.legs
                ),
                wrap=True,
            ),
            _num(usd(i.cost_usd)),
            _cell("yes" if i.resolved else "no"),
            _cell(" | ".join(i.actions), wrap=True),
            _cell(i.resolution or "—", wrap=True),
        ]
        for i in shown
    ]
    bad = [not i.resolved for i in shown]
    columns = ["Time", "Incident", "Kind", "Execution", "Legs", "Cost", "Resolved"]
    columns += ["Actions", "Resolution"]
    return (
        head
        + _capped(len(shown), len(incidents), "incidents")
        + _table(columns, rows, bad)
        + "</section>"
    )


# -- pieces -----------------------------------------------------------------------------------


def _table(columns: Sequence[str], rows: Iterable[Sequence[str]], bad: Sequence[bool] = ()) -> str:
    numeric = {"Legs", "Quantity", "Notional", "Funding", "Basis", "Fees", "Slippage", "PnL"}
    numeric |= {"Rollback", "Elapsed ms", "Skew ms", "Cost", "Slippage bps"}
    head = "".join(
        f'<th class="num">{escape(c)}</th>'
        if c in numeric or c.endswith(" bps")
        else f"<th>{escape(c)}</th>"
        for c in columns
    )
    body = "\n".join(
        ('<tr class="bad">' if i < len(bad) and bad[i] else "<tr>") + "".join(cells) + "</tr>"
        for i, cells in enumerate(rows)
    )
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def _cell(text: str, *, wrap: bool = False) -> str:
    return f'<td class="wrap">{escape(text)}</td>' if wrap else f"<td>{escape(text)}</td>"


def _num(text: str) -> str:
    return f'<td class="num{_neg(text)}">{escape(text)}</td>'


def _neg(text: str) -> str:
    return " neg" if text.startswith("-") else ""


def _capped(shown: int, total: int, what: str) -> str:
    if shown == total:
        return f'<p class="note">{total} {what}, most recent first.</p>'
    return f'<p class="note">The {shown} most recent of {total} {what}.</p>'


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _components(point: CurvePoint) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
    """Each line's value, signed as it adds to PnL (fees and slippage as negatives)."""
    return (
        point.funding_usd,
        point.basis_usd,
        -point.fees_usd,
        -point.slippage_usd,
        point.pnl_usd,
    )


def _thin(points: Sequence[CurvePoint], limit: int) -> list[CurvePoint]:
    """At most ``limit`` points, evenly spaced, always keeping the first and the last."""
    if len(points) <= limit:
        return list(points)
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def _axis_number(value: float) -> str:
    if value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.4f}".rstrip("0").rstrip(".")
