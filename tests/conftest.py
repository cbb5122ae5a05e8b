"""Shared fixtures. Every async test runs on a fast-forwarded loop clock (``--looptime``)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from fundarb.venues.sim import SimConfig, SimulatedExchange, SymbolConfig

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
USDM_CAPTURE = SHARED_DATA / "binance" / "usdm_btcusdt_20240808.gz"

BTC = "BTC-PERP"


def needs_shared_data(path: Path) -> pytest.MarkDecorator:
    """Skip, saying why, when a real capture from ../shared/data is absent."""
    return pytest.mark.skipif(
        not path.is_file(), reason=f"real market data not found at {path} (see SOURCES.md)"
    )


def btc_symbol(**overrides: object) -> SymbolConfig:
    values: dict[str, object] = {
        "symbol": BTC,
        "tick_size": Decimal("0.1"),
        "lot_size": Decimal("0.001"),
        "min_notional": Decimal("5"),
        "initial_price": Decimal("50000.0"),
        "depth_per_level": Decimal("1"),
        "taker_mean_size": Decimal("0.1"),
    }
    values.update(overrides)
    return SymbolConfig(**values)  # type: ignore[arg-type]


def static_venue(**overrides: object) -> SimulatedExchange:
    """A venue whose book only changes when orders trade (set it with ``set_book``)."""
    values: dict[str, object] = {"venue": "static", "symbols": (btc_symbol(),), "market": "static"}
    values.update(overrides)
    return SimulatedExchange(SimConfig(**values))  # type: ignore[arg-type]


# The book most matching tests start from: 1 BTC at each of three levels a side.
BOOK = {
    "bids": [("49999.9", "1"), ("49999.8", "1"), ("49999.7", "1")],
    "asks": [("50000.0", "1"), ("50000.1", "1"), ("50000.2", "1")],
}


@pytest.fixture
def make_static_venue() -> Callable[..., SimulatedExchange]:
    return static_venue
