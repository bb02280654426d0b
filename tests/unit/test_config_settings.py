"""The config loader on pydantic-settings: the priority of the five sources, and what the library must not do.

Rules guarded: the sources rank file < ``.env`` < credentials directory < environment < CLI overrides (the
order ``trading_bot.config.loader`` documents); pydantic-settings' debug log, which prints every source's
values, never shows a secret; ``.env`` values are taken verbatim (no ``${VAR}`` expansion, no escapes, as
python-dotenv would do); the loaded config is a plain ``BotConfig`` whose ``repr`` hides its secrets.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from trading_bot.config import BotConfig
from trading_bot.config import load_config

SECRET = "s3cr3t-Value-XYZ"


def _sources(tmp_path: Path, levels: set[str]) -> tuple[Path, Path, dict[str, str], dict[str, object]]:
    """Write bot.bot_id and exchange.secret at every level in ``levels``, each naming its level."""
    file = tmp_path / "config.json"
    file.write_text(json.dumps({"bot": {"bot_id": "file"}} if "file" in levels else {}), encoding="utf-8")
    dotenv = tmp_path / ".env"
    lines = ["TRADING_BOT__BOT__BOT_ID=dotenv", "TRADING_BOT__EXCHANGE__SECRET=dotenv"] if "dotenv" in levels else []
    dotenv.write_text("\n".join(lines), encoding="utf-8")
    creds = tmp_path / "creds"
    creds.mkdir(exist_ok=True)
    (creds / "exchange_secret").unlink(missing_ok=True)
    if "credentials" in levels:
        (creds / "exchange_secret").write_text("credentials", encoding="utf-8")
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    if "environment" in levels:
        env |= {"TRADING_BOT__BOT__BOT_ID": "environment", "TRADING_BOT__EXCHANGE__SECRET": "environment"}
    overrides: dict[str, object] = {"bot": {"bot_id": "overrides"}} if "overrides" in levels else {}
    return file, dotenv, env, overrides


@pytest.mark.parametrize(
    ("levels", "bot_id", "secret"),
    [
        ({"file", "dotenv", "credentials", "environment", "overrides"}, "overrides", "environment"),
        ({"file", "dotenv", "credentials", "environment"}, "environment", "environment"),
        ({"file", "dotenv", "credentials"}, "dotenv", "credentials"),
        ({"file", "dotenv"}, "dotenv", "dotenv"),
        ({"file"}, "file", None),
        (set(), "tb1", None),
    ],
)
def test_sources_rank_file_dotenv_credentials_environment_overrides(
    tmp_path: Path, levels: set[str], bot_id: str, secret: str | None
) -> None:
    file, dotenv, env, overrides = _sources(tmp_path, levels)

    config = load_config(file, env=env, overrides=overrides, dotenv=dotenv)

    assert config.bot.bot_id == bot_id
    assert (config.exchange.secret.get_secret_value() if config.exchange.secret else None) == secret


def test_load_config_returns_a_plain_bot_config_that_keeps_which_sections_were_set(tmp_path: Path) -> None:
    file = tmp_path / "config.json"
    file.write_text(json.dumps({"venues": {"spot": {"name": "binance"}}}), encoding="utf-8")

    config = load_config(file, env={}, dotenv=None)

    assert type(config) is BotConfig
    assert config.model_fields_set == {"venues"}  # select_venue tells "exchange and venues both set" by it
    assert config == BotConfig.model_validate({"venues": {"spot": {"name": "binance"}}})


def test_pydantic_settings_debug_log_never_shows_a_secret(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PYDANTIC_SETTINGS_DEBUG", "1")
    caplog.set_level(logging.DEBUG, logger="pydantic_settings")

    config = load_config(None, env={"TRADING_BOT__EXCHANGE__API_KEY": SECRET}, dotenv=None)

    assert config.exchange.api_key is not None
    assert SECRET not in caplog.text


def test_dotenv_values_are_verbatim_without_variable_expansion_or_escapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "/home/expanded")
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        'TRADING_BOT__EXCHANGE__SECRET="a${HOME}b\\nc"\nTRADING_BOT__EXCHANGE__API_KEY=k$HOME\n', encoding="utf-8"
    )

    config = load_config(None, env={}, dotenv=dotenv)

    assert config.exchange.secret is not None
    assert config.exchange.api_key is not None
    assert config.exchange.secret.get_secret_value() == "a${HOME}b\\nc"
    assert config.exchange.api_key.get_secret_value() == "k$HOME"


def test_repr_and_str_of_a_loaded_config_hide_its_secrets(tmp_path: Path) -> None:
    env = {"TRADING_BOT__EXCHANGE__API_KEY": SECRET, "TRADING_BOT__VENUES__ALT__SECRET": SECRET}

    config = load_config(None, env=env, dotenv=None)

    assert config.venues["alt"].secret is not None
    assert SECRET not in repr(config)
    assert SECRET not in str(config)
