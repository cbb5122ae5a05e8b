"""A pair position and its PnL, split into funding, basis, fees and slippage.

Every trade of a position (entry, exit, hedge, rollback, a liquidation) is kept with its
price, the mid when it was decided (the arrival mid) and its fee; every funding payment
with its amount. From those, exactly::

    fees      = Σ fee                                       (cost, > 0)
    slippage  = Σ signed quantity × (price − arrival mid)   (cost against the mid, > 0)
    basis     = Σ −signed quantity × arrival mid  +  Σ open quantity × mark
    funding   = Σ payments                                  (received > 0)
    pnl       = funding + basis − fees − slippage
              = Σ −signed quantity × price + open quantity × mark + funding − fees

which is each venue's change in equity (wallet + unrealised at the venue's mark) caused
by the position: the split adds up by construction, to the last digit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from fundarb.storage.positions import PositionRow
from fundarb.venues.orders import Side

__all__ = [
    "FundingEntry",
    "LegRef",
    "PairPosition",
    "PnL",
    "PositionState",
    "Trade",
]

_ZERO = Decimal(0)


class PositionState(StrEnum):
    OPENING = "opening"  # written before any order; the entry is running (or crashed)
    OPEN = "open"
    CLOSING = "closing"  # an exit was decided; reduce-only legs are running (or crashed)
    CLOSED = "closed"
    FAILED = "failed"  # the entry did not end whole or balanced (rolled back, aborted)


ACTIVE_STATES = (PositionState.OPENING, PositionState.OPEN, PositionState.CLOSING)


@dataclass(frozen=True, slots=True)
class LegRef:
    venue: str
    symbol: str  # as the venue names it


@dataclass(frozen=True, slots=True, kw_only=True)
class Trade:
    """What one order (or a liquidation) did to one leg."""

    venue: str
    symbol: str
    side: Side
    quantity: Decimal  # > 0
    price: Decimal  # average fill price
    mid: Decimal  # the arrival mid (the price itself when unknown: no slippage claimed)
    fee: Decimal  # quote, > 0 is a cost
    time: datetime
    kind: str  # entry | exit | hedge | rollback | liquidation | reconstructed
    execution_id: str = ""

    @property
    def signed(self) -> Decimal:
        return self.quantity if self.side is Side.BUY else -self.quantity


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingEntry:
    venue: str
    symbol: str
    funding_time: datetime
    rate: Decimal
    amount: Decimal  # > 0 received
    estimated: bool = False  # computed from the settled rate: the venue reports no payments


@dataclass(frozen=True, slots=True, kw_only=True)
class PnL:
    funding: Decimal
    basis: Decimal
    fees: Decimal
    slippage: Decimal

    @property
    def total(self) -> Decimal:
        return self.funding + self.basis - self.fees - self.slippage

    def __add__(self, other: PnL) -> PnL:
        return PnL(
            funding=self.funding + other.funding,
            basis=self.basis + other.basis,
            fees=self.fees + other.fees,
            slippage=self.slippage + other.slippage,
        )

    @classmethod
    def zero(cls) -> PnL:
        return cls(funding=_ZERO, basis=_ZERO, fees=_ZERO, slippage=_ZERO)


@dataclass(slots=True, kw_only=True)
class PairPosition:
    """Long ``symbol`` on one venue, short on another, one quantity per leg."""

    position_id: str
    strategy_name: str
    symbol: str  # canonical (BTC)
    long: LegRef
    short: LegRef
    notional_usd: Decimal  # planned per leg
    created_at: datetime
    state: PositionState = PositionState.OPENING
    quantity: Decimal = _ZERO  # per leg, once open
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    exit_reason: str | None = None
    entry_execution_id: str | None = None
    exit_execution_ids: list[str] = field(default_factory=list)
    entry_net_apr: Decimal | None = None
    entry_break_even_hours: Decimal | None = None
    trades: list[Trade] = field(default_factory=list)
    funding: list[FundingEntry] = field(default_factory=list)
    marks: dict[str, Decimal] = field(default_factory=dict)  # "venue:symbol" -> last mark
    notes: list[str] = field(default_factory=list)
    updated_at: datetime | None = None

    @property
    def legs(self) -> tuple[LegRef, LegRef]:
        return (self.long, self.short)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def net_quantity(self, leg: LegRef) -> Decimal:
        """Our signed position on ``leg`` from our own trades."""
        return sum(
            (t.signed for t in self.trades if t.venue == leg.venue and t.symbol == leg.symbol),
            _ZERO,
        )

    def has_funding(self, venue: str, symbol: str, funding_time: datetime) -> bool:
        return any(
            f.venue == venue and f.symbol == symbol and f.funding_time == funding_time
            for f in self.funding
        )

    def pnl(self, marks: dict[str, Decimal] | None = None) -> PnL:
        """The split (module docstring); open quantities are marked at ``marks``
        ("venue:symbol"), else at the last marks seen."""
        marks = {**self.marks, **(marks or {})}
        fees = sum((t.fee for t in self.trades), _ZERO)
        slippage = sum((t.signed * (t.price - t.mid) for t in self.trades), _ZERO)
        basis = sum((-t.signed * t.mid for t in self.trades), _ZERO)
        for leg in self.legs:
            open_quantity = self.net_quantity(leg)
            if open_quantity:
                mark = marks.get(f"{leg.venue}:{leg.symbol}")
                if mark is not None:
                    basis += open_quantity * mark
        funding = sum((f.amount for f in self.funding), _ZERO)
        return PnL(funding=funding, basis=basis, fees=fees, slippage=slippage)

    # -- persistence ------------------------------------------------------------------------

    def to_row(self, now: datetime) -> PositionRow:
        pnl = self.pnl()
        self.updated_at = now
        return PositionRow(
            position_id=self.position_id,
            strategy_name=self.strategy_name,
            symbol=self.symbol,
            state=self.state.value,
            long_venue=self.long.venue,
            long_symbol=self.long.symbol,
            short_venue=self.short.venue,
            short_symbol=self.short.symbol,
            quantity=self.quantity,
            notional_usd=self.notional_usd,
            created_at=self.created_at,
            opened_at=self.opened_at,
            closed_at=self.closed_at,
            exit_reason=self.exit_reason,
            funding_usd=pnl.funding,
            basis_usd=pnl.basis,
            fees_usd=pnl.fees,
            slippage_usd=pnl.slippage,
            pnl_usd=pnl.total,
            updated_at=now,
            record=json.dumps(self._record(), sort_keys=True),
        )

    def _record(self) -> dict[str, Any]:
        """The whole position as exact JSON values (Decimals and times as text)."""
        return {
            "position_id": self.position_id,
            "strategy_name": self.strategy_name,
            "symbol": self.symbol,
            "long": {"venue": self.long.venue, "symbol": self.long.symbol},
            "short": {"venue": self.short.venue, "symbol": self.short.symbol},
            "notional_usd": str(self.notional_usd),
            "created_at": self.created_at.isoformat(),
            "state": self.state.value,
            "quantity": str(self.quantity),
            "opened_at": _text(self.opened_at),
            "closed_at": _text(self.closed_at),
            "exit_reason": self.exit_reason,
            "entry_execution_id": self.entry_execution_id,
            "exit_execution_ids": list(self.exit_execution_ids),
            "entry_net_apr": _text(self.entry_net_apr),
            "entry_break_even_hours": _text(self.entry_break_even_hours),
            "trades": [_trade_record(t) for t in self.trades],
            "funding": [
                {
                    "venue": f.venue,
                    "symbol": f.symbol,
                    "funding_time": f.funding_time.isoformat(),
                    "rate": str(f.rate),
                    "amount": str(f.amount),
                    "estimated": f.estimated,
                }
                for f in self.funding
            ],
            "marks": {k: str(v) for k, v in self.marks.items()},
            "notes": list(self.notes),
            "updated_at": _text(self.updated_at),
        }

    @classmethod
    def from_row(cls, row: PositionRow) -> PairPosition:
        data = json.loads(row.record)
        return cls(
            position_id=data["position_id"],
            strategy_name=data["strategy_name"],
            symbol=data["symbol"],
            long=LegRef(**data["long"]),
            short=LegRef(**data["short"]),
            notional_usd=Decimal(data["notional_usd"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            state=PositionState(data["state"]),
            quantity=Decimal(data["quantity"]),
            opened_at=_when(data["opened_at"]),
            closed_at=_when(data["closed_at"]),
            exit_reason=data["exit_reason"],
            entry_execution_id=data["entry_execution_id"],
            exit_execution_ids=list(data["exit_execution_ids"]),
            entry_net_apr=_number(data["entry_net_apr"]),
            entry_break_even_hours=_number(data["entry_break_even_hours"]),
            trades=[
                Trade(
                    venue=t["venue"],
                    symbol=t["symbol"],
                    side=Side(t["side"]),
                    quantity=Decimal(t["quantity"]),
                    price=Decimal(t["price"]),
                    mid=Decimal(t["mid"]),
                    fee=Decimal(t["fee"]),
                    time=datetime.fromisoformat(t["time"]),
                    kind=t["kind"],
                    execution_id=t["execution_id"],
                )
                for t in data["trades"]
            ],
            funding=[
                FundingEntry(
                    venue=f["venue"],
                    symbol=f["symbol"],
                    funding_time=datetime.fromisoformat(f["funding_time"]),
                    rate=Decimal(f["rate"]),
                    amount=Decimal(f["amount"]),
                    estimated=bool(f["estimated"]),
                )
                for f in data["funding"]
            ],
            marks={k: Decimal(v) for k, v in data["marks"].items()},
            notes=list(data["notes"]),
            updated_at=_when(data["updated_at"]),
        )


def _text(value: Decimal | datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _trade_record(trade: Trade) -> dict[str, Any]:
    return {
        "venue": trade.venue,
        "symbol": trade.symbol,
        "side": trade.side.value,
        "quantity": str(trade.quantity),
        "price": str(trade.price),
        "mid": str(trade.mid),
        "fee": str(trade.fee),
        "time": trade.time.isoformat(),
        "kind": trade.kind,
        "execution_id": trade.execution_id,
    }


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _number(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None
