"""A cross-margin perpetual account: wallet, positions, margin, funding and liquidation.

Quantities are signed lots (positive long); prices and money are ``Decimal``.

- Fills move the position; a reducing fill realises PnL against the average entry price.
- Initial margin is ``notional / leverage``; maintenance margin is
  ``notional x maintenance_margin_rate``, both at the mark price.
- Funding at each funding time: ``amount = -quantity x mark x rate`` (a positive rate
  takes from longs and pays shorts).
- Liquidation: when equity (wallet + unrealised PnL) falls below the total maintenance
  margin, every position is closed at the mark price and a liquidation fee is charged.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from fundarb.venues.accounts import Balance, Position

__all__ = ["PositionState", "SimAccount"]

_ZERO = Decimal(0)


@dataclass(slots=True)
class PositionState:
    lots: int = 0  # signed
    entry_price: Decimal = _ZERO
    leverage: int = 10
    realized_pnl: Decimal = _ZERO


class SimAccount:
    """One account on one simulated venue."""

    def __init__(
        self,
        *,
        asset: str,
        balance: Decimal,
        lot_sizes: dict[str, Decimal],
        maintenance_rates: dict[str, Decimal],
        leverage: int,
    ) -> None:
        self.asset = asset
        self.wallet = balance
        self.lot_sizes = lot_sizes
        self.maintenance_rates = maintenance_rates
        self.positions: dict[str, PositionState] = {
            symbol: PositionState(leverage=leverage) for symbol in lot_sizes
        }

    def quantity(self, symbol: str) -> Decimal:
        return self.positions[symbol].lots * self.lot_sizes[symbol]

    def apply_fill(self, symbol: str, signed_lots: int, price: Decimal, fee: Decimal) -> Decimal:
        """Move the position by ``signed_lots`` at ``price``; pay ``fee``. Returns realised PnL."""
        state = self.positions[symbol]
        lot = self.lot_sizes[symbol]
        realized = _ZERO
        old = state.lots
        new = old + signed_lots
        if old == 0 or (old > 0) == (signed_lots > 0):  # opening or adding
            total = abs(old) * state.entry_price + abs(signed_lots) * price
            state.entry_price = total / abs(new)
        else:
            closed = min(abs(old), abs(signed_lots))
            direction = 1 if old > 0 else -1
            realized = (price - state.entry_price) * closed * lot * direction
            if new == 0:
                state.entry_price = _ZERO
            elif (new > 0) != (old > 0):  # flipped: the rest opens at this price
                state.entry_price = price
        state.lots = new
        state.realized_pnl += realized
        self.wallet += realized - fee
        return realized

    def unrealized_pnl(self, symbol: str, mark: Decimal) -> Decimal:
        state = self.positions[symbol]
        return (mark - state.entry_price) * state.lots * self.lot_sizes[symbol]

    def open_symbols(self) -> list[str]:
        return [symbol for symbol, state in self.positions.items() if state.lots]

    def equity(self, marks: dict[str, Decimal]) -> Decimal:
        return self.wallet + sum(
            (self.unrealized_pnl(s, marks[s]) for s in self.open_symbols()), _ZERO
        )

    def position_margin(self, symbol: str, mark: Decimal) -> Decimal:
        state = self.positions[symbol]
        return abs(state.lots) * self.lot_sizes[symbol] * mark / state.leverage

    def maintenance_margin(self, marks: dict[str, Decimal]) -> Decimal:
        return sum(
            (
                abs(self.positions[s].lots)
                * self.lot_sizes[s]
                * marks[s]
                * self.maintenance_rates[s]
                for s in self.open_symbols()
            ),
            _ZERO,
        )

    def is_liquidatable(self, marks: dict[str, Decimal]) -> bool:
        return bool(self.open_symbols()) and self.equity(marks) < self.maintenance_margin(marks)

    def liquidation_price(self, symbol: str, marks: dict[str, Decimal]) -> Decimal | None:
        """The mark at which the account hits maintenance margin, other marks unchanged."""
        state = self.positions[symbol]
        if not state.lots:
            return None
        others = [s for s in self.open_symbols() if s != symbol]
        rest = self.wallet + sum((self.unrealized_pnl(s, marks[s]) for s in others), _ZERO)
        rest -= sum(
            (
                abs(self.positions[s].lots)
                * self.lot_sizes[s]
                * marks[s]
                * self.maintenance_rates[s]
                for s in others
            ),
            _ZERO,
        )
        q = state.lots * self.lot_sizes[symbol]
        mmr = self.maintenance_rates[symbol]
        # rest + q (P - E) = |q| P mmr  =>  P = (q E - rest) / (q - |q| mmr)
        price = (q * state.entry_price - rest) / (q - abs(q) * mmr)
        return price if price > 0 else None

    def position(self, symbol: str, mark: Decimal, marks: dict[str, Decimal]) -> Position:
        state = self.positions[symbol]
        return Position(
            symbol=symbol,
            quantity=self.quantity(symbol),
            entry_price=state.entry_price,
            mark_price=mark,
            liquidation_price=self.liquidation_price(symbol, marks),
            margin=self.position_margin(symbol, mark),
            leverage=state.leverage,
            unrealized_pnl=self.unrealized_pnl(symbol, mark),
        )

    def balance(self, marks: dict[str, Decimal], order_margin: Decimal) -> Balance:
        upnl = sum((self.unrealized_pnl(s, marks[s]) for s in self.open_symbols()), _ZERO)
        used = order_margin + sum(
            (self.position_margin(s, marks[s]) for s in self.open_symbols()), _ZERO
        )
        equity = self.wallet + upnl
        return Balance(
            asset=self.asset,
            wallet_balance=self.wallet,
            unrealized_pnl=upnl,
            equity=equity,
            margin_used=used,
            maintenance_margin=self.maintenance_margin(marks),
            available=max(equity - used, _ZERO),
        )
