"""How each execution mode trades one leg (see :class:`ExecutionMode`).

Every mode works through a :class:`~fundarb.execution.core.leg.LegRunner`, which keeps the
leg's invariants; the modes decide only prices, kinds of order and timing.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from fundarb.errors import ConfigError, FundarbError, MarketDataError
from fundarb.execution.core.book import OrderBook
from fundarb.execution.core.gateway import VenueGateway
from fundarb.execution.core.leg import LegConfig, LegRunner
from fundarb.execution.core.liquidity_analyzer import LiquidityAnalyzer, Recommendation
from fundarb.execution.core.order_state import OrderKind, OrderState, TrackedOrder
from fundarb.logs import log_event
from fundarb.venues.markets import MarketSpec
from fundarb.venues.orders import RejectReason, Side

__all__ = ["ExecutionMode", "ExecutorConfig", "Modes", "Outcome", "Urgency"]

logger = logging.getLogger("fundarb.execution")

Urgency = Literal["low", "normal", "high"]


class ExecutionMode(StrEnum):
    LIMIT_ONLY = "limit_only"
    LIMIT_WITH_FALLBACK = "limit_with_fallback"
    MARKET_ONLY = "market_only"
    POST_ONLY = "post_only"
    AGGRESSIVE_LIMIT = "aggressive_limit"
    ADAPTIVE = "adaptive"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutorConfig:
    """How the executor trades. Times are seconds of the event loop's clock."""

    max_slippage_pct: Decimal = Decimal("0.005")  # market price bound past the touch (0.5 %)
    max_book_age_s: float = 5.0
    market_timeout_s: float = 10.0  # how long a market or IOC order may take to be final
    post_only_attempts: int = 5
    leg: LegConfig = field(default_factory=LegConfig)

    def __post_init__(self) -> None:
        if not (self.max_slippage_pct.is_finite() and 0 < self.max_slippage_pct < 1):
            raise ConfigError(f"max_slippage_pct must be in (0, 1), got {self.max_slippage_pct}")
        for name in ("max_book_age_s", "market_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be greater than zero, got {value}")
        if self.post_only_attempts < 1:
            raise ConfigError("post_only_attempts must be 1 or more")


@dataclass(slots=True)
class Outcome:
    """What went wrong, and whether a fallback was used, while a mode ran."""

    errors: list[str] = field(default_factory=list)
    fallback_used: bool = False


class Modes:
    """The modes, for one executor configuration."""

    def __init__(self, config: ExecutorConfig) -> None:
        self.config = config

    async def read_book(self, gateway: VenueGateway, symbol: str) -> OrderBook:
        """The book, retried while the venue is unreachable; a bad book is not retried."""
        attempts = self.config.leg.send_attempts
        for attempt in range(1, attempts + 1):
            try:
                return await gateway.book(symbol)
            except MarketDataError:
                raise
            except FundarbError as exc:  # reads are idempotent: unreachable or unanswered
                if attempt == attempts:
                    raise
                log_event(
                    logger,
                    logging.WARNING,
                    "exec.book.retry",
                    venue=gateway.name,
                    symbol=symbol,
                    error=exc,
                )
                await asyncio.sleep(self.config.leg.retry_backoff_s * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def run(
        self,
        mode: ExecutionMode,
        run: LegRunner,
        book: OrderBook,
        timeout_s: float,
        outcome: Outcome,
    ) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        if mode is ExecutionMode.MARKET_ONLY:
            await self._market(run, outcome, book)  # the arrival book is microseconds old
        elif mode is ExecutionMode.LIMIT_ONLY:
            await self._passive(run, book, deadline, OrderKind.LIMIT, outcome)
        elif mode is ExecutionMode.LIMIT_WITH_FALLBACK:
            await self._passive(run, book, deadline, OrderKind.LIMIT, outcome)
            if run.remaining > 0 and run.can_send:
                outcome.fallback_used = True
                await self._market(run, outcome)
        elif mode is ExecutionMode.POST_ONLY:
            await self._post_only(run, book, deadline, outcome)
        elif mode is ExecutionMode.AGGRESSIVE_LIMIT:
            await self._ladder(run, book, timeout_s, outcome)

    async def _passive(
        self, run: LegRunner, book: OrderBook, deadline: float, kind: OrderKind, outcome: Outcome
    ) -> TrackedOrder | None:
        """Rest a limit at the passive touch until it fills or ``deadline``; then cancel."""
        price = _passive_price(book, run.side, run.spec)
        if price is None:
            outcome.errors.append("no passive price: the book is empty on our side")
            return None
        if not _fits(run.spec, run.remaining, price, outcome, run.reduce_only):
            return None
        order = await run.send(kind, run.remaining, price)
        await self._settle(run, order, deadline)
        return order

    async def _settle(self, run: LegRunner, order: TrackedOrder, deadline: float) -> None:
        """Wait for ``order`` until ``deadline``; cancel it if still open; count late fills."""
        if order.state.is_open and order.state is not OrderState.UNKNOWN:
            await run.wait(order, deadline)
        if order.state.is_open and order.state is not OrderState.UNKNOWN:
            await run.cancel(order)
        if order.state is not OrderState.FILLED and order.state is not OrderState.REJECTED:
            await run.corroborate()  # cancelled, expired or unknown: fills may be unreported

    async def _market(
        self, run: LegRunner, outcome: Outcome, book: OrderBook | None = None
    ) -> None:
        """A protected market order for everything still unfilled, bounded off ``book``
        (read now when not given)."""
        if run.remaining <= 0 or not run.can_send:
            return
        if book is None:
            try:
                book = await self.read_book(run.gateway, run.symbol)
            except FundarbError as exc:
                outcome.errors.append(f"market order not sent: {exc}")
                return
        touch = book.touch(run.side)
        if touch is None:
            outcome.errors.append("market order not sent: no liquidity on the other side")
            return
        quantity = run.remaining
        if not _fits(run.spec, quantity, touch, outcome, run.reduce_only):
            return
        slip = self.config.max_slippage_pct
        bound = run.spec.round_price(
            touch * (1 + slip) if run.side is Side.BUY else touch * (1 - slip), run.side
        )
        deadline = asyncio.get_running_loop().time() + self.config.market_timeout_s
        if run.gateway.supports("time_in_force"):
            order = await run.send(OrderKind.IOC, quantity, bound)
        else:
            order = await run.send(OrderKind.MARKET, quantity)
        await self._settle(run, order, deadline)
        if order.state is OrderState.REJECTED:
            outcome.errors.append(f"market order rejected: {order.note}")
        elif run.remaining > 0 and order.kind is OrderKind.IOC:
            outcome.errors.append(
                f"price protection: {order.filled} of {quantity} filled within {bound}"
            )

    async def _post_only(
        self, run: LegRunner, book: OrderBook, deadline: float, outcome: Outcome
    ) -> None:
        if not run.gateway.supports("post_only"):
            outcome.errors.append("the venue client does not take post-only orders")
            return
        loop = asyncio.get_running_loop()
        step = 0
        for _ in range(self.config.post_only_attempts):
            if run.remaining <= 0 or loop.time() >= deadline:
                return
            price = _passive_price(book, run.side, run.spec, ticks_away=step)
            if price is None or not _fits(run.spec, run.remaining, price, outcome, run.reduce_only):
                outcome.errors.append("post-only: no passive price")
                return
            order = await run.send(OrderKind.POST_ONLY, run.remaining, price)
            if order.state is OrderState.REJECTED:
                if order.reject_reason not in (RejectReason.POST_ONLY_WOULD_CROSS, None):
                    outcome.errors.append(f"post-only order rejected: {order.note}")
                    return
                step += 1  # the touch moved into us: step back from it and try again
                try:
                    book = await self.read_book(run.gateway, run.symbol)
                except FundarbError as exc:
                    outcome.errors.append(f"post-only: {exc}")
                    return
                continue
            await self._settle(run, order, deadline)
            return
        outcome.errors.append(f"post-only: refused {self.config.post_only_attempts} times")

    async def _ladder(
        self, run: LegRunner, book: OrderBook, timeout_s: float, outcome: Outcome
    ) -> None:
        """Join the touch, step inside, cross the spread, then market: equal time slices."""
        loop = asyncio.get_running_loop()
        slice_s = timeout_s / 4
        for rung in ("join", "inside", "cross"):
            if run.remaining <= 0 or not run.can_send:
                return
            if rung != "join":
                try:
                    book = await self.read_book(run.gateway, run.symbol)
                except FundarbError as exc:
                    outcome.errors.append(f"ladder stopped: {exc}")
                    return
            price = _ladder_price(book, run.side, run.spec, rung)
            if price is None or not _fits(run.spec, run.remaining, price, outcome, run.reduce_only):
                continue
            order = await run.send(OrderKind.LIMIT, run.remaining, price)
            await self._settle(run, order, loop.time() + slice_s)
        if run.remaining > 0 and run.can_send:
            outcome.fallback_used = True
            await self._market(run, outcome)

    async def choose(
        self, client: Any, symbol: str, side: Side, urgency: Urgency, target: Decimal
    ) -> tuple[ExecutionMode, str]:
        """ADAPTIVE: a mode from the liquidity report at ``target`` and the caller's urgency."""
        analyzer = LiquidityAnalyzer(
            max_slippage_pct=self.config.max_slippage_pct, max_book_age_s=self.config.max_book_age_s
        )
        report = await analyzer.check_execution_feasibility(
            exchange_client=client,
            symbol=symbol,
            side=side.value,
            quantity=target,
        )
        rec = report.recommendation
        table: dict[Recommendation, dict[str, ExecutionMode]] = {
            Recommendation.USE_LIMIT: {
                "low": ExecutionMode.POST_ONLY,
                "normal": ExecutionMode.LIMIT_WITH_FALLBACK,
                "high": ExecutionMode.AGGRESSIVE_LIMIT,
            },
            Recommendation.USE_AGGRESSIVE_LIMIT: {
                "low": ExecutionMode.LIMIT_WITH_FALLBACK,
                "normal": ExecutionMode.AGGRESSIVE_LIMIT,
                "high": ExecutionMode.MARKET_ONLY,
            },
            Recommendation.USE_MARKET: {
                "low": ExecutionMode.AGGRESSIVE_LIMIT,
                "normal": ExecutionMode.MARKET_ONLY,
                "high": ExecutionMode.MARKET_ONLY,
            },
            Recommendation.SPREAD_TOO_WIDE: {
                "low": ExecutionMode.POST_ONLY,
                "normal": ExecutionMode.LIMIT_ONLY,
                "high": ExecutionMode.LIMIT_WITH_FALLBACK,
            },
            Recommendation.INSUFFICIENT_DEPTH: {
                "low": ExecutionMode.POST_ONLY,
                "normal": ExecutionMode.LIMIT_ONLY,
                "high": ExecutionMode.LIMIT_ONLY,
            },
            Recommendation.STALE_BOOK: {
                "low": ExecutionMode.LIMIT_ONLY,
                "normal": ExecutionMode.LIMIT_ONLY,
                "high": ExecutionMode.LIMIT_ONLY,
            },
        }
        mode = table[rec][urgency]
        return mode, f"adaptive: {rec.value} at {urgency} urgency ({report.reason})"


def _fits(
    spec: MarketSpec,
    quantity: Decimal,
    price: Decimal,
    outcome: Outcome,
    reduce_only: bool = False,
) -> bool:
    problem = spec.check_order(quantity, spec.round_price(price, Side.BUY), reduce_only=reduce_only)
    if problem is not None:
        outcome.errors.append(f"remainder {quantity} not sent: {problem.message}")
        return False
    return True


def _passive_price(
    book: OrderBook, side: Side, spec: MarketSpec, ticks_away: int = 0
) -> Decimal | None:
    """Our side's touch (bid for a buy), ``ticks_away`` further from the spread."""
    near = book.best_bid if side is Side.BUY else book.best_ask
    if near is None:
        far = book.best_ask if side is Side.BUY else book.best_bid
        if far is None:
            return None
        near = far - spec.tick_size * side.sign
    price = near - spec.tick_size * ticks_away * side.sign
    return spec.round_price(price, side) if price > 0 else None


def _ladder_price(book: OrderBook, side: Side, spec: MarketSpec, rung: str) -> Decimal | None:
    if rung == "join":
        return _passive_price(book, side, spec)
    far = book.touch(side)
    if rung == "cross":
        return spec.round_price(far, side) if far is not None else None
    near = _passive_price(book, side, spec)
    if near is None or far is None:
        return near
    inside = near + spec.tick_size * side.sign
    # one tick inside the spread, never onto the far touch (that is the next rung); a
    # one-tick spread has no inside: the rung is skipped
    return inside if (inside < far if side is Side.BUY else inside > far) else None
