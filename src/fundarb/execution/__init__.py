"""The shared execution layer: single legs (:mod:`.core`) and what they are built from.

Everything public is importable from here: ``from fundarb.execution import OrderExecutor``.
"""

from fundarb.execution.core import (
    ActualSlippage,
    BookLevel,
    BookWalk,
    ExecutionMode,
    ExecutionResult,
    ExecutorConfig,
    ExpectedSlippage,
    LiquidityAnalyzer,
    LiquidityReport,
    OrderBook,
    OrderExecutor,
    PositionSizer,
    Recommendation,
    SlippageCalculator,
)

__all__ = [
    "ActualSlippage",
    "BookLevel",
    "BookWalk",
    "ExecutionMode",
    "ExecutionResult",
    "ExecutorConfig",
    "ExpectedSlippage",
    "LiquidityAnalyzer",
    "LiquidityReport",
    "OrderBook",
    "OrderExecutor",
    "PositionSizer",
    "Recommendation",
    "SlippageCalculator",
]
