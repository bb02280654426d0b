"""A paper replay of two real symbols at once (Binance.US BTC/USDT and BTC/USDC 1m bars, March 2023, the USDC
de-peg): both trade, the summary has one block per instrument, and with cash enough that the shared account
never binds each instrument's trade fingerprint equals a single-symbol replay of its file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.conftest import SAMPLE
from tests.integration.conftest import run_cli

USDT = SAMPLE / "binanceus_BTCUSDT_1m_2023-03-10_13.csv.gz"
USDC = SAMPLE / "binanceus_BTCUSDC_1m_2023-03-10_13.csv.gz"
STRATEGY = ("--strategy", "sma_cross", "--fast", "5", "--slow", "20", "--quantity", "0.01")


def _replay(workdir: Path, *args: str) -> dict[str, Any]:
    config = workdir / "config.json"
    config.write_text(json.dumps({"exchange": {"paper": {"balances": {"USDT": "1000000", "USDC": "1000000"}}}}))
    proc = run_cli("--config", str(config), *STRATEGY, "--json", *args, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary: dict[str, Any] = json.loads(proc.stdout)
    return summary


def test_two_symbol_replay_trades_both_and_each_fingerprint_equals_its_single_symbol_run(workdir: Path) -> None:
    both = _replay(
        workdir, "--replay", str(USDT), "--replay", str(USDC), "--symbol", "BTC/USDT", "--symbol", "BTC/USDC"
    )
    alone_usdt = _replay(workdir, "--replay", str(USDT), "--symbol", "BTC/USDT")
    alone_usdc = _replay(workdir, "--replay", str(USDC), "--symbol", "BTC/USDC")

    blocks = both["instruments"]
    assert blocks["binance:BTC/USDT"]["fills"] > 0
    assert blocks["binance:BTC/USDC"]["fills"] > 0
    assert blocks["binance:BTC/USDT"]["trade_fingerprint"] == alone_usdt["trade_fingerprint"]
    assert blocks["binance:BTC/USDC"]["trade_fingerprint"] == alone_usdc["trade_fingerprint"]
    assert both["market_events"] == alone_usdt["market_events"] + alone_usdc["market_events"]


def test_symbol_equals_file_names_the_symbol_of_a_file_and_a_contradiction_is_refused(workdir: Path) -> None:
    named = _replay(workdir, "--replay", f"BTC/USDT={USDT}", "--replay", f"BTC/USDC={USDC}",
                    "--symbol", "BTC/USDT", "--symbol", "BTC/USDC")  # fmt: skip
    assert set(named["instruments"]) == {"binance:BTC/USDT", "binance:BTC/USDC"}
    proc = run_cli("--replay", f"BTC/USDC={USDT}", "--replay", str(USDC), "--symbol", "BTC/USDT",
                   "--symbol", "BTC/USDC", *STRATEGY, cwd=workdir)  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: --replay"), proc.stderr
