"""A simex server on a free local port over a static simulated venue, and a ccxt client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from fundarb.venues.sim import SimConfig, SimulatedExchange, SymbolConfig, binance_btcusdt
from fundarb.venues.simex import ServerAddress, binanceusdm_client, serve

API_KEY = "simex-test-key"
API_SECRET = "simex-test-secret"


@dataclass
class Simex:
    venue: SimulatedExchange
    address: ServerAddress
    client: Any


def _config(initial_balance: Decimal) -> SimConfig:
    return SimConfig(
        venue="simex",
        market="static",
        initial_balance=initial_balance,
        symbols=(
            binance_btcusdt(initial_price=Decimal("60000.0")),
            SymbolConfig(
                symbol="ETHUSDT",
                tick_size=Decimal("0.01"),
                lot_size=Decimal("0.001"),
                min_notional=Decimal("20"),
                initial_price=Decimal("3000.00"),
                depth_per_level=Decimal("5"),
                taker_mean_size=Decimal("0.5"),
            ),
        ),
    )


@pytest.fixture
def initial_balance() -> Decimal:
    return Decimal("100000")


@pytest.fixture
async def simex(initial_balance: Decimal) -> AsyncIterator[Simex]:
    async with SimulatedExchange(_config(initial_balance)) as venue:
        venue.set_book(
            "BTCUSDT",
            bids=[("59999.9", "2"), ("59999.0", "5")],
            asks=[("60000.0", "2"), ("60001.0", "5")],
        )
        async with serve(venue, api_key=API_KEY, api_secret=API_SECRET) as address:
            client = binanceusdm_client(address.url, api_key=API_KEY, secret=API_SECRET)
            try:
                yield Simex(venue, address, client)
            finally:
                await client.close()
