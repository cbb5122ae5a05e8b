"""Simulated venues and a loop-following clock for the algorithm tests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fundarb.venues.sim import MarketModelConfig, SimConfig, SimulatedExchange
from tests.conftest import BTC, btc_symbol

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def loop_clock() -> datetime:
    """UTC time that follows the (fast-forwarded) event loop: a restart keeps counting."""
    return T0 + timedelta(seconds=asyncio.get_running_loop().time())


def market_venue(
    name: str,
    *,
    seed: int,
    taker_rate_per_s: float = 2.0,
    price_seed: int = 11,
    volatility_per_sqrt_s: float = 0.0001,
    **over: object,
) -> SimulatedExchange:
    """A synthetic BTC-PERP market (1 BTC a level near the touch, takers of 0.1 BTC on
    average); venues with the same ``price_seed`` quote the same fair price path."""
    values: dict[str, object] = {
        "venue": name,
        "symbols": (btc_symbol(),),
        "market": "synthetic",
        "model": MarketModelConfig(
            taker_rate_per_s=taker_rate_per_s,
            price_seed=price_seed,
            jump_rate_per_s=0.0,
            volatility_per_sqrt_s=volatility_per_sqrt_s,
        ),
        "seed": seed,
        "initial_balance": Decimal("10000000"),
    }
    values.update(over)
    return SimulatedExchange(SimConfig(**values))  # type: ignore[arg-type]


def position(venue: SimulatedExchange, symbol: str = BTC) -> Decimal:
    """The venue's own record of the position (no faults, no latency)."""
    return venue.core.account.quantity(symbol)
