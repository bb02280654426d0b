"""The CLI, run as a user runs it: exit codes, one-line errors, orderly stop on signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import QUOTES
from tests.integration.conftest import ROOT
from tests.integration.conftest import TRADES
from tests.integration.conftest import cli_env
from tests.integration.conftest import run_cli

REPLAY = ("--replay", str(QUOTES), "--replay", str(TRADES))


def test_replay_with_sma_cross_exits_0_and_prints_one_json_summary(workdir: Path) -> None:
    proc = run_cli(
        "--strategy", "sma_cross", "--exchange", "binance", *REPLAY,
        "--fast", "3", "--slow", "8", "--bar-seconds", "5", "--quantity", "0.01", "--json", cwd=workdir,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["market_events"] == 73174 + 19904
    assert summary["orders"]["submitted"] > 0
    assert summary["orders"]["denied"] == 0
    assert summary["fills"] == summary["orders"]["submitted"]
    assert summary["stop_reason"] == "end of market data"
    assert float(summary["fees"]) > 0
    # equity moves by exactly the realized PnL minus fees when the position ends flat
    if summary["position"] == "0":
        assert float(summary["equity"]) == pytest.approx(10000 + float(summary["net_pnl"]), abs=1e-6)


def test_unknown_strategy_exits_2_with_the_closest_name() -> None:
    proc = run_cli("--strategy", "sma_crss", "--exchange", "binance", *REPLAY)
    assert proc.returncode == 2
    assert "did you mean 'sma_cross'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_unknown_strategy_parameter_exits_2_naming_the_flag() -> None:
    proc = run_cli("--strategy", "sma_cross", *REPLAY, "--fsat", "3")
    assert proc.returncode == 2
    assert "--fsat" in proc.stderr
    assert "--fast" in proc.stderr


def test_bad_strategy_parameter_type_exits_2() -> None:
    proc = run_cli("--strategy", "sma_cross", *REPLAY, "--fast", "three")
    assert proc.returncode == 2
    assert "--fast" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_required_strategy_parameter_exits_2() -> None:
    proc = run_cli("--strategy", "grid", "--exchange", "binance", *REPLAY)
    assert proc.returncode == 2
    assert "--quantity" in proc.stderr


def test_unknown_config_key_exits_2_with_suggestion(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"risk": {"max_opn_orders": 3}}))
    proc = run_cli("--config", str(cfg), "--strategy", "sma_cross", *REPLAY)
    assert proc.returncode == 2
    assert "max_opn_orders" in proc.stderr
    assert "max_open_orders" in proc.stderr


def test_bad_config_value_type_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"risk": {"max_open_orders": "many"}}))
    proc = run_cli("--config", str(cfg), "--strategy", "sma_cross", *REPLAY)
    assert proc.returncode == 2
    assert "max_open_orders" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "not found"), (b"this is not gzip", "gzip"), (b"a,b,c\n1,2,3\n", "column")],
    ids=["missing", "not-gzip", "wrong-columns"],
)
def test_unreadable_or_malformed_replay_file_exits_2(tmp_path: Path, content: bytes | None, expected: str) -> None:
    path = tmp_path / "data.csv.gz" if content != b"a,b,c\n1,2,3\n" else tmp_path / "data.csv"
    if content is not None:
        path.write_bytes(content)
    proc = run_cli("--strategy", "sma_cross", "--replay", str(path))
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr.lower()
    assert "Traceback" not in proc.stderr


def test_bad_speed_flag_exits_2() -> None:
    proc = run_cli("--strategy", "sma_cross", *REPLAY, "--speed", "fast")
    assert proc.returncode == 2
    assert "--speed" in proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_replay_stops_in_order_and_exits_0(workdir: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "runbot.py"), "--strategy", "sma_cross", *REPLAY, "--speed", "1",
         "--log-format", "json", "--json"],
        cwd=workdir, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    for line in proc.stderr:
        if "bot_started" in line or time.monotonic() > deadline:
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    summary = json.loads(out)
    assert summary["stop_reason"] == f"signal {sig.name}"
    assert "bot_stopped" in err


def test_help_answers_without_importing_ccxt() -> None:
    code = (
        "import sys\n"
        "from trading_bot.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('CCXT' if 'ccxt' in sys.modules else 'NO-CCXT')\n"
        "print('PYDANTIC' if 'pydantic' in sys.modules else 'NO-PYDANTIC')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "run" in proc.stdout
    assert "NO-CCXT" in proc.stdout
    assert "NO-PYDANTIC" in proc.stdout


def test_list_strategies_shows_each_strategy_with_required_parameters() -> None:
    proc = run_cli("list-strategies")
    assert proc.returncode == 0
    assert "sma_cross" in proc.stdout
    assert "grid" in proc.stdout
    assert "required" in proc.stdout


def test_check_config_prints_effective_config_without_secrets(tmp_path: Path) -> None:
    proc = run_cli(
        "check-config", str(ROOT / "config.example.json"), cwd=tmp_path,
        TRADING_BOT__EXCHANGE__API_KEY="key-visible-nowhere", TRADING_BOT__EXCHANGE__SECRET="secret-visible-nowhere",
    )
    assert proc.returncode == 0, proc.stderr
    assert "key-visible-nowhere" not in proc.stdout + proc.stderr
    assert "secret-visible-nowhere" not in proc.stdout + proc.stderr
    config = json.loads(proc.stdout)
    assert config["exchange"]["api_key"] == "**********"


def test_grid_quantity_below_minimum_notional_exits_2_naming_the_minimum() -> None:
    proc = run_cli("--strategy", "grid", "--replay", str(QUOTES), "--quantity", "0.00001")
    assert proc.returncode == 2
    assert "minimum notional" in proc.stderr
    assert "use at least" in proc.stderr


def test_malformed_row_in_the_middle_of_a_replay_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    import gzip

    with gzip.open(QUOTES, "rt") as source:
        rows = source.read().splitlines()[:2000]
    rows.insert(1500, "1723161300000,notanumber,1,61000,1,1,1")
    bad = tmp_path / "quotes.csv"
    bad.write_text("\n".join(rows) + "\n")
    proc = run_cli("--strategy", "sma_cross", "--replay", str(bad), "--log-level", "error")
    assert proc.returncode == 2
    assert f"{bad}:1501" in proc.stderr
    assert "Traceback" not in proc.stderr
