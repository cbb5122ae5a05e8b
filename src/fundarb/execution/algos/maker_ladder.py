"""``MakerLadder``: the patient side of a pair rests post-only; every fill is hedged at once.

The *patient* leg rests one post-only clip at its passive touch (re-pegged when the touch
moves ``refresh_ticks`` away; one tick further back after a post-only refusal). The clip is
read every ``poll_interval_s``; whatever it filled beyond what is hedged is sent at once as
a taker order on the other venue. Bounds:

- **quantity**: a new clip is placed only when nothing is unhedged, and a clip is at most
  ``max_unhedged_quantity``, so the unhedged quantity never exceeds it;
- **time**: if a fill stays unhedged ``max_unhedged_s`` (the other venue refuses or cannot
  be reached), the clip is cancelled and the excess closed on the patient venue
  (reduce-only, taker); the ladder stops FAILED.

At ``timeout_s`` the clip is cancelled (confirmed, late fills counted) and its fills hedged;
what is left of the quantity is then finished as an atomic taker pair (``finish_with_taker``)
or left undone. The patient leg is chosen by the venues' maker fees (``patient="auto"``: the
lower maker fee, a rebate best; the buy leg on a tie).
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from fundarb.concurrency import finish_shielded
from fundarb.errors import ConfigError, FundarbError, InvalidOrderError
from fundarb.execution.algos.pair import (
    PairLeg,
    PairVenues,
    atomic_cost,
    execution_cost,
    min_tradable,
)
from fundarb.execution.core.costs import leg_costs
from fundarb.execution.core.leg import LegRunner
from fundarb.execution.core.order_executor import ExecutionMode, ExecutionResult
from fundarb.execution.core.order_state import OrderKind, OrderState, TrackedOrder
from fundarb.execution.patterns.atomic_multi_order import (
    AtomicMultiOrderExecutor,
    OrderSpec,
)
from fundarb.execution.patterns.reconcile import ImbalancePolicy
from fundarb.logs import log_event
from fundarb.numbers import to_positive_decimal
from fundarb.venues.orders import RejectReason, Side

__all__ = ["LadderState", "MakerLadder", "MakerLadderConfig", "MakerLadderResult"]

logger = logging.getLogger("fundarb.execution.algos")

_ZERO = Decimal(0)
_BPS = Decimal(10_000)


class LadderState(StrEnum):
    COMPLETED = "completed"  # the whole quantity on both legs
    STOPPED = "stopped"  # timed out without finishing: balanced, short of the quantity
    FAILED = "failed"  # a fill could not be hedged in time: its excess was closed


@dataclass(frozen=True, slots=True, kw_only=True)
class MakerLadderConfig:
    """How the patient leg rests and how tightly it is hedged. Times are seconds."""

    max_unhedged_quantity: Decimal  # also the clip size
    max_unhedged_s: float = 5.0
    timeout_s: float = 600.0
    poll_interval_s: float = 0.25
    refresh_ticks: int = 2
    patient: Literal["auto", "buy", "sell"] = "auto"
    finish_with_taker: bool = True

    def __post_init__(self) -> None:
        q = self.max_unhedged_quantity
        if not (q.is_finite() and q > 0):
            raise ConfigError(f"max_unhedged_quantity must be above zero, got {q}")
        for name in ("max_unhedged_s", "timeout_s", "poll_interval_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be above zero, got {value}")
        if self.refresh_ticks < 1:
            raise ConfigError("refresh_ticks must be 1 or more")
        if self.patient not in ("auto", "buy", "sell"):
            raise ConfigError(f"patient must be auto, buy or sell, got {self.patient!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class MakerLadderResult:
    state: LadderState
    patient: Literal["buy", "sell"]
    quantity: Decimal
    filled_buy: Decimal
    filled_sell: Decimal
    maker_quantity: Decimal  # filled passively on the patient leg
    arrival_mids: tuple[Decimal, Decimal]
    cost_usd: Decimal  # against the arrival mids, fees included
    cost_bps: Decimal | None
    max_unhedged: Decimal
    unhedged_quantity_s: Decimal  # the integral of the unhedged quantity over time
    hedges: int
    error: str | None


class MakerLadder:
    """Buy ``quantity`` on ``buy`` and sell it on ``sell``, the patient leg as maker."""

    def __init__(
        self,
        *,
        buy: PairLeg,
        sell: PairLeg,
        quantity: Decimal,
        config: MakerLadderConfig,
        executor: AtomicMultiOrderExecutor | None = None,
        reduce_only: bool = False,
    ) -> None:
        try:
            self.quantity = to_positive_decimal(quantity, name="quantity")
        except ValueError as exc:
            raise InvalidOrderError(str(exc)) from None
        self.config = config
        self.venues = PairVenues(buy, sell)
        self.executor = executor if executor is not None else AtomicMultiOrderExecutor()
        self.reduce_only = reduce_only
        self.execution_id = f"mkl{uuid.uuid4().hex[:9]}"
        self._hedges: list[ExecutionResult] = []
        self._unwinds: list[ExecutionResult] = []
        self._finish_cost = _ZERO
        self._mids = (_ZERO, _ZERO)
        self._max_unhedged = _ZERO
        self._integral = _ZERO

    async def run(self) -> MakerLadderResult:
        """Run to completion or ``timeout_s``; nothing is left open."""
        venues = self.venues
        if not venues.can_witness:
            raise InvalidOrderError("a maker ladder needs venues that report positions")
        specs = await venues.specs()
        mids = self._mids = await venues.mids()
        venues.base = await venues.positions()
        patient = await self._choose()
        p, h = (0, 1) if patient == "buy" else (1, 0)
        least = max(min_tradable(s, m) for s, m in zip(specs, mids, strict=True))
        clip = specs[p].round_quantity(min(self.config.max_unhedged_quantity, self.quantity))
        if clip < least:
            raise InvalidOrderError(f"max_unhedged_quantity {clip} is below the minimum {least}")
        gateway = venues.gateways[p]
        leg = venues.legs[p]
        run = LegRunner(
            gateway,
            execution_id=self.execution_id,
            leg=0,
            symbol=leg.symbol,
            side=Side.BUY if patient == "buy" else Side.SELL,
            target=specs[p].round_quantity(self.quantity),
            spec=specs[p],
            reduce_only=self.reduce_only,
            config=self.executor.executor.config.leg,
            start_position=await gateway.position(leg.symbol),
            journal=self.executor.executor.journal,
        )
        log_event(
            logger,
            logging.INFO,
            "ladder.start",
            execution_id=self.execution_id,
            patient=f"{gateway.name}:{leg.symbol}",
            quantity=self.quantity,
            clip=clip,
        )
        error: str | None = None
        try:
            error = await self._work(run, h, clip, least)
        finally:
            await finish_shielded(self._wind_down(run, h))
        hedged = self._hedged()
        state = LadderState.FAILED if error else LadderState.STOPPED
        if error is None and self.config.finish_with_taker and hedged < run.target:
            await self._finish(run.target - min(run.filled, hedged))
        done_buy, done_sell = await venues.filled()  # the venues' word, finish included
        if error is None and min(done_buy, done_sell) >= run.target:
            state = LadderState.COMPLETED
        costs = await leg_costs(run)
        cost = (
            execution_cost(self._hedges, mids[h])
            + execution_cost(self._unwinds, mids[p])
            + self._finish_cost
            + costs.fees
        )
        if costs.vwap is not None:
            cost += (costs.vwap - mids[p]) * run.filled * run.side.sign
        notional = done_buy * mids[0] + done_sell * mids[1]
        result = MakerLadderResult(
            state=state,
            patient=patient,
            quantity=run.target,
            filled_buy=done_buy,
            filled_sell=done_sell,
            maker_quantity=costs.maker,
            arrival_mids=mids,
            cost_usd=cost,
            cost_bps=cost / notional * _BPS if notional > 0 else None,
            max_unhedged=self._max_unhedged,
            unhedged_quantity_s=self._integral,
            hedges=len(self._hedges),
            error=error,
        )
        log_event(
            logger,
            logging.INFO if state is not LadderState.FAILED else logging.ERROR,
            "ladder.done",
            execution_id=self.execution_id,
            state=state.value,
            filled_buy=done_buy,
            filled_sell=done_sell,
            cost_bps=result.cost_bps,
            max_unhedged=self._max_unhedged,
            error=error,
        )
        return result

    async def _choose(self) -> Literal["buy", "sell"]:
        if self.config.patient != "auto":
            return self.config.patient
        fees = []
        for gateway, leg in zip(self.venues.gateways, self.venues.legs, strict=True):
            schedule = await gateway.fee_schedule(leg.symbol)
            fees.append(schedule.maker_rate if schedule is not None else Decimal("Infinity"))
        return "sell" if fees[1] < fees[0] else "buy"

    # -- the loop ---------------------------------------------------------------------------

    async def _work(self, run: LegRunner, h: int, clip: Decimal, least: Decimal) -> str | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeout_s
        order: TrackedOrder | None = None
        last = loop.time()
        unhedged_since: float | None = None
        step_back = 0
        while True:
            now = loop.time()
            unhedged = run.filled - self._hedged()
            self._integral += abs(unhedged) * Decimal(str(now - last))
            last = now
            self._max_unhedged = max(self._max_unhedged, unhedged)
            resting = order is not None and order.state.is_open
            if unhedged > 0 and (unhedged >= least or not resting):
                await self._hedge(h, unhedged)
                unhedged = run.filled - self._hedged()
            if unhedged > 0:
                unhedged_since = unhedged_since if unhedged_since is not None else now
                if now - unhedged_since >= self.config.max_unhedged_s and (
                    unhedged >= least or not resting
                ):
                    return f"{unhedged} unhedged for {now - unhedged_since:.1f} s: closed"
            else:
                unhedged_since = None
            if run.filled >= run.target and unhedged <= 0:
                return None
            if now >= deadline:
                return None
            if not resting and unhedged <= 0 and run.remaining > 0 and run.can_send:
                order = await self._place(run, min(clip, run.remaining), least, step_back)
                if order is not None and order.state is OrderState.REJECTED:
                    step_back = step_back + 1 if self._crossed(order) else step_back
                    if not self._crossed(order) or step_back > 5:
                        return f"patient order rejected: {order.note}"
                    continue
                step_back = 0
                continue
            await asyncio.sleep(self.config.poll_interval_s)
            if order is not None and order.state.is_open:
                await run.refresh(order)
                if order.state.is_open and await self._left_behind(run, order):
                    await run.cancel(order)
                    await run.corroborate()

    @staticmethod
    def _crossed(order: TrackedOrder) -> bool:
        return order.reject_reason in (RejectReason.POST_ONLY_WOULD_CROSS, None)

    async def _place(
        self, run: LegRunner, size: Decimal, least: Decimal, step_back: int
    ) -> TrackedOrder | None:
        if run.remaining - size < least:
            size = run.remaining if run.remaining - size > 0 else size
        try:
            book = await run.gateway.book(run.symbol)
        except FundarbError:
            return None
        near = book.best_bid if run.side is Side.BUY else book.best_ask
        if near is None:
            return None
        price = run.spec.round_price(
            near - run.spec.tick_size * step_back * run.side.sign, run.side
        )
        return await run.send(OrderKind.POST_ONLY, size, price)

    async def _left_behind(self, run: LegRunner, order: TrackedOrder) -> bool:
        try:
            book = await run.gateway.book(run.symbol)
        except FundarbError:
            return False
        near = book.best_bid if run.side is Side.BUY else book.best_ask
        if near is None or order.price is None:
            return False
        return abs(near - order.price) >= run.spec.tick_size * self.config.refresh_ticks

    async def _hedge(self, h: int, quantity: Decimal) -> None:
        leg = self.venues.legs[h]
        side = "buy" if h == 0 else "sell"
        try:
            result = await self.executor.executor.execute_order(
                leg.client,
                leg.symbol,
                side,
                None,
                ExecutionMode.MARKET_ONLY,
                quantity=quantity,
                reduce_only=self.reduce_only,
            )
        except InvalidOrderError as exc:  # below the venue's minimum: wait for more
            log_event(logger, logging.INFO, "ladder.hedge.wait", quantity=quantity, error=exc)
            return
        self._hedges.append(result)

    def _hedged(self) -> Decimal:
        return sum((r.filled_quantity for r in self._hedges), _ZERO)

    def _unwound(self) -> Decimal:
        return sum((r.filled_quantity for r in self._unwinds), _ZERO)

    async def _wind_down(self, run: LegRunner, h: int) -> None:
        """Nothing left open; the patient fills hedged, or their excess closed."""
        await run.close_out()
        excess = run.filled - self._unwound() - self._hedged()
        if excess > 0:
            await self._hedge(h, excess)
            excess = run.filled - self._unwound() - self._hedged()
        if excess > 0:  # could not hedge: close it where it was made
            p = 1 - h
            leg = self.venues.legs[p]
            try:
                result = await self.executor.executor.execute_order(
                    leg.client,
                    leg.symbol,
                    "sell" if p == 0 else "buy",
                    None,
                    ExecutionMode.MARKET_ONLY,
                    quantity=excess,
                    reduce_only=not self.reduce_only,
                )
            except InvalidOrderError as exc:
                log_event(logger, logging.CRITICAL, "ladder.excess.left", excess=excess, error=exc)
            else:
                self._unwinds.append(result)

    async def _finish(self, rest: Decimal) -> None:
        if rest <= 0:
            return
        specs = [
            OrderSpec(
                leg.client,
                leg.symbol,
                side,
                None,
                ExecutionMode.MARKET_ONLY,
                quantity=rest,
                reduce_only=self.reduce_only,
            )
            for leg, side in zip(self.venues.legs, ("buy", "sell"), strict=True)
        ]
        try:
            result = await self.executor.execute_atomically(
                specs, on_imbalance=ImbalancePolicy.HEDGE_THEN_ROLLBACK
            )
        except InvalidOrderError as exc:
            log_event(logger, logging.WARNING, "ladder.finish.refused", rest=rest, error=exc)
            return
        self._finish_cost += atomic_cost(result, self._mids)
