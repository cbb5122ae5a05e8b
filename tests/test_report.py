"""The HTML report: figures, charts, tables, escaping, the empty database, `fundarb report`."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from html.parser import HTMLParser
from pathlib import Path

import pytest

import fundarb.report
from fundarb.execution.monitoring.records import ExecutionRecord, LegRecord
from fundarb.execution.patterns.incidents import Incident, IncidentKind, IncidentLeg
from fundarb.report import render_report, summarize, write_report
from fundarb.report.charts import quantile, ticks
from fundarb.report.formats import bps, usd
from fundarb.report.summary import equity_curve, exact_quantile, slippage_by_venue_mode
from fundarb.storage import Store
from fundarb.storage.positions import EquityPoint, PositionRow

T0 = datetime(2024, 8, 8, tzinfo=UTC)
NOW = datetime(2024, 8, 11, 12, 0, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script>"


def position(n: int, **overrides: object) -> PositionRow:
    values: dict[str, object] = {
        "position_id": f"pos-{n:04d}",
        "strategy_name": "funding-arb",
        "symbol": "BTC",
        "state": "closed",
        "long_venue": "alpha",
        "long_symbol": "BTCUSDT",
        "short_venue": "beta",
        "short_symbol": "BTC-PERP",
        "quantity": D("0.010"),
        "notional_usd": D("600.00"),
        "created_at": T0 + timedelta(hours=n),
        "opened_at": T0 + timedelta(hours=n, seconds=2),
        "closed_at": T0 + timedelta(hours=n + 8),
        "exit_reason": "max_holding",
        "funding_usd": D("1.25"),
        "basis_usd": D("-0.10"),
        "fees_usd": D("0.48"),
        "slippage_usd": D("0.12"),
        "pnl_usd": D("0.55"),
        "updated_at": T0 + timedelta(hours=n + 8),
        "record": "{}",
    }
    values.update(overrides)
    return PositionRow(**values)  # type: ignore[arg-type]


def equity_point(hours: int, strategy: str = "funding-arb", **overrides: object) -> EquityPoint:
    values: dict[str, object] = {
        "strategy_name": strategy,
        "time": T0 + timedelta(hours=hours),
        "funding_usd": D("0.50") * hours,
        "basis_usd": D("-0.05") * hours,
        "fees_usd": D("0.96"),
        "slippage_usd": D("0.24"),
        "pnl_usd": D("0.45") * hours - D("1.20"),
        "equity_usd": D("10000") + D("0.45") * hours - D("1.20"),
        "open_positions": 2,
    }
    values.update(overrides)
    return EquityPoint(**values)  # type: ignore[arg-type]


def leg(
    venue: str, side: str, bps_: str, *, mode: str = "market", filled: str = "0.01"
) -> LegRecord:
    return LegRecord(
        venue=venue,
        symbol="BTCUSDT",
        side=side,
        mode=mode,
        quantity=D("0.01"),
        filled_quantity=D(filled),
        arrival_mid=D("60000"),
        fill_price=D("60001"),
        fees=D("0.24"),
        slippage_bps=D(bps_),
    )


def execution(n: int, **overrides: object) -> ExecutionRecord:
    values: dict[str, object] = {
        "execution_id": f"exec-{n:04d}",
        "strategy_name": "funding-arb",
        "symbol": "BTCUSDT",
        "filled": True,
        "slippage_pct": D("0.00015"),
        "time": T0 + timedelta(minutes=n),
        "elapsed_ms": 120.0,
        "leg_skew_ms": 3.0,
        "legs": (
            leg("alpha", "buy", str(n % 5)),
            leg("beta", "sell", str(-(n % 3)), mode="passive"),
        ),
    }
    values.update(overrides)
    return ExecutionRecord(**values)  # type: ignore[arg-type]


def incident(**overrides: object) -> Incident:
    values: dict[str, object] = {
        "incident_id": "inc-exec-0002-1",
        "kind": IncidentKind.ROLLBACK,
        "execution_id": "exec-0002",
        "time": T0 + timedelta(minutes=2),
        "legs": (IncidentLeg("alpha", "BTCUSDT", D("0.01"), D("60001")),),
        "cost_usd": D("0.731"),
        "actions": ("close alpha BTCUSDT sell 0.01",),
        "resolved": True,
    }
    values.update(overrides)
    return Incident(**values)  # type: ignore[arg-type]


class _Balance(HTMLParser):
    """Fails on a closing tag that does not close the innermost open one."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.seen: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)
        self.scripts += tag == "script"
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)
        self.scripts += tag == "script"

    def handle_endtag(self, tag: str) -> None:
        assert self.open, f"</{tag}> closes nothing"
        assert self.open[-1] == tag, f"</{tag}> closes <{self.open[-1]}>"
        self.open.pop()


def parse(page: str) -> _Balance:
    parser = _Balance()
    parser.feed(page)
    parser.close()
    assert parser.open == [], f"unclosed: {parser.open}"
    return parser


def full_report(**kwargs: object) -> str:
    positions = [position(n) for n in range(5)] + [
        position(5, state="open", closed_at=None, exit_reason=None, funding_usd=D("-0.40")),
        position(6, state="failed", opened_at=None, closed_at=None, funding_usd=D("0")),
    ]
    equity = [equity_point(h) for h in range(0, 72, 2)]
    executions = [execution(n) for n in range(1, 13)] + [
        execution(13, filled=False, outcome="rolled_back", error_message="leg beta rejected")
    ]
    return render_report(
        positions,
        equity,
        executions,
        [incident()],
        generated_at=NOW,
        database="sqlite+aiosqlite:///tmp/x.db",
        **kwargs,  # type: ignore[arg-type]
    )


def test_the_report_has_its_charts_tables_and_figures() -> None:
    page = full_report()

    parsed = parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert parsed.seen.count("svg") == 3  # equity curve, funding per position, slippage
    assert parsed.seen.count("polyline") == 5  # funding, basis, fees, slippage, total
    assert parsed.seen.count("table") == 4  # slippage stats, positions, executions, incidents
    assert parsed.scripts == 0
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    for section in ("summary", "equity", "funding", "slippage", "positions", "executions"):
        assert f'<section id="{section}">' in page
    assert "alpha · market" in page
    assert "beta · passive" in page
    assert "leg beta rejected" in page
    assert "inc-exec-0002-1" in page
    assert "0.73" in page
    assert "sqlite+aiosqlite:///tmp/x.db" in page
    assert "Generated 2024-08-11 12:00:00 UTC" in page


def test_the_summary_adds_up_the_positions() -> None:
    positions = [position(n) for n in range(3)] + [
        position(3, state="open", closed_at=None, pnl_usd=D("-1.005"), funding_usd=D("0.10")),
        position(4, state="failed", opened_at=None, pnl_usd=D("0"), funding_usd=D("0")),
    ]
    records = [execution(1), execution(2, filled=False, outcome="rolled_back")]

    summary = summarize(positions, [], records, [incident(resolved=False)])

    assert summary.pnl_usd == D("0.55") * 3 - D("1.005")
    assert summary.funding_usd == D("3.85")
    assert (summary.opened, summary.closed, summary.live, summary.failed) == (4, 3, 1, 1)
    assert (summary.executions, summary.filled, summary.unresolved) == (2, 1, 1)
    assert summary.line().startswith(
        "PnL 0.64 USD (funding 3.85, basis -0.50, fees -2.40, slippage -0.60); 4 positions"
    )


def test_the_equity_curve_sums_the_strategies_latest_points() -> None:
    points = [
        equity_point(0, "a", pnl_usd=D("1"), equity_usd=D("100")),
        equity_point(1, "b", pnl_usd=D("2"), equity_usd=None),
        equity_point(2, "a", pnl_usd=D("5"), equity_usd=D("104")),
        equity_point(2, "b", pnl_usd=D("3"), equity_usd=None),
    ]

    curve = equity_curve(points)

    assert [(p.time.hour, p.pnl_usd) for p in curve] == [(0, D(1)), (1, D(3)), (2, D(8))]
    assert curve[0].equity_usd == D("100")
    assert curve[-1].equity_usd is None


def test_slippage_is_grouped_by_venue_and_mode_from_filled_legs() -> None:
    record = execution(
        1,
        legs=(
            leg("alpha", "buy", "2.5"),
            leg("alpha", "buy", "0.5"),
            leg("alpha", "buy", "9", filled="0"),  # filled nothing: no slippage
            leg("beta", "sell", "-1", mode=""),
        ),
    )

    groups = slippage_by_venue_mode([record])

    assert groups == {("alpha", "market"): [D("0.5"), D("2.5")], ("beta", "unknown"): [D("-1")]}


def test_an_empty_database_says_so_in_valid_html() -> None:
    page = render_report([], [], [], [], generated_at=NOW)

    parsed = parse(page)
    assert "nothing to report" in page
    assert "svg" not in parsed.seen
    assert "table" not in parsed.seen
    assert "No equity points recorded." in page


def test_every_stored_string_is_escaped() -> None:
    positions = [position(1, symbol=HOSTILE, exit_reason=HOSTILE, long_venue=HOSTILE)]
    records = [
        execution(
            1,
            symbol=HOSTILE,
            strategy_name=HOSTILE,
            error_message=HOSTILE,
            legs=(leg(HOSTILE, "buy", "1", mode=HOSTILE),),
        )
    ]
    incidents = [incident(actions=(HOSTILE,), resolution=HOSTILE, incident_id=HOSTILE)]

    page = render_report(positions, [], records, incidents, generated_at=NOW, title=HOSTILE)

    parsed = parse(page)
    assert parsed.scripts == 0
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_long_tables_are_capped_with_a_note() -> None:
    records = [execution(n) for n in range(30)]

    page = render_report([], [], records, [], generated_at=NOW, max_rows=10)

    assert "The 10 most recent of 30 executions." in page
    assert "exec-0029" in page
    assert "exec-0019" not in page


@pytest.mark.parametrize(
    ("value", "money", "basis_points"),
    [
        (D("1234.565"), "1,234.56", "1,234.6"),  # half-even to the cent
        (D("-0.004"), "0.00", "0.0"),  # never "-0.00"
        (D("-12.5"), "-12.50", "-12.5"),
        (D("0.05"), "0.05", "0.0"),  # half-even to 0.1 bps
        (D("1E+3"), "1,000.00", "1,000.0"),
    ],
)
def test_money_to_the_cent_and_bps_to_a_tenth(value: D, money: str, basis_points: str) -> None:
    assert (usd(value), bps(value)) == (money, basis_points)


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0.0, 10.0, [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]),
        (-1.3, 0.0, [-1.5, -1.0, -0.5, 0.0]),
        (0.0, 0.26, [0.0, 0.1, 0.2, 0.3]),
        (0.0, 0.0, [-1.0, -0.5, 0.0, 0.5, 1.0]),
        (0.1, 0.7, [0.0, 0.2, 0.4, 0.6, 0.8]),
    ],
)
def test_axis_ticks_are_round_and_cover_the_range(
    lo: float, hi: float, expected: list[float]
) -> None:
    assert ticks(lo, hi) == expected


def test_quantiles_interpolate_between_ranks() -> None:
    values = [D(1), D(2), D(3), D(4)]

    assert exact_quantile(values, D("0.5")) == D("2.5")
    assert exact_quantile(values, D("0.9")) == D("3.7")
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.25) == 1.75


def test_public_names_are_pinned() -> None:
    assert fundarb.report.__all__ == [
        "ReportData",
        "Summary",
        "render_report",
        "summarize",
        "write_report",
    ]


# -- with a database, and as a user runs it -----------------------------------------------------


async def _filled_database(url: str) -> str:
    async with Store.open(url) as store:
        await store.upgrade()
        await store.save_positions([position(n) for n in range(3)])
        await store.save_equity([equity_point(h) for h in range(0, 24, 3)])
        await store.save_execution_records([execution(n) for n in range(1, 6)])
        await store.save_incidents([incident()])
        return store.name


@pytest.mark.looptime(False)  # real files: real time
async def test_write_report_renders_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fundarb.db'}"
    name = await _filled_database(url)

    async with Store.open(url) as store:
        path = await write_report(store, tmp_path / "report.html", generated_at=NOW)

    page = path.read_text(encoding="utf-8")
    parse(page)
    assert page.count("<svg") == 3
    assert name in page
    assert "pos-0002" in page
    assert "exec-0005" in page
    assert not (tmp_path / ".report.html.partial").exists()  # no partial file left behind


async def _fundarb(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fundarb",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "FUNDARB_HOME": str(tmp_path), "FUNDARB_DATABASE_URL": ""},
        cwd=tmp_path,
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.looptime(False)  # a real process: real time
async def test_fundarb_report_writes_the_file_and_prints_a_summary(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'run.db'}"
    await _filled_database(url)
    output = tmp_path / "out" / "report.html"
    output.parent.mkdir()

    code, out, err = await _fundarb(tmp_path, "report", "--url", url, "-o", str(output))

    assert code == 0, err
    assert out.splitlines()[0].startswith(f"{output}: report of sqlite+aiosqlite:///")
    assert "PnL 1.65 USD (funding 3.75" in out
    assert "5 executions (5 filled)" in out
    assert output.stat().st_size > 10_000
    parse(output.read_text(encoding="utf-8"))


@pytest.mark.looptime(False)  # a real process: real time
async def test_fundarb_report_defaults_to_a_file_in_the_current_folder(tmp_path: Path) -> None:
    await _filled_database(f"sqlite:///{tmp_path / 'fundarb.db'}")  # the FUNDARB_HOME default

    code, out, err = await _fundarb(tmp_path, "report")

    assert code == 0, err
    assert (tmp_path / "fundarb-report.html").stat().st_size > 0
    assert out.startswith("fundarb-report.html: report of")


@pytest.mark.looptime(False)  # a real process: real time
async def test_fundarb_report_without_a_database_fails_clearly(tmp_path: Path) -> None:
    code, out, err = await _fundarb(tmp_path, "report", "--url", f"sqlite:///{tmp_path}/no.db")

    assert code == 1
    assert f"fundarb report: no database at {tmp_path}/no.db" in err
    assert not (tmp_path / "no.db").exists()
    assert not (tmp_path / "fundarb-report.html").exists()
    assert out == ""


@pytest.mark.looptime(False)  # a real process: real time
async def test_fundarb_report_hides_the_password_of_an_unreachable_database(
    tmp_path: Path,
) -> None:
    url = "postgresql://trader:hunter2@127.0.0.1:9/fundarb"

    code, _, err = await _fundarb(tmp_path, "report", "--url", url)

    assert code == 1
    assert "cannot reach the database" in err
    assert "hunter2" not in err
