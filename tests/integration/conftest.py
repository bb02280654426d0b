"""Helpers for running the real CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "trading_bot" / "sample_data"
QUOTES = SAMPLE / "binance_BTCUSDT_quotes_2024-08-08.csv.gz"
TRADES = SAMPLE / "binance_BTCUSDT_trades_2024-08-08.csv.gz"


def cli_env(**extra: str) -> dict[str, str]:
    """Return a clean environment for the CLI: no inherited TRADING_BOT__ settings, JSON logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_BOT__")}
    env.update(extra)
    return env


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python runbot.py ARGS`` and return the finished process (text mode)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "runbot.py"), *args],
        cwd=cwd or ROOT,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty working directory (no .env, no var/ from other runs)."""
    return tmp_path
