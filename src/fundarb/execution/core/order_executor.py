"""``OrderExecutor``: one order, executed the way the mode says, invariants kept.

Modes (:class:`ExecutionMode`):

- ``LIMIT_ONLY``: a limit at the passive touch; at the timeout it is cancelled and what
  filled is reported.
- ``LIMIT_WITH_FALLBACK`` (default): the same, then — once the cancel is confirmed and the
  real filled quantity is read back — a protected market order for the remainder only.
- ``MARKET_ONLY``: immediate, with a price bound ``max_slippage_pct`` past the touch: an IOC
  limit at the bound where the venue takes IOC, else a plain market order.
- ``POST_ONLY``: maker only; a post-only refusal re-prices one tick further from the
  spread and tries again (``post_only_attempts`` times); never crosses.
- ``AGGRESSIVE_LIMIT``: a ladder of equal time slices: join the touch, step inside the
  spread, cross the spread (a limit at the far touch), then market.
- ``ADAPTIVE``: picks one of the above from the :class:`LiquidityAnalyzer` report and the
  caller's ``urgency``; the choice and the reason are in the result.

Bad input raises :class:`~fundarb.errors.InvalidOrderError` before anything is sent (a
size that rounds below the venue's minimum included). A stale or unusable book returns a
failed result, also with nothing sent. If the caller's task is cancelled, open orders are
cancelled and unknown ones resolved (shielded) before the cancellation propagates.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from fundarb.errors import ConfigError, FundarbError, InvalidOrderError, MarketDataError
from fundarb.execution.concurrency import finish_shielded
from fundarb.execution.core.book import OrderBook
from fundarb.execution.core.gateway import VenueGateway, gateway_for
from fundarb.execution.core.leg import LegConfig, LegRunner
from fundarb.execution.core.liquidity_analyzer import LiquidityAnalyzer, Recommendation
from fundarb.execution.core.order_state import OrderKind, OrderState, TrackedOrder
from fundarb.execution.core.position_sizer import PositionSizer
from fundarb.logs import log_event
from fundarb.numbers import to_positive_decimal
from fundarb.venues.markets import MarketSpec
from fundarb.venues.orders import Liquidity, RejectReason, Side, parse_side

__all__ = [
    "ExecutionMode",
    "ExecutionResult",
    "ExecutorConfig",
    "OrderExecutor",
    "PreparedLeg",
    "Urgency",
]

logger = logging.getLogger("fundarb.execution")

_ZERO = Decimal(0)
_CORE_METHODS = (
    "get_exchange_name",
    "fetch_bbo_prices",
    "get_order_book_depth",
    "place_limit_order",
    "place_market_order",
    "cancel_order",
    "get_order_info",
)

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


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionResult:
    """What an execution did. ``slippage_pct`` is against the arrival mid; positive is cost."""

    execution_id: str
    venue: str
    symbol: str
    side: Side
    filled: bool  # the whole target quantity filled
    target_quantity: Decimal
    filled_quantity: Decimal
    fill_price: Decimal | None  # VWAP of all fills
    arrival_mid: Decimal | None
    slippage_pct: Decimal | None
    execution_mode_used: ExecutionMode
    mode_reason: str
    fallback_used: bool
    order_ids: tuple[str, ...]
    client_order_ids: tuple[str, ...]
    fees: Decimal
    fees_estimated: bool  # True when the venue could not list the fills' exact fees
    maker_quantity: Decimal
    taker_quantity: Decimal
    error_message: str | None
    unresolved_orders: tuple[str, ...]  # client order ids of unknown fate: escalate
    elapsed_s: float


class OrderExecutor:
    """Executes single orders on any exchange client (design notes §2)."""

    def __init__(self, config: ExecutorConfig | None = None) -> None:
        self.config = config if config is not None else ExecutorConfig()

    async def execute_order(
        self,
        exchange_client: Any,
        symbol: str,
        side: str,
        size_usd: Decimal | None = None,
        mode: ExecutionMode | str = ExecutionMode.LIMIT_WITH_FALLBACK,
        timeout_seconds: float = 30.0,
        *,
        quantity: Decimal | None = None,
        reduce_only: bool = False,
        urgency: Urgency = "normal",
        execution_id: str | None = None,
        leg: int = 0,
    ) -> ExecutionResult:
        """Execute ``size_usd`` (quote) or ``quantity`` (base) of ``symbol`` on ``side``.

        Raises :class:`InvalidOrderError` for bad input; everything the venue does is
        reported in the result.
        """
        prepared = await self.prepare(
            exchange_client,
            symbol,
            side,
            size_usd,
            mode,
            timeout_seconds,
            quantity=quantity,
            reduce_only=reduce_only,
            urgency=urgency,
            execution_id=execution_id,
            leg=leg,
        )
        if isinstance(prepared, ExecutionResult):
            return prepared
        return await self.run(prepared)

    async def prepare(
        self,
        exchange_client: Any,
        symbol: str,
        side: str,
        size_usd: Decimal | None = None,
        mode: ExecutionMode | str = ExecutionMode.LIMIT_WITH_FALLBACK,
        timeout_seconds: float = 30.0,
        *,
        quantity: Decimal | None = None,
        reduce_only: bool = False,
        urgency: Urgency = "normal",
        execution_id: str | None = None,
        leg: int = 0,
    ) -> PreparedLeg | ExecutionResult:
        """Everything before the first order: input, spec, book, size, mode. Sends nothing.

        Returns the leg ready to :meth:`run`, or a failed result when the market data is
        unusable. Raises :class:`InvalidOrderError` for bad input.
        """
        started = asyncio.get_running_loop().time()
        request = _validate(
            exchange_client,
            symbol,
            side,
            size_usd,
            quantity,
            mode,
            timeout_seconds,
            reduce_only,
            urgency,
        )
        execution_id = execution_id or uuid.uuid4().hex[:12]
        gateway = gateway_for(exchange_client, max_book_age_s=self.config.max_book_age_s)
        try:
            spec = await gateway.market_spec(symbol)
            book = await self._read_book(gateway, symbol)
        except InvalidOrderError:
            raise  # an unknown symbol is bad input
        except FundarbError as exc:
            return self._nothing_sent(execution_id, gateway, request, f"{exc}", started)
        reference = book.touch(request.side) or book.mid
        if reference is None:
            return self._nothing_sent(
                execution_id, gateway, request, "no price on the side to trade", started
            )
        target = _target_quantity(spec, request, reference, gateway.name)
        run = LegRunner(
            gateway,
            execution_id=execution_id,
            leg=leg,
            symbol=symbol,
            side=request.side,
            target=target,
            spec=spec,
            reduce_only=reduce_only,
            config=self.config.leg,
            start_position=await _position_or_none(gateway, symbol),
        )
        chosen, reason = request.mode, "requested"
        if chosen is ExecutionMode.ADAPTIVE:
            chosen, reason = await self._choose(exchange_client, request, target)
        return PreparedLeg(
            run=run, book=book, request=request, mode=chosen, reason=reason, started=started
        )

    async def run(self, leg: PreparedLeg) -> ExecutionResult:
        """Send and see through a prepared leg; nothing is left open, even when cancelled."""
        run = leg.run
        log_event(
            logger,
            logging.INFO,
            "exec.start",
            execution_id=run.execution_id,
            venue=run.gateway.name,
            symbol=run.symbol,
            side=run.side.value,
            quantity=run.target,
            mode=leg.mode.value,
            reason=leg.reason,
        )
        outcome = _Outcome()
        try:
            await self._run(leg.mode, run, leg.book, leg.request.timeout_s, outcome)
            if run.open_orders or run.unresolved:
                await finish_shielded(run.close_out())
        except BaseException:
            await finish_shielded(run.close_out())  # nothing left open, even when cancelled
            raise
        return await self._result(
            run, leg.request, leg.mode, leg.reason, leg.book, outcome, leg.started
        )

    async def _read_book(self, gateway: VenueGateway, symbol: str) -> OrderBook:
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

    # -- modes ------------------------------------------------------------------------------

    async def _run(
        self,
        mode: ExecutionMode,
        run: LegRunner,
        book: OrderBook,
        timeout_s: float,
        outcome: _Outcome,
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
        self, run: LegRunner, book: OrderBook, deadline: float, kind: OrderKind, outcome: _Outcome
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
        await run.corroborate()

    async def _market(
        self, run: LegRunner, outcome: _Outcome, book: OrderBook | None = None
    ) -> None:
        """A protected market order for everything still unfilled, bounded off ``book``
        (read now when not given)."""
        if run.remaining <= 0 or not run.can_send:
            return
        if book is None:
            try:
                book = await self._read_book(run.gateway, run.symbol)
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
        self, run: LegRunner, book: OrderBook, deadline: float, outcome: _Outcome
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
                    book = await self._read_book(run.gateway, run.symbol)
                except FundarbError as exc:
                    outcome.errors.append(f"post-only: {exc}")
                    return
                continue
            await self._settle(run, order, deadline)
            return
        outcome.errors.append(f"post-only: refused {self.config.post_only_attempts} times")

    async def _ladder(
        self, run: LegRunner, book: OrderBook, timeout_s: float, outcome: _Outcome
    ) -> None:
        """Join the touch, step inside, cross the spread, then market: equal time slices."""
        loop = asyncio.get_running_loop()
        slice_s = timeout_s / 4
        for rung in ("join", "inside", "cross"):
            if run.remaining <= 0 or not run.can_send:
                return
            if rung != "join":
                try:
                    book = await self._read_book(run.gateway, run.symbol)
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

    async def _choose(
        self, client: Any, request: _Request, target: Decimal
    ) -> tuple[ExecutionMode, str]:
        analyzer = LiquidityAnalyzer(
            max_slippage_pct=self.config.max_slippage_pct, max_book_age_s=self.config.max_book_age_s
        )
        report = await analyzer.check_execution_feasibility(
            exchange_client=client,
            symbol=request.symbol,
            side=request.side.value,
            quantity=target,
        )
        urgency = request.urgency
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

    # -- results ----------------------------------------------------------------------------

    def _nothing_sent(
        self,
        execution_id: str,
        gateway: VenueGateway,
        request: _Request,
        error: str,
        started: float,
    ) -> ExecutionResult:
        log_event(
            logger,
            logging.WARNING,
            "exec.not_sent",
            execution_id=execution_id,
            venue=gateway.name,
            symbol=request.symbol,
            error=error,
        )
        return ExecutionResult(
            execution_id=execution_id,
            venue=gateway.name,
            symbol=request.symbol,
            side=request.side,
            filled=False,
            target_quantity=request.quantity or _ZERO,
            filled_quantity=_ZERO,
            fill_price=None,
            arrival_mid=None,
            slippage_pct=None,
            execution_mode_used=request.mode,
            mode_reason="nothing sent",
            fallback_used=False,
            order_ids=(),
            client_order_ids=(),
            fees=_ZERO,
            fees_estimated=False,
            maker_quantity=_ZERO,
            taker_quantity=_ZERO,
            error_message=error,
            unresolved_orders=(),
            elapsed_s=asyncio.get_running_loop().time() - started,
        )

    async def _result(
        self,
        run: LegRunner,
        request: _Request,
        mode: ExecutionMode,
        reason: str,
        book: OrderBook,
        outcome: _Outcome,
        started: float,
    ) -> ExecutionResult:
        costs = await _costs(run)
        filled = run.filled
        mid = book.mid
        slippage = None
        if costs.vwap is not None and mid:
            slippage = (costs.vwap - mid) / mid * run.side.sign
        errors = outcome.errors + run.problems
        if filled < run.target and not errors:
            errors.append(f"filled {filled} of {run.target}")
        unresolved = tuple(o.client_order_id for o in run.unresolved)
        result = ExecutionResult(
            execution_id=run.execution_id,
            venue=run.gateway.name,
            symbol=run.symbol,
            side=run.side,
            filled=filled >= run.target,
            target_quantity=run.target,
            filled_quantity=filled,
            fill_price=costs.vwap,
            arrival_mid=mid,
            slippage_pct=slippage,
            execution_mode_used=mode,
            mode_reason=reason,
            fallback_used=outcome.fallback_used,
            order_ids=tuple(o.order_id for o in run.orders if o.order_id),
            client_order_ids=tuple(o.client_order_id for o in run.orders),
            fees=costs.fees,
            fees_estimated=costs.estimated,
            maker_quantity=costs.maker,
            taker_quantity=costs.taker,
            error_message="; ".join(errors) or None,
            unresolved_orders=unresolved,
            elapsed_s=asyncio.get_running_loop().time() - started,
        )
        log_event(
            logger,
            logging.CRITICAL if unresolved else logging.INFO,
            "exec.done",
            execution_id=run.execution_id,
            venue=run.gateway.name,
            symbol=run.symbol,
            filled=filled,
            target=run.target,
            price=costs.vwap,
            fees=costs.fees,
            error=result.error_message,
        )
        return result


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedLeg:
    """A leg checked and sized, nothing sent yet (see :meth:`OrderExecutor.prepare`)."""

    run: LegRunner
    book: OrderBook
    request: _Request
    mode: ExecutionMode
    reason: str
    started: float


@dataclass(frozen=True, slots=True)
class _Request:
    symbol: str
    side: Side
    size_usd: Decimal | None
    quantity: Decimal | None
    mode: ExecutionMode
    timeout_s: float
    urgency: Urgency
    reduce_only: bool


@dataclass(slots=True)
class _Outcome:
    errors: list[str] = field(default_factory=list)
    fallback_used: bool = False


@dataclass(frozen=True, slots=True)
class _Costs:
    vwap: Decimal | None
    fees: Decimal
    estimated: bool
    maker: Decimal
    taker: Decimal


def _validate(
    client: Any,
    symbol: object,
    side: object,
    size_usd: object,
    quantity: object,
    mode: object,
    timeout_s: object,
    reduce_only: object,
    urgency: object,
) -> _Request:
    missing = [m for m in _CORE_METHODS if not callable(getattr(client, m, None))]
    if missing:
        raise InvalidOrderError(f"exchange_client lacks the interface methods {missing}")
    venue = str(client.get_exchange_name())
    where = {"venue": venue, "symbol": str(symbol)}
    if not isinstance(symbol, str) or not symbol.strip():
        raise InvalidOrderError(f"symbol must be a non-empty str, got {symbol!r}", **where)
    parsed_side = parse_side(side)
    if (size_usd is None) == (quantity is None):
        raise InvalidOrderError("give exactly one of size_usd or quantity", **where)
    try:
        usd = to_positive_decimal(size_usd, name="size_usd") if size_usd is not None else None
        qty = to_positive_decimal(quantity, name="quantity") if quantity is not None else None
    except ValueError as exc:
        raise InvalidOrderError(str(exc), **where) from None
    try:
        parsed_mode = ExecutionMode(str(mode))
    except ValueError:
        raise InvalidOrderError(
            f"mode must be one of {[m.value for m in ExecutionMode]}, got {mode!r}", **where
        ) from None
    if (
        isinstance(timeout_s, bool)
        or not isinstance(timeout_s, int | float)
        or not (math.isfinite(timeout_s) and timeout_s > 0)
    ):
        raise InvalidOrderError(f"timeout_seconds must be above zero, got {timeout_s!r}", **where)
    if not isinstance(reduce_only, bool):
        raise InvalidOrderError(f"reduce_only must be a bool, got {reduce_only!r}", **where)
    if urgency not in ("low", "normal", "high"):
        raise InvalidOrderError(f"urgency must be low, normal or high, got {urgency!r}", **where)
    return _Request(
        symbol, parsed_side, usd, qty, parsed_mode, float(timeout_s), urgency, reduce_only
    )


def _target_quantity(
    spec: MarketSpec, request: _Request, reference: Decimal, venue: str
) -> Decimal:
    """Base quantity to trade, on the lot, checked against the venue's minimums."""
    if request.size_usd is not None:
        return PositionSizer().quantity_for(spec, request.size_usd, reference, venue=venue)
    assert request.quantity is not None
    quantity = spec.round_quantity(request.quantity)
    problem = spec.check_order(
        quantity, spec.round_price(reference, request.side), reduce_only=request.reduce_only
    )
    if quantity <= 0 or problem is not None:
        reason = problem.message if problem is not None else "nothing to trade"
        raise InvalidOrderError(
            f"{request.quantity} {spec.symbol} rounds to {quantity}: {reason}",
            venue=venue,
            symbol=spec.symbol,
        )
    return quantity


def _fits(
    spec: MarketSpec,
    quantity: Decimal,
    price: Decimal,
    outcome: _Outcome,
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


async def _position_or_none(gateway: VenueGateway, symbol: str) -> Decimal | None:
    try:
        return await gateway.position(symbol)
    except FundarbError:  # no witness: the leg runs without position corroboration
        return None


async def _costs(run: LegRunner) -> _Costs:
    """VWAP, fees and maker/taker split: exact from the venue's fills when it lists them."""
    filled = run.filled
    ids = [o.order_id for o in run.orders if o.order_id]
    fills = None
    if filled > 0 and ids:
        try:
            fills = await run.gateway.fills(run.symbol, ids)
        except FundarbError:  # fall back to the orders' own figures
            fills = None
    if fills is not None and sum((f.quantity for f in fills), _ZERO) == filled:
        value = sum((f.price * f.quantity for f in fills), _ZERO)
        return _Costs(
            vwap=value / filled,
            fees=sum((f.fee for f in fills), _ZERO),
            estimated=False,
            maker=sum((f.quantity for f in fills if f.liquidity is Liquidity.MAKER), _ZERO),
            taker=sum((f.quantity for f in fills if f.liquidity is Liquidity.TAKER), _ZERO),
        )
    value = _ZERO
    maker = taker = _ZERO
    for order in run.orders:
        if order.filled <= 0:
            continue
        price = order.ledger.average_price or order.price
        if price is None:
            return _Costs(None, _ZERO, True, _ZERO, _ZERO)
        value += price * order.filled
        if order.kind in (OrderKind.LIMIT, OrderKind.POST_ONLY):
            maker += order.filled
        else:
            taker += order.filled
    schedule = await run.gateway.fee_schedule(run.symbol) if filled > 0 else None
    fees = _ZERO
    if schedule is not None and filled > 0:
        average = value / filled
        fees = average * (maker * schedule.maker_rate + taker * schedule.taker_rate)
    return _Costs(value / filled if filled > 0 else None, fees, filled > 0, maker, taker)
