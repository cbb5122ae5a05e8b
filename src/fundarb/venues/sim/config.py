"""Settings of a simulated venue: frozen, keyword-only, validated, units in the names."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from fundarb.errors import ConfigError

__all__ = [
    "FundingConfig",
    "MarketModelConfig",
    "ReplayConfig",
    "SimConfig",
    "SymbolConfig",
    "binance_btcusdt",
]


def _positive(owner: str, **values: Decimal | float | int) -> None:
    for name, value in values.items():
        if isinstance(value, Decimal):
            ok = value.is_finite() and value > 0
        else:
            ok = math.isfinite(value) and value > 0
        if not ok:
            raise ConfigError(f"{owner}.{name} must be greater than zero, got {value!r}")


def _non_negative(owner: str, **values: Decimal | float | int) -> None:
    for name, value in values.items():
        if isinstance(value, Decimal):
            ok = value.is_finite() and value >= 0
        else:
            ok = math.isfinite(value) and value >= 0
        if not ok:
            raise ConfigError(f"{owner}.{name} must be zero or more, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingConfig:
    """Funding of one symbol. A positive rate means longs pay shorts.

    ``rate_series``, when given, is used in turn (settlement k pays ``rate_series[k % n]``);
    otherwise every settlement pays ``rate``. Settlements fall on multiples of
    ``interval_s`` of venue time (00:00, 08:00, 16:00 UTC for 8 h).
    """

    rate: Decimal = Decimal("0.0001")
    interval_s: int = 8 * 3600
    rate_series: tuple[Decimal, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.interval_s, int) or self.interval_s <= 0:
            raise ConfigError(f"funding.interval_s must be a positive int, got {self.interval_s!r}")
        for rate in (self.rate, *self.rate_series):
            if not (isinstance(rate, Decimal) and rate.is_finite() and abs(rate) < 1):
                raise ConfigError(
                    f"funding rates must be Decimal fractions in (-1, 1), got {rate!r}"
                )

    def rate_at(self, settlement: int) -> Decimal:
        """The rate of the ``settlement``-th funding time (counting from the epoch)."""
        if self.rate_series:
            return self.rate_series[settlement % len(self.rate_series)]
        return self.rate


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolConfig:
    """One perpetual market: its filters, its starting price, its depth and its funding."""

    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    initial_price: Decimal
    min_quantity: Decimal | None = None  # default: one lot
    max_quantity: Decimal | None = None
    min_notional: Decimal = Decimal(0)
    depth_per_level: Decimal  # size near the touch, base units; grows away from it
    taker_mean_size: Decimal  # mean size of one market taker order, base units
    maintenance_margin_rate: Decimal = Decimal("0.004")
    max_leverage: int = 50
    funding: FundingConfig = field(default_factory=FundingConfig)
    # listings of one asset on several venues share a fair price path when their venues
    # share ``model.price_seed`` and they share this name (default: the symbol itself)
    price_path: str | None = None

    def __post_init__(self) -> None:
        owner = f"symbols[{self.symbol}]"
        if not self.symbol or not self.symbol.strip():
            raise ConfigError("symbols[].symbol must not be empty")
        _positive(
            owner,
            tick_size=self.tick_size,
            lot_size=self.lot_size,
            initial_price=self.initial_price,
            depth_per_level=self.depth_per_level,
            taker_mean_size=self.taker_mean_size,
            maintenance_margin_rate=self.maintenance_margin_rate,
            max_leverage=self.max_leverage,
        )
        _non_negative(owner, min_notional=self.min_notional)
        if self.initial_price % self.tick_size:
            raise ConfigError(f"{owner}.initial_price must be a multiple of tick_size")
        if self.min_quantity is not None and (
            self.min_quantity <= 0 or self.min_quantity % self.lot_size
        ):
            raise ConfigError(f"{owner}.min_quantity must be a positive multiple of lot_size")
        if self.maintenance_margin_rate >= 1:
            raise ConfigError(f"{owner}.maintenance_margin_rate must be below 1")

    @property
    def effective_min_quantity(self) -> Decimal:
        return self.min_quantity if self.min_quantity is not None else self.lot_size


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketModelConfig:
    """The synthetic market: a seeded random walk with jumps, and random taker flow.

    ``volatility_per_sqrt_s`` is the standard deviation of the log mid per √second
    (0.0001 ≈ 56 % a year). Taker orders arrive as a Poisson process at
    ``taker_rate_per_s`` per side, with exponentially distributed sizes. Venues given the
    same ``price_seed`` follow the same fair price path (a market quoted on several venues);
    their depth and flow still come from each venue's own seed.
    """

    step_s: float = 0.25
    volatility_per_sqrt_s: float = 0.0001
    jump_rate_per_s: float = 1 / 900
    jump_sigma: float = 0.002
    spread_ticks: int = 1
    depth_levels: int = 40
    depth_growth_per_level: float = 0.08
    replenish_fraction_per_step: float = 0.15
    taker_rate_per_s: float = 2.0
    price_seed: int | None = None
    # True: each step's taker orders arrive as one order per side at the step (their summed
    # size, at most half the side's visible depth), so a coarse step costs one event per
    # step instead of one per order (the demo's three days); False: one event per order
    batch_takers: bool = False

    def __post_init__(self) -> None:
        _positive(
            "model",
            step_s=self.step_s,
            spread_ticks=self.spread_ticks,
            depth_levels=self.depth_levels,
        )
        _non_negative(
            "model",
            volatility_per_sqrt_s=self.volatility_per_sqrt_s,
            jump_rate_per_s=self.jump_rate_per_s,
            jump_sigma=self.jump_sigma,
            depth_growth_per_level=self.depth_growth_per_level,
            replenish_fraction_per_step=self.replenish_fraction_per_step,
            taker_rate_per_s=self.taker_rate_per_s,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayConfig:
    """Replay a recorded Binance USD-M capture (see ``shared/data/SOURCES.md``) in time."""

    path: Path
    symbol: str = "BTCUSDT"

    def __post_init__(self) -> None:
        if not Path(self.path).is_file():
            raise ConfigError(f"replay.path {str(self.path)!r} is not a file")


def binance_btcusdt(**overrides: object) -> SymbolConfig:
    """Binance USD-M BTCUSDT's filters (tick 0.1, lot 0.001, min notional 100 USDT)."""
    values: dict[str, object] = {
        "symbol": "BTCUSDT",
        "tick_size": Decimal("0.1"),
        "lot_size": Decimal("0.001"),
        "min_quantity": Decimal("0.001"),
        "max_quantity": Decimal("1000"),
        "min_notional": Decimal("100"),
        "initial_price": Decimal("61800.0"),
        "depth_per_level": Decimal("0.5"),
        "taker_mean_size": Decimal("0.05"),
    }
    values.update(overrides)
    return SymbolConfig(**values)  # type: ignore[arg-type]


def _default_symbols() -> tuple[SymbolConfig, ...]:
    return (
        SymbolConfig(
            symbol="BTC-PERP",
            tick_size=Decimal("0.1"),
            lot_size=Decimal("0.001"),
            min_notional=Decimal("5"),
            initial_price=Decimal("60000.0"),
            depth_per_level=Decimal("0.4"),
            taker_mean_size=Decimal("0.05"),
        ),
        SymbolConfig(
            symbol="ETH-PERP",
            tick_size=Decimal("0.01"),
            lot_size=Decimal("0.01"),
            min_notional=Decimal("5"),
            initial_price=Decimal("3000.00"),
            depth_per_level=Decimal("6"),
            taker_mean_size=Decimal("0.8"),
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    """A simulated venue.

    ``market`` is ``"synthetic"`` (the market model moves prices and sends taker flow),
    ``"static"`` (a book that only changes when orders trade against it; tests set it),
    or a :class:`ReplayConfig`. Latency is one way, applied to the request and to the
    response; ``latency_jitter_s`` adds a uniform random part. Latency and ``timeout_s`` are
    seconds of the event loop's clock; ``time_scale`` speeds up the venue's own clock
    (market, funding, fault windows) relative to it.
    """

    venue: str = "sim"
    symbols: tuple[SymbolConfig, ...] = field(default_factory=_default_symbols)
    market: Literal["synthetic", "static"] | ReplayConfig = "synthetic"
    model: MarketModelConfig = field(default_factory=MarketModelConfig)
    maker_fee_rate: Decimal = Decimal("0.0002")
    taker_fee_rate: Decimal = Decimal("0.0005")
    liquidation_fee_rate: Decimal = Decimal("0.005")
    initial_balance: Decimal = Decimal("100000")
    quote_asset: str = "USDT"
    default_leverage: int = 10
    latency_s: float = 0.0
    latency_jitter_s: float = 0.0
    timeout_s: float = 10.0  # how long a call that times out takes to raise
    seed: int = 0
    start_time: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    time_scale: float = 1.0  # venue seconds per loop second (the demo runs faster than life)

    def __post_init__(self) -> None:
        if not self.venue or not self.venue.strip():
            raise ConfigError("venue must not be empty")
        if not self.symbols:
            raise ConfigError("symbols must list at least one symbol")
        names = [s.symbol for s in self.symbols]
        if len(set(names)) != len(names):
            raise ConfigError(f"symbols must be unique, got {names}")
        if self.market not in ("synthetic", "static") and not isinstance(self.market, ReplayConfig):
            raise ConfigError(
                f"market must be 'synthetic', 'static' or a ReplayConfig, got {self.market!r}"
            )
        if isinstance(self.market, ReplayConfig) and self.market.symbol not in names:
            raise ConfigError(f"market.symbol {self.market.symbol!r} is not in symbols {names}")
        _non_negative(
            "sim",
            latency_s=self.latency_s,
            latency_jitter_s=self.latency_jitter_s,
            initial_balance=self.initial_balance,
            liquidation_fee_rate=self.liquidation_fee_rate,
        )
        _positive(
            "sim",
            timeout_s=self.timeout_s,
            default_leverage=self.default_leverage,
            time_scale=self.time_scale,
        )
        for name in ("maker_fee_rate", "taker_fee_rate"):
            value = getattr(self, name)
            if not (isinstance(value, Decimal) and value.is_finite() and abs(value) < 1):
                raise ConfigError(f"sim.{name} must be a Decimal fraction, got {value!r}")
        if self.start_time.tzinfo is None:
            raise ConfigError("sim.start_time must be timezone-aware (UTC)")
