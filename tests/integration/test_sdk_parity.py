"""The SDK strategies give the same trades in ``runbot.py backtest`` and in a paper ``runbot.py --replay`` of
the same real data (DESIGN.md §2, one simulator): bars decided on in ``on_bar`` do not depend on the mode.

Real data: the bundled Binance.US BTC/USDT 1m bars (March 2023, first 600 bars) and, for bars built from
ticks, the bundled Binance BTC/USDT quotes and trades (August 2024). Sizes stay inside the replay's live
risk defaults (1,000 USDT per order).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import run_cli
from tests.integration.test_simulator_parity import QUOTES
from tests.integration.test_simulator_parity import TRADES
from tests.integration.test_simulator_parity import _first_bars

ARGS: dict[str, tuple[str, ...]] = {
    "momentum": ("--lookback", "10", "--threshold", "0.001", "--fraction", "0.05"),
    "rsi_reversion": ("--period", "6", "--fraction", "0.05"),
    "macd_trend": ("--fast", "5", "--slow", "13", "--signal", "4", "--fraction", "0.05"),
    "bollinger_breakout": ("--period", "10", "--k", "1.5", "--fraction", "0.05"),
    "dca": ("--interval-bars", "30", "--amount", "200", "--take-profit", "0.002"),
}


def _run(
    workdir: Path,
    mode: str,
    strategy: str,
    extra: tuple[str, ...],
    data: tuple[Path, ...],
    *,
    logs: list[str] | None = None,
) -> dict[str, Any]:
    flag = "--data" if mode == "backtest" else "--replay"
    files = [a for path in data for a in (flag, str(path))]
    if mode == "backtest":
        cmd = ["backtest", "--strategy", strategy, *extra, *files, "--fee", "0.001", "--cash", "10000", "--json"]
    else:
        config = workdir / "paper.json"
        paper = {"balances": {"USDT": "10000"}, "maker_fee": "0.001", "taker_fee": "0.001"}
        config.write_text(json.dumps({"exchange": {"paper": paper}}))
        cmd = ["--config", str(config), "--strategy", strategy, *extra, "--symbol", "BTC/USDT", *files, "--json"]
    if logs is not None:
        cmd += ["--log-level", "info"]
    proc = run_cli(*cmd, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    if logs is not None:
        logs.extend(proc.stderr.splitlines())
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def _precomputed(logs: list[str]) -> int:
    events = [json.loads(line) for line in logs if '"indicators_precomputed"' in line]
    return sum(int(e["indicators"]) for e in events)


@pytest.mark.parametrize("strategy", sorted(ARGS))
def test_bar_data_gives_the_same_trades_in_backtest_and_replay(workdir: Path, strategy: str) -> None:
    """Both know their bars ahead and precompute the declared indicators (``test_precomputed_indicators``
    compares that with bar-by-bar indicators)."""
    bars = _first_bars(workdir, 600)
    backtest_logs: list[str] = []
    replay_logs: list[str] = []
    backtest = _run(workdir, "backtest", strategy, ARGS[strategy], (bars,), logs=backtest_logs)
    replay = _run(workdir, "replay", strategy, ARGS[strategy], (bars,), logs=replay_logs)
    assert backtest["metrics"]["fill_count"] == replay["fills"] > 0
    assert backtest["fingerprint"] == replay["trade_fingerprint"]
    assert _precomputed(backtest_logs) == (0 if strategy == "dca" else 1)
    assert _precomputed(replay_logs) == _precomputed(backtest_logs)


def test_bars_built_from_quotes_and_trades_give_the_same_trades_in_backtest_and_replay(workdir: Path) -> None:
    extra = ("--bar-timeframe", "10s", *ARGS["momentum"])
    backtest = _run(workdir, "backtest", "momentum", extra, (QUOTES, TRADES))
    replay = _run(workdir, "replay", "momentum", extra, (QUOTES, TRADES))
    assert backtest["metrics"]["fill_count"] == replay["fills"] > 0
    assert backtest["fingerprint"] == replay["trade_fingerprint"]


EXITS = ("--stop-loss", "0.003", "--take-profit", "0.004", "--trailing-stop", "0.003", "--time-stop", "30m")


def test_exit_barriers_fire_alike_in_backtest_and_replay_on_bar_data(workdir: Path) -> None:
    """Rule: exits are watched by the same strategy code in every mode, so barriers close the same trades."""
    bars = _first_bars(workdir, 600)
    extra = (*ARGS["rsi_reversion"], *EXITS)
    backtest = _run(workdir, "backtest", "rsi_reversion", extra, (bars,))
    replay = _run(workdir, "replay", "rsi_reversion", extra, (bars,))
    plain = _run(workdir, "backtest", "rsi_reversion", ARGS["rsi_reversion"], (bars,))

    assert backtest["metrics"]["fill_count"] == replay["fills"]
    assert backtest["fingerprint"] == replay["trade_fingerprint"] != plain["fingerprint"]
    fired = replay["strategy_summary"]
    assert all(fired.get(f"exits_{barrier}", 0) > 0 for barrier in ("sl", "tp", "trail", "time")), fired


def test_exit_barriers_on_ticks_fire_alike_in_backtest_and_replay(workdir: Path) -> None:
    extra = ("--bar-timeframe", "10s", *ARGS["momentum"], "--trailing-stop", "0.0003", "--time-stop", "1m")
    backtest = _run(workdir, "backtest", "momentum", extra, (QUOTES, TRADES))
    replay = _run(workdir, "replay", "momentum", extra, (QUOTES, TRADES))

    assert backtest["metrics"]["fill_count"] == replay["fills"] > 0
    assert backtest["fingerprint"] == replay["trade_fingerprint"]
    assert replay["strategy_summary"].get("exits_trail", 0) + replay["strategy_summary"].get("exits_time", 0) > 0
