"""The public API is pinned: renaming or dropping a public name is a conscious act."""

from __future__ import annotations

import importlib

import pytest

EXPORTED = {
    "fundarb.errors": [
        "AmbiguousError",
        "ConfigError",
        "EmptyBookError",
        "ErrorClass",
        "FundarbError",
        "InvalidOrderError",
        "MarketDataError",
        "OrderRejectedError",
        "RateLimitedError",
        "RequestTimeoutError",
        "RetryableError",
        "StaleMarketDataError",
        "StorageError",
        "UnknownSymbolError",
        "VenueError",
        "VenueUnavailableError",
        "classify_error",
    ],
    "fundarb.execution.algos": [
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
    ],
    "fundarb.execution": [
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
    ],
    "fundarb.funding": [
        "FundingSample",
        "Listing",
        "apr",
        "canonical_symbol",
        "parse_listing",
        "per_hour",
    ],
    "fundarb.venues": [
        "Balance",
        "BalanceProvider",
        "ClockProvider",
        "EventStreamProvider",
        "ExchangeClient",
        "FeeProvider",
        "FeeSchedule",
        "Fill",
        "FillHistoryProvider",
        "FundingPayment",
        "FundingRate",
        "FundingRateProvider",
        "Liquidation",
        "Liquidity",
        "MarketSpec",
        "MarketSpecProvider",
        "OrderCheck",
        "OrderInfo",
        "OrderLookup",
        "OrderResult",
        "OrderStatus",
        "OrderUpdate",
        "Position",
        "PositionProvider",
        "RejectReason",
        "Side",
        "TimeInForce",
        "VenueEvent",
        "normalize_status",
        "parse_side",
    ],
    "fundarb.venues.ccxt": [
        "AccountRateLimiter",
        "BadPayloadError",
        "CcxtExchangeClient",
        "EventSettings",
        "Priority",
    ],
    "fundarb.venues.simex": [
        "ServerAddress",
        "binanceusdm_client",
        "create_app",
        "serve",
    ],
    "fundarb.venues.sim": [
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
    ],
}


@pytest.mark.parametrize(("module_name", "expected"), EXPORTED.items())
def test_public_names_are_pinned(module_name: str, expected: list[str]) -> None:
    module = importlib.import_module(module_name)

    assert module.__all__ == expected


@pytest.mark.parametrize("module_name", EXPORTED)
def test_all_is_sorted(module_name: str) -> None:
    exported = importlib.import_module(module_name).__all__

    assert exported == sorted(exported)


@pytest.mark.parametrize(
    ("module_name", "name"),
    [(module_name, name) for module_name, names in EXPORTED.items() for name in names],
)
def test_each_exported_name_is_importable(module_name: str, name: str) -> None:
    module = importlib.import_module(module_name)

    assert getattr(module, name, None) is not None, f"{module_name}.{name} is not importable"
