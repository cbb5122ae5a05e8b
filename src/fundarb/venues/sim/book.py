"""The market's resting depth for one symbol, in integer ticks and lots.

This is the hot path of a replay: a level update is a dict store plus, rarely, a short
scan for the next best price. Prices are ``price / tick_size`` and sizes ``size / lot_size``,
both exact integers, so nothing is lost and no float is involved.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

__all__ = ["NO_ASK", "NO_BID", "DepthBook"]

NO_BID = -1
NO_ASK = 1 << 62
_SCAN = 64  # ticks to scan for the next level before falling back to max()/min()


class DepthBook:
    """Anonymous depth: ``bids``/``asks`` map tick -> lots (> 0), with the best of each kept.

    ``best_bid`` is ``NO_BID`` and ``best_ask`` is ``NO_ASK`` when a side is empty.
    """

    __slots__ = ("asks", "best_ask", "best_bid", "bids")

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.best_bid = NO_BID
        self.best_ask = NO_ASK

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.best_bid = NO_BID
        self.best_ask = NO_ASK

    def set_bid(self, tick: int, lots: int) -> None:
        """Set the bid level at ``tick`` to ``lots`` (0 removes it)."""
        bids = self.bids
        if lots > 0:
            bids[tick] = lots
            if tick > self.best_bid:
                self.best_bid = tick
        elif bids.pop(tick, 0) and tick == self.best_bid:
            self.best_bid = self._bid_below(tick)

    def set_ask(self, tick: int, lots: int) -> None:
        """Set the ask level at ``tick`` to ``lots`` (0 removes it)."""
        asks = self.asks
        if lots > 0:
            asks[tick] = lots
            if tick < self.best_ask:
                self.best_ask = tick
        elif asks.pop(tick, 0) and tick == self.best_ask:
            self.best_ask = self._ask_above(tick)

    def apply(self, bids: Iterable[tuple[int, int]], asks: Iterable[tuple[int, int]]) -> None:
        """Apply one depth diff: absolute sizes per level, 0 deletes. The replay hot path."""
        levels = self.bids
        best = self.best_bid
        for tick, lots in bids:
            if lots:
                levels[tick] = lots
                if tick > best:
                    best = tick
            elif levels.pop(tick, 0) and tick == best:
                best = self._bid_below(tick)
        self.best_bid = best
        levels = self.asks
        best = self.best_ask
        for tick, lots in asks:
            if lots:
                levels[tick] = lots
                if tick < best:
                    best = tick
            elif levels.pop(tick, 0) and tick == best:
                best = self._ask_above(tick)
        self.best_ask = best

    def _bid_below(self, tick: int) -> int:
        bids = self.bids
        if not bids:
            return NO_BID
        for candidate in range(tick - 1, tick - _SCAN, -1):
            if candidate in bids:
                return candidate
        return max(bids)

    def _ask_above(self, tick: int) -> int:
        asks = self.asks
        if not asks:
            return NO_ASK
        for candidate in range(tick + 1, tick + _SCAN):
            if candidate in asks:
                return candidate
        return min(asks)

    def top_bids(self, n: int) -> list[tuple[int, int]]:
        """The ``n`` best bid levels, best first."""
        return (
            heapq.nlargest(n, self.bids.items())
            if n < len(self.bids)
            else sorted(self.bids.items(), reverse=True)
        )

    def top_asks(self, n: int) -> list[tuple[int, int]]:
        """The ``n`` best ask levels, best first."""
        return (
            heapq.nsmallest(n, self.asks.items())
            if n < len(self.asks)
            else sorted(self.asks.items())
        )
