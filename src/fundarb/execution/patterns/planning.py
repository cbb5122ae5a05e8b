"""Before any order is sent: legs checked, grouped into hedges, sized to one quantity.

Legs on the same base asset and opposite sides form a hedge group; every leg of a group
gets one base quantity that every venue's lot step, minimum size and minimum notional
accept (design notes §3, invariant 6). A leg with no opposite partner is its own group.
Pre-flight then checks liquidity at that size, free margin and fresh books. Nothing here
sends an order.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from decimal import Decimal
from typing import Any

from fundarb.concurrency import run_all
from fundarb.errors import ConfigError, FundarbError, InvalidOrderError
from fundarb.execution.core.book import OrderBook
from fundarb.execution.core.gateway import VenueGateway, gateway_for
from fundarb.execution.core.leg import LegRunner
from fundarb.execution.core.liquidity_analyzer import LiquidityAnalyzer, Recommendation
from fundarb.execution.core.modes import Outcome
from fundarb.execution.core.order_executor import (
    ExecutionMode,
    ExecutionResult,
    OrderExecutor,
    PreparedLeg,
)
from fundarb.execution.core.order_state import OrderState
from fundarb.numbers import to_positive_decimal
from fundarb.venues.interface import BalanceProvider
from fundarb.venues.markets import MarketSpec
from fundarb.venues.orders import Side, parse_side

__all__ = [
    "AtomicConfig",
    "OrderSpec",
    "PlannedLeg",
    "base_asset_of",
    "check_specs",
    "groups",
    "is_balanced",
    "is_flat",
    "net_change",
    "plan_legs",
]

_ZERO = Decimal(0)
_QUOTES = ("USDT", "USDC", "BUSD", "USD")
_FRESH_BOOK_S = 1.0  # a planning book younger than this still bounds a closing order
_EXACT = frozenset({OrderState.FILLED, OrderState.REJECTED, OrderState.EXPIRED})


@dataclass(frozen=True)
class OrderSpec:
    """One leg: ``OrderSpec(client, "BTC-PERP", "buy", Decimal("1000"))``.

    Give ``size_usd`` or ``quantity`` (base units). A ``reduce_only`` leg with neither closes
    the venue's whole position in ``symbol``.
    """

    exchange_client: Any
    symbol: str
    side: str
    size_usd: Decimal | None = None
    execution_mode: ExecutionMode | str = ExecutionMode.LIMIT_WITH_FALLBACK
    timeout_seconds: float = 30.0
    _: KW_ONLY
    quantity: Decimal | None = None
    reduce_only: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AtomicConfig:
    """Budgets of the reconciliation (seconds of the event loop's clock)."""

    max_imbalance_seconds: float = 5.0  # how long a group may stay uneven before we act
    hedge_attempts: int = 2
    rollback_attempts: int = 3
    assumed_leverage: int = 5  # for the margin check when the venue does not say
    check_interval_s: float = 0.25

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_imbalance_seconds) and self.max_imbalance_seconds > 0):
            raise ConfigError("max_imbalance_seconds must be greater than zero")
        if self.hedge_attempts < 0 or self.rollback_attempts < 1 or self.assumed_leverage < 1:
            raise ConfigError("attempts and leverage must be positive")


@dataclass(slots=True, eq=False)
class PlannedLeg:
    index: int
    spec: OrderSpec
    side: Side
    gateway: VenueGateway
    market: MarketSpec
    reference: Decimal
    desired: Decimal
    group: str
    target: Decimal = _ZERO
    book: OrderBook | None = None  # read at planning, reused by pre-flight and prepare
    book_read_at: float = 0.0  # loop time of that read
    position: Decimal | None = None  # the venue's position before anything was sent
    prepared: PreparedLeg | None = None
    outcome: Outcome | None = None  # of the entry's trading, before its report
    entry: ExecutionResult | None = None
    adjustments: list[ExecutionResult] = field(default_factory=list)
    adjustment_runs: list[LegRunner] = field(default_factory=list)  # live, for cancels

    @property
    def start_position(self) -> Decimal | None:
        return self.prepared.run.start_position if self.prepared is not None else None

    def settled(self) -> bool:
        """Every order of this leg ended FILLED, REJECTED or EXPIRED (nothing cancelled or
        unknown, so no fill can be unreported): its own figures are exact."""
        if self.prepared is None:
            return False
        return all(o.state in _EXACT for run in self.runs for o in run.orders)

    def fresh_book(self, max_age_s: float = _FRESH_BOOK_S) -> OrderBook | None:
        """The planning book, if it was read less than ``max_age_s`` ago (loop clock)."""
        if self.book is None:
            return None
        age = asyncio.get_running_loop().time() - self.book_read_at
        return self.book if age <= max_age_s else None

    @property
    def runs(self) -> list[LegRunner]:
        """Every order runner of this leg: the entry's, then each hedge's and rollback's."""
        entry = [self.prepared.run] if self.prepared is not None else []
        return entry + self.adjustment_runs

    def orders_left(self) -> list[str]:
        """Our orders on this leg still open or of unknown fate (``venue:client_order_id``)."""
        return [
            f"{self.gateway.name}:{o.client_order_id}" for run in self.runs for o in run.open_orders
        ]

    @property
    def closing(self) -> bool:
        """A reduce-only leg: it closes a position, and cannot be rolled back by re-opening."""
        return self.spec.reduce_only

    def ledger_net(self) -> Decimal:
        results = ([self.entry] if self.entry is not None else []) + self.adjustments
        if self.entry is None and self.prepared is not None:  # interrupted: the runner knows
            return self.prepared.run.filled * self.side.sign + sum(
                (r.filled_quantity * r.side.sign for r in self.adjustments), _ZERO
            )
        return sum((r.filled_quantity * r.side.sign for r in results), _ZERO)


async def plan_legs(
    specs: list[OrderSpec],
    execution_id: str,
    check: bool,
    *,
    executor: OrderExecutor,
    config: AtomicConfig,
) -> tuple[list[PlannedLeg], list[str]]:
    """Specs, one quantity per group, liquidity, margin, books. Sends nothing.

    Every venue is asked once, concurrently (a book deep enough for the leg, the position,
    the balance): pre-flight costs one round trip whatever the number of legs.
    """
    clients = {id(s.exchange_client): s.exchange_client for s in specs}
    planned, balances = await asyncio.gather(  # both halves are run_all task groups
        run_all([_plan_one(i, spec, executor) for i, spec in enumerate(specs)]),
        run_all([_balance(client) for client in clients.values()]),
    )
    legs = [leg for leg in planned if isinstance(leg, PlannedLeg)]
    failures = [leg for leg in planned if isinstance(leg, str)]
    if failures:
        return legs, failures
    for group, members in groups(legs).items():
        failures.extend(_size_group(group, members))
    if not failures and check:
        available = dict(zip(clients, balances, strict=True))
        failures.extend(_preflight(legs, executor, config, available))
    if failures:
        return legs, failures
    prepared = await run_all(
        [
            executor.prepare(
                leg.spec.exchange_client,
                leg.spec.symbol,
                leg.side.value,
                None,
                leg.spec.execution_mode,
                leg.spec.timeout_seconds,
                quantity=leg.target,
                reduce_only=leg.spec.reduce_only,
                execution_id=execution_id,
                leg=leg.index,
                book=leg.book,
                position=(leg.position,),
            )
            for leg in legs
        ]
    )
    for leg, ready in zip(legs, prepared, strict=True):
        if isinstance(ready, ExecutionResult):
            failures.append(f"leg {leg.index}: {ready.error_message}")
        else:
            leg.prepared = ready
    return legs, failures


async def _plan_one(index: int, spec: OrderSpec, executor: OrderExecutor) -> PlannedLeg | str:
    """One leg's spec, book, position and desired quantity; or why it cannot be planned."""
    gateway = gateway_for(spec.exchange_client, max_book_age_s=executor.config.max_book_age_s)
    where = f"leg {index} ({gateway.name} {spec.symbol})"
    side = parse_side(spec.side)
    try:
        market = await gateway.market_spec(spec.symbol)
        book, position = await _book_and_position(gateway, spec, side)
        reference = book.touch(side)
        if reference is None:
            return f"{where}: no liquidity on the side to trade"
        desired = _desired_quantity(gateway, spec, side, reference, position)
    except InvalidOrderError:
        raise
    except FundarbError as exc:
        return f"{where}: {exc}"
    return PlannedLeg(
        index,
        spec,
        side,
        gateway,
        market,
        reference,
        desired,
        _base_asset(market),
        book=book,
        book_read_at=asyncio.get_running_loop().time(),
        position=position,
    )


async def _book_and_position(
    gateway: VenueGateway, spec: OrderSpec, side: Side
) -> tuple[OrderBook, Decimal | None]:
    """The book (deep enough for the leg's size when it is known) and the position, read
    concurrently."""
    try:
        async with asyncio.TaskGroup() as reads:
            book = reads.create_task(_leg_book(gateway, spec, side))
            position = reads.create_task(gateway.position(spec.symbol))
    except* FundarbError as failed:
        raise failed.exceptions[0] from None
    return book.result(), position.result()


async def _leg_book(gateway: VenueGateway, spec: OrderSpec, side: Side) -> OrderBook:
    if spec.quantity is not None:
        quantity = to_positive_decimal(spec.quantity)
        return (await gateway.book_for(spec.symbol, side, quantity=quantity))[0]
    if spec.size_usd is not None:
        notional = to_positive_decimal(spec.size_usd)
        return (await gateway.book_for(spec.symbol, side, notional=notional))[0]
    return await gateway.book(spec.symbol)


async def _balance(client: Any) -> Decimal | None:
    """Free margin, or None when the venue cannot say (or cannot be reached just now)."""
    if not isinstance(client, BalanceProvider):
        return None
    try:
        return (await client.get_balance()).available
    except FundarbError:
        return None


def _preflight(
    legs: list[PlannedLeg],
    executor: OrderExecutor,
    config: AtomicConfig,
    available: dict[int, Decimal | None],
) -> list[str]:
    """Liquidity at the planned size on every leg, and free margin on every venue."""
    analyzer = LiquidityAnalyzer(
        max_slippage_pct=executor.config.max_slippage_pct,
        max_book_age_s=executor.config.max_book_age_s,
    )
    failures: list[str] = []
    needed: dict[int, Decimal] = {}
    for leg in legs:
        assert leg.book is not None  # read at planning
        report = analyzer.assess(leg.gateway, leg.spec.symbol, leg.side, leg.target, leg.book)
        if report.recommendation in (Recommendation.INSUFFICIENT_DEPTH, Recommendation.STALE_BOOK):
            failures.append(
                f"leg {leg.index} ({leg.gateway.name} {leg.spec.symbol}): "
                f"{report.recommendation.value}: {report.reason}"
            )
        if not leg.spec.reduce_only:
            key = id(leg.spec.exchange_client)
            needed[key] = needed.get(key, _ZERO) + (
                leg.target * leg.reference / config.assumed_leverage
            )
    names = {id(leg.spec.exchange_client): leg.gateway.name for leg in legs}
    for key, amount in needed.items():
        free = available.get(key)
        if free is not None and amount > free:
            failures.append(
                f"{names[key]}: needs {amount:.2f} of margin at "
                f"{config.assumed_leverage}x, {free:.2f} is free"
            )
    return failures


def check_specs(orders: Sequence[OrderSpec]) -> list[OrderSpec]:
    if isinstance(orders, OrderSpec) or not isinstance(orders, Sequence) or not orders:
        raise InvalidOrderError("orders must be a non-empty list of OrderSpec")
    specs = list(orders)
    for index, spec in enumerate(specs):
        if not isinstance(spec, OrderSpec):
            raise InvalidOrderError(f"orders[{index}] is not an OrderSpec: {spec!r:.60}")
        parse_side(spec.side)
        if spec.size_usd is not None and spec.quantity is not None:
            raise InvalidOrderError(f"orders[{index}]: give size_usd or quantity, not both")
        if spec.size_usd is None and spec.quantity is None and not spec.reduce_only:
            raise InvalidOrderError(f"orders[{index}]: give size_usd or quantity")
        for name in ("size_usd", "quantity"):
            value = getattr(spec, name)
            if value is not None:
                try:
                    to_positive_decimal(value, name=f"orders[{index}].{name}")
                except ValueError as exc:
                    raise InvalidOrderError(str(exc)) from None
    return specs


def _desired_quantity(
    gateway: VenueGateway,
    spec: OrderSpec,
    side: Side,
    reference: Decimal,
    position: Decimal | None,
) -> Decimal:
    if spec.quantity is not None:
        return to_positive_decimal(spec.quantity)
    if spec.size_usd is not None:
        return to_positive_decimal(spec.size_usd) / reference
    if position is None:  # a reduce-only leg with no size closes the position
        raise InvalidOrderError(f"{gateway.name} does not report positions: size the leg")
    if position == 0 or (position > 0) == (side is Side.BUY):
        raise InvalidOrderError(f"{gateway.name} {spec.symbol}: no position for this leg to reduce")
    return abs(position)


def _base_asset(market: MarketSpec) -> str:
    """The base asset, from the spec when it says, else from the symbol."""
    return market.base_asset.upper() if market.base_asset else base_asset_of(market.symbol)


def base_asset_of(symbol: str) -> str:
    """The base asset of a symbol: ``BTC-PERP``, ``BTCUSDT``, ``BTC/USDT:USDT`` → ``BTC``."""
    token = symbol.upper().split(":")[0]
    for separator in ("/", "-", "_"):
        token = token.split(separator)[0]
    for quote in _QUOTES:
        if token.endswith(quote) and len(token) > len(quote):
            return token[: -len(quote)]
    return token


def groups(legs: list[PlannedLeg]) -> dict[str, list[PlannedLeg]]:
    """Hedge groups: legs on one base asset with both sides; any other leg stands alone."""
    by_base: dict[str, list[PlannedLeg]] = {}
    for leg in legs:
        by_base.setdefault(leg.group, []).append(leg)
    groups: dict[str, list[PlannedLeg]] = {}
    for base, members in by_base.items():
        if len({m.side for m in members}) == 2:
            groups[base] = members
        else:
            for m in members:
                groups[f"{base}#{m.index}"] = [m]
    return groups


def _size_group(name: str, members: list[PlannedLeg]) -> list[str]:
    """One quantity for every leg of a hedge group, on every venue's lot; or why not."""
    if len(members) == 1 or all(m.closing for m in members):
        # a lone leg, or closes: each its own size (closing unequal positions leaves none)
        failures = []
        for leg in members:
            leg.target = leg.market.round_quantity(leg.desired)
            problem = leg.market.check_order(
                leg.target, leg.reference, reduce_only=leg.spec.reduce_only
            )
            if leg.target <= 0 or problem is not None:
                reason = problem.message if problem else "rounds to nothing"
                failures.append(f"leg {leg.index}: {reason}")
        return failures
    buys = sum(1 for m in members if m.side is Side.BUY)
    if buys * 2 != len(members):
        return [f"group {name}: a hedge needs as many buy legs as sell legs"]
    step = _common_step([m.market.lot_size for m in members])
    quantity = (min(m.desired for m in members) // step) * step
    failures = []
    for leg in members:
        leg.target = quantity
        problem = leg.market.check_order(quantity, leg.reference, reduce_only=leg.spec.reduce_only)
        if quantity <= 0 or problem is not None:
            failures.append(
                f"leg {leg.index} ({leg.gateway.name} {leg.spec.symbol}): the common "
                f"quantity {quantity} fails: "
                f"{problem.message if problem else 'nothing to trade'}"
            )
    return failures


def _common_step(steps: list[Decimal]) -> Decimal:
    """The smallest quantity that is a whole number of every lot step."""
    exponent = min(_exponent(s) for s in steps)
    scaled = [int(s.scaleb(-exponent)) for s in steps]
    lcm = scaled[0]
    for value in scaled[1:]:
        lcm = lcm * value // math.gcd(lcm, value)
    return Decimal(lcm).scaleb(exponent)


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # lot steps are finite
    return exponent


def is_balanced(members: list[PlannedLeg], filled: dict[int, Decimal]) -> bool:
    """Buys equal sells within one lot. A lone leg, or a group of closes: every leg whole,
    or every leg untouched."""
    if len(members) == 1 or all(m.closing for m in members):
        return all(filled[m.index] == m.target for m in members) or is_flat(
            {m.index: filled[m.index] for m in members}
        )
    lot = max(m.market.lot_size for m in members)
    values = [filled[m.index] for m in members]
    return max(values) - min(values) < lot


def is_flat(filled: dict[int, Decimal]) -> bool:
    return all(v == 0 for v in filled.values())


async def net_change(leg: PlannedLeg, attempts: int = 5, backoff_s: float = 0.25) -> Decimal:
    """The leg's net position change, read from the venue when it reports positions.

    Retried; if the venue still cannot be read the error is raised: the caller must not act
    on our own figures, which may miss a fill reported late. A venue without positions is
    judged on our figures (the documented fallback).
    """
    start = leg.start_position
    if start is None:
        return leg.ledger_net()
    for attempt in range(1, attempts + 1):
        try:
            position = await leg.gateway.position(leg.spec.symbol)
        except FundarbError:
            if attempt == attempts:
                raise
            await asyncio.sleep(backoff_s * 2 ** (attempt - 1))  # 0.25, 0.5, 1, 2 s
            continue
        return position - start if position is not None else leg.ledger_net()
    raise AssertionError("unreachable")  # pragma: no cover
