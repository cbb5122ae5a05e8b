"""Market-model figures measured on a real Binance USD-M capture (hftbacktest's format).

The synthetic market (:mod:`fundarb.venues.sim.market`) needs a starting price, a depth
profile (``depth_per_level`` at the touch growing by ``depth_growth_per_level`` a level),
taker flow (``taker_rate_per_s`` per side, ``taker_mean_size``) and a volatility per
√second. :func:`calibrate_from_capture` reads them off a capture:

- **price**: the snapshot's mid (best bid + best ask) / 2, and its tick.
- **depth**: the snapshot's sizes at each tick from the touch (empty ticks count as zero),
  both sides averaged, over ``DEPTH_TICKS`` ticks; cumulative depth ``D(n)`` is fitted by
  least squares to the model's ``a·n + a·g·n(n−1)/2``, which gives the size at the touch
  ``a`` and the growth a level ``g``. The cumulative fit is used because a real book's
  sizes per tick are lumpy (round-number levels, empty ticks).
- **taker flow**: trades with the same exchange trade time (``T``) and the same aggressor
  side, in a row, are one taker order (one order sweeping several levels prints several
  trades). Rate per side = taker orders / capture seconds / 2; mean size = traded quantity
  / taker orders.
- **volatility**: the bookTicker mid sampled every ``VOL_SAMPLE_S`` seconds; realised
  volatility √(Σ r² / T) of its log returns, per √second.

All rates are per second of the real market. Only the snapshot, the trades and the
bookTicker are read (depth diffs are skipped unparsed), and the result is cached per path.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

__all__ = ["DEPTH_TICKS", "VOL_SAMPLE_S", "Calibration", "calibrate_from_capture"]

DEPTH_TICKS = 40  # the book band the depth fit reads (the model's default depth_levels)
VOL_SAMPLE_S = 1.0  # sampling interval of the mid for the volatility


@dataclass(frozen=True, slots=True, kw_only=True)
class Calibration:
    """Figures of one capture, per second of the real market; sizes in base units."""

    symbol: str
    tick_size: Decimal  # the price step the capture's prices are on
    mid_price: Decimal  # the snapshot's (best bid + best ask) / 2 (may be half a tick)
    depth_per_level: Decimal  # fitted size at the touch, per tick level and side
    depth_growth_per_level: float  # fitted relative growth a level away from the touch (≥ 0)
    taker_rate_per_s: float  # taker orders per second, per side
    taker_mean_size: Decimal  # mean quantity of one taker order
    volatility_per_sqrt_s: float  # std of the log mid per √second
    duration_s: float  # seconds of trades and tickers the figures come from
    trades: int  # trade prints read
    taker_orders: int  # taker orders they group into

    @property
    def initial_price(self) -> Decimal:
        """The mid rounded down to a tick (a book's starting price must be on the grid)."""
        return (self.mid_price / self.tick_size).to_integral_value(
            rounding="ROUND_FLOOR"
        ) * self.tick_size


def _tick_of(prices: list[str]) -> Decimal:
    """The coarsest step every price string is a multiple of (the decimals they print)."""
    decimals = max(len(p.rstrip("0").partition(".")[2]) for p in prices)
    return Decimal(1).scaleb(-decimals)


def _fit_depth(sizes: list[float]) -> tuple[float, float]:
    """Least squares of cumulative depth on ``a·n + b·n(n−1)/2``; returns ``(a, b / a)``."""
    sxx = sxy = syy = sx_d = sy_d = 0.0
    cumulative = 0.0
    for i, size in enumerate(sizes):
        n = i + 1
        cumulative += size
        x, y = float(n), n * (n - 1) / 2
        sxx, sxy, syy = sxx + x * x, sxy + x * y, syy + y * y
        sx_d, sy_d = sx_d + x * cumulative, sy_d + y * cumulative
    det = sxx * syy - sxy * sxy
    a = (sx_d * syy - sy_d * sxy) / det
    b = (sxx * sy_d - sxy * sx_d) / det
    if a <= 0 or b < 0:  # a thin touch or a thinning book: a flat profile at the mean
        return cumulative / len(sizes), 0.0
    return a, b / a


def _realised_volatility(mids: list[tuple[float, float]]) -> float:
    """Per √second, from ``(time_s, mid)`` sampled every ``VOL_SAMPLE_S`` (last value)."""
    if len(mids) < 2:
        return 0.0
    samples: list[float] = []
    index = 0
    t = mids[0][0]
    while t <= mids[-1][0]:
        while index + 1 < len(mids) and mids[index + 1][0] <= t:
            index += 1
        samples.append(mids[index][1])
        t += VOL_SAMPLE_S
    if len(samples) < 2:
        return 0.0
    variance = sum(math.log(b / a) ** 2 for a, b in itertools.pairwise(samples))
    return math.sqrt(variance / ((len(samples) - 1) * VOL_SAMPLE_S))


@cache
def _calibrate(path: Path) -> Calibration:
    snapshot: dict[str, object] | None = None
    symbol = ""
    trades = taker_orders = 0
    traded = Decimal(0)
    last_key: tuple[int, bool] | None = None
    first_t = last_t = math.nan
    mids: list[tuple[float, float]] = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            stamp, _, payload = line.partition(" ")
            if "@depth" in payload[:80]:
                continue  # diffs do not enter the calibration: skip the costly parse
            message = json.loads(payload)
            if "lastUpdateId" in message:
                snapshot = message
                continue
            data = message.get("data")
            if snapshot is None or not isinstance(data, dict):
                continue
            stream = str(message.get("stream", ""))
            t = int(stamp) / 1e9
            if stream.endswith("@trade"):
                symbol = symbol or str(data["s"])
                trades += 1
                traded += Decimal(str(data["q"]))
                key = (int(data["T"]), not data["m"])
                if key != last_key:
                    taker_orders += 1
                    last_key = key
                first_t = t if math.isnan(first_t) else first_t
                last_t = t
            elif stream.endswith("@bookTicker"):
                mid = (float(data["b"]) + float(data["a"])) / 2
                mids.append((t, mid))
    if snapshot is None:
        raise ValueError(f"{path}: no depth snapshot (lastUpdateId) in the capture")
    bids = snapshot["bids"]
    asks = snapshot["asks"]
    assert isinstance(bids, list)
    assert isinstance(asks, list)
    if not bids or not asks or taker_orders == 0:
        raise ValueError(f"{path}: the capture needs both sides of a book and some trades")
    tick = _tick_of([str(p) for p, _ in bids[:50] + asks[:50]])
    bid_sizes = {round(Decimal(p) / tick): float(q) for p, q in bids}
    ask_sizes = {round(Decimal(p) / tick): float(q) for p, q in asks}
    best_bid, best_ask = max(bid_sizes), min(ask_sizes)
    sizes = [
        (bid_sizes.get(best_bid - i, 0.0) + ask_sizes.get(best_ask + i, 0.0)) / 2
        for i in range(DEPTH_TICKS)
    ]
    depth, growth = _fit_depth(sizes)
    duration = max(last_t - first_t, mids[-1][0] - mids[0][0] if mids else 0.0)
    if duration <= 0:
        raise ValueError(f"{path}: the capture spans no time")
    return Calibration(
        symbol=symbol,
        tick_size=tick,
        mid_price=(Decimal(str(bids[0][0])) + Decimal(str(asks[0][0]))) / 2,
        depth_per_level=Decimal(repr(depth)).quantize(Decimal("0.001")),
        depth_growth_per_level=growth,
        taker_rate_per_s=taker_orders / duration / 2,
        taker_mean_size=(traded / taker_orders).quantize(Decimal("0.001")),
        volatility_per_sqrt_s=_realised_volatility(mids),
        duration_s=duration,
        trades=trades,
        taker_orders=taker_orders,
    )


def calibrate_from_capture(path: Path) -> Calibration:
    """Measure a capture's market-model figures (cached per resolved path).

    Raises ``FileNotFoundError`` if the file is missing and ``ValueError`` if it holds no
    depth snapshot, no book or no trades.
    """
    return _calibrate(Path(path).resolve())
