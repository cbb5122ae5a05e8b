"""The config file: defaults, every error names its field, secrets stay secret."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from fundarb.cli import main
from fundarb.config import CcxtVenueConfig, Config, StrategySettings, load_config
from fundarb.errors import ConfigError
from fundarb.execution import ExecutionMode, ImbalancePolicy

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "config.yaml"


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


# -- the strategy section ----------------------------------------------------------------------


def test_the_example_config_loads() -> None:
    config = load_config(EXAMPLE)

    assert [v.name for v in config.venues] == ["alpha", "beta", "gamma"]
    assert config.database_url is None  # commented out: the SQLite default
    assert config.strategy.symbols == ("BTC", "ETH", "SOL")
    assert config.strategy.leverage_for("gamma") == 5
    assert config.strategy.leverage_for("alpha") == config.strategy.default_leverage


def test_the_example_sets_every_strategy_field() -> None:
    # the example documents each field: a new field must be added there too
    raw = yaml.safe_load(EXAMPLE.read_text())["strategy"]
    settings = StrategySettings()

    assert set(raw) == set(StrategySettings.model_fields)
    for section in ("entry", "exit", "risk", "execution"):
        assert set(raw[section]) == set(type(getattr(settings, section)).model_fields), section


def test_strategy_defaults() -> None:
    strategy = Config().strategy

    assert strategy.symbols == ()
    assert (strategy.size_usd, strategy.max_total_notional_usd) == (Decimal(5000), Decimal(30000))
    assert (strategy.max_positions, strategy.default_leverage, strategy.leverage) == (3, 3, {})
    assert (strategy.scan_every_s, strategy.monitor_every_s, strategy.cooldown_s) == (
        300,
        60,
        3600,
    )
    assert strategy.kill_switch_file is None
    assert strategy.entry.min_net_apr == Decimal("0.10")
    assert strategy.entry.max_break_even_hours == strategy.entry.horizon_hours == 24
    assert strategy.exit.min_net_spread_apr == Decimal("0.02")
    assert strategy.exit.close_on_flip
    assert strategy.exit.max_holding_hours == 72
    assert strategy.exit.profit_target_usd is None
    assert strategy.exit.wait_for_funding_s == 900
    assert strategy.risk.max_margin_usage == Decimal("0.5")
    assert strategy.risk.min_liquidation_distance == Decimal("0.05")
    assert strategy.risk.max_leg_divergence == Decimal("0.01")
    assert strategy.risk.max_delta_drift == Decimal("0.02")
    assert strategy.execution.mode is ExecutionMode.LIMIT_WITH_FALLBACK
    assert strategy.execution.close_mode is ExecutionMode.MARKET_ONLY
    assert (strategy.execution.timeout_s, strategy.execution.max_imbalance_s) == (30, 5)
    assert strategy.execution.on_imbalance is ImbalancePolicy.HEDGE_THEN_ROLLBACK


def test_strategy_values_are_parsed_exactly(tmp_path: Path) -> None:
    strategy = load_config(
        _write(
            tmp_path,
            """
strategy:
  symbols: [btc, " eth "]
  size_usd: "1000.10"
  entry: {min_net_apr: 0.1}
  exit: {profit_target_usd: 25}
  execution: {mode: post_only, on_imbalance: rollback}
  kill_switch_file: ~/fundarb.stop
""",
        )
    ).strategy

    assert strategy.symbols == ("BTC", "ETH")
    assert strategy.size_usd == Decimal("1000.10")
    assert strategy.entry.min_net_apr == Decimal("0.1")  # not 0.1000000000000000055…
    assert strategy.exit.profit_target_usd == 25
    assert strategy.execution.mode is ExecutionMode.POST_ONLY
    assert strategy.execution.on_imbalance is ImbalancePolicy.ROLLBACK
    assert strategy.kill_switch_file == Path("~/fundarb.stop").expanduser()


def test_settings_are_frozen() -> None:
    strategy = StrategySettings()
    with pytest.raises(ValidationError, match="frozen"):
        strategy.size_usd = Decimal(1)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("strategy: {exit: {max_hold_hours: 5}}", ["strategy.exit.max_hold_hours", "Extra"]),
        ("strategy: {size_usd: -100}", ["strategy.size_usd", "greater than 0"]),
        ("strategy: {risk: {max_margin_usage: 1.5}}", ["strategy.risk.max_margin_usage", "1"]),
        ("strategy: {entry: {min_net_apr: -0.1}}", ["strategy.entry.min_net_apr", "0"]),
        (
            "strategy: {execution: {mode: fast}}",
            ["strategy.execution.mode", "'limit_only'", "'market_only'", "'adaptive'"],
        ),
        (
            "strategy: {execution: {on_imbalance: pray}}",
            ["strategy.execution.on_imbalance", "'hedge_then_rollback'", "'rollback'"],
        ),
        (
            "strategy: {leverage: {delta: 5}}",
            ["strategy: ", "leverage", "delta", "alpha, beta, gamma"],
        ),
        ("strategy: {leverage: {alpha: 0}}", ["strategy.leverage.alpha", "1"]),
        ("strategy: {default_leverage: 200}", ["strategy.default_leverage", "125"]),
        (
            "strategy: {size_usd: 50000}",
            ["strategy: ", "size_usd (50000)", "max_total_notional_usd (30000)"],
        ),
        ("strategy: {size_usd: .nan}", ["strategy.size_usd", "finite"]),
        ("strategy: {exit: {wait_for_funding_s: .inf}}", ["exit.wait_for_funding_s", "finite"]),
        ("strategy: {execution: {timeout_s: 7200}}", ["strategy.execution.timeout_s", "3600"]),
        ("strategy: {symbols: [BTC, btc]}", ["strategy.symbols", "BTC"]),
        ("strategy: {max_positions: 0}", ["strategy.max_positions", "1"]),
    ],
)
def test_every_strategy_error_names_the_field(tmp_path: Path, text: str, names: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text))

    message = str(caught.value).split(":\n", 1)[1]  # past the path, which holds the test name
    for name in names:
        assert name in message


def test_leverage_is_checked_against_the_configured_venues(tmp_path: Path) -> None:
    text = "venues: [{kind: simulated, name: beta}]\nstrategy: {leverage: {alpha: 2}}\n"
    with pytest.raises(ConfigError, match=r"alpha \(configured venues: beta\)"):
        load_config(_write(tmp_path, text))
    # an invalid venue list is reported once, not again as unknown leverage venues
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, "venues: []\nstrategy: {leverage: {alpha: 2}}\n"))
    assert str(caught.value).split(":\n", 1)[1].splitlines() == [
        "  venues: Tuple should have at least 1 item after validation, not 0"
    ]


def test_config_check_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["config", "check", "-c", str(EXAMPLE)])

    out = capsys.readouterr().out
    assert status == 0
    assert "valid" in out
    assert "strategy: BTC, ETH, SOL" in out
    assert "limit_with_fallback" in out
