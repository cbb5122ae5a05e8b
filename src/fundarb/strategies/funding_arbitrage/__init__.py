"""Delta-neutral funding arbitrage: long where funding is cheap, short where it pays.

:class:`FundingArbitrage` scans ranked opportunities, opens pairs through the atomic
executor, monitors them (funding, marks, basis, delta drift, margin and liquidation
distance), closes them when a rule fires, and accounts their PnL as funding, basis, fees
and slippage. Everything it decides is in the database first, so it survives restarts.
"""

from fundarb.strategies.funding_arbitrage.engine import (
    FundingArbitrage,
    StrategyEvent,
    StrategySnapshot,
)
from fundarb.strategies.funding_arbitrage.positions import (
    FundingEntry,
    LegRef,
    PairPosition,
    PnL,
    PositionState,
    Trade,
)
from fundarb.strategies.funding_arbitrage.rules import ExitDecision, LegView, PairView

__all__ = [
    "ExitDecision",
    "FundingArbitrage",
    "FundingEntry",
    "LegRef",
    "LegView",
    "PairPosition",
    "PairView",
    "PnL",
    "PositionState",
    "StrategyEvent",
    "StrategySnapshot",
    "Trade",
]
