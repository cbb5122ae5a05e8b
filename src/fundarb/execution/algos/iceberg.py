"""``Iceberg``: a large passive order shown in small clips.

Where the venue client offers a native iceberg (its ``supported_order_options`` names
``iceberg_quantity``; ccxt exposes Binance's and others' that way), one limit order is sent
with the clip as its visible quantity. Elsewhere it is emulated: one clip rests at a time;
a filled clip is followed by the next; a pegged clip (no fixed price) is replaced when our
side's touch moves ``refresh_ticks`` away from it.

The fill ledger is the leg runner's (:class:`~fundarb.execution.core.leg.LegRunner`): every
clip's fills count, including those of clips cancelled for a replacement and those that
arrive while or after the cancel is processed — a replacement is sent only once the cancel
is confirmed and the real filled quantity read back (the position corroborates it), and is
sized from what is really left. The total never exceeds the quantity asked.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fundarb.concurrency import finish_shielded
from fundarb.errors import ConfigError, FundarbError, InvalidOrderError
from fundarb.execution.algos.pair import min_tradable
from fundarb.execution.core.costs import leg_costs
from fundarb.execution.core.gateway import VenueGateway, gateway_for
from fundarb.execution.core.leg import LegRunner
from fundarb.execution.core.order_executor import OrderExecutor
from fundarb.execution.core.order_state import OrderKind, OrderState, TrackedOrder
from fundarb.logs import log_event
from fundarb.numbers import to_positive_decimal
from fundarb.venues.orders import RejectReason, Side, parse_side

__all__ = ["ClipRecord", "Iceberg", "IcebergConfig", "IcebergResult"]

logger = logging.getLogger("fundarb.execution.algos")

NATIVE_OPTION = "iceberg_quantity"


@dataclass(frozen=True, slots=True, kw_only=True)
class IcebergConfig:
    """How an iceberg shows itself. Times are seconds of the event loop's clock."""

    clip_quantity: Decimal  # what the book sees at a time, base units
    price: Decimal | None = None  # a fixed limit; None: pegged to our side's touch
    refresh_ticks: int = 2  # a pegged clip this many ticks behind the touch is replaced
    timeout_s: float = 300.0  # what is unfilled then is cancelled and reported
    poll_interval_s: float = 0.5
    post_only: bool = True  # clips never take liquidity
    native: bool = True  # use the venue's own iceberg where the client offers one

    def __post_init__(self) -> None:
        if not (self.clip_quantity.is_finite() and self.clip_quantity > 0):
            raise ConfigError(f"clip_quantity must be above zero, got {self.clip_quantity}")
        if self.price is not None and not (self.price.is_finite() and self.price > 0):
            raise ConfigError(f"price must be above zero, got {self.price}")
        if self.refresh_ticks < 1:
            raise ConfigError("refresh_ticks must be 1 or more")
        for name in ("timeout_s", "poll_interval_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be above zero, got {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClipRecord:
    """One clip (or the one native order): what it asked and what the venue filled."""

    client_order_id: str
    quantity: Decimal
    price: Decimal | None
    filled: Decimal
    state: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IcebergResult:
    execution_id: str
    venue: str
    symbol: str
    side: Side
    quantity: Decimal
    filled_quantity: Decimal  # every clip's fills, late ones included
    fill_price: Decimal | None  # VWAP
    fees: Decimal
    native: bool
    clips: tuple[ClipRecord, ...]
    error: str | None

    @property
    def filled(self) -> bool:
        return self.filled_quantity >= self.quantity


class Iceberg:
    """Work ``quantity`` of ``symbol`` on ``side`` passively, ``config.clip_quantity`` at a
    time. ``executor`` lends its journal and leg settings. Raises
    :class:`InvalidOrderError` for bad input (nothing is sent)."""

    def __init__(
        self,
        client: Any,
        symbol: str,
        side: str,
        quantity: Decimal,
        config: IcebergConfig,
        *,
        reduce_only: bool = False,
        executor: OrderExecutor | None = None,
        execution_id: str | None = None,
    ) -> None:
        try:
            self.quantity = to_positive_decimal(quantity, name="quantity")
        except ValueError as exc:
            raise InvalidOrderError(str(exc), symbol=symbol) from None
        self.side = parse_side(side)
        self.symbol = symbol
        self.config = config
        self.reduce_only = reduce_only
        self.executor = executor if executor is not None else OrderExecutor()
        self.execution_id = execution_id or f"ice{uuid.uuid4().hex[:9]}"
        self.native = config.native and NATIVE_OPTION in getattr(
            client, "supported_order_options", frozenset()
        )
        self.client = _NativeIceberg(client, config.clip_quantity) if self.native else client
        self.gateway: VenueGateway = gateway_for(self.client)

    async def run(self) -> IcebergResult:
        """Work the order until filled or ``timeout_s``; nothing is left open."""
        gateway = self.gateway
        spec = await gateway.market_spec(self.symbol)
        quantity = spec.round_quantity(self.quantity)
        clip = spec.round_quantity(min(self.config.clip_quantity, quantity))
        book = await gateway.book(self.symbol)
        reference = book.mid or book.touch(self.side)
        if reference is None:
            raise InvalidOrderError("the book is empty", venue=gateway.name, symbol=self.symbol)
        least = min_tradable(spec, reference)
        if clip < least or quantity < least:
            raise InvalidOrderError(
                f"a clip of {clip} is below the venue's minimum {least}",
                venue=gateway.name,
                symbol=self.symbol,
            )
        run = LegRunner(
            gateway,
            execution_id=self.execution_id,
            leg=0,
            symbol=self.symbol,
            side=self.side,
            target=quantity,
            spec=spec,
            reduce_only=self.reduce_only,
            config=self.executor.config.leg,
            start_position=await gateway.position(self.symbol),
            journal=self.executor.journal,
        )
        errors: list[str] = []
        try:
            await self._work(run, clip, least, errors)
        finally:
            await finish_shielded(run.close_out())  # nothing left open, even when cancelled
        costs = await leg_costs(run)
        result = IcebergResult(
            execution_id=self.execution_id,
            venue=gateway.name,
            symbol=self.symbol,
            side=self.side,
            quantity=quantity,
            filled_quantity=run.filled,
            fill_price=costs.vwap,
            fees=costs.fees,
            native=self.native,
            clips=tuple(
                ClipRecord(
                    client_order_id=o.client_order_id,
                    quantity=o.quantity,
                    price=o.price,
                    filled=o.filled,
                    state=o.state.value,
                )
                for o in run.orders
            ),
            error="; ".join(errors + run.problems) or None,
        )
        log_event(
            logger,
            logging.INFO,
            "iceberg.done",
            execution_id=self.execution_id,
            venue=gateway.name,
            symbol=self.symbol,
            filled=result.filled_quantity,
            quantity=quantity,
            clips=len(result.clips),
            native=self.native,
            error=result.error,
        )
        return result

    async def _work(self, run: LegRunner, clip: Decimal, least: Decimal, errors: list[str]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeout_s
        step_back = 0
        while run.remaining > 0 and run.can_send and loop.time() < deadline:
            size = run.remaining if self.native else min(clip, run.remaining)
            if 0 < run.remaining - size < least:  # never strand a tail below the minimum
                size = run.remaining
            if size < least:
                errors.append(f"{run.remaining} left: below the venue's minimum")
                return
            price = await self._price(run, step_back)
            if price is None:  # our side of the book is empty for now: wait for it
                if loop.time() + self.config.poll_interval_s >= deadline:
                    errors.append("no price to rest at: our side of the book is empty")
                    return
                await asyncio.sleep(self.config.poll_interval_s)
                continue
            kind = OrderKind.POST_ONLY if self.config.post_only else OrderKind.LIMIT
            order = await run.send(kind, size, price)
            if order.state is OrderState.REJECTED:
                if order.reject_reason is RejectReason.POST_ONLY_WOULD_CROSS and step_back < 5:
                    step_back += 1  # the touch moved into us: one tick further back
                    continue
                errors.append(f"clip rejected: {order.note}")
                return
            step_back = 0
            await self._watch(run, order, deadline)
            if order.state.is_open and order.state is not OrderState.UNKNOWN:
                await run.cancel(order)  # confirmed before any replacement
            if order.state is not OrderState.FILLED:
                await run.corroborate()  # fills racing the cancel: the position has them

    async def _watch(self, run: LegRunner, order: TrackedOrder, deadline: float) -> None:
        """Until the clip is final, the deadline, or (pegged) the touch left it behind."""
        loop = asyncio.get_running_loop()
        tick = run.spec.tick_size
        while order.state.is_open and order.state is not OrderState.UNKNOWN:
            now = loop.time()
            if now >= deadline:
                return
            await run.wait(order, min(deadline, now + self.config.poll_interval_s))
            if not order.state.is_open or self.config.price is not None or order.price is None:
                continue
            try:
                book = await self.gateway.book(self.symbol)
            except FundarbError:
                continue  # keep resting; the next read may work
            near = book.best_bid if self.side is Side.BUY else book.best_ask
            if near is not None and abs(near - order.price) >= tick * self.config.refresh_ticks:
                log_event(
                    logger,
                    logging.INFO,
                    "iceberg.refresh",
                    execution_id=self.execution_id,
                    client_order_id=order.client_order_id,
                    price=order.price,
                    touch=near,
                )
                return

    async def _price(self, run: LegRunner, step_back: int) -> Decimal | None:
        if self.config.price is not None:
            return run.spec.round_price(self.config.price, self.side)
        book = await self.gateway.book(self.symbol)
        near = book.best_bid if self.side is Side.BUY else book.best_ask
        if near is None:
            return None
        return run.spec.round_price(
            near - run.spec.tick_size * step_back * self.side.sign, self.side
        )


class _NativeIceberg:
    """The client, with the clip sent as the visible quantity of every limit order."""

    def __init__(self, client: Any, display: Decimal) -> None:
        self._client = client
        self._display = display

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def place_limit_order(
        self,
        contract_id: str,
        quantity: Decimal,
        price: Decimal,
        side: str,
        reduce_only: bool = False,
        **opts: Any,
    ) -> Any:
        opts[NATIVE_OPTION] = self._display
        return await self._client.place_limit_order(
            contract_id, quantity, price, side, reduce_only, **opts
        )
