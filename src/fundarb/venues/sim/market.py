"""The synthetic market: a seeded random walk for the fair price, a depth profile that
follows it, and Poisson taker flow that trades against the book in priority order.

The latent fair price is a float (it is a model, not money); everything that reaches the
book is integer ticks and lots.
"""

from __future__ import annotations

import math
import random
from collections import deque
from typing import Protocol

from fundarb.venues.sim.book import NO_ASK, NO_BID
from fundarb.venues.sim.config import MarketModelConfig, SymbolConfig
from fundarb.venues.sim.matching import MatchingEngine

__all__ = ["MarketSource", "PublicTrade", "SyntheticMarket"]

PublicTrade = tuple[float, int, int, bool]
"""A trade on the public tape: (loop time, tick, lots, taker is the buyer)."""


class MarketSource(Protocol):
    """Something that changes one symbol's market at known times."""

    symbol: str

    def next_time(self) -> float:
        """Loop time of the next event (``math.inf`` when there are no more)."""
        ...

    def run_next(self) -> bool:
        """Process the next event; return True if prices may have moved."""
        ...


class SyntheticMarket:
    """Moves one symbol's market: fair price, depth around it, and taker flow."""

    def __init__(
        self,
        engine: MatchingEngine,
        symbol: SymbolConfig,
        model: MarketModelConfig,
        rng: random.Random,
        price_rng: random.Random,
        *,
        start: float,
        tape: deque[PublicTrade],
    ) -> None:
        self.symbol = symbol.symbol
        self._engine = engine
        self._model = model
        self._rng = rng  # depth and taker flow
        self._price_rng = price_rng  # the fair price path (may be shared between venues)
        self._tape = tape
        self._tick_size = float(symbol.tick_size)
        self._fair = float(symbol.initial_price)
        self._level_lots = max(1, int(symbol.depth_per_level / symbol.lot_size))
        self._taker_mean_lots = max(1.0, float(symbol.taker_mean_size / symbol.lot_size))
        self._next_step = start + model.step_s
        batched = model.batch_takers
        self._next_buy = math.inf if batched else start + self._interarrival()
        self._next_sell = math.inf if batched else start + self._interarrival()
        self._reshape()

    @property
    def fair_price(self) -> float:
        return self._fair

    def next_time(self) -> float:
        return min(self._next_step, self._next_buy, self._next_sell)

    def run_next(self) -> bool:
        t = self.next_time()
        if t == self._next_step:
            self._step()
            if self._model.batch_takers:
                self._batched_takers(t)
            self._next_step = t + self._model.step_s
            return True
        taker_is_buy = t == self._next_buy
        lots = max(1, round(self._rng.expovariate(1.0 / self._taker_mean_lots)))
        for tick, traded in self._engine.sweep(lots, taker_is_buy):
            self._tape.append((t, tick, traded, taker_is_buy))
        if taker_is_buy:
            self._next_buy = t + self._interarrival()
        else:
            self._next_sell = t + self._interarrival()
        return True

    def _batched_takers(self, t: float) -> None:
        """One step's taker flow per side as one order: Poisson many orders of exponential
        size (their sum is Gamma-distributed), capped at half the visible depth."""
        model = self._model
        expected = model.taker_rate_per_s * model.step_s
        if expected <= 0:
            return
        rng = self._rng
        for taker_is_buy in (True, False):
            if expected > 30:
                count = max(0, round(rng.gauss(expected, math.sqrt(expected))))
            else:
                count, limit, product = 0, math.exp(-expected), rng.random()
                while product > limit:
                    count += 1
                    product *= rng.random()
            if not count:
                continue
            lots = round(rng.gammavariate(count, self._taker_mean_lots))
            side = self._engine.book.asks if taker_is_buy else self._engine.book.bids
            lots = min(lots, sum(side.values()) // 2)
            if lots < 1:
                continue
            for tick, traded in self._engine.sweep(lots, taker_is_buy):
                self._tape.append((t, tick, traded, taker_is_buy))

    def _interarrival(self) -> float:
        rate = self._model.taker_rate_per_s
        return self._rng.expovariate(rate) if rate > 0 else math.inf

    def _step(self) -> None:
        model = self._model
        dt = model.step_s
        rng = self._price_rng
        shock = model.volatility_per_sqrt_s * math.sqrt(dt) * rng.gauss(0.0, 1.0)
        if model.jump_rate_per_s and rng.random() < model.jump_rate_per_s * dt:
            shock += rng.gauss(0.0, model.jump_sigma)
        self._fair *= math.exp(shock)
        self._reshape()

    def _reshape(self) -> None:
        """Move the depth profile to the fair price, refill thin levels, drop far ones."""
        model = self._model
        book = self._engine.book
        mid = self._fair / self._tick_size
        best_bid = max(1, math.floor(mid - model.spread_ticks / 2))
        best_ask = best_bid + model.spread_ticks
        deepest_bid = best_bid - model.depth_levels + 1
        deepest_ask = best_ask + model.depth_levels - 1
        bids: list[tuple[int, int]] = []
        asks: list[tuple[int, int]] = []
        # the price moved through these levels: they are gone
        if book.best_bid != NO_BID:
            bids.extend((t, 0) for t in book.bids if t > best_bid or t < deepest_bid)
        if book.best_ask != NO_ASK:
            asks.extend((t, 0) for t in book.asks if t < best_ask or t > deepest_ask)
        rng = self._rng
        refill = model.replenish_fraction_per_step
        for i in range(model.depth_levels):
            target = self._level_lots * (1.0 + model.depth_growth_per_level * i)
            for tick, levels, out in (
                (best_bid - i, book.bids, bids),
                (best_ask + i, book.asks, asks),
            ):
                have = levels.get(tick, 0)
                want = target * (0.5 + rng.random())
                if have == 0:  # a new level appears at its usual size
                    out.append((tick, max(1, round(want))))
                elif have < want:  # a level that traded refills gradually
                    out.append((tick, have + max(1, round((want - have) * refill))))
        self._engine.apply_depth(bids, asks)
