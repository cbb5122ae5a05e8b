"""Execution algorithms for large pairs: pair TWAP, iceberg, maker ladder, scheduler."""

from fundarb.execution.algos.pair import CheckpointStore, MemoryCheckpoints, PairLeg
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
    "CheckpointStore",
    "DeadlinePolicy",
    "MemoryCheckpoints",
    "PairLeg",
    "PairTwap",
    "SliceRecord",
    "TwapConfig",
    "TwapProgress",
    "TwapResult",
    "TwapState",
]
