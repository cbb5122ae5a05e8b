"""Quote sizes to base quantities a venue accepts, and back. Nothing is ever sent from here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fundarb.errors import ConfigError, InvalidOrderError, MarketDataError
from fundarb.execution.core.gateway import gateway_for
from fundarb.numbers import to_positive_decimal
from fundarb.venues.markets import MarketSpec
from fundarb.venues.orders import Side, parse_side

__all__ = ["PositionSizer"]


class PositionSizer:
    """Converts between quote (USD) sizes and base quantities on one venue's terms.

    ``exchange_client`` is any object with the core client methods (design notes §2).

    Prices come from the venue's book, checked for age (``max_book_age_s``, by the venue's
    clock when it has one). The market spec (lot step, minimums) comes from the client when
    it offers one, else it is inferred from the book (see :mod:`~.gateway`).
    """

    def __init__(self, *, max_book_age_s: float = 5.0) -> None:
        if (
            isinstance(max_book_age_s, bool)
            or not isinstance(max_book_age_s, int | float)
            or not (0 < max_book_age_s < float("inf"))
        ):
            raise ConfigError(f"max_book_age_s must be greater than zero, got {max_book_age_s!r}")
        self.max_book_age_s = float(max_book_age_s)

    async def usd_to_quantity(
        self,
        *,
        exchange_client: Any,
        symbol: str,
        size_usd: Decimal,
        side: Side | str,
    ) -> Decimal:
        """Base quantity that ``size_usd`` (quote) buys or sells at the touch, on the lot.

        The touch is the price a taker on ``side`` trades at: the best ask for a buy, the
        best bid for a sell. Raises :class:`InvalidOrderError` for bad input or a result
        below the venue's minimum quantity or notional (see :meth:`quantity_for`), and
        :class:`MarketDataError` for a stale book or one with nothing on that side.
        """
        taker = parse_side(side)
        usd = _positive(size_usd, "size_usd", symbol)
        gateway = gateway_for(exchange_client, max_book_age_s=self.max_book_age_s)
        spec = await gateway.market_spec(symbol)
        book = await gateway.book(symbol, 1)
        price = book.touch(taker)
        if price is None:
            taken = "asks" if taker is Side.BUY else "bids"
            raise MarketDataError(
                f"no {taken} to price a {taker.value}", venue=gateway.name, symbol=symbol
            )
        return self.quantity_for(spec, usd, price, venue=gateway.name)

    async def quantity_to_usd(
        self, *, exchange_client: Any, symbol: str, quantity: Decimal
    ) -> Decimal:
        """Quote value of ``quantity`` (base) at the mid, unrounded.

        Raises :class:`InvalidOrderError` for a quantity that is not finite and positive,
        :class:`MarketDataError` for a stale book or one missing a side.
        """
        qty = _positive(quantity, "quantity", symbol)
        gateway = gateway_for(exchange_client, max_book_age_s=self.max_book_age_s)
        mid = (await gateway.book(symbol, 1)).mid
        if mid is None:
            raise MarketDataError(
                "no mid price: one side of the book is empty", venue=gateway.name, symbol=symbol
            )
        return qty * mid

    def quantity_for(
        self, spec: MarketSpec, size_usd: Decimal, price: Decimal, *, venue: str | None = None
    ) -> Decimal:
        """``size_usd / price`` rounded down to ``spec``'s lot, checked against its limits.

        Pure: no venue is asked. Raises :class:`InvalidOrderError` (naming ``venue`` and the
        limit) when the result is zero, below ``min_quantity``, above ``max_quantity``, or
        below ``min_notional`` at ``price``, or for a size or price that is not finite and
        positive.
        """
        usd = _positive(size_usd, "size_usd", spec.symbol, venue)
        at = _positive(price, "price", spec.symbol, venue)
        raw = usd / at
        quantity = spec.round_quantity(raw)
        where = f"{venue} {spec.symbol}" if venue else spec.symbol
        what = f"{usd} at {at} is {raw:.10g}, {quantity} on the lot step {spec.lot_size}"
        if quantity <= 0:
            problem = f"nothing to trade, below {where}'s minimum quantity {spec.min_quantity}"
        elif (check := spec.check_order(quantity, None)) is not None:
            problem = f"{where}: {check.message}"
        elif quantity * at < spec.min_notional:
            problem = (
                f"notional {quantity * at} is below {where}'s minimum notional {spec.min_notional}"
            )
        else:
            return quantity
        raise InvalidOrderError(f"{what}: {problem}", venue=venue, symbol=spec.symbol)


def _positive(value: object, name: str, symbol: str, venue: str | None = None) -> Decimal:
    try:
        return to_positive_decimal(value, name=name)
    except ValueError as exc:
        raise InvalidOrderError(str(exc), venue=venue, symbol=symbol) from None
