"""Hostile input to the real CLI (a subprocess): every bad value, path or usage is one line and exit 2.

Each case asserts exit 2, exactly one ``error:`` line on stderr naming the field or flag, no traceback,
and an answer well within the timeout (a FIFO given as a config file used to hang for ever). The cases
run concurrently once per module (each is a ~1 s process start) and are then checked one by one.
Also here, from real output: secrets never printed by ``check-config``, and report / CSV files created
``0600`` under the usual umask 022.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.integration.conftest import QUOTES
from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from trading_bot.runtime.journal.store import Journal

TIMEOUT_S = 60
SECRET = "Sup3r-S3cret/With@Odd:Chars"


@dataclass(frozen=True)
class Case:
    """One hostile command line: ``args`` (``{dir}`` is the case's scratch directory), extra env, what to find."""

    id: str
    args: tuple[str, ...]
    needle: str
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


def _config(**sections: object) -> str:
    return json.dumps(sections)


GOOD_QUOTES = "timestamp,bid_price,bid_size,ask_price,ask_size\n1723075200000,100,1,100.1,1\n"


def _gzip_with_junk(text: str) -> str:
    """A gzip member followed by a junk byte, as the text ``Case.files`` writes back byte for byte."""
    return (gzip.compress(text.encode()) + b"\x01").decode("utf-8", "surrogateescape")


GRID = ("--strategy", "grid", "--quantity", "0.001", "--replay", str(QUOTES))
BACKTEST = ("backtest", "--strategy", "sma_cross", "--data", str(QUOTES))

CASES = [
    # config values that used to pass validation and overflow or spin mid-run
    Case("heartbeat-inf", ("check-config", "{dir}/c.json"), "bot.heartbeat_s:",
         files={"c.json": '{"bot": {"heartbeat_s": Infinity}}'}),
    Case("heartbeat-tiny-env", ("check-config",), "bot.heartbeat_s:", env={"TRADING_BOT__BOT__HEARTBEAT_S": "1e-300"}),
    Case("data-age-1e308", ("check-config", "{dir}/c.json"), "risk.max_data_age_s:",
         files={"c.json": '{"risk": {"max_data_age_s": 1e308}}'}),
    Case("stall-inf", ("check-config", "{dir}/c.json"), "risk.protection.stall_timeout_s:",
         files={"c.json": '{"risk": {"protection": {"stall_timeout_s": Infinity}}}'}),
    Case("failure-window-1e308-env", ("check-config",), "risk.protection.failure_window_s:",
         env={"TRADING_BOT__RISK__PROTECTION__FAILURE_WINDOW_S": "1e308"}),
    Case("request-timeout-inf", ("check-config", "{dir}/c.json"), "exchange.request_timeout_s:",
         files={"c.json": '{"exchange": {"request_timeout_s": Infinity}}'}),
    Case("deep-json", ("check-config", "{dir}/c.json"), "nested deeper than 32 levels",
         files={"c.json": '{"bot": ' + "[" * 100_000 + "]" * 100_000 + "}"}),
    Case("fifo", ("check-config", "{dir}/fifo"), "is a FIFO"),
    Case("directory", ("check-config", "{dir}"), "is a directory"),
    Case("unknown-strategy", ("check-config", "{dir}/c.json"),
         "strategy.name: unknown strategy 'gird' (did you mean 'grid'?)",
         files={"c.json": _config(strategy={"name": "gird"})}),
    Case("bad-strategy-param", ("check-config", "{dir}/c.json"), "--quantity",
         files={"c.json": _config(strategy={"name": "grid", "params": {"quantity": -1}})}),
    Case("misspelled-strategy-param", ("check-config", "{dir}/c.json"),
         "strategy.params: strategy sma_cross: unknown parameter --fsat (did you mean --fast?)",
         files={"c.json": _config(strategy={"name": "sma_cross", "params": {"fsat": 5}})}),
    Case("missing-strategy-param", ("check-config", "{dir}/c.json"),
         "strategy.params: strategy grid: missing required parameter --quantity",
         files={"c.json": _config(strategy={"name": "grid", "params": {}})}),
    Case("unknown-exchange", ("check-config", "{dir}/c.json"), "exchange.name: unknown exchange 'binanse' (did you",
         files={"c.json": _config(exchange={"name": "binanse"})}),
    Case("header-secret-in-file", ("check-config", "{dir}/c.json"), "exchange.ccxt_options.headers.X-MBX-APIKEY:",
         files={"c.json": _config(exchange={"ccxt_options": {"headers": {"X-MBX-APIKEY": SECRET}}})}),
    Case("param-secret-in-file", ("check-config", "{dir}/c.json"), "strategy.params.api_token:",
         files={"c.json": _config(strategy={"name": "grid", "params": {"api_token": SECRET}})}),
    # run flags
    Case("speed-nan", (*GRID, "--speed", "nan"), "--speed:"),
    Case("speed-negative", (*GRID, "--speed", "-1"), "--speed:"),
    Case("wait-time-inf", (*GRID, "--wait-time", "inf"), "--wait-time:"),
    Case("fill-timeout-inf", (*GRID, "--fill-timeout", "inf"), "--fill-timeout:"),
    Case("recheck-interval-inf", (*GRID, "--recheck-interval", "inf"), "--recheck-interval:"),
    Case("position-check-interval-inf", (*GRID, "--position-check-interval", "inf"), "--position-check-interval:"),
    Case("quantity-1e400", ("--strategy", "grid", "--quantity", "1e400", "--replay", str(QUOTES)), "--quantity:"),
    # backtest and download-data
    Case("cash-1e400", (*BACKTEST, "--cash", "1e400"), "--cash:"),
    Case("fee-nan", (*BACKTEST, "--fee", "nan"), "--fee:"),
    Case("slippage-inf", (*BACKTEST, "--slippage-bps", "inf"), "--slippage-bps:"),
    Case("report-is-a-file", (*BACKTEST, "--report", "{dir}/taken"), "--report:", files={"taken": "x"}),
    Case("report-under-a-file", (*BACKTEST, "--report", "{dir}/taken/sub"), "--report:", files={"taken": "x"}),
    Case("backtest-missing-data", ("backtest", "--strategy", "grid"), "Missing option '--data'"),
    Case("download-out-is-a-dir", ("download-data", "--symbol", "BTC/USDT", "--out", "{dir}", "--from", "2024-01-01"),
         "--out:"),
    Case("download-limit-0", ("download-data", "--symbol", "BTC/USDT", "--out", "{dir}/x.csv", "--limit", "0"),
         "--limit"),
    # emulator
    Case("emulator-port-negative", ("emulator", "--port", "-1"), "--port"),
    Case("emulator-speed-negative", ("emulator", "--port", "0", "--speed", "-1"), "--speed:"),
    Case("emulator-walk-interval-0", ("emulator", "--port", "0", "--walk-interval", "0"), "--walk-interval:"),
    Case("emulator-latency-negative", ("emulator", "--port", "0", "--latency-ms", "-5"), "--latency-ms:"),
    Case("emulator-replay-dir", ("emulator", "--port", "0", "--replay", "{dir}"), "--replay:"),
    Case("emulator-unknown-option", ("emulator", "--bogus"), "No such option: --bogus"),
    Case("emulator-funding-interval-without-futures", ("emulator", "--port", "0", "--funding-interval-ms", "1000"),
         "--funding-interval-ms: applies to the futures venue; add --futures"),
    # journal and parser usage
    Case("trades-csv-is-a-dir", ("trades", "--db", "{dir}/journal.db", "--csv", "{dir}"), "--csv:"),
    Case("orders-limit-0", ("orders", "--db", "{dir}/journal.db", "--limit", "0"), "--limit"),
    Case("list-strategies-extra-argument", ("list-strategies", "extra"), "unexpected extra argument"),
    # found by the fuzz suite (tests/fuzz): each used to end in a traceback
    Case("orders-since-superscript-digit", ("orders", "--db", "{dir}/journal.db", "--since", "²"), "--since:"),
    Case("orders-since-epoch-too-big", ("orders", "--db", "{dir}/journal.db", "--since", "9" * 30), "--since:"),
    Case("trades-since-5000-digits", ("trades", "--db", "{dir}/journal.db", "--since", "9" * 5000), "--since:"),
    Case("orders-limit-too-big", ("orders", "--db", "{dir}/journal.db", "--limit", "9" * 30), "--limit"),
    Case("trades-csv-name-too-long", ("trades", "--db", "{dir}/journal.db", "--csv", "{dir}/" + "x" * 300), "--csv:"),
    Case("replay-name-too-long", ("--strategy", "grid", "--quantity", "0.001", "--replay", "{dir}/" + "x" * 300),
         "File name too long"),
    Case("backtest-data-name-too-long", ("backtest", "--strategy", "sma_cross", "--data", "{dir}/" + "x" * 300),
         "File name too long"),
    Case("emulator-replay-name-too-long", ("emulator", "--port", "0", "--replay", "{dir}/" + "x" * 300), "--replay:"),
    Case("download-out-without-timestamp", ("download-data", "--symbol", "BTC/USDT", "--out", "{dir}/bars.csv",
         "--from", "2024-01-01"), "does not start with an epoch ms timestamp",
         files={"bars.csv": "timestamp,open,high,low,close,volume\nabc\n"}),
    Case("download-out-not-utf8", ("download-data", "--symbol", "BTC/USDT", "--out", "{dir}/bars.csv",
         "--from", "2024-01-01"), "cannot read it as a bar file",
         files={"bars.csv": "timestamp,open,high,low,close\n\udcff"}),
    Case("backtest-quote-price-1e999999999", ("backtest", "--strategy", "sma_cross", "--symbol", "BTC/USDT", "--data",
         "{dir}/q.csv"), "q.csv:2: bid 1E+999999999 must be at most 1e15",
         files={"q.csv": "timestamp,bid_price,bid_size,ask_price,ask_size\n"
                         "1723075200000,1e999999999,1,1e999999999,1\n"}),
    Case("download-out-fifo", ("download-data", "--symbol", "BTC/USDT", "--out", "{dir}/fifo", "--from", "2024-01-01"),
         "/fifo is a FIFO; give a regular file"),  # used to wait for a reader for ever
    Case("trades-csv-fifo", ("trades", "--db", "{dir}/journal.db", "--csv", "{dir}/fifo"),
         "/fifo is a FIFO; give a regular file"),
    Case("backtest-from-superscript-digit", (*BACKTEST, "--from", "²"), "expected a date"),
    Case("backtest-to-5000-digits", (*BACKTEST, "--to", "9" * 5000), "epoch ms must be before 2100"),
    Case("backtest-quotes-gzip-with-junk", ("backtest", "--strategy", "sma_cross", "--symbol", "BTC/USDT", "--data",
         "{dir}/q.csv.gz"), "q.csv.gz:3: unreadable data", files={"q.csv.gz": _gzip_with_junk(GOOD_QUOTES)}),
    Case("emulator-replay-row-without-symbol", ("emulator", "--port", "0", "--replay", "{dir}/b.csv"),
         "b.csv:3: the row has no symbol cell",
         files={"b.csv": "timestamp,open,high,low,close,symbol\n1723075200000,1,1,1,1,BTCUSDT\n1723075260000,1\n"}),
    Case("emulator-replay-bar-1e999999", ("emulator", "--port", "0", "--replay", "{dir}/b.csv"),
         "b.csv:2: open 1E+999999 must be at most 1e15",
         files={"b.csv": "timestamp,open,high,low,close\n1723075200000,1e999999,1e999999,1e999999,1e999999\n"}),
]  # fmt: skip


async def _empty_journal(path: Path) -> None:
    journal = await Journal.open(f"sqlite+aiosqlite:///{path}")
    await journal.close()


def _run(case: Case, scratch: Path) -> subprocess.CompletedProcess[str]:
    directory = scratch / case.id
    directory.mkdir()
    for name, text in case.files.items():
        (directory / name).write_text(text, encoding="utf-8", errors="surrogateescape")  # "\udcff" is the byte 0xff
    if case.id == "fifo" or case.id.endswith("-fifo"):
        os.mkfifo(directory / "fifo")
    if case.id.startswith(("trades-", "orders-")):
        asyncio.run(_empty_journal(directory / "journal.db"))
    args = [arg.replace("{dir}", str(directory)) for arg in case.args]
    command = [sys.executable, str(ROOT / "runbot.py"), *args]
    try:
        return subprocess.run(
            command, cwd=directory, env=cli_env(**case.env), capture_output=True, text=True, timeout=TIMEOUT_S,
            check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:  # a hang: reported by the case, not as an error of every case
        return subprocess.CompletedProcess(command, -9, "", f"hung: no answer within {TIMEOUT_S} s")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    scratch = tmp_path_factory.mktemp("hostile")
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = pool.map(lambda case: (case.id, _run(case, scratch)), CASES)
        return dict(done)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_hostile_input_exits_2_with_one_error_line_naming_the_field(
    case: Case, results: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    proc = results[case.id]
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("error: ")
    assert case.needle in lines[0]
    assert SECRET not in proc.stderr + proc.stdout


# ------------------------------------------------------------------------------ secrets in real output


def _cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "runbot.py"), *args],
        cwd=cwd, env=cli_env(**env), capture_output=True, text=True, timeout=TIMEOUT_S, check=False, umask=0o022,
    )  # fmt: skip


def test_check_config_prints_no_secret_from_the_environment_wherever_it_sits(tmp_path: Path) -> None:
    """A URL password must be percent-encoded to be a URL at all; encoded or not, it is never printed."""
    options = {"headers": {"AUTH": SECRET, "X-MBX-APIKEY": SECRET}, "options": {"apiToken": SECRET}}
    encoded = quote(SECRET, safe="")
    proc = _cli(
        "check-config",
        cwd=tmp_path,
        TRADING_BOT__EXCHANGE__CCXT_OPTIONS=json.dumps(options),
        TRADING_BOT__PERSISTENCE__DB_URL=f"postgresql+asyncpg://bot:{encoded}@db:5432/journal",
        TRADING_BOT__PERSISTENCE__ENABLED="false",  # validated and printed, not opened (no server here)
        TRADING_BOT__EXCHANGE__SECRET=SECRET,
    )
    assert proc.returncode == 0, proc.stderr
    for text in (SECRET, encoded):
        assert text not in proc.stdout + proc.stderr
    for part in SECRET.replace("@", "/").replace(":", "/").split("/"):
        assert part not in proc.stdout  # no half of it either
    printed = json.loads(proc.stdout)
    assert printed["persistence"]["db_url"] == "postgresql+asyncpg://bot:**********@db:5432/journal"
    assert printed["exchange"]["ccxt_options"]["headers"] == {"AUTH": "**********", "X-MBX-APIKEY": "**********"}


def test_check_config_refuses_an_unencoded_url_password_without_printing_it(tmp_path: Path) -> None:
    proc = _cli(
        "check-config", cwd=tmp_path, TRADING_BOT__PERSISTENCE__DB_URL=f"postgresql+asyncpg://bot:{SECRET}@db:5432/j"
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: persistence.db_url")
    for part in SECRET.replace("@", "/").replace(":", "/").split("/"):
        assert part not in proc.stdout + proc.stderr


# ----------------------------------------------------------------------------------- private files


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _bars(path: Path, count: int = 120) -> Path:
    rows = ["timestamp,open,high,low,close,volume"]
    for i in range(count):
        price = 100 + (i % 17) - (i % 5)
        rows.append(f"{1_700_000_000_000 + i * 60_000},{price},{price + 1},{price - 1},{price + 0.5},10")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_backtest_report_files_are_created_0600_in_a_0700_directory(tmp_path: Path) -> None:
    data = _bars(tmp_path / "binance_BTCUSDT_1m.csv")
    proc = _cli("backtest", "--strategy", "sma_cross", "--data", str(data), "--fast", "2", "--slow", "5",
                "--report", str(tmp_path / "out" / "rep"), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = tmp_path / "out" / "rep"
    assert {p.name: _mode(p) for p in report.iterdir()} == {
        "report.html": 0o600,
        "trades.csv": 0o600,
        "fills.csv": 0o600,
        "equity.csv": 0o600,
    }
    assert (_mode(tmp_path / "out"), _mode(report)) == (0o700, 0o700)


def test_trades_csv_export_is_created_0600(tmp_path: Path) -> None:
    asyncio.run(_empty_journal(tmp_path / "journal.db"))
    proc = _cli("trades", "--db", str(tmp_path / "journal.db"), "--csv", str(tmp_path / "fills.csv"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _mode(tmp_path / "fills.csv") == 0o600


def test_trades_csv_that_cannot_be_written_at_run_time_exits_1_with_one_line(tmp_path: Path) -> None:
    asyncio.run(_empty_journal(tmp_path / "journal.db"))
    proc = _cli("trades", "--db", str(tmp_path / "journal.db"), "--csv", "/dev/full", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines() == ["error: --csv: cannot write /dev/full: No space left on device"]
