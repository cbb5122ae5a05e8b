"""Execution algorithms for large pairs: pair TWAP, iceberg, maker ladder, scheduler."""

from fundarb.execution.algos.choice import (
    Algorithm,
    AlgorithmChoice,
    choose_algorithm,
    choose_from_depth,
)
from fundarb.execution.algos.handlers import atomic_handler, twap_handler
from fundarb.execution.algos.iceberg import ClipRecord, Iceberg, IcebergConfig, IcebergResult
from fundarb.execution.algos.maker_ladder import (
    LadderState,
    MakerLadder,
    MakerLadderConfig,
    MakerLadderResult,
)
from fundarb.execution.algos.pair import CheckpointStore, MemoryCheckpoints, PairLeg
from fundarb.execution.algos.scheduler import (
    ExecutionScheduler,
    Handler,
    MemorySchedule,
    ScheduleBackend,
    ScheduledExecution,
    ScheduleState,
)
from fundarb.execution.algos.twap import (
    DeadlinePolicy,
    PairTwap,
    SliceRecord,
    TwapConfig,
    TwapProgress,
    TwapResult,
    TwapState,
)

__all__ = [
    "Algorithm",
    "AlgorithmChoice",
    "CheckpointStore",
    "ClipRecord",
    "DeadlinePolicy",
    "ExecutionScheduler",
    "Handler",
    "Iceberg",
    "IcebergConfig",
    "IcebergResult",
    "LadderState",
    "MakerLadder",
    "MakerLadderConfig",
    "MakerLadderResult",
    "MemoryCheckpoints",
    "MemorySchedule",
    "PairLeg",
    "PairTwap",
    "ScheduleBackend",
    "ScheduleState",
    "ScheduledExecution",
    "SliceRecord",
    "TwapConfig",
    "TwapProgress",
    "TwapResult",
    "TwapState",
    "atomic_handler",
    "choose_algorithm",
    "choose_from_depth",
    "twap_handler",
]
