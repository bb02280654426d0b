"""``runbot.py backtest --config F`` honours every section it can and refuses, exit 2, what it cannot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import SAMPLE
from tests.integration.conftest import run_cli

BARS = SAMPLE / "binanceus_BTCUSDT_1m_2023-03-10_13.csv.gz"
SMA = {"name": "sma_cross", "params": {"fast": 5, "slow": 20, "quantity": "0.01"}}


def _config(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return path


def _backtest(*args: str) -> dict[str, Any]:
    done = run_cli("backtest", "--data", str(BARS), "--json", *args)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_config_strategy_and_paper_account_give_the_same_run_as_the_same_flags(tmp_path: Path) -> None:
    config = _config(tmp_path, {
        "strategy": SMA,
        "exchange": {"paper": {"balances": {"USDT": 5000}, "maker_fee": "0.002", "taker_fee": "0.002",
                               "slippage_bps": "3"}},
    })  # fmt: skip
    from_file = _backtest("--config", str(config))
    from_flags = _backtest("--strategy", "sma_cross", "--fast", "5", "--slow", "20", "--quantity", "0.01",
                           "--cash", "5000", "--fee", "0.002", "--slippage-bps", "3")  # fmt: skip

    assert from_file["run"]["strategy"] == "sma_cross"
    assert from_file["run"]["params"] == {"fast": "5", "slow": "20", "quantity": "0.01"}
    assert from_file["run"]["fills"] > 0
    assert from_file["fingerprint"] == from_flags["fingerprint"]
    assert from_file["metrics"] == from_flags["metrics"]  # cash, fee and slippage applied, not the defaults


def test_a_config_of_several_venues_backtests_the_venue_its_symbol_names(tmp_path: Path) -> None:
    paper = {"balances": {"USDT": 5000}, "maker_fee": "0.002", "taker_fee": "0.002"}
    config = _config(tmp_path, {
        "strategy": SMA, "bot": {"symbol": "spot:BTC/USDT"},
        "venues": {"spot": {"name": "binance", "paper": paper}, "alt": {"name": "kraken"}},
    })  # fmt: skip
    from_venues = _backtest("--config", str(config))
    from_flags = _backtest("--strategy", "sma_cross", "--fast", "5", "--slow", "20", "--quantity", "0.01",
                           "--cash", "5000", "--fee", "0.002")  # fmt: skip

    assert from_venues["fingerprint"] == from_flags["fingerprint"]  # the spot venue's paper account applied
    assert from_venues["metrics"] == from_flags["metrics"]


def test_flags_win_over_the_config_strategy_params(tmp_path: Path) -> None:
    config = _config(tmp_path, {"strategy": SMA})
    overridden = _backtest("--config", str(config), "--fast", "8")
    flags_only = _backtest("--strategy", "sma_cross", "--fast", "8", "--slow", "20", "--quantity", "0.01")

    assert overridden["run"]["params"]["fast"] == "8"
    assert overridden["fingerprint"] == flags_only["fingerprint"]


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"exchange": {"leverage": 5}}, "exchange.leverage"),  # swap settings on a spot market
        ({"exchange": {"market_type": "swap", "leverage": 200}}, "leverage"),
        ({"exchange": {"paper": {"maker_fee": "0.001", "taker_fee": "0.002"}}}, "exchange.paper.maker_fee/taker_fee"),
        ({"exchange": {"paper": {"balances": {"USDT": 1000, "BTC": 1}}}}, "exchange.paper.balances"),
        ({"exchange": {"paper": {"balances": {"EUR": 1000}}}}, "exchange.paper.balances"),
        ({"exchange": {"paper": {"queue_position": True}}}, "exchange.paper.queue_position"),
        ({"exchange": {"name": "kraken"}}, "exchange.name"),
        ({"bot": {"symbol": "ETH/USDT"}}, "ETH/USDT"),  # bot.symbol is used: it disagrees with the file
        ({"strategy": {"name": "sma_crss"}}, "did you mean 'sma_cross'"),
    ],
)
def test_a_setting_the_backtest_cannot_honour_is_refused_in_one_line_exit_2(
    tmp_path: Path, section: dict[str, Any], field: str
) -> None:
    config = _config(tmp_path, {"strategy": SMA, **section})
    done = run_cli("backtest", "--data", str(BARS), "--config", str(config))

    assert done.returncode == 2, done.stderr
    assert field in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_strategy_params_of_another_strategy_than_the_flag_are_refused(tmp_path: Path) -> None:
    config = _config(tmp_path, {"strategy": SMA})
    done = run_cli("backtest", "--data", str(BARS), "--config", str(config), "--strategy", "grid")

    assert done.returncode == 2
    assert "strategy.params are for sma_cross" in done.stderr


def test_without_strategy_flag_or_config_strategy_the_backtest_says_which_is_missing(tmp_path: Path) -> None:
    config = _config(tmp_path, {"bot": {"bot_id": "x"}})
    done = run_cli("backtest", "--data", str(BARS), "--config", str(config))

    assert done.returncode == 2
    assert "--strategy" in done.stderr


def test_a_swap_config_backtests_the_perpetual_with_the_same_result_as_the_swap_flags(tmp_path: Path) -> None:
    config = _config(tmp_path, {
        "strategy": SMA, "exchange": {"market_type": "swap", "leverage": 3, "margin_mode": "isolated"},
    })  # fmt: skip
    from_file = _backtest("--config", str(config))
    from_flags = _backtest("--strategy", "sma_cross", "--fast", "5", "--slow", "20", "--quantity", "0.01",
                           "--market-type", "swap", "--leverage", "3", "--margin-mode", "isolated")  # fmt: skip

    assert from_file["run"]["symbol"] == "BTC/USDT:USDT"
    assert from_file["fingerprint"] == from_flags["fingerprint"]
    assert from_file["metrics"] == from_flags["metrics"]
