"""Scheduler handlers for the two built-in kinds: an atomic execution and a pair TWAP.

Payloads are JSON (quantities as strings, venues by name); ``clients`` maps each venue name
to its exchange client.

- ``"atomic"``: ``{"legs": [{"venue", "symbol", "side", "quantity", "mode"?, "timeout_s"?,
  "reduce_only"?}, ...], "rollback_on_partial"?}``. Not resumable: an execution a restart
  interrupted is the journal recovery's.
- ``"pair_twap"``: ``{"buy": {"venue", "symbol"}, "sell": {...}, "quantity", "reduce_only"?,
  "config": {TwapConfig fields}}``. Resumable: the TWAP is named after the item and keeps
  its checkpoint in ``checkpoints``, so a restart carries on from the venues' positions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

from fundarb.errors import InvalidOrderError
from fundarb.execution.algos.pair import CheckpointStore, Clock, PairLeg
from fundarb.execution.algos.scheduler import Handler, ScheduledExecution
from fundarb.execution.algos.twap import PairTwap, TwapConfig
from fundarb.execution.core.order_executor import ExecutionMode
from fundarb.execution.patterns.atomic_multi_order import AtomicMultiOrderExecutor, OrderSpec

__all__ = ["atomic_handler", "twap_config_from", "twap_handler"]

_DECIMAL_FIELDS = ("participation", "depth_band_bps")


def atomic_handler(
    clients: Mapping[str, Any], executor: AtomicMultiOrderExecutor | None = None
) -> Handler:
    """Run an ``"atomic"`` item through ``executor`` (one is made when not given)."""
    atomic = executor if executor is not None else AtomicMultiOrderExecutor()

    async def handle(item: ScheduledExecution, resuming: bool) -> Mapping[str, Any]:
        payload = item.payload
        with _malformed(item):
            specs = _atomic_specs(clients, payload)
        result = await atomic.execute_atomically(
            specs, rollback_on_partial=bool(payload.get("rollback_on_partial", True))
        )
        return {
            "outcome": result.outcome.value,
            "execution_id": result.execution_id,
            "hedged_quantity": str(result.hedged_quantity)
            if result.hedged_quantity is not None
            else None,
            "error": result.error_message,
        }

    return handle


def _atomic_specs(clients: Mapping[str, Any], payload: Mapping[str, Any]) -> list[OrderSpec]:
    return [
        OrderSpec(
            _client(clients, leg["venue"]),
            str(leg["symbol"]),
            str(leg["side"]),
            None,
            ExecutionMode(leg.get("mode", ExecutionMode.LIMIT_WITH_FALLBACK.value)),
            float(leg.get("timeout_s", 30.0)),
            quantity=_decimal(leg["quantity"], "quantity"),
            reduce_only=bool(leg.get("reduce_only", False)),
        )
        for leg in payload["legs"]
    ]


def twap_handler(
    clients: Mapping[str, Any],
    *,
    checkpoints: CheckpointStore,
    executor: AtomicMultiOrderExecutor | None = None,
    clock: Clock | None = None,
) -> Handler:
    """Run a ``"pair_twap"`` item; register it with ``resumable=True``."""
    atomic = executor if executor is not None else AtomicMultiOrderExecutor()

    async def handle(item: ScheduledExecution, resuming: bool) -> Mapping[str, Any]:
        payload = item.payload
        with _malformed(item):
            twap = PairTwap(
                buy=PairLeg(_client(clients, payload["buy"]["venue"]), payload["buy"]["symbol"]),
                sell=PairLeg(_client(clients, payload["sell"]["venue"]), payload["sell"]["symbol"]),
                quantity=_decimal(payload["quantity"], "quantity"),
                config=twap_config_from(payload["config"]),
                executor=atomic,
                reduce_only=bool(payload.get("reduce_only", False)),
                twap_id=item.schedule_id,
                checkpoints=checkpoints,
                clock=clock,
            )
        result = await twap.run()
        return {
            "state": result.state.value,
            "filled_buy": str(result.filled_buy),
            "filled_sell": str(result.filled_sell),
            "cost_usd": str(result.cost_usd),
            "cost_bps": str(result.cost_bps) if result.cost_bps is not None else None,
            "resumed": result.resumed,
            "error": result.error,
        }

    return handle


def twap_config_from(raw: Mapping[str, Any]) -> TwapConfig:
    """A :class:`TwapConfig` from JSON (decimals as strings); unknown keys are refused."""
    values = dict(raw)
    for name in _DECIMAL_FIELDS:
        if values.get(name) is not None:
            values[name] = _decimal(values[name], name)
    try:
        return TwapConfig(**values)
    except TypeError as exc:
        raise InvalidOrderError(f"bad pair TWAP config: {exc}") from None


@contextmanager
def _malformed(item: ScheduledExecution) -> Iterator[None]:
    """A payload that cannot be read fails its item (nothing is sent), not the scheduler."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InvalidOrderError):
            raise
        raise InvalidOrderError(
            f"malformed {item.kind} payload of {item.schedule_id}: {type(exc).__name__}: {exc}"
        ) from None


def _client(clients: Mapping[str, Any], venue: object) -> Any:
    try:
        return clients[str(venue)]
    except KeyError:
        raise InvalidOrderError(f"no client for venue {venue!r}", venue=str(venue)) from None


def _decimal(value: object, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise InvalidOrderError(f"{name} must be a decimal number, got {value!r}") from None
