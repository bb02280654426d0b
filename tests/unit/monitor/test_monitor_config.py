"""The ``monitor`` config section: defaults, and its token treated as a secret like the exchange keys.

Rules guarded: the monitor is off and bound to 127.0.0.1 by default; ``monitor.token`` comes from
``TRADING_BOT__MONITOR__TOKEN`` or the credential file ``monitor_token`` only (the config file and the
command line are refused, naming the variable); it is redacted, registered for log scrubbing and left out
of the config hash; an empty one is unset; a short one is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trading_bot.config import load_config
from trading_bot.errors import ConfigError
from trading_bot.log import REDACTED

TOKEN = "monitor-token-0123456789abcdef"


def test_monitor_defaults_are_off_on_loopback_port_8787_without_token() -> None:
    config = load_config(None, env={}, dotenv=None)
    assert (config.monitor.enabled, config.monitor.host, config.monitor.port) == (False, "127.0.0.1", 8787)
    assert config.monitor.token is None
    assert config.monitor.read_only is False


def test_token_in_the_config_file_is_refused_naming_the_variable(tmp_path: Path) -> None:
    file = tmp_path / "config.json"
    file.write_text(json.dumps({"monitor": {"token": TOKEN}}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"monitor\.token: secrets are not read from the config file; set "
                       r"TRADING_BOT__MONITOR__TOKEN") as info:  # fmt: skip
        load_config(file, env={}, dotenv=None)
    assert TOKEN not in str(info.value)


def test_token_on_the_command_line_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"monitor\.token: secrets are not read from the command line"):
        load_config(None, env={}, dotenv=None, overrides={"monitor": {"token": TOKEN}})


def test_token_from_the_environment_is_redacted_registered_and_out_of_the_hash() -> None:
    with_token = load_config(None, env={"TRADING_BOT__MONITOR__TOKEN": TOKEN}, dotenv=None)
    without = load_config(None, env={}, dotenv=None)
    assert with_token.monitor.token is not None
    assert with_token.monitor.token.get_secret_value() == TOKEN
    assert with_token.redacted()["monitor"]["token"] == REDACTED
    assert without.redacted()["monitor"]["token"] is None
    assert TOKEN not in json.dumps(with_token.redacted())
    assert TOKEN in with_token.secret_values()
    assert with_token.config_hash() == without.config_hash()


def test_a_numeric_looking_token_is_taken_verbatim() -> None:
    config = load_config(None, env={"TRADING_BOT__MONITOR__TOKEN": "1234567890123456789"}, dotenv=None)
    assert config.monitor.token is not None
    assert config.monitor.token.get_secret_value() == "1234567890123456789"


def test_token_from_the_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "monitor_token").write_text(TOKEN + "\n", encoding="utf-8")
    config = load_config(None, env={"CREDENTIALS_DIRECTORY": str(tmp_path)}, dotenv=None)
    assert config.monitor.token is not None
    assert config.monitor.token.get_secret_value() == TOKEN


def test_an_empty_token_is_unset_and_a_short_one_is_refused() -> None:
    assert load_config(None, env={"TRADING_BOT__MONITOR__TOKEN": ""}, dotenv=None).monitor.token is None
    with pytest.raises(ConfigError, match=r"monitor\.token: .*at least 16 characters") as info:
        load_config(None, env={"TRADING_BOT__MONITOR__TOKEN": "shortsecret"}, dotenv=None)
    assert "shortsecret" not in str(info.value)
