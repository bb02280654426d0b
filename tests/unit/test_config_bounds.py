"""Every numeric setting has a finite, documented range, and hostile values fail as one line naming the field.

The table of fields is read from the models themselves, so a new numeric setting without bounds fails
``test_every_numeric_setting_has_a_finite_lower_and_upper_bound`` and is then covered by the hostile
value table at once, from the file and from the environment.
"""

from __future__ import annotations

import json
import os
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from strategies.grid import GridParams
from strategies.sma_cross import SmaCrossParams
from trading_bot.config import BotConfig
from trading_bot.config import load_config
from trading_bot.domain.bounds import describe_range
from trading_bot.domain.bounds import field_bounds
from trading_bot.errors import ConfigError
from trading_bot.runtime.builder import validate_strategy_params

_NUMBERS = (int, float, Decimal)


def _numeric(info: FieldInfo) -> bool:
    """True for ``int``, ``float`` and ``Decimal`` fields, optional or not (not dicts of numbers)."""
    annotation = info.annotation
    if typing.get_origin(annotation) in (dict, list):
        return False
    args = typing.get_args(annotation) or (annotation,)
    bases = [getattr(arg, "__origin__", arg) for arg in args]
    return any(isinstance(base, type) and issubclass(base, _NUMBERS) and base is not bool for base in bases)


def _numeric_fields(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], FieldInfo]]:
    found = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.extend(_numeric_fields(annotation, (*prefix, name)))
        elif _numeric(info):
            found.append(((*prefix, name), info))
    return found


CONFIG_FIELDS = _numeric_fields(BotConfig)
PARAM_FIELDS = [(("grid", *p), i) for p, i in _numeric_fields(GridParams)] + [
    (("sma_cross", *p), i) for p, i in _numeric_fields(SmaCrossParams)
]
HOSTILE = ["Infinity", "-Infinity", "NaN", "1e308", "-1e308", "1e400", "1e-300"]
"""JSON spellings (a file or a variable value) of values no setting accepts."""


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


def test_the_field_tables_are_not_empty() -> None:
    assert {_dotted(p) for p, _ in CONFIG_FIELDS} >= {
        "bot.heartbeat_s",
        "bot.shutdown_timeout_s",
        "exchange.request_timeout_s",
        "exchange.paper.slippage_bps",
        "risk.max_data_age_s",
        "risk.protection.stall_timeout_s",
        "risk.protection.failure_window_s",
    }
    assert {_dotted(p) for p, _ in PARAM_FIELDS} >= {
        "grid.wait_time",
        "grid.fill_timeout",
        "grid.recheck_interval",
        "grid.position_check_interval",
        "grid.quantity",
        "sma_cross.quantity",
    }


@pytest.mark.parametrize(
    ("path", "info"), CONFIG_FIELDS + PARAM_FIELDS, ids=lambda v: _dotted(v) if isinstance(v, tuple) else ""
)
def test_every_numeric_setting_has_a_finite_lower_and_upper_bound(path: tuple[str, ...], info: FieldInfo) -> None:
    lower, upper = field_bounds(info)
    assert lower is not None, f"{_dotted(path)} needs a lower bound (trading_bot.domain.bounds)"
    assert upper is not None, f"{_dotted(path)} needs an upper bound (trading_bot.domain.bounds)"
    assert all(abs(float(bound[0])) < 1e16 for bound in (lower, upper))
    assert describe_range(info) is not None


def test_paper_balances_are_bounded_per_currency() -> None:
    with pytest.raises(ConfigError, match=r"exchange\.paper\.balances\.USDT: must be less than or equal to 1E\+15"):
        load_config(None, env={"TRADING_BOT__EXCHANGE__PAPER__BALANCES": '{"USDT": 1e20}'}, dotenv=None)


def _load_or_error(file: Path) -> str | None:
    try:
        load_config(file, env={}, dotenv=None)
    except ConfigError as exc:
        return str(exc)
    return None


def _nested(path: tuple[str, ...], raw: str) -> str:
    text = raw
    for key in reversed(path):
        text = f'{{"{key}": {text}}}'
    return text


@pytest.mark.parametrize("raw", HOSTILE)
@pytest.mark.parametrize(("path", "info"), CONFIG_FIELDS, ids=lambda v: _dotted(v) if isinstance(v, tuple) else "")
def test_hostile_number_in_the_config_file_is_one_line_naming_the_field(
    tmp_path: Path, path: tuple[str, ...], info: FieldInfo, raw: str
) -> None:
    file = tmp_path / "config.json"
    file.write_text(_nested(path, raw), encoding="utf-8")
    lower, _ = field_bounds(info)
    assert lower is not None
    if raw == "1e-300" and lower[0] < 1e-300:  # inside the range: it loads, or a cross-field rule refuses it
        message = _load_or_error(file)
        assert message is None or "\n" not in message
        return
    with pytest.raises(ConfigError) as info_:
        load_config(file, env={}, dotenv=None)
    message = str(info_.value)
    assert "\n" not in message
    assert message.startswith(f"{_dotted(path)}: ")
    assert f"allowed: {describe_range(info)}" in message


@pytest.mark.parametrize("raw", ["inf", "nan", "1e400", "-1e308"])
@pytest.mark.parametrize(("path", "info"), CONFIG_FIELDS, ids=lambda v: _dotted(v) if isinstance(v, tuple) else "")
def test_hostile_number_in_the_environment_is_one_line_naming_the_field_and_the_variable(
    path: tuple[str, ...], info: FieldInfo, raw: str
) -> None:
    variable = "TRADING_BOT__" + "__".join(path).upper()
    with pytest.raises(ConfigError) as info_:
        load_config(None, env={variable: raw}, dotenv=None)
    message = str(info_.value)
    assert "\n" not in message
    assert message.startswith(f"{_dotted(path)}: ")
    assert message.endswith(f"(from {variable})")


@pytest.mark.parametrize("raw", ["inf", "nan", "-inf", "1e400", "-1e308"])
@pytest.mark.parametrize(("path", "info"), PARAM_FIELDS, ids=lambda v: _dotted(v) if isinstance(v, tuple) else "")
def test_hostile_strategy_parameter_is_one_line_naming_the_flag(
    path: tuple[str, ...], info: FieldInfo, raw: str
) -> None:
    strategy, name = path
    params: dict[str, Any] = {"quantity": "0.001"} if strategy == "grid" else {}
    params[name] = raw
    with pytest.raises(ConfigError) as info_:
        validate_strategy_params(strategy, params)
    message = str(info_.value)
    assert "\n" not in message
    assert f"--{name.replace('_', '-')}:" in message


def test_heartbeat_of_1e_300_seconds_is_refused_so_the_supervisor_cannot_spin() -> None:
    with pytest.raises(ConfigError, match=r"^bot\.heartbeat_s: must be greater than or equal to 0\.01"):
        load_config(None, env={"TRADING_BOT__BOT__HEARTBEAT_S": "1e-300"}, dotenv=None)


def test_defaults_and_the_example_file_lie_inside_every_range() -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.json"
    assert load_config(example, env={}, dotenv=None) == BotConfig()


# ------------------------------------------------------------------------------------ files and nesting


def test_config_file_nested_100000_deep_is_one_line_not_a_recursion_error(tmp_path: Path) -> None:
    file = tmp_path / "deep.json"
    file.write_text('{"bot": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    with pytest.raises(ConfigError, match="JSON nested deeper than 32 levels"):
        load_config(file, env={}, dotenv=None)


def test_config_file_nested_just_too_deep_for_the_limit_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "deep.json"
    file.write_text(_nested(("strategy", "params", *("k" for _ in range(40))), "1"), encoding="utf-8")
    with pytest.raises(ConfigError, match="nested deeper than 32"):
        load_config(file, env={}, dotenv=None)


def test_environment_json_nested_100000_deep_is_one_line_naming_the_variable() -> None:
    env = {"TRADING_BOT__EXCHANGE__CCXT_OPTIONS": "[" * 100_000 + "]" * 100_000}
    with pytest.raises(ConfigError, match=r"TRADING_BOT__EXCHANGE__CCXT_OPTIONS: JSON nested deeper"):
        load_config(None, env=env, dotenv=None)


def test_config_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"is a FIFO, not a regular file"):
        load_config(fifo, env={}, dotenv=None)  # would block forever in open() for reading


def test_config_device_and_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"/dev/zero is a character device"):
        load_config(Path("/dev/zero"), env={}, dotenv=None)
    with pytest.raises(ConfigError, match=r"is a directory"):
        load_config(tmp_path, env={}, dotenv=None)


def test_dotenv_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / ".env"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"is a FIFO"):
        load_config(None, env={}, dotenv=fifo)


def test_config_file_above_1_mib_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "big.json"
    file.write_text(json.dumps({"strategy": {"params": {"pad": "x" * (1 << 20)}}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="larger than 1,048,576 bytes"):
        load_config(file, env={}, dotenv=None)


@pytest.mark.parametrize(("path", "info"), CONFIG_FIELDS, ids=lambda v: _dotted(v) if isinstance(v, tuple) else "")
def test_readme_config_reference_states_every_range(path: tuple[str, ...], info: FieldInfo) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    name = f"`{path[-1]}`"
    rows = [line[line.index(name) :] for line in readme.splitlines() if line.startswith("| `") and name in line]
    assert any(str(describe_range(info)) in row for row in rows), f"README: state {describe_range(info)} for {name}"
