"""Market specs for any data: parsing, validation and how a spec combines with the bundled snapshot."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from trading_bot.backtest.engine import resolve_market
from trading_bot.backtest.market_specs import MarketSpec
from trading_bot.backtest.market_specs import load_market_specs
from trading_bot.backtest.market_specs import merge_specs
from trading_bot.errors import ConfigError

FEE = Decimal("0.002")


def test_a_markets_file_loads_exact_decimals_from_strings_and_json_numbers(tmp_path: Path) -> None:
    """JSON numbers are read through their text, so 0.1 stays Decimal('0.1'), never a binary float."""
    path = tmp_path / "m.json"
    path.write_text('{"GOOG/USD": {"tick_size": 0.01, "lot_step": "1", "min_notional": "5"}}')

    spec = load_market_specs(path)["GOOG/USD"]

    assert spec == MarketSpec(tick_size=Decimal("0.01"), lot_step=Decimal(1), min_notional=Decimal(5))


@pytest.mark.parametrize(
    ("entry", "word"),
    [
        ('{"tick_size": "nan", "lot_step": "1"}', "tick_size"),
        ('{"tick_size": "inf", "lot_step": "1"}', "tick_size"),
        ('{"tick_size": "0.01", "lot_step": "0"}', "lot_step"),
        ('{"tick_size": "0.01", "lot_step": "-1"}', "lot_step"),
        ('{"tick_size": "0.01", "lot_step": "1", "min_notional": "-5"}', "min_notional"),
        ('{"tick_size": "0.01", "lotstep": "1"}', "lotstep"),
        ('"0.01"', "expected an object"),
    ],
)
def test_a_bad_markets_entry_is_one_line_naming_symbol_and_field(tmp_path: Path, entry: str, word: str) -> None:
    """NaN, inf, zero or negative steps, negative minimums and unknown keys are refused, naming the field."""
    path = tmp_path / "m.json"
    path.write_text('{"GOOG/USD": ' + entry + "}")

    with pytest.raises(ConfigError) as caught:
        load_market_specs(path)

    assert "GOOG/USD" in str(caught.value)
    assert word in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_markets_key_must_be_a_base_quote_symbol(tmp_path: Path) -> None:
    """A key such as GOOG is refused: the quote currency (the cash's currency) must be named."""
    path = tmp_path / "m.json"
    path.write_text('{"GOOG": {"tick_size": "0.01", "lot_step": "1"}}')

    with pytest.raises(ConfigError, match="BASE/QUOTE"):
        load_market_specs(path)


def test_an_unbundled_symbol_without_a_spec_names_the_flags_to_pass() -> None:
    """A symbol with no bundled market no longer gets invented rules: the error names --tick-size and --lot-step."""
    with pytest.raises(ConfigError, match=r"--symbol GOOG/USD: not a bundled market.*--tick-size.*--lot-step"):
        resolve_market("GOOG/USD", 2, FEE)
    with pytest.raises(ConfigError, match="--lot-step"):
        resolve_market("GOOG/USD", 2, FEE, spec=MarketSpec(tick_size=Decimal("0.01")))


def test_a_spec_defines_an_unbundled_market_with_base_and_quote_from_the_symbol() -> None:
    """GOOG/USD: base GOOG, quote USD (the cash currency), the spec's steps, minimums 0 by default, the run's fee."""
    market = resolve_market("GOOG/USD", 2, FEE, spec=MarketSpec(tick_size=Decimal("0.01"), lot_step=Decimal(1)))

    assert (market.base, market.quote) == ("GOOG", "USD")
    assert (market.price_increment, market.amount_increment) == (Decimal("0.01"), Decimal(1))
    assert (market.min_amount, market.min_notional, market.taker_fee) == (0, 0, FEE)


def test_a_spec_for_a_bundled_symbol_overrides_only_the_fields_it_gives() -> None:
    """--lot-step 1 on BTC/USDT keeps Binance's tick and minimum notional and replaces the lot step."""
    bundled = resolve_market("BTC/USDT", 2, FEE)

    market = resolve_market("BTC/USDT", 2, FEE, spec=MarketSpec(lot_step=Decimal(1)))

    assert market.amount_increment == 1
    assert (market.price_increment, market.min_notional) == (bundled.price_increment, bundled.min_notional)


def test_flags_win_over_the_files_entry_for_the_same_symbol() -> None:
    """merge_specs: a flag replaces the file's field, the file's other fields stay."""
    file_entry = MarketSpec(tick_size=Decimal("0.01"), lot_step=Decimal(1), min_notional=Decimal(10))

    merged = merge_specs(file_entry, MarketSpec(lot_step=Decimal("0.5")))

    assert merged == MarketSpec(tick_size=Decimal("0.01"), lot_step=Decimal("0.5"), min_notional=Decimal(10))


def test_a_spec_with_a_settle_currency_defines_a_linear_swap_with_one_margin_tier() -> None:
    """GOOG/USD:USD is a linear perpetual settled in USD (a contract market, not a spot run under a swap's
    name), its one margin tier at the given maintenance rate for any notional."""
    spec = MarketSpec(tick_size=Decimal("0.01"), lot_step=Decimal(1), maintenance_rate=Decimal("0.005"))

    market = resolve_market("GOOG/USD:USD", 2, FEE, spec=spec)

    assert (market.contract, market.settle, market.kind) == (True, "USD", "swap")
    assert (market.base, market.quote, market.taker_fee) == ("GOOG", "USD", FEE)
    assert market.margin_tier(Decimal("1e12")).maintenance_rate == Decimal("0.005")


def test_a_custom_swap_needs_its_maintenance_rate_and_a_spot_market_refuses_one() -> None:
    """No silent margin rule: a swap without --maintenance-rate is refused, naming it; spot and bundled
    markets refuse the flag (a bundled swap carries its venue's tiers)."""
    steps = MarketSpec(tick_size=Decimal("0.01"), lot_step=Decimal(1))
    with pytest.raises(ConfigError, match="--maintenance-rate"):
        resolve_market("GOOG/USD:USD", 2, FEE, spec=steps)
    rate = MarketSpec(tick_size=Decimal("0.01"), lot_step=Decimal(1), maintenance_rate=Decimal(0))
    with pytest.raises(ConfigError, match="GOOG/USD is a spot market"):
        resolve_market("GOOG/USD", 2, FEE, spec=rate)
    with pytest.raises(ConfigError, match="bundled with its venue margin tiers"):
        resolve_market("XRP/USDT:USDT", 2, FEE, spec=MarketSpec(maintenance_rate=Decimal(0)))
    with pytest.raises(ConfigError, match="settles in its quote currency"):
        resolve_market("GOOG/USD:USDT", 2, FEE, spec=rate)
