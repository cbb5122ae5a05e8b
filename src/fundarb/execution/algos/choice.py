"""Which algorithm for a pair: one atomic execution, a pair TWAP, or a maker ladder.

The ``ADAPTIVE`` execution mode picks an order type for one leg from its book; this picks
the *algorithm* for a pair from its size relative to the depth both venues show, and the
caller's urgency. The strategy calls :func:`choose_algorithm` and runs what it says:

==========================  ======================================================
size / visible depth        low urgency        normal              high
==========================  ======================================================
≤ ``atomic_fraction``       atomic             atomic              atomic
≤ 1                         maker ladder       pair TWAP           atomic
> 1 (or depth unknown)      maker ladder       pair TWAP           pair TWAP
==========================  ======================================================

Depth is the thinner of the two sides the legs take (asks where we buy, bids where we sell)
within ``depth_band_bps`` of each venue's mid. A TWAP is cut so each slice is at most
``atomic_fraction`` of that depth; a ladder's clip (its unhedged bound) is the same size.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from fundarb.errors import ConfigError
from fundarb.execution.algos.pair import PairLeg, PairVenues
from fundarb.execution.core.book import OrderBook
from fundarb.execution.core.modes import Urgency

__all__ = ["Algorithm", "AlgorithmChoice", "choose_algorithm", "choose_from_depth"]

_BPS = Decimal(10_000)


class Algorithm(StrEnum):
    ATOMIC = "atomic"  # one atomic execution of both legs
    PAIR_TWAP = "pair_twap"  # slices through the atomic executor over time
    MAKER_LADDER = "maker_ladder"  # the patient leg as maker, each fill hedged at once


@dataclass(frozen=True, slots=True, kw_only=True)
class AlgorithmChoice:
    algorithm: Algorithm
    reason: str
    size_to_depth: Decimal | None  # quantity / visible depth; None when no depth is shown
    slice_quantity: Decimal  # the TWAP slice or ladder clip (the whole quantity for atomic)
    slices: int  # how many of them


def choose_from_depth(
    quantity: Decimal,
    depth: Decimal,
    *,
    urgency: Urgency = "normal",
    atomic_fraction: Decimal = Decimal("0.25"),
) -> AlgorithmChoice:
    """The choice for ``quantity`` against ``depth`` (base units, the thinner side)."""
    if not (quantity.is_finite() and quantity > 0):
        raise ConfigError(f"quantity must be above zero, got {quantity}")
    if not (atomic_fraction.is_finite() and 0 < atomic_fraction <= 1):
        raise ConfigError(f"atomic_fraction must be in (0, 1], got {atomic_fraction}")
    ratio = quantity / depth if depth > 0 else None
    if ratio is not None and (ratio <= atomic_fraction or (urgency == "high" and ratio <= 1)):
        return AlgorithmChoice(
            algorithm=Algorithm.ATOMIC,
            reason=f"{_pct(ratio)} of the visible depth at {urgency} urgency: one atomic pair",
            size_to_depth=ratio,
            slice_quantity=quantity,
            slices=1,
        )
    piece = min(depth * atomic_fraction, quantity) if depth > 0 else quantity / 10
    slices = int((quantity / piece).to_integral_value(rounding=ROUND_CEILING))
    seen = f"{_pct(ratio)} of the visible depth" if ratio is not None else "no visible depth"
    if urgency == "low":
        return AlgorithmChoice(
            algorithm=Algorithm.MAKER_LADDER,
            reason=f"{seen} at low urgency: rest as maker, hedge each fill",
            size_to_depth=ratio,
            slice_quantity=quantity / slices,
            slices=slices,
        )
    return AlgorithmChoice(
        algorithm=Algorithm.PAIR_TWAP,
        reason=f"{seen} at {urgency} urgency: {slices} slices",
        size_to_depth=ratio,
        slice_quantity=quantity / slices,
        slices=slices,
    )


async def choose_algorithm(
    buy: PairLeg,
    sell: PairLeg,
    quantity: Decimal,
    *,
    urgency: Urgency = "normal",
    depth_band_bps: Decimal = Decimal(10),
    atomic_fraction: Decimal = Decimal("0.25"),
) -> AlgorithmChoice:
    """Read both books (100 levels) and choose (see the module docstring)."""
    venues = PairVenues(buy, sell)
    books = await asyncio.gather(
        venues.gateways[0].book(buy.symbol, levels=100),
        venues.gateways[1].book(sell.symbol, levels=100),
    )
    depth = min(_depth(books[0], "asks", depth_band_bps), _depth(books[1], "bids", depth_band_bps))
    return choose_from_depth(quantity, depth, urgency=urgency, atomic_fraction=atomic_fraction)


def _depth(book: OrderBook, side: str, band_bps: Decimal) -> Decimal:
    mid = book.mid
    if mid is None:
        return Decimal(0)
    levels = book.asks if side == "asks" else book.bids
    limit = mid * band_bps / _BPS
    return sum((lv.size for lv in levels if abs(lv.price - mid) <= limit), Decimal(0))


def _pct(ratio: Decimal | None) -> str:
    return f"{float(ratio) * 100:.0f} %" if ratio is not None else "?"
