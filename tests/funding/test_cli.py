"""The funding commands as a user runs them (a subprocess each, the simulated world)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = pytest.mark.looptime(False)  # real processes: real time

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "funding_history"


def _fundarb(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fundarb", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "FUNDARB_HOME": str(tmp_path), **(env or {})},
    )


def test_rates_and_opportunities_as_json(tmp_path: Path) -> None:
    rates = _fundarb(tmp_path, "rates", "--json", "--symbol", "BTC", "--sort", "apr")
    assert rates.returncode == 0, rates.stderr
    rows = json.loads(rates.stdout)
    assert {r["venue"] for r in rows} == {"alpha", "beta", "gamma"}
    assert [Decimal(r["apr"]) for r in rows] == sorted(Decimal(r["apr"]) for r in rows)

    found = _fundarb(
        tmp_path, "opportunities", "--json", "--notional", "5000", "--symbols", "eth,sol"
    )
    assert found.returncode == 0, found.stderr
    items = json.loads(found.stdout)
    assert items
    assert {o["symbol"] for o in items} <= {"ETH", "SOL"}
    assert all(o["notional_usd"] == "5000" for o in items)

    table = _fundarb(tmp_path, "opportunities", "--limit", "3")
    assert table.returncode == 0, table.stderr
    assert "opportunities" in table.stdout


def test_bad_arguments_are_refused_before_anything_runs(tmp_path: Path) -> None:
    bad = _fundarb(tmp_path, "opportunities", "--notional", "-5")
    assert bad.returncode == 2
    assert "--notional" in bad.stderr
    missing = _fundarb(tmp_path, "rates", "-c", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2
    assert "cannot read config" in missing.stderr


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    done = _fundarb(tmp_path, "serve", "--host", "0.0.0.0", env={"FUNDARB_API_TOKEN": ""})
    assert done.returncode == 2
    assert "FUNDARB_API_TOKEN" in done.stderr


def test_config_check(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "venues:\n  - {kind: simulated, name: alpha}\n  - {kind: simulated, name: gamma}\n"
    )
    done = _fundarb(tmp_path, "config", "check", "-c", str(good))
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("funding: {horizon_hours: 0}\n")
    done = _fundarb(tmp_path, "config", "check", "-c", str(bad))
    assert done.returncode == 2
    assert "funding.horizon_hours" in done.stderr


def test_funding_import_and_stats_from_a_slice(tmp_path: Path) -> None:
    csv = tmp_path / "BTC-USDT_binance_slice.csv"
    csv.write_text(
        "Symbol,Date,Funding Rate\n"
        "BTC-USDT,2021-01-01 03:00:00.000,0.0001\n"
        "BTC-USDT,2021-01-01 11:00:00.000,0.0003\n"
        "BTC-USDT,2021-01-01 19:00:00.000,-0.0001\n"
    )
    first = _fundarb(tmp_path, "funding", "import", str(csv))
    assert first.returncode == 0, first.stderr
    assert "3 new prints" in first.stdout
    again = _fundarb(tmp_path, "funding", "import", str(csv))
    assert "0 new prints" in again.stdout
    stats = _fundarb(tmp_path, "funding", "stats", "BTC", "--json", "--hours", "48")
    assert stats.returncode == 0, stats.stderr
    (binance,) = json.loads(stats.stdout)
    assert binance["count"] == 3
    # (0.0001 + 0.0003 − 0.0001) / 24 h = 0.0000125 per hour
    assert Decimal(binance["mean_rate_per_hour"]) == Decimal("0.0000125")
    assert binance["first_time"].startswith("2021-01-01T00:00:00")  # UTC+3 → UTC


@pytest.mark.shared_data
def test_the_real_history_imports(tmp_path: Path) -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not here")
    done = _fundarb(tmp_path, "funding", "import", str(SHARED))
    assert done.returncode == 0, done.stderr
    assert "BTC-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv: 17520 new prints" in (
        done.stdout
    )
