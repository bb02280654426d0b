"""Fuzz the configuration: JSON config files, ``.env`` files and ``TRADING_BOT__*`` variables.

Rule guarded: any config input — random structures, wrong types, non-finite or huge numbers, deep
nesting, bytes that are not UTF-8, an empty file, a directory, a FIFO — either loads or is refused as one
``ConfigError`` line (``load_config``); through ``runbot.py check-config FILE`` and ``runbot.py --config
FILE --replay ...`` it ends with exit 0, 1 or 2, one ``error:`` line on failure, never a traceback or a
hang (see ``tests/fuzz/harness.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.gen import config_documents
from tests.fuzz.gen import env_text
from tests.fuzz.gen import env_variables
from tests.fuzz.harness import assert_clean_exit
from tests.fuzz.harness import budget
from tests.fuzz.harness import run_inprocess
from tests.fuzz.harness import run_subprocess
from tests.fuzz.harness import small_samples
from trading_bot.config import BotConfig
from trading_bot.config import load_config
from trading_bot.errors import ConfigError

pytestmark = pytest.mark.fuzz

_DEEP = ["[" * 40 + "]" * 40, "{" + '"a": {' * 40 + "}" * 41, "[" * 200_000 + "]" * 200_000]


@st.composite
def config_files(draw: st.DrawFn) -> tuple[str, bytes | None]:
    """``(kind, content)``: a JSON document, raw bytes, or a special file (``dir``, ``fifo``, ``missing``)."""
    kind = draw(st.sampled_from(["json", "json", "json", "json", "bytes", "deep", "special", "top", "dup"]))
    if kind == "json":
        return kind, draw(config_documents()).encode("utf-8", "surrogatepass")
    if kind == "bytes":
        garbage = st.one_of(
            st.binary(max_size=64),
            st.sampled_from([b"", b"\xff\xfe{}", b"\xef\xbb\xbf{}", b'{"bot": "\xff"}', b"{\x00}", b"  \n\t ", b"{"]),
        )
        return kind, draw(garbage)
    if kind == "deep":
        return kind, draw(st.sampled_from(_DEEP)).encode()
    if kind == "top":
        return kind, draw(st.sampled_from([b"[]", b"null", b"1", b'"x"', b"NaN", b"1e400", b"true"]))
    if kind == "dup":
        return kind, b'{"bot": {"heartbeat_s": 1}, "bot": {}}'
    return draw(st.sampled_from(["dir", "fifo", "missing"])), None


def _materialize(directory: Path, kind: str, content: bytes | None) -> Path:
    path = directory / "config.json"
    if path.is_dir():
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()
    if kind == "dir":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif content is not None:
        path.write_bytes(content)
    return path


def _load(path: Path | None, env: dict[str, str]) -> BotConfig | None:
    """Load; return the config, or None when refused as one ConfigError line (the only refusal allowed)."""
    try:
        return load_config(path, env=env, dotenv=None)
    except ConfigError as exc:
        message = str(exc)
    assert message, "a ConfigError must say what is wrong"
    assert "\n" not in message, f"not one line: {message}"
    return None


@budget(6)
@given(file=config_files(), env=env_variables())
@example(file=("json", b'{"bot": {"heartbeat_s": Infinity}}'), env={})
@example(file=("fifo", None), env={"TRADING_BOT__RISK__MAX_DATA_AGE_S": "1e308"})
def test_loader_loads_or_refuses_any_config_file_and_env_as_one_config_error(
    file: tuple[str, bytes | None], env: dict[str, str], tmp_path: Path
) -> None:
    path = _materialize(tmp_path, *file)
    config = _load(path, env)
    if config is not None:  # what loaded must be printable and hashable, as check-config and run do
        config.redacted()
        config.config_hash()


@budget(3)
@given(env=env_variables(), value=env_text())
def test_loader_takes_any_value_of_a_real_setting_variable_or_refuses_it(env: dict[str, str], value: str) -> None:
    for name in ("TRADING_BOT__BOT__HEARTBEAT_S", "TRADING_BOT__RISK__MAX_DATA_AGE_S",
                 "TRADING_BOT__EXCHANGE__REQUEST_TIMEOUT_S", "TRADING_BOT__BOT__SYMBOL"):  # fmt: skip
        _load(None, {**env, name: value})


@budget(1)
@given(file=config_files(), env=env_variables())
def test_check_config_exits_0_1_or_2_with_one_error_line(
    file: tuple[str, bytes | None], env: dict[str, str], tmp_path: Path
) -> None:
    path = _materialize(tmp_path, *file)
    assert_clean_exit(run_inprocess(["check-config", str(path)], cwd=tmp_path, env=env))


_DOTENV_LINES = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["TRADING_BOT__BOT__HEARTBEAT_S", "TRADING_BOT__RISK__SIZING",
                                                         "TRADING_BOT__", "export TRADING_BOT__BOT__BOT_ID", "X"]),
              env_text()),
    st.sampled_from(["# comment", "", "=1", "no equals", "export ", "TRADING_BOT__BOT__SYMBOL='ETH/USDT'", '"']),
)  # fmt: skip


@budget(0.5)
@given(lines=st.lists(_DOTENV_LINES, max_size=5))
def test_check_config_reads_any_dotenv_file_or_refuses_it_in_one_line(lines: list[str], tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    assert_clean_exit(run_inprocess(["check-config"], cwd=tmp_path))


@pytest.fixture(scope="module")
def quotes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_samples(tmp_path_factory.mktemp("samples"))["quotes"]


@budget(0.5)
@given(document=config_documents(), env=env_variables())
def test_a_replay_run_with_any_config_exits_0_1_or_2_with_one_error_line(
    document: str, env: dict[str, str], quotes: Path, tmp_path: Path
) -> None:
    """A config that passes validation must also survive a real (short) run: no value breaks it mid-run."""
    path = tmp_path / "config.json"
    path.write_text(document, encoding="utf-8", errors="surrogatepass")
    argv = ["--config", str(path), "--strategy", "grid", "--quantity", "0.001", "--replay", str(quotes)]
    assert_clean_exit(run_inprocess(argv, cwd=tmp_path, env=env))


@budget(0.1)
@given(file=config_files(), env=env_variables())
def test_check_config_as_a_real_process_exits_0_1_or_2_with_one_error_line(
    file: tuple[str, bytes | None], env: dict[str, str], tmp_path: Path
) -> None:
    path = _materialize(tmp_path, *file)
    assert_clean_exit(run_subprocess(["check-config", str(path)], cwd=tmp_path, env=env))
