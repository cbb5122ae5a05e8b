"""The shared execution layer: single legs (:mod:`.core`) and what they are built from.

Everything public is importable from here: ``from fundarb.execution import OrderExecutor``.
"""

from fundarb.execution.algos import (
    Algorithm,
    AlgorithmChoice,
    DeadlinePolicy,
    ExecutionScheduler,
    Iceberg,
    IcebergConfig,
    IcebergResult,
    MakerLadder,
    MakerLadderConfig,
    MakerLadderResult,
    PairLeg,
    PairTwap,
    ScheduledExecution,
    ScheduleState,
    TwapConfig,
    TwapProgress,
    TwapResult,
    TwapState,
    choose_algorithm,
)
from fundarb.execution.core.book import BookLevel, BookWalk, OrderBook
from fundarb.execution.core.liquidity_analyzer import (
    LiquidityAnalyzer,
    LiquidityReport,
    Recommendation,
)
from fundarb.execution.core.order_executor import (
    ExecutionMode,
    ExecutionResult,
    ExecutorConfig,
    OrderExecutor,
)
from fundarb.execution.core.position_sizer import PositionSizer
from fundarb.execution.core.slippage_calculator import (
    ActualSlippage,
    ExpectedSlippage,
    SlippageCalculator,
)
from fundarb.execution.monitoring.execution_tracker import (
    ExecutionRecord,
    ExecutionRecordStore,
    ExecutionTracker,
    LegRecord,
)
from fundarb.execution.patterns.atomic_multi_order import (
    AtomicConfig,
    AtomicExecutionResult,
    AtomicMultiOrderExecutor,
    AtomicOutcome,
    ImbalancePolicy,
    LegReport,
    OrderSpec,
)
from fundarb.execution.patterns.incidents import Incident, IncidentKind, IncidentLeg, IncidentLog
from fundarb.execution.patterns.partial_fill_handler import PartialFillHandler

__all__ = [
    "ActualSlippage",
    "Algorithm",
    "AlgorithmChoice",
    "AtomicConfig",
    "AtomicExecutionResult",
    "AtomicMultiOrderExecutor",
    "AtomicOutcome",
    "BookLevel",
    "BookWalk",
    "DeadlinePolicy",
    "ExecutionMode",
    "ExecutionRecord",
    "ExecutionRecordStore",
    "ExecutionResult",
    "ExecutionScheduler",
    "ExecutionTracker",
    "ExecutorConfig",
    "ExpectedSlippage",
    "Iceberg",
    "IcebergConfig",
    "IcebergResult",
    "ImbalancePolicy",
    "Incident",
    "IncidentKind",
    "IncidentLeg",
    "IncidentLog",
    "LegRecord",
    "LegReport",
    "LiquidityAnalyzer",
    "LiquidityReport",
    "MakerLadder",
    "MakerLadderConfig",
    "MakerLadderResult",
    "OrderBook",
    "OrderExecutor",
    "OrderSpec",
    "PairLeg",
    "PairTwap",
    "PartialFillHandler",
    "PositionSizer",
    "Recommendation",
    "ScheduleState",
    "ScheduledExecution",
    "SlippageCalculator",
    "TwapConfig",
    "TwapProgress",
    "TwapResult",
    "TwapState",
    "choose_algorithm",
]
