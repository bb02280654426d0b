"""L2 book files through the real CLI: ``runbot.py --replay BOOK TRADES`` and ``runbot.py backtest --data BOOK
TRADES`` run the tick path and exit 0; a broken book file exits 2 with one line naming file and line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.integration.conftest import SAMPLE
from tests.integration.conftest import TRADES
from tests.integration.conftest import run_cli

BOOK = SAMPLE / "binance_BTCUSDT_book_l2_2024-08-08_2354_2356.csv.gz"
BOOK_STATES = 1043  # tests/unit/exchanges/test_recorded_book.py counts them
SMA = ("--strategy", "sma_cross", "--fast", "3", "--slow", "8", "--bar-seconds", "5", "--quantity", "0.01")


def test_replay_of_a_book_and_trades_exits_0_with_every_book_state_and_trade_as_an_event(workdir: Path) -> None:
    proc = run_cli(*SMA, "--exchange", "binance", "--replay", str(BOOK), "--replay", str(TRADES), "--json",
                   cwd=workdir)  # fmt: skip

    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["market_events"] == BOOK_STATES + 19904
    assert summary["stop_reason"] == "end of market data"
    assert summary["orders"]["submitted"] > 0
    assert summary["fills"] == summary["orders"]["submitted"]


def test_backtest_of_a_book_and_trades_runs_on_ticks(workdir: Path) -> None:
    proc = run_cli("backtest", *SMA, "--data", str(BOOK), "--data", str(TRADES), "--json", cwd=workdir)

    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert doc["run"]["events"] == BOOK_STATES + 19904


def test_book_beside_quotes_of_one_symbol_exits_2_with_one_line(workdir: Path) -> None:
    quotes = SAMPLE / "binance_BTCUSDT_quotes_2024-08-08.csv.gz"
    proc = run_cli(*SMA, "--replay", str(BOOK), "--replay", str(quotes), cwd=workdir)

    assert proc.returncode == 2
    assert "give the book file or the quotes file, not both" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_gap_in_a_book_file_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    with gzip.open(BOOK, "rt", newline="") as source:
        rows = source.read().splitlines()[:3000]
    del rows[2034:2050]  # lines 2035-2050: the delta 50093239225-237, the one after the snapshot's delta
    bad = tmp_path / "binance_BTCUSDT_book_gap.csv"
    bad.write_text("\n".join(rows) + "\n")

    proc = run_cli(*SMA, "--replay", str(bad), "--replay", str(TRADES), "--log-level", "error", cwd=tmp_path)

    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]  # after the bot's own JSON log of the stop
    assert last.startswith(f"error: {bad}:2035: update id gap: first_update_id 50093239238 does not follow")
