"""Backtest bar loading refuses impossible bars (file, line, field) and bar files of another symbol."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchanges.recorded import check_data_symbol
from exchanges.recorded import load_bars
from tests.kit.bad_records import BAD_BARS
from tests.kit.bad_records import BARS_HEADER
from tests.kit.bad_records import GOOD_BAR
from tests.kit.bad_records import write_rows
from trading_bot.backtest.engine import BacktestSpec
from trading_bot.backtest.engine import prepare_backtest
from trading_bot.errors import ConfigError
from trading_bot.errors import DataError


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
@pytest.mark.parametrize(("row", "reason"), [pytest.param(r, why, id=why) for r, why in BAD_BARS])
def test_load_bars_refuses_an_impossible_bar_naming_file_line_and_field(
    tmp_path: Path, suffix: str, row: str, reason: str
) -> None:
    later = GOOD_BAR.replace("1723161254087", "1723161314087")
    path = write_rows(tmp_path / f"bars{suffix}", [BARS_HEADER, row, later])

    with pytest.raises(DataError) as caught:
        load_bars([path])

    assert str(caught.value).startswith(f"{path}:2: ")
    assert reason in str(caught.value)


def test_load_bars_refuses_an_impossible_bar_mid_file_before_the_run_starts(tmp_path: Path) -> None:
    rows = [f"{60_000 * i},100,101,99,100,1" for i in range(1, 50)] + ["3000000,100,101,99,-100,1"]
    path = write_rows(tmp_path / "bars.csv", [BARS_HEADER, *rows])

    with pytest.raises(DataError, match=r"bars\.csv:51: close -100 must be > 0"):
        prepare_backtest(
            BacktestSpec(strategy="sma_cross", params={"fast": 2, "slow": 4}, data=(path,), symbol="BTC/USDT")
        )


def test_a_bar_file_named_for_another_symbol_is_refused_naming_file_symbol_and_fix(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "binance_BTCUSDT_1m.csv", [BARS_HEADER, GOOD_BAR])
    spec = BacktestSpec(strategy="sma_cross", params={"fast": 2, "slow": 4}, data=(path,), symbol="ETH/USDT")

    with pytest.raises(ConfigError, match=r"--symbol ETH/USDT: data file .*binance_BTCUSDT_1m\.csv carries BTC/USDT"):
        prepare_backtest(spec)


def test_check_data_symbol_accepts_files_of_the_symbol_and_files_naming_none(tmp_path: Path) -> None:
    check_data_symbol([tmp_path / "binance_ETHUSDT_1m.csv", tmp_path / "bars.csv"], "ETH/USDT")
