"""Order books as the execution layer sees them: parsed from any client's shape, walked exactly.

Third-party clients are messy: books come as ``{'bids': [{'price', 'size'}, ...]}`` or as
ccxt-style ``[[price, size], ...]`` lists, numbers as ``Decimal``, ``float`` or ``str``.
:meth:`OrderBook.parse` turns any of them into one frozen value with ``Decimal`` levels,
best first, and refuses what it cannot trust (unsorted or crossed levels, non-positive
prices). :meth:`OrderBook.walk` computes the exact VWAP of taking a quantity or a notional.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property

from fundarb.numbers import to_decimal
from fundarb.venues.orders import Side, parse_side

__all__ = ["BookLevel", "BookWalk", "OrderBook"]

_ZERO = Decimal(0)
_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class BookWalk:
    """The result of taking liquidity from one side of a book.

    ``complete`` is False when the book's visible depth ran out first: then ``quantity`` and
    ``notional`` cover only what the book shows, and nothing is guessed beyond it.
    """

    side: Side  # the taker's side: a buy walks the asks
    quantity: Decimal  # base units taken
    notional: Decimal  # quote units paid or received
    levels: int  # levels touched
    complete: bool
    worst_price: Decimal | None  # the last level touched

    @property
    def vwap(self) -> Decimal | None:
        return self.notional / self.quantity if self.quantity else None


@dataclass(frozen=True, slots=True)
class _Units:
    """One side of a book as integers: ``price = prices[i] * 10**price_exp``, same for sizes."""

    prices: tuple[int, ...]
    sizes: tuple[int, ...]
    price_exp: int
    size_exp: int

    @classmethod
    def of(cls, levels: tuple[BookLevel, ...]) -> _Units:
        if not levels:
            return cls((), (), 0, 0)
        p_exp = min(_exponent(lv.price) for lv in levels)
        s_exp = min(_exponent(lv.size) for lv in levels)
        return cls(
            tuple(int(lv.price.scaleb(-p_exp)) for lv in levels),
            tuple(int(lv.size.scaleb(-s_exp)) for lv in levels),
            p_exp,
            s_exp,
        )


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only reach here
    return exponent


@dataclass(frozen=True)
class OrderBook:
    """A snapshot of one symbol's book: ``Decimal`` levels, best first, never crossed."""

    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    symbol: str | None = None
    timestamp: datetime | None = None  # the venue's time of the snapshot, when it says

    @cached_property
    def _units_bids(self) -> _Units:  # built on the first walk: most books are never walked
        return _Units.of(self.bids)

    @cached_property
    def _units_asks(self) -> _Units:
        return _Units.of(self.asks)

    @classmethod
    def parse(cls, raw: object, *, symbol: str | None = None) -> OrderBook:
        """Parse a client's book. Raises ``ValueError`` for a shape or content we cannot trust.

        Levels of zero size are dropped. ``timestamp`` is read from ``'timestamp'`` (epoch
        milliseconds, as ccxt and fundarb's venues give it) or ``'datetime'``.
        """
        if not isinstance(raw, Mapping):
            raise ValueError(f"an order book must be a mapping with bids and asks, got {raw!r:.80}")
        bids = _levels(raw.get("bids"), "bids")
        asks = _levels(raw.get("asks"), "asks")
        for name, levels, descending in (("bids", bids, True), ("asks", asks, False)):
            for better, worse in itertools.pairwise(levels):
                if (better.price <= worse.price) if descending else (better.price >= worse.price):
                    raise ValueError(f"{name} are not sorted best first and unique")
        if bids and asks and bids[0].price >= asks[0].price:
            raise ValueError(f"crossed book: best bid {bids[0].price} >= best ask {asks[0].price}")
        book_symbol = raw.get("symbol")
        return cls(
            bids=bids,
            asks=asks,
            symbol=str(book_symbol) if book_symbol else symbol,
            timestamp=_timestamp(raw.get("timestamp"), raw.get("datetime")),
        )

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if not (self.bids and self.asks):
            return None
        return (self.bids[0].price + self.asks[0].price) / 2

    @property
    def spread_bps(self) -> Decimal | None:
        mid = self.mid
        if mid is None:
            return None
        return (self.asks[0].price - self.bids[0].price) / mid * _BPS

    def touch(self, side: Side | str) -> Decimal | None:
        """The best price a taker on ``side`` would trade at (the ask for a buy)."""
        return self.best_ask if parse_side(side) is Side.BUY else self.best_bid

    def walk(
        self, side: Side | str, *, quantity: Decimal | None = None, notional: Decimal | None = None
    ) -> BookWalk:
        """Take ``quantity`` (base) or ``notional`` (quote) from the book, best price first.

        Exactly one of the two must be given. Exact: the walk runs on integer multiples of
        the book's finest price and size steps; only the part of the last level bought for a
        notional target is a division (``remaining / price``, Decimal context precision).
        """
        if (quantity is None) == (notional is None):
            raise ValueError("give exactly one of quantity or notional")
        target = notional if notional is not None else quantity
        assert target is not None
        if not (target.is_finite() and target > 0):
            raise ValueError(f"the amount to walk must be greater than zero, got {target}")
        taker = parse_side(side)
        units = self._units_asks if taker is Side.BUY else self._units_bids
        prices, sizes, p_exp, s_exp = units.prices, units.sizes, units.price_exp, units.size_exp
        step_exp = s_exp if quantity is not None else p_exp + s_exp
        t_exp = min(step_exp, _exponent(target))
        factor = 10 ** (step_exp - t_exp)
        left = int(target.scaleb(-t_exp))
        got_lots = 0  # whole levels, in units of 10**s_exp
        got_value = 0  # whole levels, in units of 10**(p_exp + s_exp)
        partial_qty = _ZERO
        partial_value = _ZERO
        used = 0
        worst: Decimal | None = None
        for price, size in zip(prices, sizes, strict=True):
            used += 1
            amount = (size if quantity is not None else price * size) * factor
            if amount >= left:
                if quantity is not None:  # left is base units of 10**t_exp
                    partial_qty = Decimal(left).scaleb(t_exp)
                    partial_value = Decimal(price * left).scaleb(p_exp + t_exp)
                else:  # left is quote units of 10**t_exp
                    partial_value = Decimal(left).scaleb(t_exp)
                    partial_qty = partial_value / Decimal(price).scaleb(p_exp)
                left = 0
                worst = Decimal(price).scaleb(p_exp)
                break
            got_lots += size
            got_value += price * size
            left -= amount
        else:
            if used:
                worst = Decimal(prices[-1]).scaleb(p_exp)
        return BookWalk(
            side=taker,
            quantity=Decimal(got_lots).scaleb(s_exp) + partial_qty,
            notional=Decimal(got_value).scaleb(p_exp + s_exp) + partial_value,
            levels=used,
            complete=left == 0,
            worst_price=worst,
        )

    def depth(self, side: Side | str) -> tuple[Decimal, Decimal]:
        """(base quantity, quote notional) visible on the side a taker on ``side`` would take."""
        levels = self.asks if parse_side(side) is Side.BUY else self.bids
        return (
            sum((lv.size for lv in levels), _ZERO),
            sum((lv.price * lv.size for lv in levels), _ZERO),
        )


def _levels(raw: object, name: str) -> tuple[BookLevel, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
        raise ValueError(f"{name} must be a list of levels, got {raw!r:.80}")
    out: list[BookLevel] = []
    for entry in raw:
        if type(entry) is dict or isinstance(entry, Mapping):
            price_raw, size_raw = entry.get("price"), entry.get("size", entry.get("amount"))
        elif isinstance(entry, Sequence) and not isinstance(entry, str | bytes) and len(entry) >= 2:
            price_raw, size_raw = entry[0], entry[1]
        else:
            raise ValueError(f"{name}: a level must be {{'price', 'size'}} or [price, size]")
        # most clients hand over Decimals already: take them as they are when finite
        price = (
            price_raw
            if type(price_raw) is Decimal and price_raw.is_finite()
            else (to_decimal(price_raw, name=f"{name} price"))
        )
        size = (
            size_raw
            if type(size_raw) is Decimal and size_raw.is_finite()
            else (to_decimal(size_raw, name=f"{name} size"))
        )
        if price <= 0 or size < 0:
            raise ValueError(f"{name}: level ({price}, {size}) has a non-positive price or size")
        if size:
            out.append(BookLevel(price, size))
    return tuple(out)


def _timestamp(millis: object, text: object) -> datetime | None:
    if isinstance(millis, int | float) and not isinstance(millis, bool) and millis > 0:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    if isinstance(millis, datetime):
        return millis if millis.tzinfo else millis.replace(tzinfo=UTC)
    if isinstance(text, str) and text:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
