"""``runbot.py doctor`` as a subprocess against the in-process Binance emulator, real ccxt over loopback.

Guards issue 14's rule: doctor passes against a healthy venue, and names each failure (a wrong API key,
a missing journal directory, a 30 s clock skew, an unreachable venue) with exit 1, never printing a
secret and creating nothing.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from trading_bot.config import BotConfig
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.emulator import FaultConfig

KEY, SECRET = "doctor-test-key", "doctor-test-secret"


@pytest_asyncio.fixture
async def venue() -> AsyncIterator[BinanceEmulator]:
    async with BinanceEmulator(EmulatorConfig(api_key=KEY, api_secret=SECRET, history_bars=10)) as emu:
        yield emu


def _config(tmp_path: Path, ccxt_options: dict[str, Any], data_dir: Path | None = None, **bot: Any) -> Path:
    if data_dir is None:
        data_dir = tmp_path / "var"
        data_dir.mkdir()
    config = {
        "bot": {"bot_id": "doc", "data_dir": str(data_dir), **bot},
        "exchange": {"name": "binance", "ccxt_options": ccxt_options, "request_timeout_s": 3},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def _unit(tmp_path: Path, restart: str = "on-failure", workdir: Path | None = None) -> Path:
    unit = tmp_path / "trading-bot.service"
    unit.write_text(
        "[Unit]\nDescription=test\n\n[Service]\nType=notify\n"
        f"WorkingDirectory={workdir or tmp_path}\n"
        f"ExecStart={sys.executable} {ROOT / 'runbot.py'} \\\n  --config {tmp_path / 'config.json'} --log-format json\n"
        f"Restart={restart}\nRestartPreventExitStatus=2\n"
    )
    return unit


async def _doctor(tmp_path: Path, *args: str, key: str | None = KEY, secret: str = SECRET) -> tuple[int, str, str]:
    keys = {"TRADING_BOT__EXCHANGE__API_KEY": key, "TRADING_BOT__EXCHANGE__SECRET": secret} if key else {}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "runbot.py"),
        "doctor",
        *args,
        cwd=tmp_path,
        env=cli_env(**keys),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _by_name(out: str) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in json.loads(out)["checks"]}


@pytest.mark.asyncio
async def test_doctor_when_everything_is_right_passes_every_check_and_exits_0(
    tmp_path: Path, venue: BinanceEmulator
) -> None:
    config = _config(tmp_path, venue.ccxt_options())

    code, out, err = await _doctor(tmp_path, "--config", str(config), "--unit", str(_unit(tmp_path)), "--json")

    assert code == 0, out + err
    checks = _by_name(out)
    assert json.loads(out)["ok"] is True
    for name in (
        "config",
        "venue binance: credentials",
        "venue binance: reachable",
        "venue binance: clock",
        "venue binance: markets",
        "venue binance: authenticated call",
        "journal",
        "systemd unit: ExecStart",
        "systemd unit: Restart",
        "systemd unit: WorkingDirectory",
    ):
        assert checks[name]["status"] == "pass", checks[name]
    assert checks["venue binance: credentials"]["detail"] == "api_key set, secret set"
    assert checks["monitor token"]["status"] == "skip"  # monitor off
    assert KEY not in out + err
    assert SECRET not in out + err
    assert not (tmp_path / "var" / "journal.db").exists()  # read-only: nothing created


@pytest.mark.asyncio
async def test_doctor_table_names_a_wrong_api_key_with_its_fix_and_exits_1(
    tmp_path: Path, venue: BinanceEmulator
) -> None:
    config = _config(tmp_path, venue.ccxt_options())

    code, out, err = await _doctor(tmp_path, "--config", str(config), key="wrong-api-key-123")

    assert code == 1, out + err
    line = next(line for line in out.splitlines() if "authenticated call" in line)
    assert line.startswith("FAIL")
    assert "refused the API key" in line
    assert "-2015" in line
    assert "fix: check the key and secret" in line
    assert "wrong-api-key-123" not in out + err
    assert SECRET not in out + err
    assert out.splitlines()[-1] == "doctor: 6 passed, 1 failed, 2 skipped"  # journal (var/ exists) passes
    assert err.strip().splitlines()[-1] == "error: doctor: 1 check(s) failed: venue binance: authenticated call"


@pytest.mark.asyncio
async def test_doctor_names_a_missing_journal_directory_and_creates_nothing(
    tmp_path: Path, venue: BinanceEmulator
) -> None:
    missing = tmp_path / "not-mounted" / "var"
    config = _config(tmp_path, venue.ccxt_options(), data_dir=missing)

    code, out, err = await _doctor(tmp_path, "--config", str(config), "--json")

    assert code == 1, out + err
    journal = _by_name(out)["journal"]
    assert journal["status"] == "fail"
    assert f"directory {missing} does not exist" in journal["detail"]
    assert "bot.data_dir" in journal["fix"]
    assert not missing.parent.exists()


@pytest.mark.asyncio
async def test_doctor_names_a_30_s_clock_skew_and_the_ntp_fix(tmp_path: Path) -> None:
    skewed = EmulatorConfig(api_key=KEY, api_secret=SECRET, history_bars=10, faults=FaultConfig(clock_skew_ms=30_000))
    async with BinanceEmulator(skewed) as emu:
        config = _config(tmp_path, emu.ccxt_options())
        code, out, err = await _doctor(tmp_path, "--config", str(config), "--json")

    assert code == 1, out + err
    clock = _by_name(out)["venue binance: clock"]
    assert clock["status"] == "fail"
    assert "venue clock 30.0" in clock["detail"] or "venue clock 29.9" in clock["detail"]
    assert "ahead of this host" in clock["detail"]
    assert "NTP" in clock["fix"]
    auth = _by_name(out)["venue binance: authenticated call"]  # signed requests fail too, with the same fix
    assert auth["status"] == "fail"
    assert "NTP" in auth["fix"]


@pytest.mark.asyncio
async def test_doctor_against_an_unreachable_venue_fails_within_its_timeout(
    tmp_path: Path, venue: BinanceEmulator
) -> None:
    options = json.loads(json.dumps(venue.ccxt_options()).replace(f":{venue.port}", ":9"))  # discard port: closed
    config = _config(tmp_path, options)

    started = time.monotonic()
    code, out, err = await _doctor(tmp_path, "--config", str(config), "--timeout", "2", "--json")

    assert code == 1, out + err
    assert time.monotonic() - started < 20
    checks = _by_name(out)
    assert checks["venue binance: reachable"]["status"] == "fail"
    assert "ccxt_options" in checks["venue binance: reachable"]["fix"]
    assert checks["venue binance: markets"]["status"] == "skip"


@pytest.mark.asyncio
async def test_doctor_paper_needs_no_keys_and_names_an_unlisted_symbol(tmp_path: Path, venue: BinanceEmulator) -> None:
    config = _config(tmp_path, venue.ccxt_options(), symbol="BTC/USDX")

    code, out, err = await _doctor(tmp_path, "--config", str(config), "--paper", "--json", key=None)

    assert code == 1, out + err
    checks = _by_name(out)
    assert checks["venue binance: credentials"]["status"] == "skip"
    assert checks["venue binance: authenticated call"]["status"] == "skip"
    assert checks["venue binance: markets"]["status"] == "fail"
    assert "BTC/USDX" in checks["venue binance: markets"]["detail"]
    assert "did you mean" in checks["venue binance: markets"]["detail"]


def test_doctor_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    from tests.integration.conftest import run_cli

    for args, expected in (
        (("--unit", str(tmp_path / "missing.service")), "--unit"),
        (("--config", str(tmp_path / "missing.json")), "--config"),
        (("--timeout", "nan"), "--timeout"),
        (("--max-clock-skew", "-1"), "--max-clock-skew"),
    ):
        result = run_cli("doctor", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stderr.startswith(f"error: {expected}")
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.asyncio
async def test_doctor_checks_each_venue_of_a_two_venue_strategy_and_names_the_one_with_a_wrong_key(
    tmp_path: Path,
) -> None:
    (tmp_path / "var").mkdir()
    async with (
        BinanceEmulator(EmulatorConfig(api_key="spot-key", api_secret="spot-secret", history_bars=10)) as spot,
        BinanceEmulator(EmulatorConfig(api_key="alt-key", api_secret="alt-secret", history_bars=10)) as alt,
    ):
        venue = {"name": "binance", "request_timeout_s": 3}
        config = {
            "bot": {"bot_id": "lp", "data_dir": str(tmp_path / "var")},
            "venues": {"spot": {**venue, "ccxt_options": spot.ccxt_options()},
                       "alt": {**venue, "ccxt_options": alt.ccxt_options()}},
            "strategy": {"name": "leg_pair", "params": {"first": "spot:BTC/USDT", "second": "alt:BTC/USDT",
                                                        "quantity": "0.001", "offset_bps": 15}},
        }  # fmt: skip
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        env = {
            "TRADING_BOT__VENUES__SPOT__API_KEY": "spot-key", "TRADING_BOT__VENUES__SPOT__SECRET": "spot-secret",
            "TRADING_BOT__VENUES__ALT__API_KEY": "not-the-alt-key", "TRADING_BOT__VENUES__ALT__SECRET": "alt-secret",
        }  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "runbot.py"), "doctor", "--config", str(path), "--json", cwd=tmp_path,
            env=cli_env(**env), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)

    assert proc.returncode == 1, (out + err).decode()
    checks = _by_name(out.decode())
    assert checks["config"]["status"] == "pass"  # the strategy's own instruments, as the bot resolves them
    assert checks["venue spot: authenticated call"]["status"] == "pass"
    assert checks["venue spot: markets"]["status"] == "pass"
    assert checks["venue alt: authenticated call"]["status"] == "fail"
    assert "TRADING_BOT__VENUES__ALT__API_KEY" in checks["venue alt: authenticated call"]["fix"]
    assert b"not-the-alt-key" not in out + err
    assert b"spot-secret" not in out + err


@pytest.mark.skipif("monitor" not in BotConfig.model_fields, reason="the config has no monitor section yet")
def test_doctor_names_an_enabled_monitor_without_a_token_and_never_shows_one(tmp_path: Path) -> None:
    from tests.integration.conftest import run_cli

    token = "doctor-monitor-token-0123456789"
    args = ("doctor", "--paper", "--timeout", "1", "--json")
    missing = run_cli(*args, cwd=tmp_path, TRADING_BOT__MONITOR__ENABLED="true")
    given = run_cli(*args, cwd=tmp_path, TRADING_BOT__MONITOR__ENABLED="true", TRADING_BOT__MONITOR__TOKEN=token)

    assert missing.returncode == 1
    assert _by_name(missing.stdout)["monitor token"]["status"] == "fail"
    assert "TRADING_BOT__MONITOR__TOKEN" in _by_name(missing.stdout)["monitor token"]["fix"]
    assert _by_name(given.stdout)["monitor token"]["status"] == "pass"
    assert token not in given.stdout + given.stderr
