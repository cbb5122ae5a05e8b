"""The strategy's positions and equity curve in the database.

A position is saved whole and replaced when saved again (its state and PnL move on); its
``record`` is the strategy's own exact JSON, so it reads back exactly as it was written.
Equity points are appended, one per snapshot, and read back in time order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select

from fundarb.storage.tables import equity_points, positions

if TYPE_CHECKING:
    from fundarb.storage.store import Store

__all__ = [
    "EquityPoint",
    "PositionRow",
    "load_equity",
    "load_positions",
    "save_equity",
    "save_positions",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionRow:
    """One pair position as stored (``record``: the strategy's JSON of it)."""

    position_id: str
    strategy_name: str
    symbol: str
    state: str
    long_venue: str
    long_symbol: str
    short_venue: str
    short_symbol: str
    quantity: Decimal
    notional_usd: Decimal
    created_at: datetime
    opened_at: datetime | None
    closed_at: datetime | None
    exit_reason: str | None
    funding_usd: Decimal
    basis_usd: Decimal
    fees_usd: Decimal
    slippage_usd: Decimal
    pnl_usd: Decimal
    updated_at: datetime
    record: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EquityPoint:
    """The strategy's PnL at one moment (venue time), split the way positions are."""

    strategy_name: str
    time: datetime
    funding_usd: Decimal
    basis_usd: Decimal
    fees_usd: Decimal
    slippage_usd: Decimal
    pnl_usd: Decimal
    equity_usd: Decimal | None
    open_positions: int


_POSITION_FIELDS = tuple(PositionRow.__dataclass_fields__)
_EQUITY_FIELDS = tuple(EquityPoint.__dataclass_fields__)


async def save_positions(store: Store, rows: Sequence[PositionRow]) -> None:
    """Store (or replace) positions, in one transaction."""
    if not rows:
        return
    values = [{name: getattr(row, name) for name in _POSITION_FIELDS} for row in rows]
    async with store.engine.begin() as connection:
        await connection.execute(
            delete(positions).where(positions.c.position_id.in_([r.position_id for r in rows]))
        )
        await connection.execute(insert(positions), values)


async def load_positions(
    store: Store, *, states: Sequence[str] | None = None, strategy_name: str | None = None
) -> list[PositionRow]:
    """Positions (only those in ``states`` when given), oldest first."""
    query = select(positions).order_by(positions.c.created_at, positions.c.position_id)
    if states is not None:
        query = query.where(positions.c.state.in_(list(states)))
    if strategy_name is not None:
        query = query.where(positions.c.strategy_name == strategy_name)
    async with store.engine.connect() as connection:
        result = await connection.execute(query)
        return [PositionRow(**{n: row[n] for n in _POSITION_FIELDS}) for row in result.mappings()]


async def save_equity(store: Store, points: Sequence[EquityPoint]) -> None:
    if not points:
        return
    values = [{name: getattr(p, name) for name in _EQUITY_FIELDS} for p in points]
    async with store.engine.begin() as connection:
        await connection.execute(insert(equity_points), values)


async def load_equity(store: Store, *, strategy_name: str | None = None) -> list[EquityPoint]:
    query = select(equity_points).order_by(equity_points.c.time, equity_points.c.id)
    if strategy_name is not None:
        query = query.where(equity_points.c.strategy_name == strategy_name)
    async with store.engine.connect() as connection:
        result = await connection.execute(query)
        return [EquityPoint(**{n: row[n] for n in _EQUITY_FIELDS}) for row in result.mappings()]
