"""The doctor's offline checks: the systemd unit (ExecStart, Restart, WorkingDirectory) and the monitor token.

Guards issue 14's rules: a unit whose ExecStart names no existing python/runbot.py, that never restarts or
has no WorkingDirectory fails with its fix; an enabled monitor without a token fails; no token is shown.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import SecretStr

from trading_bot.runtime.doctor import Status
from trading_bot.runtime.doctor.journal import check_journal_path
from trading_bot.runtime.doctor.monitor import check_monitor_token
from trading_bot.runtime.doctor.unit import check_unit
from trading_bot.runtime.doctor.unit import parse_unit

ROOT = Path(__file__).resolve().parents[3]


def _write(tmp_path: Path, service: str) -> Path:
    unit = tmp_path / "bot.service"
    unit.write_text("[Unit]\nDescription=x\n\n[Service]\n" + service)
    return unit


def test_parse_unit_reads_the_shipped_unit_continuations_and_last_assignment() -> None:
    service = parse_unit((ROOT / "deploy" / "trading-bot.service").read_text())["Service"]

    assert service["Restart"] == "on-failure"
    assert service["WorkingDirectory"] == "/opt/trading-bot"
    assert service["ExecStart"].startswith("/opt/trading-bot/.venv/bin/python /opt/trading-bot/runbot.py")
    assert parse_unit("[Service]\nExecStart=/a \\\n  b\nRestart=no\nRestart=always\n")["Service"] == {
        "ExecStart": "/a b",
        "Restart": "always",
    }


def test_check_unit_when_exec_start_restart_and_directory_are_right_passes(tmp_path: Path) -> None:
    unit = _write(
        tmp_path,
        f"WorkingDirectory={tmp_path}\nExecStart=-{sys.executable} -u {ROOT / 'runbot.py'} --log-format json\n"
        "Restart=on-failure\nRestartPreventExitStatus=2\n",
    )

    checks = check_unit(unit)

    assert [c.status for c in checks] == [Status.PASS] * 3, checks


def test_check_unit_names_each_problem_with_its_fix(tmp_path: Path) -> None:
    unit = _write(
        tmp_path,
        f"ExecStart={sys.executable} {tmp_path / 'gone' / 'runbot.py'} --config {tmp_path / 'nope.json'}\n",
    )

    exec_start, restart, workdir = check_unit(unit)

    assert exec_start.status == Status.FAIL
    assert "runbot.py does not exist" in exec_start.detail
    assert "nope.json does not exist" in exec_start.detail
    assert "ExecStart" in exec_start.fix
    assert restart.status == Status.FAIL
    assert "Restart=no" in restart.detail
    assert "on-failure" in restart.fix
    assert workdir.status == Status.FAIL
    assert "WorkingDirectory=" in workdir.fix


def test_check_unit_refuses_a_relative_or_missing_program(tmp_path: Path) -> None:
    exec_start = check_unit(_write(tmp_path, "ExecStart=python runbot.py\nRestart=always\n"))[0]

    assert exec_start.status == Status.FAIL
    assert "absolute path" in exec_start.detail
    missing = check_unit(_write(tmp_path, f"ExecStart={tmp_path}/venv/bin/python runbot.py\n"))[0]
    assert "no such executable file" in missing.detail


def test_check_unit_without_a_service_section_fails(tmp_path: Path) -> None:
    unit = tmp_path / "x.service"
    unit.write_text("[Unit]\nDescription=x\n")

    (check,) = check_unit(unit)

    assert check.status == Status.FAIL
    assert "[Service]" in check.detail


def test_monitor_token_when_enabled_and_unset_fails_and_names_the_variable(tmp_path: Path) -> None:
    config = SimpleNamespace(monitor=SimpleNamespace(enabled=True, token=None))

    check = check_monitor_token(config, None, {})

    assert check.status == Status.FAIL
    assert "TRADING_BOT__MONITOR__TOKEN" in check.fix


def test_monitor_token_from_section_env_or_credentials_passes_and_is_never_shown(tmp_path: Path) -> None:
    (tmp_path / "monitor_token").write_text("from-credentials-dir\n")
    enabled = SimpleNamespace(monitor=SimpleNamespace(enabled=True, token=None))
    cases = [
        (SimpleNamespace(monitor=SimpleNamespace(enabled=True, token=SecretStr("section-token"))), {}),
        (enabled, {"TRADING_BOT__MONITOR__TOKEN": "env-token-value"}),
        (enabled, {"CREDENTIALS_DIRECTORY": str(tmp_path)}),
    ]
    for config, environ in cases:
        check = check_monitor_token(config, None, environ)
        assert check.status == Status.PASS, (environ, check)
        assert "token" not in check.detail.replace("token set", "")


def test_monitor_token_without_a_monitor_section_reads_the_raw_file_and_environment(tmp_path: Path) -> None:
    raw = tmp_path / "config.json"
    raw.write_text('{"monitor": {"enabled": true}}')

    from_file = check_monitor_token(None, raw, {})
    from_env = check_monitor_token(SimpleNamespace(), None, {"trading_bot__monitor__enabled": "true"})
    off = check_monitor_token(SimpleNamespace(), None, {})

    assert from_file.status == Status.FAIL
    assert from_env.status == Status.FAIL
    assert off.status == Status.SKIP


@pytest.mark.asyncio
async def test_journal_check_fails_on_a_file_that_is_no_journal_and_passes_a_fresh_directory(tmp_path: Path) -> None:
    garbage = tmp_path / "journal.db"
    garbage.write_bytes(b"not a database at all" * 10)
    fresh = tmp_path / "fresh"
    fresh.mkdir()

    bad = await check_journal_path(f"sqlite+aiosqlite:///{garbage}", 5)
    new = await check_journal_path(f"sqlite+aiosqlite:///{fresh / 'journal.db'}", 5)
    off = await check_journal_path(None, 5)

    assert bad.status == Status.FAIL
    assert str(garbage) in bad.detail
    assert new.status == Status.PASS
    assert "creates it at its first start" in new.detail
    assert not (fresh / "journal.db").exists()  # read-only
    assert off.status == Status.SKIP


def test_monitor_read_only_without_a_token_passes() -> None:
    config = SimpleNamespace(monitor=SimpleNamespace(enabled=True, token=None, read_only=True))

    check = check_monitor_token(config, None, {})

    assert check.status == Status.PASS
    assert "read-only" in check.detail
