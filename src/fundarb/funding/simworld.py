"""Three simulated venues whose funding rates diverge and converge: the default world.

``fundarb rates``, ``fundarb opportunities`` and ``fundarb serve`` run on it when no config
names real venues, and the demo trades on it. The venues name their markets the way real
ones do, so the canonical-symbol mapping is exercised:

=========  ==========================  =========  ==========================================
venue      symbols                     interval   like
=========  ==========================  =========  ==========================================
alpha      BTCUSDT ETHUSDT SOLUSDT     8 h (BTC   Binance USDⓈ-M (1000PEPE is a multiplier
           1000PEPEUSDT                4 h)       listing: 1000 PEPE per unit)
beta       BTC/USDT:USDT ETH/USDT:USDT 8 h        a ccxt-named venue
           SOL/USDT:USDT
gamma      BTC ETH SOL kPEPE           1 h        Hyperliquid (kPEPE: 1000 PEPE per unit)
=========  ==========================  =========  ==========================================

Each (venue, symbol) pays a deterministic rate series: a base level plus a slow wave with
a three-day period and its own phase, so spreads between venues open and close over a
few simulated days. Rates are per the venue's interval; positive means longs pay shorts.

Every listing of an asset follows one fair price path (the venues share ``price_seed``),
so all venues' BTC start at the same price. With ``WorldConfig.capture`` (a real Binance
USD-M BTCUSDT capture, see ``shared/data/SOURCES.md``), alpha's BTCUSDT is built from it:
Binance's filters (tick 0.1, lot 0.001, min notional 100), the snapshot's mid as every
venue's BTC starting price, and the depth, taker flow and volatility measured by
:func:`~fundarb.venues.sim.calibrate.calibrate_from_capture`. The volatility applies to
every venue (one price path needs one volatility); the depth growth and the taker rate are
alpha's model settings, so alpha's other listings share them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from fundarb.errors import ConfigError
from fundarb.venues.sim import (
    FundingConfig,
    MarketModelConfig,
    SimConfig,
    SimulatedExchange,
    SymbolConfig,
    binance_btcusdt,
)
from fundarb.venues.sim.calibrate import Calibration, calibrate_from_capture

__all__ = ["WorldConfig", "sim_world"]

_PERIOD_H = 72  # hours for a wave to come back: spreads open and close over three days
_Q = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class _Asset:
    base: str
    price: Decimal  # per base unit
    tick: Decimal  # per listed unit
    lot: Decimal  # base units (listed units for multiplier listings)
    depth: Decimal
    taker: Decimal
    multiplier: int = 1


_ASSETS = (
    _Asset(
        "BTC", Decimal("60000.0"), Decimal("0.1"), Decimal("0.001"), Decimal("0.4"), Decimal("0.05")
    ),
    _Asset(
        "ETH", Decimal("3000.00"), Decimal("0.01"), Decimal("0.01"), Decimal("6"), Decimal("0.8")
    ),
    _Asset(
        "SOL", Decimal("150.000"), Decimal("0.001"), Decimal("0.1"), Decimal("120"), Decimal("15")
    ),
    _Asset(
        "PEPE",
        Decimal("0.00001"),
        Decimal("0.000001"),
        Decimal("1"),
        Decimal("400000000"),
        Decimal("50000000"),
        multiplier=1000,
    ),
)

# (venue, name of each asset's listing or None, interval hours per asset, base rate per
# 8 h equivalent, phase of the wave in radians)
_VENUES: tuple[tuple[str, dict[str, str], dict[str, int], Decimal, float], ...] = (
    (
        "alpha",
        {"BTC": "BTCUSDT", "ETH": "ETHUSDT", "SOL": "SOLUSDT", "PEPE": "1000PEPEUSDT"},
        {"BTC": 4, "ETH": 8, "SOL": 8, "PEPE": 8},
        Decimal("0.0001"),
        0.0,
    ),
    (
        "beta",
        {"BTC": "BTC/USDT:USDT", "ETH": "ETH/USDT:USDT", "SOL": "SOL/USDT:USDT"},
        {"BTC": 8, "ETH": 8, "SOL": 8},
        Decimal("0.00005"),
        2.1,
    ),
    (
        "gamma",
        {"BTC": "BTC", "ETH": "ETH", "SOL": "SOL", "PEPE": "kPEPE"},
        {"BTC": 1, "ETH": 1, "SOL": 1, "PEPE": 1},
        Decimal("0.00012"),
        4.2,
    ),
)
_AMPLITUDE_8H = {"BTC": 0.00025, "ETH": 0.0003, "SOL": 0.0005, "PEPE": 0.0008}


@dataclass(frozen=True, slots=True, kw_only=True)
class WorldConfig:
    """How the simulated world runs.

    ``speed``: venue seconds per loop second. ``step_s``: the market model's price step in
    venue seconds (``None``: the model's default; a fast-forwarded demo uses 30–60 s, with
    each step's taker orders batched into one per side: see ``MarketModelConfig``).
    ``symbols``: the canonical bases to list (``None``: all; a venue left with none is not
    built). ``capture``: a Binance USD-M BTCUSDT capture to build alpha's BTCUSDT from;
    ignored when ``None`` or when the file is missing. Raises ``ConfigError`` on an unknown
    base, an empty ``symbols`` or a ``step_s`` that is not positive.
    """

    seed: int = 7
    speed: float = 1.0
    latency_s: float = 0.0
    start_time: datetime | None = None  # the venues' clock at start; default: this hour (UTC)
    step_s: float | None = None
    symbols: frozenset[str] | None = None
    capture: Path | None = None

    def __post_init__(self) -> None:
        if self.step_s is not None and not (math.isfinite(self.step_s) and self.step_s > 0):
            raise ConfigError(f"world.step_s must be greater than zero, got {self.step_s!r}")
        if self.symbols is not None:
            known = {asset.base for asset in _ASSETS}
            if not self.symbols or not self.symbols <= known:
                raise ConfigError(
                    f"world.symbols must be a non-empty subset of {sorted(known)}, "
                    f"got {sorted(self.symbols)}"
                )

    def calibration(self) -> Calibration | None:
        """The capture's figures, or ``None`` without a capture file (read once, cached)."""
        if self.capture is None or not Path(self.capture).is_file():
            return None
        return calibrate_from_capture(self.capture)


def _series(base_8h: Decimal, amplitude_8h: float, phase: float, hours: int) -> tuple[Decimal, ...]:
    """One period of rates per ``hours`` interval (settlement k pays element k mod n)."""
    count = _PERIOD_H // hours
    scale = Decimal(hours) / Decimal(8)
    rates = []
    for k in range(count):
        wave = Decimal(repr(amplitude_8h * math.sin(2 * math.pi * k / count + phase)))
        rates.append(((base_8h + wave) * scale).quantize(_Q))
    return tuple(rates)


def _symbol(asset: _Asset, name: str, hours: int, base: Decimal, phase: float) -> SymbolConfig:
    multiplier = Decimal(asset.multiplier)
    price = (asset.price * multiplier).quantize(asset.tick)
    return SymbolConfig(
        symbol=name,
        tick_size=asset.tick,
        lot_size=asset.lot,
        min_notional=Decimal("5"),
        initial_price=price,
        price_path=asset.base,
        depth_per_level=asset.depth / multiplier,
        taker_mean_size=asset.taker / multiplier,
        funding=FundingConfig(
            interval_s=hours * 3600,
            rate_series=_series(base, _AMPLITUDE_8H[asset.base], phase, hours),
        ),
    )


def _calibrated(symbol: SymbolConfig, calibration: Calibration) -> SymbolConfig:
    """Binance BTCUSDT's filters with the capture's depth and taker size."""
    return binance_btcusdt(
        symbol=symbol.symbol,
        initial_price=calibration.initial_price,
        depth_per_level=calibration.depth_per_level,
        taker_mean_size=calibration.taker_mean_size,
        price_path=symbol.price_path,
        funding=symbol.funding,
    )


def sim_world(config: WorldConfig | None = None) -> list[SimulatedExchange]:
    """The venues, alpha, beta and gamma (not started: enter each with ``async with``)."""
    config = config or WorldConfig()
    start = config.start_time or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    calibration = config.calibration()
    assets = {a.base: a for a in _ASSETS}
    model = MarketModelConfig(price_seed=config.seed)
    if config.step_s is not None:  # a coarse step: each step's taker orders arrive as one
        model = replace(model, step_s=config.step_s, batch_takers=True)
    if calibration is not None:
        assets["BTC"] = replace(assets["BTC"], price=calibration.initial_price)
        model = replace(model, volatility_per_sqrt_s=calibration.volatility_per_sqrt_s)
    venues = []
    for index, (name, listings, hours, base, phase) in enumerate(_VENUES):
        symbols = tuple(
            _symbol(assets[asset], listed, hours[asset], base, phase + 0.7 * i)
            for i, (asset, listed) in enumerate(listings.items())
            if config.symbols is None or asset in config.symbols
        )
        if not symbols:
            continue
        venue_model = model
        if calibration is not None and name == "alpha":
            symbols = tuple(
                _calibrated(s, calibration) if s.price_path == "BTC" else s for s in symbols
            )
            venue_model = replace(
                model,
                taker_rate_per_s=calibration.taker_rate_per_s,
                depth_growth_per_level=calibration.depth_growth_per_level,
            )
        venues.append(
            SimulatedExchange(
                SimConfig(
                    venue=name,
                    symbols=symbols,
                    market="synthetic",
                    model=venue_model,
                    seed=config.seed * 31 + index,
                    time_scale=config.speed,
                    start_time=start,
                    latency_s=config.latency_s,
                )
            )
        )
    return venues
