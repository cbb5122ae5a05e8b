"""What the pair algorithms share: the two legs, the venues as witnesses, and the costs.

A pair algorithm trusts the venues' positions, not its own sums: what a leg has filled is
the change of its venue's position since the algorithm began (the *baseline*). That makes
a restart safe (nothing is counted twice, nothing re-sent for a slice that did go through)
and catches fills that arrived late. It assumes nothing else trades the same symbol on the
same venue while the algorithm runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from fundarb.errors import FundarbError, InvalidOrderError
from fundarb.execution.core.gateway import VenueGateway, gateway_for
from fundarb.execution.core.order_executor import ExecutionResult
from fundarb.execution.patterns.atomic_multi_order import AtomicExecutionResult
from fundarb.logs import log_event
from fundarb.venues.markets import MarketSpec

__all__ = [
    "CheckpointStore",
    "Clock",
    "MemoryCheckpoints",
    "PairLeg",
    "PairVenues",
    "atomic_cost",
    "execution_cost",
    "min_tradable",
    "utc_clock",
]

logger = logging.getLogger("fundarb.execution.algos")

_ZERO = Decimal(0)

Clock = Callable[[], datetime]
"""The time the algorithms schedule by: timezone-aware UTC (a venue's time, or this
machine's). Waiting is done on the event loop, so a fast-forwarded loop needs a clock
that follows it (see the tests)."""


def utc_clock() -> datetime:
    """This machine's clock, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PairLeg:
    """One venue and symbol of a pair: ``PairLeg(client, "BTC-PERP")``."""

    client: Any
    symbol: str

    @property
    def venue(self) -> str:
        return str(self.client.get_exchange_name())


class CheckpointStore(Protocol):
    """Where an algorithm keeps the state it needs to resume after a restart
    (:class:`fundarb.storage.scheduled.ScheduleStore`, or :class:`MemoryCheckpoints`)."""

    async def save_checkpoint(
        self, algo_id: str, kind: str, state: str, data: Mapping[str, Any]
    ) -> None: ...

    async def load_checkpoint(self, algo_id: str) -> dict[str, Any] | None: ...


class MemoryCheckpoints:
    """Checkpoints in memory (JSON round-tripped, as a database would): tests, one-offs."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self.states: dict[str, str] = {}

    async def save_checkpoint(
        self, algo_id: str, kind: str, state: str, data: Mapping[str, Any]
    ) -> None:
        self._data[algo_id] = json.dumps(dict(data))
        self.states[algo_id] = state

    async def load_checkpoint(self, algo_id: str) -> dict[str, Any] | None:
        raw = self._data.get(algo_id)
        return json.loads(raw) if raw is not None else None


class PairVenues:
    """The two legs of a pair as seen by the venues: specs, books, positions."""

    def __init__(self, buy: PairLeg, sell: PairLeg) -> None:
        self.buy = buy
        self.sell = sell
        self.gateways: tuple[VenueGateway, VenueGateway] = (
            gateway_for(buy.client),
            gateway_for(sell.client),
        )
        if (self.gateways[0].name, buy.symbol) == (self.gateways[1].name, sell.symbol):
            raise InvalidOrderError(
                "the two legs of a pair must differ in venue or symbol",
                venue=self.gateways[0].name,
                symbol=buy.symbol,
            )
        self.base: tuple[Decimal, Decimal] | None = None

    @property
    def legs(self) -> tuple[PairLeg, PairLeg]:
        return (self.buy, self.sell)

    @property
    def can_witness(self) -> bool:
        return all(g.can_read_positions for g in self.gateways)

    async def specs(self) -> tuple[MarketSpec, MarketSpec]:
        buy, sell = await asyncio.gather(
            self.gateways[0].market_spec(self.buy.symbol),
            self.gateways[1].market_spec(self.sell.symbol),
        )
        return buy, sell

    async def mids(self) -> tuple[Decimal, Decimal]:
        """Both mids, read together (raises :class:`MarketDataError` for a one-sided book)."""
        books = await asyncio.gather(
            self.gateways[0].book(self.buy.symbol), self.gateways[1].book(self.sell.symbol)
        )
        mids = [b.mid for b in books]
        for gateway, leg, mid in zip(self.gateways, self.legs, mids, strict=True):
            if mid is None:
                raise InvalidOrderError(
                    "no mid: the book is one-sided", venue=gateway.name, symbol=leg.symbol
                )
        assert mids[0] is not None
        assert mids[1] is not None
        return mids[0], mids[1]

    async def positions(
        self, attempts: int = 3, backoff_s: float = 0.25
    ) -> tuple[Decimal, Decimal]:
        """Both signed positions, retried; raises the last error when they cannot be read."""
        for attempt in range(1, attempts + 1):
            try:
                buy, sell = await asyncio.gather(
                    self.gateways[0].position(self.buy.symbol),
                    self.gateways[1].position(self.sell.symbol),
                )
            except FundarbError as exc:
                log_event(logger, logging.WARNING, "algo.position.retry", error=exc)
                if attempt == attempts:
                    raise
                await asyncio.sleep(backoff_s * attempt)
                continue
            return buy or _ZERO, sell or _ZERO
        raise AssertionError("unreachable")  # pragma: no cover

    async def filled(self) -> tuple[Decimal, Decimal]:
        """What each leg has done since the baseline (both positive when on their sides)."""
        assert self.base is not None, "baseline not set"
        buy, sell = await self.positions()
        return buy - self.base[0], self.base[1] - sell


def execution_cost(results: Iterable[ExecutionResult], mid: Decimal) -> Decimal:
    """Cost in quote currency of ``results`` on one venue against ``mid``: what was paid
    over the mid (or received under it), plus fees. Positive is a cost."""
    total = _ZERO
    for r in results:
        if r.fill_price is not None and r.filled_quantity:
            total += (r.fill_price - mid) * r.filled_quantity * r.side.sign
        total += r.fees
    return total


def atomic_cost(result: AtomicExecutionResult, mids: tuple[Decimal, Decimal]) -> Decimal:
    """Cost of a two-leg atomic execution (legs in buy, sell order) against ``mids``."""
    total = _ZERO
    for report in result.legs:
        runs = ([report.entry] if report.entry is not None else []) + list(report.adjustments)
        total += execution_cost(runs, mids[report.index])
    return total


def min_tradable(spec: MarketSpec, price: Decimal) -> Decimal:
    """The smallest quantity ``spec`` accepts at ``price`` (minimum size and notional)."""
    least = max(spec.min_quantity, spec.lot_size)
    if spec.min_notional > 0 and price > 0:
        by_notional = spec.round_quantity(spec.min_notional / price)
        while by_notional * price < spec.min_notional:
            by_notional += spec.lot_size
        least = max(least, by_notional)
    return least
