"""``PairTwap``: a pair too large for the books, opened or closed in slices that move together.

Each slice is one :meth:`AtomicMultiOrderExecutor.execute_atomically` of both legs at the
same quantity, so within a slice the legs differ by at most that slice, and the executor
leaves the pair whole, balanced or flat when it returns. Between slices the venues'
positions are read (the witness, see :mod:`.pair`): should they disagree (a residual the
executor could not fix), the gap is closed — the lagging leg completed, else the leading
one trimmed — before the next slice starts, or the TWAP stops and says so.

Timing: ``duration_s`` is cut into equal intervals, one per slice; each slice starts at a
random moment in the first ``jitter`` of its interval (the seed makes it repeatable). When
the legs are a whole slice or more behind the linear schedule (slices refused, rolled back
or partly filled), the next slice starts at once (catch-up). At the deadline, what is left
is either finished with aggressive (market) slices, still one slice at a time, or left
undone and reported (:class:`DeadlinePolicy`).

Restart: with a :class:`CheckpointStore` the TWAP writes its baseline positions and its
schedule before the first order, and its progress after each slice. ``run()`` of a TWAP
with the same ``twap_id`` resumes from the venues' positions: a slice the crash interrupted
is counted at what it really did, never re-sent blind. Orders the crash left open are the
journal recovery's to cancel (``fundarb recover``); run it before resuming.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from typing import Any

from fundarb.errors import ConfigError, FundarbError, InvalidOrderError
from fundarb.execution.algos.pair import (
    CheckpointStore,
    Clock,
    PairLeg,
    PairVenues,
    atomic_cost,
    execution_cost,
    min_tradable,
    utc_clock,
)
from fundarb.execution.core.order_executor import ExecutionMode, ExecutionResult
from fundarb.execution.patterns.atomic_multi_order import (
    AtomicExecutionResult,
    AtomicMultiOrderExecutor,
    AtomicOutcome,
    OrderSpec,
)
from fundarb.logs import log_event
from fundarb.numbers import to_positive_decimal
from fundarb.venues.markets import MarketSpec

__all__ = [
    "DeadlinePolicy",
    "PairTwap",
    "SliceRecord",
    "TwapConfig",
    "TwapProgress",
    "TwapResult",
    "TwapState",
]

logger = logging.getLogger("fundarb.execution.algos")

_ZERO = Decimal(0)
_BPS = Decimal(10_000)
KIND = "pair_twap"


class TwapState(StrEnum):
    PENDING = "pending"  # not started
    RUNNING = "running"  # slices under way
    FINISHING = "finishing"  # the deadline passed: the rest in aggressive slices
    COMPLETED = "completed"  # the whole quantity on both legs
    STOPPED = "stopped"  # deadline under the stop policy, or stop() called: balanced, short
    FAILED = "failed"  # the legs could not be kept level, or the venues kept refusing

    @property
    def final(self) -> bool:
        return self in (TwapState.COMPLETED, TwapState.STOPPED, TwapState.FAILED)


class DeadlinePolicy(StrEnum):
    FINISH_AGGRESSIVE = "finish_aggressive"  # the rest in market slices, one at a time
    STOP = "stop"  # leave the rest undone, report it


@dataclass(frozen=True, slots=True, kw_only=True)
class TwapConfig:
    """How a pair TWAP slices and times its work. Times are seconds.

    Give ``slices`` (N equal slices) or ``participation`` (a slice is at most this fraction
    of the thinner venue's visible depth within ``depth_band_bps`` of its mid, on the side
    each leg takes, read at the start).
    """

    duration_s: float
    slices: int | None = None
    participation: Decimal | None = None
    depth_band_bps: Decimal = Decimal(10)
    jitter: float = 0.3  # a slice starts at a random moment in this fraction of its interval
    deadline_policy: DeadlinePolicy = DeadlinePolicy.FINISH_AGGRESSIVE
    slice_mode: ExecutionMode = ExecutionMode.LIMIT_WITH_FALLBACK
    slice_timeout_s: float | None = None  # default: what the interval leaves after jitter
    finish_mode: ExecutionMode = ExecutionMode.MARKET_ONLY
    max_imbalance_s: float = 2.0  # a leg lagging its slice's partner this long is hurried
    rebalance_attempts: int = 3
    max_failed_slices: int = 5  # consecutive slices that did nothing before giving up
    seed: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ConfigError(f"duration_s must be above zero, got {self.duration_s}")
        if (self.slices is None) == (self.participation is None):
            raise ConfigError("give exactly one of slices or participation")
        if self.slices is not None and not (isinstance(self.slices, int) and self.slices >= 1):
            raise ConfigError(f"slices must be an int of 1 or more, got {self.slices!r}")
        if self.participation is not None and not (
            self.participation.is_finite() and 0 < self.participation <= 1
        ):
            raise ConfigError(f"participation must be in (0, 1], got {self.participation}")
        if not (self.depth_band_bps.is_finite() and self.depth_band_bps > 0):
            raise ConfigError("depth_band_bps must be above zero")
        if not (0 <= self.jitter < 1):
            raise ConfigError(f"jitter must be in [0, 1), got {self.jitter}")
        if self.slice_timeout_s is not None and not (
            math.isfinite(self.slice_timeout_s) and self.slice_timeout_s > 0
        ):
            raise ConfigError("slice_timeout_s must be above zero")
        if not (math.isfinite(self.max_imbalance_s) and self.max_imbalance_s > 0):
            raise ConfigError("max_imbalance_s must be above zero")
        if self.rebalance_attempts < 1 or self.max_failed_slices < 1:
            raise ConfigError("rebalance_attempts and max_failed_slices must be 1 or more")
        object.__setattr__(self, "deadline_policy", DeadlinePolicy(self.deadline_policy))
        object.__setattr__(self, "slice_mode", ExecutionMode(self.slice_mode))
        object.__setattr__(self, "finish_mode", ExecutionMode(self.finish_mode))


@dataclass(frozen=True, slots=True, kw_only=True)
class SliceRecord:
    """One slice: what was asked, what each leg really did (venue positions), at what cost."""

    index: int
    quantity: Decimal
    aggressive: bool  # a deadline slice in ``finish_mode``
    outcome: str  # the atomic outcome, or "error: ..." when it raised before sending
    filled_buy: Decimal
    filled_sell: Decimal
    imbalance_after: Decimal  # buy minus sell once the executor returned, before any repair
    cost_usd: Decimal
    started_s: float  # seconds since the TWAP began
    ended_s: float
    execution_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TwapProgress:
    """A snapshot of a running TWAP (``PairTwap.progress``, or the ``on_progress`` hook)."""

    twap_id: str
    state: TwapState
    event: str  # start | slice_start | slice_done | rebalanced | done
    quantity: Decimal
    slice_quantity: Decimal
    filled_buy: Decimal
    filled_sell: Decimal
    scheduled: Decimal  # what the linear schedule asks for by now
    slices_done: int
    slices_failed: int
    slices_planned: int
    elapsed_s: float
    duration_s: float
    cost_usd: Decimal
    cost_bps: Decimal | None  # against the arrival mids, of the notional filled so far

    @property
    def imbalance(self) -> Decimal:
        return self.filled_buy - self.filled_sell

    @property
    def fraction_done(self) -> float:
        return float(min(self.filled_buy, self.filled_sell) / self.quantity)


@dataclass(frozen=True, slots=True, kw_only=True)
class TwapResult:
    """What a pair TWAP did. ``filled_*`` are the venues' position changes."""

    twap_id: str
    state: TwapState
    quantity: Decimal
    filled_buy: Decimal
    filled_sell: Decimal
    slice_quantity: Decimal
    slices: tuple[SliceRecord, ...]
    arrival_mids: tuple[Decimal, Decimal]  # buy venue's, sell venue's, at the start
    cost_usd: Decimal  # against the arrival mids, fees included; positive is a cost
    cost_bps: Decimal | None  # of the notional filled (both legs, at the arrival mids)
    elapsed_s: float
    max_imbalance: Decimal  # the largest gap between the legs seen after a slice
    resumed: bool
    error: str | None


class PairTwap:
    """Buy ``quantity`` on ``buy`` and sell it on ``sell`` over ``config.duration_s``.

    ``reduce_only=True`` closes an existing pair (both legs reduce-only).
    ``executor``: the atomic executor of the slices (its tracker and journal, if any, see
    every slice). ``checkpoints``: where the TWAP keeps what it needs to resume (see the
    module docstring); ``twap_id`` names it there. ``clock``: UTC time to schedule by.
    ``on_progress``: called (synchronously) with a :class:`TwapProgress` at every step.
    ``on_execution``: awaited with every execution the TWAP sent (each slice's atomic
    result, each levelling order's result) as soon as it returns, before the next one is
    sent: a caller that books trades sees every fill.
    Raises :class:`InvalidOrderError` for bad input, before anything is sent.
    """

    def __init__(
        self,
        *,
        buy: PairLeg,
        sell: PairLeg,
        quantity: Decimal,
        config: TwapConfig,
        executor: AtomicMultiOrderExecutor | None = None,
        reduce_only: bool = False,
        twap_id: str | None = None,
        checkpoints: CheckpointStore | None = None,
        clock: Clock | None = None,
        on_progress: Callable[[TwapProgress], None] | None = None,
        on_execution: Callable[[AtomicExecutionResult | ExecutionResult], Awaitable[None]]
        | None = None,
    ) -> None:
        try:
            self.quantity = to_positive_decimal(quantity, name="quantity")
        except ValueError as exc:
            raise InvalidOrderError(str(exc)) from None
        self.config = config
        self.venues = PairVenues(buy, sell)
        self.executor = executor if executor is not None else AtomicMultiOrderExecutor()
        self.reduce_only = reduce_only
        self.twap_id = twap_id or f"twap-{uuid.uuid4().hex[:12]}"
        self.checkpoints = checkpoints
        self.clock = clock or utc_clock
        self.on_progress = on_progress
        self.on_execution = on_execution
        self._stop = asyncio.Event()
        self._state = TwapState.PENDING
        self._started_at: datetime | None = None
        self._slice_qty = _ZERO
        self._least = _ZERO
        self._planned = 0
        self._slices_started = 0
        self._records: list[SliceRecord] = []
        self._cost = _ZERO
        self._cost_carried = _ZERO  # from before a restart
        self._filled = (_ZERO, _ZERO)
        self._mids = (_ZERO, _ZERO)
        self._max_gap = _ZERO
        self._failed_in_row = 0
        self._resumed = False
        self._error: str | None = None

    # -- observing and steering -------------------------------------------------------------

    @property
    def state(self) -> TwapState:
        return self._state

    @property
    def progress(self) -> TwapProgress:
        return self._progress("poll")

    def stop(self) -> None:
        """Stop after the slice under way (never in the middle of one)."""
        self._stop.set()

    # -- running ----------------------------------------------------------------------------

    async def run(self) -> TwapResult:
        """Run (or resume) the TWAP to its end; see the module docstring."""
        if self._state is not TwapState.PENDING:
            raise RuntimeError(f"{self.twap_id} has already run ({self._state.value})")
        started = asyncio.get_running_loop().time()
        saved = await self._load()
        if saved is not None:
            self._restore(saved)
        else:
            await self._begin()
        final = TwapState(saved["state"]) if saved is not None else None
        if final is not None and final.final:  # it ended before the restart: report only
            self._state = final
            self._error = saved["error"] if saved is not None else None
            await self._read_filled()
        else:
            self._state = TwapState.RUNNING
            self._emit("start")
            try:
                await self._loop()
            except FundarbError as exc:  # the venues cannot be read: stop where we are
                self._fail(f"stopped: {exc}")
        await self._save()
        self._emit("done")
        result = self._result(asyncio.get_running_loop().time() - started)
        log_event(
            logger,
            logging.INFO if self._state is not TwapState.FAILED else logging.ERROR,
            "twap.done",
            twap_id=self.twap_id,
            state=self._state.value,
            filled_buy=result.filled_buy,
            filled_sell=result.filled_sell,
            quantity=self.quantity,
            slices=len(self._records),
            cost_bps=result.cost_bps,
            error=self._error,
        )
        return result

    async def _begin(self) -> None:
        venues = self.venues
        if not venues.can_witness:
            raise InvalidOrderError("a pair TWAP needs venues that report positions")
        specs = await venues.specs()
        self._mids = await venues.mids()
        self._least = max(min_tradable(s, m) for s, m in zip(specs, self._mids, strict=True))
        self._slice_qty = await self._slice_size(specs)
        if self._slice_qty < self._least:
            raise InvalidOrderError(
                f"a slice of {self._slice_qty} is below the venues' minimum {self._least}"
            )
        self._planned = int(
            (self.quantity / self._slice_qty).to_integral_value(rounding=ROUND_CEILING)
        )
        venues.base = await venues.positions()
        self._started_at = self.clock()
        await self._save()  # before any order: a restart finds the baseline
        log_event(
            logger,
            logging.INFO,
            "twap.start",
            twap_id=self.twap_id,
            buy=f"{venues.buy.venue}:{venues.buy.symbol}",
            sell=f"{venues.sell.venue}:{venues.sell.symbol}",
            quantity=self.quantity,
            slice=self._slice_qty,
            slices=self._planned,
            duration_s=self.config.duration_s,
        )

    async def _slice_size(self, specs: tuple[MarketSpec, MarketSpec]) -> Decimal:
        lot = max(s.lot_size for s in specs)
        if self.config.slices is not None:
            raw = self.quantity / self.config.slices
        else:
            assert self.config.participation is not None
            depth = await self._visible_depth()
            raw = min(depth * self.config.participation, self.quantity)
        steps = (raw / lot).to_integral_value(rounding=ROUND_CEILING)
        return min(steps * lot, self.quantity)

    async def _visible_depth(self) -> Decimal:
        """The thinner leg's depth within the band, on the side each leg takes."""
        band = self.config.depth_band_bps / _BPS
        depths: list[Decimal] = []
        for gateway, leg, taking in zip(
            self.venues.gateways, self.venues.legs, ("asks", "bids"), strict=True
        ):
            book = await gateway.book(leg.symbol, levels=100)
            mid = book.mid
            assert mid is not None
            levels = book.asks if taking == "asks" else book.bids
            depths.append(
                sum((lv.size for lv in levels if abs(lv.price - mid) <= mid * band), _ZERO)
            )
        return min(depths)

    async def _loop(self) -> None:
        if await self._read_filled() != _ZERO:  # resumed uneven: level first
            await self._rebalance()
        while self._state is TwapState.RUNNING:
            remaining = self.quantity - max(self._filled)
            if remaining < self._least:
                self._state = TwapState.COMPLETED if remaining == 0 else TwapState.STOPPED
                if remaining:
                    self._error = f"{remaining} left: below the venues' minimum"
                return
            if self._stop.is_set():
                self._state = TwapState.STOPPED
                self._error = "stopped on request"
                return
            now = self._elapsed()
            if now >= self.config.duration_s:
                await self._deadline()
                return
            behind = self._scheduled(now) - min(self._filled) >= self._slice_qty
            wait = self._slot(self._slices_started) - now
            if wait > 0 and not behind:
                wait = min(wait, self.config.duration_s - now)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._stop.wait()
                continue
            await self._slice(self._next_quantity(remaining), aggressive=False)
            if self._failed_in_row >= self.config.max_failed_slices:
                self._fail(f"{self._failed_in_row} slices in a row did nothing")

    async def _deadline(self) -> None:
        if self.config.deadline_policy is DeadlinePolicy.STOP:
            self._state = TwapState.STOPPED
            self._error = f"deadline: {self.quantity - min(self._filled)} left undone"
            return
        self._state = TwapState.FINISHING
        self._failed_in_row = 0
        while self._state is TwapState.FINISHING:
            remaining = self.quantity - max(self._filled)
            if remaining < self._least:
                self._state = TwapState.COMPLETED if remaining == 0 else TwapState.STOPPED
                if remaining:
                    self._error = f"{remaining} left: below the venues' minimum"
                return
            await self._slice(self._next_quantity(remaining), aggressive=True)
            if self._failed_in_row >= self.config.max_failed_slices:
                self._fail(f"deadline: {self._failed_in_row} aggressive slices did nothing")

    def _next_quantity(self, remaining: Decimal) -> Decimal:
        quantity = min(self._slice_qty, remaining)
        left = remaining - quantity
        if 0 < left < self._least:  # never strand a tail the venues would refuse
            quantity = (
                remaining - self._least if quantity - self._least >= self._least else (remaining)
            )
        return quantity

    async def _slice(self, quantity: Decimal, *, aggressive: bool) -> None:
        index = self._slices_started
        self._slices_started += 1
        await self._save()  # the slice is claimed before it is sent
        self._emit("slice_start")
        began = self._elapsed()
        before = self._filled
        config = self.config
        mode = config.finish_mode if aggressive else config.slice_mode
        timeout = self._slice_timeout()
        specs = [
            OrderSpec(
                leg.client,
                leg.symbol,
                side,
                None,
                mode,
                timeout,
                quantity=quantity,
                reduce_only=self.reduce_only,
            )
            for leg, side in zip(self.venues.legs, ("buy", "sell"), strict=True)
        ]
        outcome: str
        execution_id: str | None = None
        cost = _ZERO
        try:
            result = await self.executor.execute_atomically(
                specs, rollback_on_partial=True, max_imbalance_seconds=config.max_imbalance_s
            )
        except InvalidOrderError as exc:
            outcome = f"error: {exc}"
        else:
            outcome = result.outcome.value
            execution_id = result.execution_id
            cost = atomic_cost(result, self._mids)
            if self.on_execution is not None:
                await self.on_execution(result)
            if result.outcome is AtomicOutcome.RESIDUAL_EXPOSURE:
                log_event(
                    logger,
                    logging.ERROR,
                    "twap.slice.residual",
                    twap_id=self.twap_id,
                    execution_id=result.execution_id,
                    residual=result.residual_exposure,
                )
        self._cost += cost
        gap = await self._read_filled()
        record = SliceRecord(
            index=index,
            quantity=quantity,
            aggressive=aggressive,
            outcome=outcome,
            filled_buy=self._filled[0] - before[0],
            filled_sell=self._filled[1] - before[1],
            imbalance_after=gap,
            cost_usd=cost,
            started_s=began,
            ended_s=self._elapsed(),
            execution_id=execution_id,
        )
        self._records.append(record)
        did = min(self._filled) > min(before)
        self._failed_in_row = 0 if did else self._failed_in_row + 1
        if gap != 0:
            await self._rebalance(execution_id)
        await self._save()
        self._emit("slice_done")

    def _slice_timeout(self) -> float:
        if self.config.slice_timeout_s is not None:
            return self.config.slice_timeout_s
        interval = self.config.duration_s / max(self._planned, 1)
        return max(interval * (1 - self.config.jitter) * 0.8, 1.0)

    # -- keeping the legs level -------------------------------------------------------------

    async def _read_filled(self) -> Decimal:
        """Read both legs' filled quantities from the venues; returns buy minus sell."""
        self._filled = await self.venues.filled()
        gap = self._filled[0] - self._filled[1]
        self._max_gap = max(self._max_gap, abs(gap))
        return gap

    async def _rebalance(self, execution_id: str | None = None) -> None:
        """Close the gap between the legs before anything else is sent; FAILED if we cannot."""
        single = self.executor.executor
        for attempt in range(1, self.config.rebalance_attempts + 1):
            gap = self._filled[0] - self._filled[1]
            if gap == 0:
                break
            # complete the lagging leg while that stays within the quantity, else trim
            lagging = 1 if gap > 0 else 0
            leading = 1 - lagging
            complete = self._filled[lagging] + abs(gap) <= self.quantity
            index = lagging if complete else leading
            leg = self.venues.legs[index]
            side = ("buy", "sell")[index] if complete else ("sell", "buy")[index]
            reduce_only = self.reduce_only if complete else not self.reduce_only
            log_event(
                logger,
                logging.WARNING,
                "twap.rebalance",
                twap_id=self.twap_id,
                attempt=attempt,
                gap=gap,
                venue=leg.venue,
                side=side,
            )
            try:
                result = await single.execute_order(
                    leg.client,
                    leg.symbol,
                    side,
                    None,
                    ExecutionMode.MARKET_ONLY,
                    quantity=abs(gap),
                    reduce_only=reduce_only,
                )
            except InvalidOrderError as exc:
                log_event(logger, logging.ERROR, "twap.rebalance.refused", error=exc)
            else:
                self._cost += execution_cost([result], self._mids[index])
                if self.on_execution is not None:
                    await self.on_execution(result)
            await self._read_filled()
        if self._filled[0] != self._filled[1]:
            self._fail(f"legs uneven by {self._filled[0] - self._filled[1]}: could not level them")
            return
        # level again, as the venues say: the slice's residual incident is handled
        if execution_id is not None:
            for incident in self.executor.incident_log.open_residuals:
                if incident.execution_id.startswith(execution_id):
                    self.executor.resolve_incident(
                        incident.incident_id, f"pair TWAP {self.twap_id}: legs levelled"
                    )
        self._emit("rebalanced")

    def _fail(self, error: str) -> None:
        self._state = TwapState.FAILED
        self._error = error
        log_event(logger, logging.CRITICAL, "twap.failed", twap_id=self.twap_id, error=error)

    # -- schedule ---------------------------------------------------------------------------

    def _elapsed(self) -> float:
        assert self._started_at is not None
        return (self.clock() - self._started_at).total_seconds()

    def _slot(self, index: int) -> float:
        """When slice ``index`` is due (seconds from the start): a random moment within the
        first ``jitter`` of its interval, the same for the same seed and index."""
        interval = self.config.duration_s / max(self._planned, 1)
        seed = self.config.seed if self.config.seed is not None else self.twap_id
        u = random.Random(f"{seed}:{index}").random()
        return interval * (index + u * self.config.jitter)

    def _scheduled(self, elapsed_s: float) -> Decimal:
        fraction = Decimal(str(min(max(elapsed_s / self.config.duration_s, 0.0), 1.0)))
        return min(self.quantity * fraction, self.quantity)

    # -- reporting --------------------------------------------------------------------------

    @property
    def _total_cost(self) -> Decimal:
        return self._cost_carried + self._cost

    def _cost_bps(self) -> Decimal | None:
        notional = self._filled[0] * self._mids[0] + self._filled[1] * self._mids[1]
        if notional <= 0:
            return None
        return self._total_cost / notional * _BPS

    def _progress(self, event: str) -> TwapProgress:
        elapsed = self._elapsed() if self._started_at is not None else 0.0
        return TwapProgress(
            twap_id=self.twap_id,
            state=self._state,
            event=event,
            quantity=self.quantity,
            slice_quantity=self._slice_qty,
            filled_buy=self._filled[0],
            filled_sell=self._filled[1],
            scheduled=self._scheduled(elapsed),
            slices_done=len(self._records),
            slices_failed=sum(1 for r in self._records if min(r.filled_buy, r.filled_sell) <= 0),
            slices_planned=self._planned,
            elapsed_s=elapsed,
            duration_s=self.config.duration_s,
            cost_usd=self._total_cost,
            cost_bps=self._cost_bps(),
        )

    def _emit(self, event: str) -> None:
        if self.on_progress is not None:
            self.on_progress(self._progress(event))

    def _result(self, elapsed: float) -> TwapResult:
        return TwapResult(
            twap_id=self.twap_id,
            state=self._state,
            quantity=self.quantity,
            filled_buy=self._filled[0],
            filled_sell=self._filled[1],
            slice_quantity=self._slice_qty,
            slices=tuple(self._records),
            arrival_mids=self._mids,
            cost_usd=self._total_cost,
            cost_bps=self._cost_bps(),
            elapsed_s=elapsed,
            max_imbalance=self._max_gap,
            resumed=self._resumed,
            error=self._error,
        )

    # -- checkpoints ------------------------------------------------------------------------

    async def _save(self) -> None:
        if self.checkpoints is None or self._started_at is None:
            return
        assert self.venues.base is not None
        data: dict[str, Any] = {
            "quantity": str(self.quantity),
            "slice_quantity": str(self._slice_qty),
            "least": str(self._least),
            "planned": self._planned,
            "slices_started": self._slices_started,
            "started_at": self._started_at.isoformat(),
            "base": [str(b) for b in self.venues.base],
            "mids": [str(m) for m in self._mids],
            "cost_usd": str(self._total_cost),
            "legs": [f"{leg.venue}:{leg.symbol}" for leg in self.venues.legs],
            "reduce_only": self.reduce_only,
            "error": self._error,
            "state": self._state.value,
        }
        await self.checkpoints.save_checkpoint(self.twap_id, KIND, self._state.value, data)

    async def _load(self) -> dict[str, Any] | None:
        if self.checkpoints is None:
            return None
        return await self.checkpoints.load_checkpoint(self.twap_id)

    def _restore(self, saved: dict[str, Any]) -> None:
        legs = [f"{leg.venue}:{leg.symbol}" for leg in self.venues.legs]
        if saved["legs"] != legs or Decimal(saved["quantity"]) != self.quantity:
            raise InvalidOrderError(
                f"{self.twap_id} was saved for {saved['legs']} x {saved['quantity']}, "
                f"not {legs} x {self.quantity}"
            )
        self._slice_qty = Decimal(saved["slice_quantity"])
        self._least = Decimal(saved["least"])
        self._planned = int(saved["planned"])
        self._slices_started = int(saved["slices_started"])
        self._started_at = datetime.fromisoformat(saved["started_at"])
        self.venues.base = (Decimal(saved["base"][0]), Decimal(saved["base"][1]))
        self._mids = (Decimal(saved["mids"][0]), Decimal(saved["mids"][1]))
        self._cost_carried = Decimal(saved["cost_usd"])
        self._resumed = True
        log_event(
            logger,
            logging.WARNING,
            "twap.resume",
            twap_id=self.twap_id,
            slices_started=self._slices_started,
            started_at=self._started_at,
        )
