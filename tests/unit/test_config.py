"""Tests of trading_bot.config: sources, priority, secrets, redaction and one-line errors."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic import ValidationError

from trading_bot.config import BotConfig
from trading_bot.config import PersistenceSection
from trading_bot.config import example_config_json
from trading_bot.config import load_config
from trading_bot.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.json"
SECRET = "s3cr3t-Value-XYZ"


def _write(tmp_path: Path, data: Any, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _load(path: Path | None = None, **kwargs: Any) -> BotConfig:
    kwargs.setdefault("env", {})
    kwargs.setdefault("dotenv", None)
    return load_config(path, **kwargs)


def _error(path: Path | None = None, **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as info:
        _load(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def _field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        paths.append(prefix + name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths.extend(_field_paths(annotation, f"{prefix}{name}."))
    return paths


# ------------------------------------------------------------------------------------ example and defaults


def test_load_config_without_any_source_returns_the_defaults() -> None:
    assert _load() == BotConfig()


def test_example_file_validates_and_equals_the_defaults() -> None:
    assert _load(EXAMPLE) == BotConfig()


def test_example_file_lists_every_model_field() -> None:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    missing = []
    for dotted in _field_paths(BotConfig):
        node: Any = data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(dotted)
                break
            node = node[part]
    assert missing == [], f"config.example.json lacks {missing}; regenerate it with example_config_json()"


def test_example_file_matches_the_generator_so_it_stays_in_sync() -> None:
    assert json.loads(EXAMPLE.read_text(encoding="utf-8")) == json.loads(example_config_json())


def test_example_file_holds_no_secret() -> None:
    exchange = json.loads(EXAMPLE.read_text(encoding="utf-8"))["exchange"]
    assert (exchange["api_key"], exchange["secret"], exchange["password"]) == (None, None, None)


def test_config_is_frozen() -> None:
    config = BotConfig()
    with pytest.raises(ValidationError):
        config.bot.bot_id = "other"


# ------------------------------------------------------------------------------------------- priorities


def test_env_var_overrides_the_file_and_is_parsed_as_json(tmp_path: Path) -> None:
    path = _write(tmp_path, {"risk": {"max_open_orders": 3}})
    config = _load(path, env={"TRADING_BOT__RISK__MAX_OPEN_ORDERS": "5"})
    assert config.risk.max_open_orders == 5


def test_env_var_section_and_key_are_case_insensitive() -> None:
    config = _load(env={"trading_bot__Risk__max_OPEN_orders": "7", "TRADING_BOT__LOGGING__LEVEL": "DEBUG"})
    assert (config.risk.max_open_orders, config.logging.level) == (7, "debug")


def test_env_var_json_object_sets_a_dict_field() -> None:
    config = _load(env={"TRADING_BOT__EXCHANGE__CCXT_OPTIONS": '{"x": 1, "options": {"defaultType": "spot"}}'})
    assert config.exchange.ccxt_options == {"x": 1, "options": {"defaultType": "spot"}}


def test_env_var_for_a_text_field_is_kept_verbatim() -> None:
    config = _load(env={"TRADING_BOT__BOT__BOT_ID": "123", "TRADING_BOT__BOT__SYMBOL": "ETH/USDT"})
    assert (config.bot.bot_id, config.bot.symbol) == ("123", "ETH/USDT")


def test_env_var_null_switches_an_optional_limit_off() -> None:
    assert _load(env={"TRADING_BOT__RISK__MAX_ORDER_NOTIONAL": "null"}).risk.max_order_notional is None


def test_env_var_reaches_strategy_params_nested() -> None:
    config = _load(env={"TRADING_BOT__STRATEGY__PARAMS__FAST": "5", "TRADING_BOT__STRATEGY__PARAMS__MODE": "x"})
    assert config.strategy.params == {"fast": 5, "mode": "x"}


def test_overrides_win_over_env_and_file(tmp_path: Path) -> None:
    path = _write(tmp_path, {"strategy": {"name": "grid"}})
    config = _load(path, env={"TRADING_BOT__STRATEGY__NAME": "from_env"}, overrides={"strategy": {"name": "sma_cross"}})
    assert config.strategy.name == "sma_cross"


def test_merge_is_deep_so_sibling_keys_of_lower_sources_survive(tmp_path: Path) -> None:
    path = _write(tmp_path, {"risk": {"sizing": {"mode": "fixed_quantity", "value": 2}}, "bot": {"bot_id": "a"}})
    config = _load(
        path,
        env={"TRADING_BOT__RISK__SIZING__VALUE": "3"},
        overrides={"bot": {"symbol": "ETH/USDT"}},
    )
    assert (config.risk.sizing.mode, config.risk.sizing.value) == ("fixed_quantity", Decimal(3))
    assert (config.bot.bot_id, config.bot.symbol) == ("a", "ETH/USDT")


def test_overrides_mapping_is_not_mutated() -> None:
    overrides = {"bot": {"bot_id": "x"}}
    _load(overrides=overrides, env={"TRADING_BOT__BOT__SYMBOL": "ETH/USDT"})
    assert overrides == {"bot": {"bot_id": "x"}}


# --------------------------------------------------------------------------------------------- secrets


def test_secret_from_env_is_loaded_as_secretstr() -> None:
    config = _load(env={"TRADING_BOT__EXCHANGE__API_KEY": SECRET, "TRADING_BOT__EXCHANGE__SECRET": "abcd1234"})
    assert config.exchange.api_key is not None
    assert config.exchange.api_key.get_secret_value() == SECRET
    assert config.exchange.has_credentials()
    assert config.secret_values() == [SECRET, "abcd1234"]


def test_secret_in_the_config_file_is_rejected_naming_the_env_var(tmp_path: Path) -> None:
    path = _write(tmp_path, {"exchange": {"secret": SECRET}})
    message = _error(path)
    assert message == ("exchange.secret: secrets are not read from the config file; set TRADING_BOT__EXCHANGE__SECRET")
    assert SECRET not in message


def test_null_secret_in_the_config_file_is_accepted(tmp_path: Path) -> None:
    assert _load(_write(tmp_path, {"exchange": {"api_key": None}})).exchange.api_key is None


def test_secret_inside_ccxt_options_in_the_file_is_rejected(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, {"exchange": {"ccxt_options": {"apiKey": SECRET}}}))
    assert message.startswith("exchange.ccxt_options.apiKey: secrets are not read from the config file")
    assert SECRET not in message


def test_secret_in_cli_overrides_is_rejected() -> None:
    message = _error(overrides={"exchange": {"password": SECRET}})
    assert (
        message == "exchange.password: secrets are not read from the command line; set TRADING_BOT__EXCHANGE__PASSWORD"
    )


def test_secrets_are_read_from_a_dotenv_file_with_comments_quotes_and_export(tmp_path: Path) -> None:
    dotenv = _write(
        tmp_path,
        "# keys\n\nexport TRADING_BOT__EXCHANGE__API_KEY='key-from-dotenv'\n"
        'TRADING_BOT__EXCHANGE__SECRET="sec #not a comment"\nTRADING_BOT__RISK__MAX_OPEN_ORDERS=4 # limit\n'
        "OTHER_TOOL=ignored\n",
        ".env",
    )
    config = _load(dotenv=dotenv)
    assert config.exchange.api_key is not None
    assert config.exchange.secret is not None
    assert config.exchange.api_key.get_secret_value() == "key-from-dotenv"
    assert config.exchange.secret.get_secret_value() == "sec #not a comment"
    assert config.risk.max_open_orders == 4


def test_dotenv_in_the_working_directory_is_read_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, "TRADING_BOT__BOT__BOT_ID=fromdotenv\n", ".env")
    monkeypatch.chdir(tmp_path)
    assert load_config(None, env={}).bot.bot_id == "fromdotenv"


def test_missing_dotenv_file_is_ignored(tmp_path: Path) -> None:
    assert _load(dotenv=tmp_path / "absent.env") == BotConfig()


def test_malformed_dotenv_line_names_the_line_but_not_its_content(tmp_path: Path) -> None:
    message = _error(dotenv=_write(tmp_path, f"A=1\n{SECRET}\n", ".env"))
    assert message.endswith(".env:2: expected KEY=VALUE")
    assert SECRET not in message


def test_secrets_are_read_from_the_systemd_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "exchange_api_key").write_text("key-from-creds\n", encoding="utf-8")
    (tmp_path / "exchange_secret").write_text("secret-from-creds", encoding="utf-8")
    config = _load(env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert config.secret_values() == ["key-from-creds", "secret-from-creds"]


def test_secret_priority_is_env_then_credentials_then_dotenv(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "exchange_api_key").write_text("from-creds", encoding="utf-8")
    (creds / "exchange_secret").write_text("from-creds", encoding="utf-8")
    dotenv = _write(
        tmp_path,
        "TRADING_BOT__EXCHANGE__API_KEY=from-dotenv\nTRADING_BOT__EXCHANGE__SECRET=from-dotenv\n"
        "TRADING_BOT__EXCHANGE__PASSWORD=from-dotenv\n",
        ".env",
    )
    env = {"CREDENTIALS_DIRECTORY": str(creds), "TRADING_BOT__EXCHANGE__API_KEY": "from-env"}
    assert _load(env=env, dotenv=dotenv).secret_values() == ["from-env", "from-creds", "from-dotenv"]


def test_empty_secret_counts_as_unset() -> None:
    assert _load(env={"TRADING_BOT__EXCHANGE__API_KEY": ""}).exchange.api_key is None


def test_redacted_hides_set_secrets_and_shows_none_for_unset() -> None:
    config = _load(
        env={
            "TRADING_BOT__EXCHANGE__API_KEY": SECRET,
            "TRADING_BOT__EXCHANGE__CCXT_OPTIONS": json.dumps({"headers": {"X-Token": SECRET}}),
            "TRADING_BOT__PERSISTENCE__DB_URL": f"postgresql+asyncpg://bot:{SECRET}@db:5432/journal",
        }
    )
    redacted = config.redacted()
    assert redacted["exchange"]["api_key"] == "**********"
    assert redacted["exchange"]["secret"] is None
    assert redacted["persistence"]["db_url"] == "postgresql+asyncpg://bot:**********@db:5432/journal"
    assert SECRET not in json.dumps(redacted)


def test_config_hash_ignores_secrets_key_order_and_number_spelling(tmp_path: Path) -> None:
    plain = _load(_write(tmp_path, {"risk": {"max_order_notional": 1000, "max_open_orders": 50}}))
    other = _load(
        _write(tmp_path, {"risk": {"max_open_orders": 50, "max_order_notional": 1000.0}}, "b.json"),
        env={"TRADING_BOT__EXCHANGE__API_KEY": SECRET},
    )
    assert plain.config_hash() == other.config_hash() == BotConfig().config_hash()
    assert len(plain.config_hash()) == 64


def test_config_hash_changes_when_a_setting_changes() -> None:
    assert _load(env={"TRADING_BOT__RISK__MAX_OPEN_ORDERS": "5"}).config_hash() != BotConfig().config_hash()


# ------------------------------------------------------------------------------------------------ errors


def test_wrong_type_from_env_names_field_value_and_variable() -> None:
    message = _error(env={"TRADING_BOT__RISK__MAX_OPEN_ORDERS": "abc"})
    assert message == (
        "risk.max_open_orders: expected an integer, got 'abc'; allowed: [1, 1000000] "
        "(from TRADING_BOT__RISK__MAX_OPEN_ORDERS)"
    )


def test_wrong_type_from_the_file_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, {"bot": {"heartbeat_s": "often"}})
    assert _error(path) == f"bot.heartbeat_s: expected a number, got 'often'; allowed: [0.01, 60] (from {path})"


def test_wrong_value_from_overrides_names_the_command_line() -> None:
    message = _error(overrides={"bot": {"on_shutdown": "flatten"}})
    assert message == "bot.on_shutdown: expected 'cancel' or 'keep', got 'flatten' (from the command line)"


def test_out_of_range_value_says_what_is_allowed() -> None:
    message = _error(env={"TRADING_BOT__BOT__SHUTDOWN_TIMEOUT_S": "0"})
    assert message == (
        "bot.shutdown_timeout_s: must be greater than or equal to 0.01, got 0; allowed: [0.01, 86400] "
        "(from TRADING_BOT__BOT__SHUTDOWN_TIMEOUT_S)"
    )


def test_unknown_key_in_the_file_suggests_the_closest_field(tmp_path: Path) -> None:
    path = _write(tmp_path, {"risk": {"max_opn_orders": 5}})
    message = _error(path)
    assert message == f"config: unknown key 'risk.max_opn_orders' (did you mean 'max_open_orders'?) (from {path})"


def test_unknown_key_deep_in_a_nested_section_suggests_the_closest_field(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, {"exchange": {"paper": {"slipage_bps": 1}}}))
    assert message.startswith("config: unknown key 'exchange.paper.slipage_bps' (did you mean 'slippage_bps'?)")


def test_unknown_section_from_env_names_the_variable() -> None:
    message = _error(env={"TRADING_BOT__RSK__MAX_OPEN_ORDERS": "5"})
    assert message == "config: unknown key 'rsk' (did you mean 'risk'?) (from TRADING_BOT__RSK__MAX_OPEN_ORDERS)"


def test_malformed_env_var_name_is_rejected() -> None:
    assert _error(env={"TRADING_BOT__RISK____X": "1"}).startswith("config: malformed variable TRADING_BOT__RISK____X")


def test_several_errors_report_the_first_and_count_the_rest() -> None:
    message = _error(env={"TRADING_BOT__BOT__SYMBOL": "BTCUSDT", "TRADING_BOT__LOGGING__LEVEL": "loud"})
    assert message.startswith("bot.symbol: expected a ccxt unified symbol like 'BTC/USDT', got 'BTCUSDT'")
    assert message.endswith("(+1 more)")


def test_cross_field_rule_error_is_one_line_without_pydantic_dump() -> None:
    message = _error(env={"TRADING_BOT__RISK__PROTECTION__ACCOUNT_LOSS_PCT": "20"})
    assert message.startswith("risk.protection: protection.account_loss_pct (20 %) must be below")
    assert "validation error" not in message
    assert "Value error" not in message


def test_missing_config_file_is_reported_with_the_fix(tmp_path: Path) -> None:
    message = _error(tmp_path / "nope.json")
    assert message.startswith(f"config: file {tmp_path / 'nope.json'} not found")


def test_invalid_json_is_reported_with_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, '{\n  "bot": {"bot_id": "a",}\n}')
    assert _error(path).startswith(f"config: {path}:2:25: not valid JSON")


def test_top_level_that_is_not_an_object_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "[1, 2]")
    assert _error(path) == f"config: {path}: the top level must be a JSON object {{...}}, got an array"


def test_duplicate_key_in_the_file_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"bot": {"bot_id": "a", "bot_id": "b"}}')
    assert _error(path) == f"config: {path}: duplicate key 'bot_id'; keep one"


@pytest.mark.parametrize("bot_id", ["", "has-dash", "a" * 21, "spa ce"])
def test_bot_id_outside_1_to_20_word_characters_is_rejected(bot_id: str) -> None:
    assert _error(overrides={"bot": {"bot_id": bot_id}}).startswith("bot.bot_id: expected 1-20 characters")


def test_secret_value_is_never_echoed_in_an_error() -> None:
    message = _error(env={"TRADING_BOT__EXCHANGE": json.dumps({"api_key": 98765432})})
    assert message.startswith("exchange.api_key: expected a string (from TRADING_BOT__EXCHANGE)")
    assert "98765432" not in message


# ----------------------------------------------------------------------------------------- persistence


def test_db_url_defaults_to_sqlite_journal_in_the_data_dir() -> None:
    assert PersistenceSection().resolved_db_url(Path("/srv/bot")) == "sqlite+aiosqlite:////srv/bot/journal.db"


def test_explicit_db_url_is_used_as_given() -> None:
    section = PersistenceSection(db_url="postgresql+asyncpg://db/journal")
    assert section.resolved_db_url(Path("/srv/bot")) == "postgresql+asyncpg://db/journal"


# ------------------------------------------------------------------------------------- nested secrets


@pytest.mark.parametrize(
    ("options", "dotted"),
    [
        ({"headers": {"X-MBX-APIKEY": SECRET}}, "exchange.ccxt_options.headers.X-MBX-APIKEY"),
        ({"headers": {"Authorization": f"Bearer {SECRET}"}}, "exchange.ccxt_options.headers.Authorization"),
        ({"headers": {"AUTH": SECRET}}, "exchange.ccxt_options.headers.AUTH"),
        ({"options": {"secret": SECRET}}, "exchange.ccxt_options.options.secret"),
        ({"options": {"ws": {"listenKey": SECRET}}}, "exchange.ccxt_options.options.ws.listenKey"),
        ({"privateKey": SECRET}, "exchange.ccxt_options.privateKey"),
        ({"urls": [{"signature": SECRET}]}, "exchange.ccxt_options.urls.0.signature"),
    ],
)
def test_secret_nested_anywhere_in_ccxt_options_of_the_file_is_refused_naming_its_path(
    tmp_path: Path, options: dict[str, Any], dotted: str
) -> None:
    message = _error(_write(tmp_path, {"exchange": {"ccxt_options": options}}))
    assert message.startswith(f"{dotted}: secrets are not read from the config file; set TRADING_BOT__EXCHANGE__")
    assert SECRET not in message


def test_secret_in_strategy_params_of_the_file_is_refused_naming_the_variable(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, {"strategy": {"name": "grid", "params": {"api_token": SECRET}}}))
    assert message == (
        "strategy.params.api_token: secrets are not read from the config file; "
        "set TRADING_BOT__STRATEGY__PARAMS__API_TOKEN in the environment or .env"
    )


def test_secret_strategy_param_on_the_command_line_is_refused() -> None:
    message = _error(overrides={"strategy": {"params": {"webhook_token": SECRET}}})
    assert message.startswith("strategy.params.webhook_token: secrets are not read from the command line")
    assert SECRET not in message


def test_the_variable_named_for_a_nested_header_secret_loads_it_with_its_case_and_redacts_it(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, {"exchange": {"ccxt_options": {"headers": {"X-MBX-APIKEY": SECRET}}}}))
    variable, _, value = message.partition("; set ")[2].partition("=")
    value = value.split(" in the environment")[0].strip("'").replace("...", SECRET)
    file = _write(tmp_path, {"exchange": {"ccxt_options": {"headers": {"User-Agent": "bot"}}}}, "clean.json")

    config = _load(file, env={variable: value})

    assert config.exchange.ccxt_options["headers"] == {"User-Agent": "bot", "X-MBX-APIKEY": SECRET}
    assert config.redacted()["exchange"]["ccxt_options"]["headers"]["X-MBX-APIKEY"] == "**********"
    assert SECRET in config.secret_values()  # registered with the log scrubber by the CLI


def test_the_variable_named_for_a_strategy_param_secret_loads_it(tmp_path: Path) -> None:
    config = _load(env={"TRADING_BOT__STRATEGY__PARAMS__API_TOKEN": SECRET})
    assert config.strategy.params == {"api_token": SECRET}
    assert config.redacted()["strategy"]["params"]["api_token"] == "**********"
    assert SECRET in config.secret_values()


def test_redacted_hides_a_header_named_auth_set_from_the_environment() -> None:
    config = _load(env={"TRADING_BOT__EXCHANGE__CCXT_OPTIONS": json.dumps({"headers": {"AUTH": SECRET}})})
    assert SECRET not in json.dumps(config.redacted())


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgresql+asyncpg://bot:pa/ss@db:5432/journal", "postgresql+asyncpg://bot:**********@db:5432/journal"),
        ("postgresql+asyncpg://bot:p@ss@db/journal", "postgresql+asyncpg://bot:**********@db/journal"),
        ("postgresql+asyncpg://bot:a:b:c@db/journal", "postgresql+asyncpg://bot:**********@db/journal"),
        ("postgresql+asyncpg://bot:%2F%40x@db/journal", "postgresql+asyncpg://bot:**********@db/journal"),
        (
            "postgresql+asyncpg://db/journal?user=bot&password=pw",
            "postgresql+asyncpg://db/journal?user=bot&password=**********",
        ),
        ("sqlite+aiosqlite:////srv/bot@host/journal.db", "sqlite+aiosqlite:////srv/bot@host/journal.db"),
    ],
)
def test_db_url_password_is_redacted_whole_whatever_it_contains(url: str, redacted: str) -> None:
    config = _load(env={"TRADING_BOT__PERSISTENCE__DB_URL": url})
    assert config.redacted()["persistence"]["db_url"] == redacted


def test_db_url_password_is_registered_as_a_secret_for_the_logs() -> None:
    config = _load(env={"TRADING_BOT__PERSISTENCE__DB_URL": "postgresql+asyncpg://bot:p@ss/w0rd@db/journal"})
    assert "p@ss/w0rd" in config.secret_values()
