"""The config file: defaults, every error names its field, secrets stay secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from fundarb.config import CcxtVenueConfig, Config, load_config
from fundarb.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_no_file_means_the_simulated_world() -> None:
    config = load_config(None)
    assert [v.name for v in config.venues] == ["alpha", "beta", "gamma"]
    assert config.service.host == "127.0.0.1"
    assert config.funding.horizon_hours == 72


def test_a_full_file_is_read(tmp_path: Path) -> None:
    config = load_config(
        _write(
            tmp_path,
            """
venues:
  - {kind: simulated, name: alpha}
  - {kind: simulated, name: second, preset: gamma}
  - kind: ccxt
    name: binance
    exchange: binanceusdm
    api_key_env: TEST_KEY
    api_secret_env: TEST_SECRET
funding: {collect_every_s: 30, symbols: [BTC, ETH]}
service: {port: 8200}
""",
        )
    )
    assert [v.name for v in config.venues] == ["alpha", "second", "binance"]
    assert config.funding.symbols == ("BTC", "ETH")
    assert config.service.port == 8200


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("venues: []", "venues"),
        ("venues: [{kind: simulated, name: delta}]", "venues.0.simulated"),
        ("venues: [{kind: ccxt, name: x, exchange: notanexchange}]", "venues.0.ccxt.exchange"),
        ("venues: [{kind: bogus, name: x}]", "venues.0"),
        ("funding: {horizon_hours: -1}", "funding.horizon_hours"),
        ("service: {port: 70000}", "service.port"),
        ("fundng: {}", "fundng"),  # a typo is an error, not a silent default
        ("venues: [{kind: simulated, name: alpha}, {kind: simulated, name: alpha}]", "venues"),
    ],
)
def test_every_error_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text))
    assert field in str(caught.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "venues: [unclosed"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(_write(tmp_path, "- a\n- b\n"))


def _ccxt(**extra: object) -> CcxtVenueConfig:
    return CcxtVenueConfig.model_validate(
        {"kind": "ccxt", "name": "binance", "exchange": "binanceusdm", **extra}
    )


def test_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    venue = _ccxt(api_key_env="TEST_KEY", api_secret_env="TEST_SECRET")
    with pytest.raises(ConfigError, match="TEST_KEY, TEST_SECRET not set"):
        venue.credentials()
    monkeypatch.setenv("TEST_KEY", "the-key")
    monkeypatch.setenv("TEST_SECRET", "the-secret")
    credentials = venue.credentials()
    assert credentials is not None
    key, secret = credentials
    assert (key.get_secret_value(), secret.get_secret_value()) == ("the-key", "the-secret")
    assert "the-secret" not in repr(credentials)
    assert "the-secret" not in str(secret)
    assert _ccxt().credentials() is None  # market data only


def test_a_secrets_file_must_be_private(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("binance: {api_key: k, api_secret: s3cr3t}\n")
    secrets.chmod(0o644)
    venue = _ccxt(secrets_file=str(secrets))
    with pytest.raises(ConfigError, match="chmod 600") as caught:
        venue.credentials()
    assert "s3cr3t" not in str(caught.value)
    secrets.chmod(0o600)
    credentials = venue.credentials()
    assert credentials is not None
    assert credentials[1].get_secret_value() == "s3cr3t"
    other = CcxtVenueConfig.model_validate(
        {"kind": "ccxt", "name": "okx", "exchange": "okx", "secrets_file": str(secrets)}
    )
    with pytest.raises(ConfigError, match="no okx"):
        other.credentials()


def test_the_database_url_never_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FUNDARB_DATABASE_URL", raising=False)
    config = Config.model_validate({"database_url": "postgresql://u:hunter2@db/x"})
    assert "hunter2" not in repr(config)
    assert config.database() == "postgresql://u:hunter2@db/x"
    monkeypatch.setenv("FUNDARB_DATABASE_URL", "sqlite:///other.db")
    assert config.database() == "sqlite:///other.db"  # the environment wins
