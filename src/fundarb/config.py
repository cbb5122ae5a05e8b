"""The config file: venues, the database, funding collection and the rates service.

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
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from fundarb.errors import ConfigError

__all__ = [
    "CcxtVenueConfig",
    "Config",
    "FundingSettings",
    "ServiceSettings",
    "SimVenueConfig",
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


def _default_venues() -> tuple[SimVenueConfig, ...]:
    return tuple(SimVenueConfig(kind="simulated", name=name) for name in _SIM_PRESETS)


class Config(_Strict):
    """The whole file. Unknown keys are errors (a typo must not silently use a default)."""

    database_url: SecretStr | None = None  # default: $FUNDARB_DATABASE_URL, else SQLite
    venues: tuple[VenueConfig, ...] = Field(default_factory=_default_venues, min_length=1)
    funding: FundingSettings = Field(default_factory=FundingSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)

    @field_validator("venues")
    @classmethod
    def _unique_names(cls, venues: tuple[VenueConfig, ...]) -> tuple[VenueConfig, ...]:
        names = [venue.name for venue in venues]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"venue names must be unique; repeated: {', '.join(duplicates)}")
        return venues

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
