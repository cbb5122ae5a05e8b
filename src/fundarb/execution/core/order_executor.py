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
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fundarb.concurrency import finish_shielded
from fundarb.errors import FundarbError, InvalidOrderError, StorageError
from fundarb.execution.core.book import OrderBook
from fundarb.execution.core.costs import leg_costs
from fundarb.execution.core.gateway import VenueGateway, gateway_for
from fundarb.execution.core.leg import JournalSink, LegRunner
from fundarb.execution.core.modes import ExecutionMode, ExecutorConfig, Modes, Outcome, Urgency
from fundarb.execution.core.position_sizer import PositionSizer
from fundarb.logs import log_event
from fundarb.numbers import to_positive_decimal
from fundarb.storage.journal import EntryKind, JournalEntry
from fundarb.venues.markets import MarketSpec
from fundarb.venues.orders import Fill, Side, parse_side

if TYPE_CHECKING:
    from fundarb.execution.monitoring.execution_tracker import ExecutionTracker

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


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionResult:
    """What an execution did. ``slippage_pct`` is against the arrival mid; positive is cost.

    ``decision_price`` is the book price the leg was decided and sized at: the touch on the
    side to trade (the ask for a buy) of the arrival book. ``limit_prices`` are the prices
    of the orders sent, one per client order id (None for a market order; an IOC's is its
    price bound).
    Times are seconds of the event loop's clock from the leg's first send:
    ``time_to_ack_s`` to the first answer that accepted an order (None when no answer did,
    e.g. an order found only by lookup after a timeout), ``time_to_fill_s`` to the moment
    the filled quantity was last seen to rise (None when nothing filled); both include any
    retries and re-prices before them. ``send_retries`` counts sends repeated under the same
    client order id after a retryable failure (new orders are in ``client_order_ids``).
    """

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
    open_orders: tuple[str, ...]  # client order ids we could not cancel: escalate
    elapsed_s: float
    decision_price: Decimal | None = None
    limit_prices: tuple[Decimal | None, ...] = ()
    time_to_ack_s: float | None = None
    time_to_fill_s: float | None = None
    send_retries: int = 0


class OrderExecutor:
    """Executes single orders on any exchange client (design notes §2)."""

    def __init__(
        self,
        config: ExecutorConfig | None = None,
        *,
        journal: JournalSink | None = None,
        tracker: ExecutionTracker | None = None,
        strategy_name: str = "default",
    ) -> None:
        """``journal``: where every order's intent is written before it is sent, and its
        acknowledgement, fills, cancel and the outcome after (design notes §5).
        ``tracker``: every :meth:`execute_order` is recorded there under ``strategy_name``."""
        self.config = config if config is not None else ExecutorConfig()
        self.modes = Modes(self.config)
        self.journal = journal
        self._unsaved_fills: dict[str, list[Fill]] = {}  # until the outcome stores them
        self.tracker = tracker
        self.strategy_name = strategy_name

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
        result = prepared if isinstance(prepared, ExecutionResult) else await self.run(prepared)
        if self.tracker is not None:
            from fundarb.execution.monitoring.records import ExecutionRecord

            await self.tracker.record_execution(
                ExecutionRecord.from_result(result, strategy_name=self.strategy_name)
            )
        return result

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
        book: OrderBook | None = None,
        position: tuple[Decimal | None] | None = None,
    ) -> PreparedLeg | ExecutionResult:
        """Everything before the first order: input, spec, book, size, mode. Sends nothing.

        ``book`` and ``position`` (a 1-tuple: the position, or None when the venue cannot
        say), when the caller has just read them, save the round trip. Returns the leg ready
        to :meth:`run`, or a failed result when the market data is unusable. Raises
        :class:`InvalidOrderError` for bad input.
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
            if book is None or position is None:
                book, start_position = await _book_and_position(self.modes, gateway, symbol)
            else:
                start_position = position[0]
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
            start_position=start_position,
            journal=self.journal,
        )
        chosen, reason = request.mode, "requested"
        if chosen is ExecutionMode.ADAPTIVE:
            chosen, reason = await self.modes.choose(
                exchange_client, request.symbol, request.side, request.urgency, target
            )
        return PreparedLeg(
            run=run,
            book=book,
            request=request,
            mode=chosen,
            reason=reason,
            started=started,
            decision_price=reference,
        )

    async def run(self, leg: PreparedLeg) -> ExecutionResult:
        """Send and see through a prepared leg; nothing is left open, even when cancelled."""
        result = await self.report(leg, await self.trade(leg))
        await self.note_outcome(
            result.execution_id,
            "filled" if result.filled else ("partial" if result.filled_quantity else "not_filled"),
        )
        return result

    def _keep_fills(self, execution_id: str, fills: Sequence[Fill]) -> None:
        """Hold a leg's fills (the venue's records) until the execution's outcome, which
        stores them (see :meth:`note_outcome`)."""
        if fills and getattr(getattr(self.journal, "store", None), "save_fills", None):
            self._unsaved_fills.setdefault(execution_id, []).extend(fills)

    async def save_fills(self) -> None:
        """Store the fills held so far, one transaction per execution (each fill once).
        Fills the database refused are held for the next try (the next outcome, or the
        shutdown): their execution's outcome is journalled (or spooled) regardless, so
        recovery would not look for them."""
        store = getattr(self.journal, "store", None)
        pending, self._unsaved_fills = self._unsaved_fills, {}
        if store is None:
            return
        for execution_id, fills in pending.items():
            try:
                await store.save_fills(fills, execution_id=execution_id)
            except FundarbError as exc:
                self._unsaved_fills.setdefault(execution_id, []).extend(fills)
                log_event(
                    logger,
                    logging.ERROR,
                    "exec.fills.not_saved",
                    execution_id=execution_id,
                    error=exc,
                )

    async def note_outcome(self, execution_id: str, outcome: str) -> None:
        """Journal that an execution ended (recovery leaves it alone from then on); the
        fills of its legs are stored first: an execution a crash leaves unfinished has its
        fills recorded by recovery, one that ended has them here."""
        if self.journal is None:
            return
        if self._unsaved_fills:
            await self.save_fills()
        try:
            await self.journal.append(
                JournalEntry(execution_id=execution_id, kind=EntryKind.OUTCOME, detail=outcome)
            )
        except StorageError as exc:  # the trades are done: recovery will re-check them
            log_event(
                logger,
                logging.CRITICAL,
                "exec.outcome.not_journaled",
                execution_id=execution_id,
                error=exc,
            )

    async def trade(self, leg: PreparedLeg) -> Outcome:
        """The trading half of :meth:`run`: every order sent and final (or escalated).

        The figures (exact fees, VWAP) come from :meth:`report`, which callers in a hurry
        (a pair whose other leg failed) may ask for later.
        """
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
        outcome = Outcome()
        try:
            await self.modes.run(leg.mode, run, leg.book, leg.request.timeout_s, outcome)
            if run.open_orders or run.unresolved:
                await finish_shielded(run.close_out())
        except BaseException:
            await finish_shielded(run.close_out())  # nothing left open, even when cancelled
            raise
        return outcome

    async def report(self, leg: PreparedLeg, outcome: Outcome) -> ExecutionResult:
        """The result of a traded leg: fills, fees, slippage (reads the venue's fills)."""
        return await self._result(leg, outcome)

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
            open_orders=(),
            elapsed_s=asyncio.get_running_loop().time() - started,
        )

    async def _result(self, leg: PreparedLeg, outcome: Outcome) -> ExecutionResult:
        run = leg.run
        costs = await leg_costs(run)
        self._keep_fills(run.execution_id, costs.fills)
        filled = run.filled
        mid = leg.book.mid
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
            execution_mode_used=leg.mode,
            mode_reason=leg.reason,
            fallback_used=outcome.fallback_used,
            order_ids=tuple(o.order_id for o in run.orders if o.order_id),
            client_order_ids=tuple(o.client_order_id for o in run.orders),
            fees=costs.fees,
            fees_estimated=costs.estimated,
            maker_quantity=costs.maker,
            taker_quantity=costs.taker,
            error_message="; ".join(errors) or None,
            unresolved_orders=unresolved,
            open_orders=tuple(
                o.client_order_id for o in run.open_orders if o.client_order_id not in unresolved
            ),
            elapsed_s=asyncio.get_running_loop().time() - leg.started,
            decision_price=leg.decision_price,
            limit_prices=tuple(o.price for o in run.orders),
            time_to_ack_s=_since(run.sent_at, run.acked_at),
            time_to_fill_s=_since(run.sent_at, run.filled_at),
            send_retries=run.resends,
        )
        log_event(
            logger,
            logging.CRITICAL if unresolved or run.open_orders else logging.INFO,
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
    decision_price: Decimal | None = None  # the book price the leg was sized at


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


def _since(start: float | None, end: float | None) -> float | None:
    """Seconds from ``start`` to ``end`` (loop clock), or None when either is unknown."""
    if start is None or end is None:
        return None
    return max(end - start, 0.0)


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


async def _book_and_position(
    modes: Modes, gateway: VenueGateway, symbol: str
) -> tuple[OrderBook, Decimal | None]:
    """The book and the position, read concurrently: one round trip, not two."""
    try:
        async with asyncio.TaskGroup() as reads:
            book = reads.create_task(modes.read_book(gateway, symbol))
            position = reads.create_task(_position_or_none(gateway, symbol))
    except* FundarbError as failed:
        raise failed.exceptions[0] from None
    return book.result(), position.result()


async def _position_or_none(
    gateway: VenueGateway, symbol: str, attempts: int = 3, backoff_s: float = 0.25
) -> Decimal | None:
    """The position before the leg (retried); None when the venue cannot say or be read.

    A leg whose venue reports positions but could not be read here runs without its
    witness: it stops rather than send a replacement after a cancel (see LegRunner).
    """
    for attempt in range(1, attempts + 1):
        try:
            return await gateway.position(symbol)
        except FundarbError:
            if attempt < attempts:
                await asyncio.sleep(backoff_s * attempt)
    return None
