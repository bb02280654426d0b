"""Fuzz the flags of every command: ``runbot.py COMMAND --flag VALUE ...`` with hostile values.

Rule guarded: whatever the values of the flags (NaN, inf, -0, 1e400, negative, empty, unicode digits,
paths that are directories, missing, FIFOs, garbage files), every command ends with exit 0, 1 or 2, one
``error:`` line on failure, never a traceback, never a hang (``tests/fuzz/harness.py``).

The commands and their flags are read from ``runbot.py --help`` and each ``COMMAND --help``, so a new
command or flag is fuzzed without touching this file. Commands that would trade or serve are bounded:
``run`` always gets a ``--replay`` (a short slice of the bundled data, or a hostile path), ``download-data``
a config whose exchange URLs point at a loopback server that answers every request with an empty JSON
object, and ``emulator`` a port of 0 (or a hostile one) and, in-process, a serve step that returns once the
server is up (the real process serves until a signal; the subprocess test sends one).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies import STRATEGIES
from tests.fuzz.harness import ROOT
from tests.fuzz.harness import assert_clean_exit
from tests.fuzz.harness import budget
from tests.fuzz.harness import clean_environ
from tests.fuzz.harness import run_inprocess
from tests.fuzz.harness import run_subprocess
from tests.fuzz.harness import serve_briefly
from tests.fuzz.harness import small_samples
from trading_bot.cli.values import check_flag
from trading_bot.domain.bounds import SpeedFactor
from trading_bot.emulator import server as emulator_server
from trading_bot.errors import ConfigError
from trading_bot.runtime.journal.store import Journal

pytestmark = pytest.mark.fuzz


# ----------------------------------------------------------------------------------- flag discovery
@dataclass(frozen=True)
class Flag:
    """One option of a command as ``--help`` shows it: ``--cash <str>``, ``--json`` (no metavar: a switch)."""

    name: str
    metavar: str | None


_OPTION = re.compile(r"^  (--[a-z][a-z0-9-]*)(?: <([^>]+)>)?")


def _help(*words: str) -> str:
    outcome = run_inprocess([*words, "--help"], cwd=ROOT)
    assert outcome.code == 0, outcome.stderr
    return outcome.stdout


def _commands() -> list[str]:
    text = _help().split("Commands:", 1)[1]
    return [line.split()[0] for line in text.splitlines() if line.startswith("  ") and line.split()]


def _flags(command: str) -> list[Flag]:
    found = []
    for line in _help(command).split("Options:", 1)[1].splitlines():
        match = _OPTION.match(line)
        if match and match.group(1) != "--help":
            found.append(Flag(match.group(1), match.group(2)))
    return found


COMMANDS = _commands()
FLAGS = {command: _flags(command) for command in COMMANDS}
STRATEGY_FLAGS = sorted(
    {"--" + name.replace("_", "-") for n in STRATEGIES.names() for name in STRATEGIES.get(n).Params.model_fields}
)


def test_every_command_and_its_flags_are_found_for_fuzzing() -> None:
    """Guards the discovery itself: a --help format change must not silently leave flags unfuzzed."""
    assert {"run", "backtest", "download-data", "emulator", "orders", "trades", "status", "check-config"} <= set(
        COMMANDS
    )
    assert {f.name for f in FLAGS["backtest"]} >= {"--strategy", "--data", "--cash", "--fee", "--report"}
    assert {f.name for f in FLAGS["emulator"]} >= {"--port", "--speed", "--walk-interval", "--latency-ms"}
    assert "--quantity" in STRATEGY_FLAGS


# ------------------------------------------------------------------------------------- value pools
NUMBERS = [
    "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e-400", "1e308", "-1", "-0", "0", "0.0",
    "-0.0", "1", "2", "5", "0.001", "0.5", "10000", "1e6", "1e15", "1e16", "", " ", "abc", "1,5", "0x10", "1_000",
    "١٢", "²", "½", "−1", "１", "9" * 5000, "-" + "9" * 30, "9" * 30, "1e999999999", "sNaN", "+5", "5.", ".5", "1e",
]  # fmt: skip
"""Number-ish flag values: non-finite, huge, negative, empty, unicode digits (``²`` passes ``str.isdigit``)."""
TEXTS = [
    "2024-08-08", "2024-08-08T12:00", "2024-02-30", "1970-01-01", "9999-12-31", "0001-01-01", "2100-01-01",
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00+23:59", "now", "1m", "0m", "1h", "1d", "99999999999999w", "1y",
    "BTC/USDT", "BTC", "ETH/USDT", "BTC/USDT:USDT", "/", "grid", "sma_cross", "paper", "binance", "open,filled",
    "open,,x", "debug", "json", "console", "LOUD", "tb1", "x" * 300, "é", "数据", "\u202e", "-", "--", "\t",
]  # fmt: skip
"""Text flag values: dates (odd and out of range), timeframes, symbols, names, statuses, levels, odd text."""


def _paths(scratch: Path, samples: dict[str, Path]) -> list[str]:
    """Path flag values: missing, a directory, a FIFO, files of the wrong kind, under a file, devices, samples."""
    return [
        str(scratch / "missing.csv"), str(scratch / "dir"), str(scratch / "fifo"), str(scratch / "garbage.bin"),
        str(scratch / "empty"), str(scratch / "garbage.bin" / "sub"), str(scratch / "bars_bad_tail.csv"),
        str(scratch / "config.json"), str(scratch / "journal.db"), "", ".", "/dev/null", "/dev/full",
        str(scratch / "数据.csv"), str(scratch / ("x" * 300)), *(str(p) for p in samples.values()),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fixed hostile files (the fuzz reads them; runs get their own working directory)."""
    root = tmp_path_factory.mktemp("fuzz-cli")
    (root / "dir").mkdir()
    os.mkfifo(root / "fifo")
    (root / "garbage.bin").write_bytes(b"\x1f\x8b\x00\xff garbage \x00\xfe")
    (root / "empty").write_bytes(b"")
    (root / "bars_bad_tail.csv").write_text("timestamp,open,high,low,close,volume\n1700000000000,1,1,1,1,1\nabc\n")
    (root / "config.json").write_text('{"risk": {"max_data_age_s": 1e308}}')
    asyncio.run(_empty_journal(root / "journal.db"))
    return root


async def _empty_journal(path: Path) -> None:
    journal = await Journal.open(f"sqlite+aiosqlite:///{path}")
    await journal.close()


@pytest.fixture(scope="module")
def samples(scratch: Path) -> dict[str, Path]:
    directory = scratch / "samples"
    directory.mkdir()
    return small_samples(directory)


class _EmptyJsonHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def offline_exchange(scratch: Path) -> Iterator[Path]:
    """A config whose binance URLs point at a loopback server answering ``{}``: download-data never leaves the host."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EmptyJsonHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    api = {k: base + p for k, p in emulator_server._REST_PATHS.items()}
    options = {"urls": {"api": api}, "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
               "fetchMargins": False, "fetchCurrencies": False, "adjustForTimeDifference": False}}  # fmt: skip
    path = scratch / "offline.json"
    path.write_text(json.dumps({"exchange": {"ccxt_options": options, "request_timeout_s": 2}}))
    yield path
    server.shutdown()
    thread.join(timeout=10)


# ------------------------------------------------------------------------------------ command lines
GOOD = {
    "--strategy": ["grid", "sma_cross"], "--quantity": ["0.001"], "--symbol": ["BTC/USDT"], "--ticker": ["BTC"],
    "--exchange": ["binance", "paper"], "--from": ["2024-08-08", "2023-03-10"], "--to": ["2024-08-09", "2023-03-11"],
    "--timeframe": ["1m", "1h"], "--cash": ["10000", "0.01"], "--fee": ["0", "0.001"], "--slippage-bps": ["5"],
    "--log-level": ["warning", "DEBUG"], "--log-format": ["json", "console"], "--limit": ["1", "5"],
    "--status": ["open", "filled,canceled"], "--since": ["2024-01-01", "0"], "--order": ["tb1-1"], "--port": ["0"],
    "--speed": ["1e6"], "--walk-interval": ["0.5"], "--seed": ["1"], "--latency-ms": ["0", "5"],
    "--clock-skew-ms": ["0", "-1000"], "--bot-id": ["tb2"], "--fast": ["2"], "--slow": ["5"], "--fraction": ["1"],
    "--take-profit": ["0.5"], "--max-orders": ["3"],
}  # fmt: skip
"""Valid values per flag: half of the values drawn come from here, so runs get past the first check."""


def _good(flag: str, scratch: Path, samples: dict[str, Path]) -> list[str]:
    if flag in ("--replay", "--data"):
        return [str(p) for p in samples.values()]
    if flag in ("--report", "--out", "--csv"):
        return [str(scratch / "out" / flag.strip("-")), str(scratch / f"new-{flag.strip('-')}.csv")]
    if flag == "--db":
        return [str(scratch / "journal.db")]
    if flag == "--config":
        return [str(scratch / "config.json"), str(scratch / "offline.json")]
    return GOOD.get(flag, [])


def _value(draw: st.DrawFn, flag: Flag, paths: list[str]) -> str:
    scratch = Path(paths[1]).parent
    samples = {str(i): Path(p) for i, p in enumerate(paths) if "/samples/" in p}
    good = _good(flag.name, scratch, samples)
    if good and draw(st.booleans()):
        return draw(st.sampled_from(good))
    kind = (flag.metavar or "").lower()
    if "path" in kind:
        return draw(st.sampled_from(paths))
    if "int" in kind:
        return draw(st.one_of(st.sampled_from(NUMBERS), st.integers(-(2**70), 2**70).map(str)))
    free = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
    return draw(st.one_of(st.sampled_from(NUMBERS), st.sampled_from(TEXTS), free))


def _options(draw: st.DrawFn, flags: list[Flag], paths: list[str], skip: set[str]) -> list[str]:
    argv: list[str] = []
    for flag in draw(st.lists(st.sampled_from(flags), max_size=5)) if flags else []:
        if flag.name in skip:
            continue
        argv.append(flag.name)
        if flag.metavar is not None:
            argv.append(_value(draw, flag, paths))
    return argv


def _bounded_speed(text: str) -> str:
    """Keep ``--speed`` hostile but bounded: a valid factor below 1e5 (a legitimately slow replay) becomes max."""
    try:
        value: float = check_flag("--speed", text, SpeedFactor)
    except ConfigError:
        return text
    return text if value >= 1e5 else "max"


def _strategy_params(draw: st.DrawFn) -> list[str]:
    argv: list[str] = []
    for flag in draw(st.lists(st.sampled_from([*STRATEGY_FLAGS, "--bogus", "--no-boost", "--"]), max_size=3)):
        argv.append(flag)
        if flag in GOOD and draw(st.booleans()):
            argv.append(draw(st.sampled_from(GOOD[flag])))
        elif draw(st.booleans()):
            argv.append(draw(st.sampled_from(NUMBERS + TEXTS[:8])))
    return argv


@st.composite
def command_lines(
    draw: st.DrawFn, command: str, paths: list[str], samples: dict[str, Path], offline: Path
) -> list[str]:
    """A bounded command line for ``command`` with random flags and values (see the module docstring)."""
    flags = FLAGS[command]
    sample = st.sampled_from([str(p) for p in samples.values()])
    if command == "run":
        head = ["--replay", draw(st.one_of(sample, st.sampled_from(paths)))]
        tail = ["--speed", _bounded_speed(draw(st.sampled_from([*NUMBERS, "max"])))] if draw(st.booleans()) else []
        argv = ["run", *head, *_options(draw, flags, paths, {"--replay", "--speed"}), *tail]
        if draw(st.booleans()):
            argv += ["--strategy", "grid", "--quantity", draw(st.sampled_from(["0.001", *NUMBERS]))]
        return argv + _strategy_params(draw)
    if command == "backtest":
        head = ["--strategy", draw(st.sampled_from(["grid", "sma_cross", "sma_cross", "gird", ""]))]
        head += ["--data", draw(st.one_of(sample, st.sampled_from(paths)))]
        return ["backtest", *head, *_options(draw, flags, paths, {"--strategy"}), *_strategy_params(draw)]
    if command == "download-data":
        config = draw(st.sampled_from([str(offline)] * 4 + paths[:4]))
        out = draw(st.sampled_from([*paths, str(Path(paths[0]).parent / "runs" / "new.csv")]))
        exchange = draw(st.sampled_from(["binance", "binance", "BINANCE", "paper", "nope", "", "数据"]))
        symbol = draw(st.sampled_from(["BTC/USDT", "BTC/USDT", "ETH/USDT", "", "nope", "BTCUSDT", "/"]))
        start = ["--from", draw(st.sampled_from(["2024-08-08", *TEXTS[:8]]))] if draw(st.booleans()) else []
        skip = {"--config", "--exchange", "--out", "--symbol"}
        return ["download-data", "--config", config, "--out", out, "--exchange", exchange, "--symbol", symbol,
                *start, *_options(draw, flags, paths, skip)]  # fmt: skip
    if command == "emulator":
        port = "0" if draw(st.booleans()) else draw(st.sampled_from(["-1", "65536", "1e400", "nan", "", "abc", "²"]))
        return ["emulator", "--port", port, *_options(draw, flags, paths, {"--port"})]
    extra = draw(st.lists(st.sampled_from(["extra", "--bogus", "-x", "--", *paths[:3]]), max_size=2))
    if command == "check-config":
        return ["check-config", *draw(st.lists(st.sampled_from(paths), max_size=1)), *extra]
    return [command, *_options(draw, flags, paths, set()), *(extra if draw(st.booleans()) else [])]


def _check(argv: list[str], cwd: Path) -> None:
    with mock.patch.object(emulator_server, "run_emulator", serve_briefly):
        assert_clean_exit(run_inprocess(argv, cwd=cwd))


_WEIGHTS = {"run": 1.0, "backtest": 1.0, "download-data": 0.5, "emulator": 0.5, "orders": 0.5, "trades": 0.5,
            "status": 0.3, "check-config": 0.3, "list-strategies": 0.1, "list-exchanges": 0.1}  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_any_flag_values_end_with_exit_0_1_or_2_and_one_error_line(
    command: str, scratch: Path, samples: dict[str, Path], offline_exchange: Path, tmp_path: Path
) -> None:
    paths = _paths(scratch, samples)

    @budget(_WEIGHTS.get(command, 0.3))
    @given(argv=command_lines(command, paths, samples, offline_exchange))
    def check(argv: list[str]) -> None:
        _check(argv, tmp_path)

    check()


@budget(0.5)
@given(words=st.lists(st.sampled_from(["bogus", "--hlep", "-h", "--help", "RUN", "run", "--", "backtest"]), max_size=2))
def test_any_first_word_is_a_command_help_or_a_run_and_ends_cleanly(
    words: list[str], samples: dict[str, Path], tmp_path: Path
) -> None:
    """A word that is no command makes a run: given a replay it must still end cleanly (never go live)."""
    _check([*words, "--replay", str(samples["quotes"]), "--strategy", "grid", "--quantity", "0.001"], tmp_path)


# ------------------------------------------------------------------------------- real processes
@budget(0.1)
@given(data=st.data())
def test_hostile_flags_in_a_real_process_end_with_exit_0_1_or_2_and_one_error_line(
    data: st.DataObject, scratch: Path, samples: dict[str, Path], offline_exchange: Path, tmp_path: Path
) -> None:
    paths = _paths(scratch, samples)
    command = data.draw(st.sampled_from([c for c in COMMANDS if c != "emulator"]))
    argv = data.draw(command_lines(command, paths, samples, offline_exchange))
    assert_clean_exit(run_subprocess(argv, cwd=tmp_path))


def test_every_help_answers_in_a_real_process(tmp_path: Path) -> None:
    for words in ([], *([c] for c in COMMANDS)):
        outcome = run_subprocess([*words, "--help"], cwd=tmp_path)
        assert_clean_exit(outcome, allowed=(0,))
        assert outcome.stdout.startswith("Usage: runbot.py"), outcome.stdout


def test_the_emulator_with_valid_flags_serves_until_sigint_then_exits_0(
    samples: dict[str, Path], tmp_path: Path
) -> None:
    """The end-to-end half of the emulator fuzz: a real process with a replay starts, and stops cleanly on SIGINT."""
    command = [sys.executable, str(ROOT / "runbot.py"), "emulator", "--port", "0", "--replay", str(samples["bars"]),
               "--speed", "1e6", "--latency-ms", "0"]  # fmt: skip
    with subprocess.Popen(command, cwd=tmp_path, env=clean_environ(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("# emulator on"):
                    break
            assert lines, "no output"
            assert lines[-1].startswith("# emulator on"), "".join(lines)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
