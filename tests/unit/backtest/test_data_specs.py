"""``--data`` / ``--replay`` values of several symbols (exchanges.recorded.data_specs): FILE or SYMBOL=FILE."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchanges.recorded import data_specs
from exchanges.recorded import files_by_symbol
from trading_bot.errors import ConfigError

SAMPLE = Path(__file__).resolve().parents[3] / "trading_bot" / "sample_data"
USDT_FILE = SAMPLE / "binanceus_BTCUSDT_1m_2023-03-10_13.csv.gz"
USDC_FILE = SAMPLE / "binanceus_BTCUSDC_1m_2023-03-10_13.csv.gz"
QUOTES = SAMPLE / "binance_BTCUSDT_quotes_2024-08-08.csv.gz"
TRADES = SAMPLE / "binance_BTCUSDT_trades_2024-08-08.csv.gz"


def test_files_take_their_symbol_from_their_names_and_map_to_the_symbol_values_as_written() -> None:
    specs = data_specs([str(USDC_FILE), str(USDT_FILE)], ["spot:BTC/USDT", "BTC/USDC"])
    assert specs == [("BTC/USDC", USDC_FILE), ("spot:BTC/USDT", USDT_FILE)]


def test_without_symbol_values_the_files_name_their_symbols() -> None:
    assert data_specs([str(USDT_FILE), str(USDC_FILE)], []) == [("BTC/USDT", USDT_FILE), ("BTC/USDC", USDC_FILE)]


def test_symbol_equals_file_form_names_a_file_whose_name_carries_none(tmp_path: Path) -> None:
    bars = tmp_path / "bars.csv"
    specs = data_specs([f"ETH/USDT={bars}", str(USDT_FILE)], ["BTC/USDT", "ETH/USDT"])
    assert specs == [("ETH/USDT", bars), ("BTC/USDT", USDT_FILE)]
    assert data_specs([f"alt:ETH/USDT={bars}"], []) == [("alt:ETH/USDT", bars)]


def test_several_files_of_one_symbol_are_grouped_in_order() -> None:
    specs = data_specs([str(QUOTES), str(USDC_FILE), f"BTC/USDT={TRADES}"], ["BTC/USDT", "BTC/USDC"])
    assert files_by_symbol(specs) == {"BTC/USDT": [QUOTES, TRADES], "BTC/USDC": [USDC_FILE]}


def test_one_symbol_value_takes_a_nameless_file_and_the_default_applies_without_any(tmp_path: Path) -> None:
    bars = tmp_path / "bars.csv"
    assert data_specs([str(bars)], ["ETH/USDT"]) == [("ETH/USDT", bars)]
    assert data_specs([str(bars)], [], default="BTC/USDT") == [("BTC/USDT", bars)]


def test_a_name_carries_base_and_quote_only_so_it_serves_the_perpetual_symbol() -> None:
    assert data_specs([str(USDT_FILE)], ["usdm:BTC/USDT:USDT"]) == [("usdm:BTC/USDT:USDT", USDT_FILE)]


def test_an_existing_file_whose_name_holds_an_equals_sign_is_a_file(tmp_path: Path) -> None:
    odd = tmp_path / "BTC" / "USDT=bars.csv"
    odd.parent.mkdir()
    odd.write_text("timestamp,open,high,low,close\n")
    value = str(tmp_path / "BTC" / "USDT") + "=bars.csv"
    assert data_specs([value], ["BTC/USDT"]) == [("BTC/USDT", odd)]


@pytest.mark.parametrize(
    ("values", "symbols", "message"),
    [
        ([str(USDT_FILE)], ["BTC/USDT", "BTC/USDT"], r"^--symbol BTC/USDT is given twice"),
        ([str(USDT_FILE), str(USDT_FILE)], [], r"is given twice; give each file once$"),
        ([f"BTC/USDC={USDT_FILE}"], ["BTC/USDC"], r"carries BTC/USDT, not BTC/USDC; write BTC/USDT="),
        ([str(USDT_FILE)], ["BTC/USDT", "BTC/USDC"], r"^--symbol BTC/USDC: no --data file holds it"),
        ([str(USDC_FILE)], ["BTC/USDT"], r"holds BTC/USDC \(from its name\), which no --symbol names \(did you mean"),
        (["bars.csv"], ["BTC/USDT", "BTC/USDC"], r"carries no symbol; write SYMBOL=bars.csv \(one of BTC/USDT"),
        (["bars.csv"], [], r"its name carries no symbol"),
        ([str(USDT_FILE)], ["spot:BTC/USDT", "alt:BTC/USDT"], r"is data of --symbol spot:BTC/USDT and alt:"),
        (["BTC/USDT="], ["BTC/USDT"], r"no file after '='"),
        (["=bars.csv"], ["BTC/USDT"], r"expected SYMBOL=FILE"),
    ],
)
def test_bad_values_are_one_line_config_errors_naming_the_fix(
    values: list[str], symbols: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        data_specs(values, symbols)
    assert "\n" not in str(caught.value)


def test_errors_name_the_option_given() -> None:
    with pytest.raises(ConfigError, match="no --replay file holds it"):
        data_specs([str(USDT_FILE)], ["BTC/USDT", "ETH/USDT"], option="--replay")
