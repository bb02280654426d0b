"""A paper replay of recorded Binance USDⓈ-M data with a short grid: issue 13's paper done-when.

Data: BTC/USDT:USDT quotes, trades and the 1 s mark-price stream of 2023-04-04 from ``/work/shared/data``
(the mark-price file also carries the funding rate and next funding time; one funding settlement falls in
the window). The grid with ``--direction sell`` opens short; the summary reports position, margin and
funding per instrument. (Post-only opens and reduce-only take-profits are checked at the venue, in the
live test against the USD-M emulator.)
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli

DATA = Path("/work/shared/data")
FILES = [
    DATA / "binanceusdm_BTCUSDT_quotes_2023-04-04.csv.gz",
    DATA / "binanceusdm_BTCUSDT_trades_2023-04-04.csv.gz",
    DATA / "binanceusdm_BTCUSDT_markprice_1s_2023-04-04.csv.gz",
]

pytestmark = pytest.mark.skipif(not all(f.exists() for f in FILES), reason="needs /work/shared/data")


def _replay(workdir: Path, *extra: str) -> dict[str, object]:
    args = [a for f in FILES for a in ("--replay", str(f))]
    done = run_cli(*args, "--symbol", "BTC/USDT:USDT", "--strategy", "grid", "--quantity", "0.01",
                   "--direction", "sell", "--json", *extra, cwd=workdir)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    summary: dict[str, object] = json.loads(done.stdout)
    return summary


def test_a_short_grid_on_recorded_usdm_data_ends_short_with_margin_and_received_funding(workdir: Path) -> None:
    summary = _replay(workdir)

    assert summary["symbol"] == "BTC/USDT:USDT"
    assert Decimal(str(summary["position"])) < 0  # a sell grid holds shorts, not base currency
    assert Decimal(str(summary["margin"])) > 0
    assert summary["funding_payments"] == 1
    # the rate at 2023-04-04 08:00 UTC is positive: longs pay shorts, so the short receives
    assert Decimal(str(summary["funding"])) > 0
    assert summary["liquidations"] == 0
    # equity = start + realized + unrealized + funding - fees (nothing lost between the figures)
    expected = (Decimal(str(summary["starting_equity"])) + Decimal(str(summary["realized_pnl"]))
                + Decimal(str(summary["unrealized_pnl"])) + Decimal(str(summary["funding"]))
                - Decimal(str(summary["fees"])))  # fmt: skip
    assert Decimal(str(summary["equity"])) == expected


def test_leverage_and_isolated_margin_shrink_the_margin_by_the_leverage(workdir: Path) -> None:
    one = _replay(workdir)
    five = _replay(workdir, "--leverage", "5", "--margin-mode", "isolated")

    assert five["leverage"] == 5
    assert five["trade_fingerprint"] == one["trade_fingerprint"]  # same orders and fills
    assert Decimal(str(five["margin"])) < Decimal(str(one["margin"])) / 4


def test_a_tick_backtest_of_the_same_files_settles_the_same_funding_as_the_replay(workdir: Path) -> None:
    replay = _replay(workdir)
    done = run_cli("backtest", "--strategy", "grid", *[a for f in FILES for a in ("--data", str(f))],
                   "--symbol", "BTC/USDT:USDT", "--quantity", "0.01", "--direction", "sell", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)["metrics"]

    # the mark-price file's rate at the same funding time (the summary shows 8 decimals, metrics all of them)
    assert Decimal(str(metrics["funding"])).quantize(Decimal("1e-8")) == Decimal(str(replay["funding"]))
    assert Decimal(str(metrics["funding"])) > 0
    assert metrics["liquidations"] == 0


@pytest.mark.parametrize("flags", [["--leverage", "5"], ["--margin-mode", "isolated"]])
def test_swap_flags_on_a_spot_replay_are_refused_in_one_line_not_ignored(workdir: Path, flags: list[str]) -> None:
    done = run_cli("--replay", str(FILES[0]), "--symbol", "BTC/USDT", "--strategy", "grid", "--quantity", "0.01",
                   *flags, cwd=workdir)  # fmt: skip

    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"error: {flags[0]}: BTC/USDT is spot")
    assert "--market-type swap" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
