"""The simulated venue: a real implementation of the exchange client interface.

Order book with price-time priority, maker/taker fees, positions with margin, leverage and
liquidation, funding settlement, a market model or a replayed Binance capture, latency, and
fault injection. Deterministic for a given seed; all timing from the event loop's clock.
"""

from fundarb.venues.sim.config import (
    FundingConfig,
    MarketModelConfig,
    ReplayConfig,
    SimConfig,
    SymbolConfig,
    binance_btcusdt,
)
from fundarb.venues.sim.exchange import SimulatedExchange
from fundarb.venues.sim.faults import Fault, FaultKind
from fundarb.venues.sim.replay import Capture, load_capture

__all__ = [
    "Capture",
    "Fault",
    "FaultKind",
    "FundingConfig",
    "MarketModelConfig",
    "ReplayConfig",
    "SimConfig",
    "SimulatedExchange",
    "SymbolConfig",
    "binance_btcusdt",
    "load_capture",
]
