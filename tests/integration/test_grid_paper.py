"""The grid end to end: the real CLI and supervisor, the paper exchange, the bundled replay of 2024-08-08.

Each test names the GRID.md rule it guards. The replay runs on a simulated clock (about 2 s of CPU).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.integration.conftest import QUOTES
from tests.integration.conftest import TRADES
from tests.integration.conftest import run_cli

REPLAY = ("--replay", str(QUOTES), "--replay", str(TRADES))


def run_grid(workdir: Path, *flags: str) -> tuple[dict[str, Any], str]:
    """Run the grid on the replay; return the JSON summary and stderr (JSON log lines)."""
    proc = run_cli(
        "--strategy", "grid", "--exchange", "binance", *REPLAY, "--quantity", "0.001", "--json", *flags, cwd=workdir
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout), proc.stderr


def test_cycle_runs_open_then_take_profit_several_times_on_replay(workdir: Path) -> None:
    summary, stderr = run_grid(workdir, "--wait-time", "30")

    grid = summary["strategy_summary"]
    assert grid["cycles_completed"] >= 5
    assert grid["take_profits_placed"] >= grid["opens_filled"] > grid["cycles_completed"] - 1
    assert grid["orders_lost"] == 0
    assert grid["unhedged_quantity"] == "0"
    assert summary["orders"]["denied"] == 0
    # safety: the position is exactly what the resting take-profits will close ("placed" is not "filled")
    assert Decimal(summary["position"]) == Decimal(grid["resting_take_profit_quantity"])
    assert '"alert": true' not in stderr


def test_boost_closes_every_fill_and_ends_flat_on_replay(workdir: Path) -> None:
    summary, _ = run_grid(workdir, "--wait-time", "30", "--boost")

    grid = summary["strategy_summary"]
    assert grid["cycles_completed"] >= 5
    assert grid["take_profits_placed"] == 0
    assert grid["boost_closes"] == grid["opens_filled"]
    assert Decimal(summary["position"]) == 0


def test_stop_price_ends_the_run_with_exit_0_and_reason(workdir: Path) -> None:
    summary, stderr = run_grid(workdir, "--stop-price", "61800")  # the replay starts near 61,837

    assert summary["stop_reason"].startswith("strategy stopped: stop_price 61800 reached")
    assert summary["strategy_summary"]["open_attempts"] == 0
    assert "grid_stop_price_reached" in stderr
