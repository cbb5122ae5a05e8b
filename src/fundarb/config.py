"""The config file: venues, the database, funding collection, the rates service, the strategy.

``fundarb ... -c config.yaml`` reads it; ``fundarb config check`` validates one without
trading. Every error names the field and what is allowed. With no file, fundarb runs on
the three simulated venues of :mod:`fundarb.funding.simworld` and the default SQLite file.

Credentials never live in the file itself: a ccxt venue names the environment variables
that hold its key and secret, or a secrets file (YAML, ``{venue: {api_key, api_secret}}``)
that must not be readable by other users. Secrets are :class:`pydantic.SecretStr`: they
print as ``**********`` in reprs, errors and logs.
"""

from __future__ import annotations

import os
import stat
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fundarb.errors import ConfigError

# Not a cycle: the execution package never imports this module (checked: nothing under
# fundarb.execution, fundarb.storage or fundarb.venues imports fundarb.config).
from fundarb.execution import ExecutionMode, ImbalancePolicy

__all__ = [
    "CcxtVenueConfig",
    "Config",
    "EntryRules",
    "ExitRules",
    "FundingSettings",
    "RiskLimits",
    "ServiceSettings",
    "SimVenueConfig",
    "StrategyExecution",
    "StrategySettings",
    "VenueConfig",
    "is_loopback",
    "load_config",
]

_SIM_PRESETS = ("alpha", "beta", "gamma")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    return host in _LOOPBACK


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimVenueConfig(_Strict):
    """A simulated venue of the built-in world (``alpha``: 8 h/4 h Binance-like names,
    ``beta``: ccxt names, ``gamma``: hourly Hyperliquid-like names)."""

    kind: Literal["simulated"]
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    preset: Literal["alpha", "beta", "gamma"] | None = None  # default: the venue's name

    @model_validator(mode="after")
    def _preset_known(self) -> SimVenueConfig:
        if self.preset is None and self.name not in _SIM_PRESETS:
            raise ValueError(
                f"simulated venue {self.name!r} needs preset: one of {', '.join(_SIM_PRESETS)}"
            )
        return self

    @property
    def world_venue(self) -> str:
        return self.preset or self.name


class CcxtVenueConfig(_Strict):
    """A real exchange through ccxt (``exchange``: a ccxt id such as ``binanceusdm``)."""

    kind: Literal["ccxt"]
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    exchange: str = Field(pattern=r"^[a-z][a-z0-9]{1,31}$")
    api_key_env: str | None = None
    api_secret_env: str | None = None
    secrets_file: Path | None = None
    sandbox: bool = False
    options: dict[str, Any] = Field(default_factory=dict)  # passed to ccxt as ``options``
    urls: dict[str, Any] = Field(default_factory=dict)  # e.g. a local ``fundarb simex``

    @field_validator("exchange")
    @classmethod
    def _known_exchange(cls, value: str) -> str:
        import ccxt  # imported here: ccxt is large and most commands never need it

        if value not in ccxt.exchanges:
            raise ValueError(f"{value!r} is not a ccxt exchange id (see ccxt.exchanges)")
        return value

    def credentials(self) -> tuple[SecretStr, SecretStr] | None:
        """The key and secret, from the environment or the secrets file; None if neither is
        configured (market data only). Raises :class:`ConfigError` for a missing variable,
        a missing entry, or a secrets file other users can read."""
        if self.api_key_env or self.api_secret_env:
            if not (self.api_key_env and self.api_secret_env):
                raise ConfigError(
                    f"venues.{self.name}: set both api_key_env and api_secret_env, or neither"
                )
            key, secret = os.environ.get(self.api_key_env), os.environ.get(self.api_secret_env)
            missing = [
                name
                for name, value in ((self.api_key_env, key), (self.api_secret_env, secret))
                if not value
            ]
            if missing or key is None or secret is None:
                raise ConfigError(
                    f"venues.{self.name}: environment variable(s) {', '.join(missing)} not set"
                )
            return SecretStr(key), SecretStr(secret)
        if self.secrets_file is not None:
            entry = _read_secrets(self.secrets_file).get(self.name)
            if not isinstance(entry, dict) or not {"api_key", "api_secret"} <= entry.keys():
                raise ConfigError(
                    f"venues.{self.name}: {self.secrets_file} has no "
                    f"{self.name}: {{api_key, api_secret}} entry"
                )
            return SecretStr(str(entry["api_key"])), SecretStr(str(entry["api_secret"]))
        return None


VenueConfig = Annotated[SimVenueConfig | CcxtVenueConfig, Field(discriminator="kind")]


class FundingSettings(_Strict):
    """Collection and ranking of funding rates."""

    collect_every_s: float = Field(default=60.0, gt=0, le=86_400)
    horizon_hours: float = Field(default=72.0, gt=0, le=24 * 365)
    notional_usd: float = Field(default=10_000.0, gt=0)
    symbols: tuple[str, ...] = ()  # canonical names (BTC, ETH); empty: every listed symbol


class ServiceSettings(_Strict):
    """The HTTP API of ``fundarb serve``. Bound elsewhere than loopback, it needs a token
    (read from the environment variable ``token_env``)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8100, ge=1, le=65_535)
    token_env: str = "FUNDARB_API_TOKEN"

    def token(self) -> SecretStr | None:
        value = os.environ.get(self.token_env)
        return SecretStr(value) if value else None

    @property
    def is_loopback(self) -> bool:
        return is_loopback(self.host)


# -- the strategy ---------------------------------------------------------------------------
# Money and fractions are Decimal (YAML numbers and strings both parse; NaN and infinity are
# refused); durations are float seconds of the event loop's clock, which the simulated world
# fast-forwards. Fractions are plain: 0.10 is 10 %.


class _Finite(_Strict):
    # a float field would otherwise take YAML's .nan and .inf (Decimal refuses them anyway)
    model_config = ConfigDict(allow_inf_nan=False)


class EntryRules(_Finite):
    """When a scanned opportunity is worth opening."""

    min_net_apr: Decimal = Field(default=Decimal("0.10"), ge=0, le=100)  # fraction a year, net
    max_break_even_hours: Decimal = Field(default=Decimal(24), gt=0)  # hours until fees repaid
    horizon_hours: Decimal = Field(default=Decimal(24), gt=0, le=24 * 365)  # hours, for net APR


class ExitRules(_Finite):
    """When an open pair is closed. A non-critical exit may wait for a funding payment that
    is due soon while the spread still pays."""

    # close when the expected spread APR (fraction a year) falls below this; may be negative
    min_net_spread_apr: Decimal = Field(default=Decimal("0.02"), ge=-10, le=100)
    close_on_flip: bool = True  # close when the spread changes sign (the pair starts paying)
    max_holding_hours: Decimal = Field(default=Decimal(72), gt=0)  # hours since opening
    profit_target_usd: Decimal | None = Field(default=None, gt=0)  # USD of PnL; None: no target
    wait_for_funding_s: float = Field(default=900.0, ge=0)  # wait for a payment due within this


class RiskLimits(_Finite):
    """Limits that close a pair at once when crossed (critical exits) or block an entry."""

    max_margin_usage: Decimal = Field(default=Decimal("0.5"), gt=0, le=1)  # of equity, per venue
    min_liquidation_distance: Decimal = Field(default=Decimal("0.05"), gt=0, lt=1)  # of price
    max_leg_divergence: Decimal = Field(default=Decimal("0.01"), gt=0, lt=1)  # legs' marks apart
    max_delta_drift: Decimal = Field(default=Decimal("0.02"), gt=0, lt=1)  # of target quantity


class StrategyExecution(_Finite):
    """How pairs are opened and closed through the atomic executor.

    ``algorithm``: ``atomic`` opens every pair in one atomic execution; ``auto`` chooses by
    the pair's size against the depth both books show
    (:func:`fundarb.execution.algos.choose_algorithm`): one atomic execution, or a pair
    TWAP of ``twap_duration_s`` whose slices each go through the atomic executor.
    """

    algorithm: Literal["atomic", "auto"] = "atomic"  # how a pair is opened
    twap_duration_s: float = Field(default=600.0, gt=0)  # a pair TWAP entry, from first slice
    mode: ExecutionMode = ExecutionMode.LIMIT_WITH_FALLBACK  # opening both legs (TWAP slices)
    close_mode: ExecutionMode = ExecutionMode.MARKET_ONLY  # closing (reduce-only) legs
    timeout_s: float = Field(default=30.0, gt=0, le=3600)  # for the whole pair
    max_imbalance_s: float = Field(default=5.0, gt=0)  # one leg filled, the other not, at most
    on_imbalance: ImbalancePolicy = ImbalancePolicy.HEDGE_THEN_ROLLBACK


Leverage = Annotated[int, Field(ge=1, le=125)]


class StrategySettings(_Finite):
    """The funding-arbitrage strategy of ``fundarb run``."""

    # canonical names (BTC, ETH; upper-cased here); empty: every symbol listed on two venues
    symbols: tuple[str, ...] = ()
    size_usd: Decimal = Field(default=Decimal(5000), gt=0)  # USD notional per leg
    max_positions: int = Field(default=3, ge=1, le=1000)  # open pairs at once
    max_total_notional_usd: Decimal = Field(default=Decimal(30_000), gt=0)  # sum per-leg USD
    leverage: dict[str, Leverage] = Field(default_factory=dict)  # venue name -> leverage
    default_leverage: Leverage = 3  # for venues not named in ``leverage``
    scan_every_s: float = Field(default=300.0, gt=0)  # between opportunity scans
    monitor_every_s: float = Field(default=60.0, gt=0)  # between checks of each open pair
    cooldown_s: float = Field(default=3600.0, ge=0)  # before a closed symbol may be reopened
    kill_switch_file: Path | None = None  # while this file exists, no new entries
    entry: EntryRules = Field(default_factory=EntryRules)
    exit: ExitRules = Field(default_factory=ExitRules)
    risk: RiskLimits = Field(default_factory=RiskLimits)
    execution: StrategyExecution = Field(default_factory=StrategyExecution)

    @field_validator("symbols")
    @classmethod
    def _canonical_symbols(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(symbol.strip().upper() for symbol in symbols)
        if any(not name or any(c.isspace() for c in name) for name in names):
            raise ValueError("symbols must be non-empty names without spaces, such as BTC")
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"symbols must be unique; repeated: {', '.join(duplicates)}")
        return names

    @field_validator("kill_switch_file")
    @classmethod
    def _expand_home(cls, path: Path | None) -> Path | None:
        return path.expanduser() if path is not None else None

    @model_validator(mode="after")
    def _size_within_total(self) -> StrategySettings:
        if self.size_usd > self.max_total_notional_usd:
            raise ValueError(
                f"size_usd ({self.size_usd}) must not exceed "
                f"max_total_notional_usd ({self.max_total_notional_usd})"
            )
        return self

    def leverage_for(self, venue: str) -> int:
        """The leverage to set on ``venue``: its entry in ``leverage``, else the default."""
        return self.leverage.get(venue, self.default_leverage)


def _default_venues() -> tuple[SimVenueConfig, ...]:
    return tuple(SimVenueConfig(kind="simulated", name=name) for name in _SIM_PRESETS)


class Config(_Strict):
    """The whole file. Unknown keys are errors (a typo must not silently use a default)."""

    database_url: SecretStr | None = None  # default: $FUNDARB_DATABASE_URL, else SQLite
    venues: tuple[VenueConfig, ...] = Field(default_factory=_default_venues, min_length=1)
    funding: FundingSettings = Field(default_factory=FundingSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    strategy: StrategySettings = Field(default_factory=StrategySettings)

    @field_validator("venues")
    @classmethod
    def _unique_names(cls, venues: tuple[VenueConfig, ...]) -> tuple[VenueConfig, ...]:
        names = [venue.name for venue in venues]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"venue names must be unique; repeated: {', '.join(duplicates)}")
        return venues

    @field_validator("strategy")
    @classmethod
    def _leverage_for_known_venues(
        cls, strategy: StrategySettings, info: ValidationInfo
    ) -> StrategySettings:
        # a field validator (not a model one) so the error is reported under ``strategy``;
        # skipped when ``venues`` itself is invalid (that error is reported already)
        venues = info.data.get("venues")
        if venues is None:
            return strategy
        names = [venue.name for venue in venues]
        unknown = sorted(set(strategy.leverage) - set(names))
        if unknown:
            raise ValueError(
                f"leverage names venue(s) not configured: {', '.join(unknown)} "
                f"(configured venues: {', '.join(names)})"
            )
        return strategy

    def database(self) -> str | None:
        """The database URL: the environment variable wins over the file."""
        from_env = os.environ.get("FUNDARB_DATABASE_URL")
        if from_env:
            return from_env
        return self.database_url.get_secret_value() if self.database_url else None


def load_config(path: Path | str | None) -> Config:
    """Read and validate a config file (``None``: the defaults). Raises
    :class:`ConfigError` naming each invalid field and what it allows."""
    if path is None:
        return Config()
    path = Path(path).expanduser()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:  # the position only: the line may hold a password
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path} is not valid YAML{where}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}:\n{_describe(exc)}") from None


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def _read_secrets(path: Path) -> dict[str, Any]:
    path = path.expanduser()
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"cannot read secrets file {path}: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"secrets file {path} is readable by other users (mode {stat.filemode(mode)}); "
            f"run: chmod 600 {path}"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        raise ConfigError(f"secrets file {path} cannot be read as YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"secrets file {path}: expected a mapping of venue name to keys")
    return data
