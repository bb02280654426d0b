"""Hostile inputs to the several-instrument CLI: each ends with a documented exit code, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__: list[str] = []

_ROOT = Path(__file__).resolve().parents[2]
_BARS = _ROOT / "trading_bot" / "sample_data" / "binanceus_BTCUSDT_1m_2023-03-10_13.csv.gz"


def _backtest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(_ROOT / "runbot.py"), "backtest", "--strategy", "sma_cross", "--quantity", "0.01", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=_ROOT,
    )


def test_single_symbol_backtest_accepts_a_venue_prefix_like_the_several_symbol_one() -> None:
    """Rule: `--symbol venue:SYMBOL` in a one-symbol backtest means that symbol (the venue is only a name).

    It used to exit 2 saying the file "carries BTC/USDT; rename it if it really holds BINANCE data".
    """
    prefixed = _backtest("--symbol", "binance:BTC/USDT", "--data", str(_BARS))
    plain = _backtest("--symbol", "BTC/USDT", "--data", str(_BARS))
    assert prefixed.returncode == 0, prefixed.stderr[-2000:]
    assert "Traceback" not in prefixed.stderr
    fingerprint = [line for line in prefixed.stdout.splitlines() if line.startswith("trade fingerprint")]
    assert fingerprint
    assert fingerprint == [line for line in plain.stdout.splitlines() if line.startswith("trade fingerprint")]


def test_an_empty_symbol_is_refused_not_read_as_no_symbol() -> None:
    """Rule: `--symbol ""` is a bad value (exit 2, one line), as in a live run; it does not mean "from the file"."""
    proc = _backtest("--symbol", "", "--data", str(_BARS))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: --symbol: empty"), proc.stderr
    assert "Traceback" not in proc.stderr
