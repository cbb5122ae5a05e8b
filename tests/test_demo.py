"""The demo: the strategy on three simulated venues, fast-forwarded, leaves nothing open."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from fundarb.demo import DemoConfig, run_demo
from fundarb.errors import ConfigError
from fundarb.fastforward import track_sqlite


@pytest.fixture(autouse=True)
def _sqlite_holds_the_clock() -> Iterator[None]:
    with track_sqlite():
        yield


async def test_a_short_demo_trades_closes_everything_and_writes_its_report(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    config = DemoConfig(
        days=1, database=tmp_path / "demo.db", report=tmp_path / "report.html", live=False
    )

    report = await run_demo(config, Console(file=out, width=140))

    assert report.positions, "the demo opened nothing"
    assert report.fault, "the fault was not injected"
    assert report.open_orders_left == 0
    assert report.open_positions_left == 0
    assert abs(report.equity_change - report.pnl.total) < 0.01  # the split adds up
    assert report.report_path is not None
    html = report.report_path.read_text(encoding="utf-8")
    assert len(html) > 1000
    assert "<svg" in html
    text = out.getvalue()
    assert "the split adds up" in text
    assert "fault injected" in text


@pytest.mark.looptime(False)
async def test_fundarb_demo_runs_from_the_command_line(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fundarb",
        "demo",
        "--days",
        "0.5",
        "--no-live",
        "--database",
        str(tmp_path / "demo.db"),
        "--report",
        str(tmp_path / "report.html"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=240)
    assert process.returncode == 0, stderr.decode()
    assert (tmp_path / "report.html").stat().st_size > 1000
    assert (tmp_path / "demo.log").is_file()
    assert "left open: 0 orders, 0 positions" in stdout.decode()


@pytest.mark.parametrize("bad", [{"days": 0}, {"days": -1}, {"days": 31}, {"refresh_s": 0}])
def test_demo_config_refuses_bad_values(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        DemoConfig(**bad)  # type: ignore[arg-type]
