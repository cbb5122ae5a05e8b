"""The demo runs end to end on simulated venues and leaves nothing open."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from rich.console import Console

from fundarb.demo import DemoConfig, run_demo
from fundarb.errors import ConfigError


async def test_demo_trades_a_neutral_pair_and_leaves_no_order_open() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)

    report = await run_demo(DemoConfig(minutes=2, speed=1), console)

    kinds = sorted((venue, kind) for venue, kind, _ in report.orders)
    assert kinds == [("alpha", "limit"), ("alpha", "market"), ("beta", "limit"), ("beta", "market")]
    assert report.open_orders_left == 0
    assert report.close_outcome == "filled"  # the pair is closed atomically at the end
    assert {fill.venue for fill in report.fills} == {"alpha", "beta"}
    assert all(fill.fee > 0 for fill in report.fills)
    market_fills = [f for f in report.fills if f.client_order_id.endswith("mkt")]
    assert sum(f.quantity for f in market_fills) == Decimal("0.10")
    text = out.getvalue()
    assert "funding" in text
    assert "fills" in text
    assert "positions" in text


@pytest.mark.parametrize(
    "bad",
    [
        {"minutes": 0},
        {"minutes": -1},
        {"speed": 0},
        {"quantity": Decimal("0")},
        {"quantity": Decimal("NaN")},
        {"fill_wait_s": -1},
    ],
)
def test_demo_config_refuses_bad_values(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        DemoConfig(**bad)  # type: ignore[arg-type]
