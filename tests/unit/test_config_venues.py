"""Venues: several named exchange accounts in one config; ``bot.symbol`` (``--symbol VENUE:SYMBOL``) picks one.

Rules guarded: the ``exchange`` section stays the one-venue shorthand; each venue's keys come from
``TRADING_BOT__VENUES__<NAME>__API_KEY`` / ``__SECRET`` or the credentials directory, never the file; an
unknown venue gets "did you mean"; secrets of every venue are redacted, hashed out and registered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trading_bot.config import BotConfig
from trading_bot.config import load_config
from trading_bot.domain import InstrumentId
from trading_bot.domain.instrument import split_venue
from trading_bot.errors import ConfigError

VENUES = {
    "spot": {"name": "binance", "testnet": True},
    "alt": {"name": "kraken", "ccxt_options": {"options": {"x": 1}}},
}


def _load(tmp_path: Path, data: dict[str, Any], env: dict[str, str] | None = None) -> BotConfig:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return load_config(path, env=env or {}, dotenv=None)


def _error(tmp_path: Path, data: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, data, env).select_venue()
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BTC/USDT", (None, "BTC/USDT")),
        ("BTC/USDT:USDT", (None, "BTC/USDT:USDT")),  # a perpetual's settle currency is not a venue
        ("spot:BTC/USDT", ("spot", "BTC/USDT")),
        ("usdm:BTC/USDT:USDT", ("usdm", "BTC/USDT:USDT")),
    ],
)
def test_split_venue_reads_the_venue_prefix_but_not_a_settle_currency(text: str, expected: tuple[Any, str]) -> None:
    assert split_venue(text) == expected


def test_instrument_id_text_form_round_trips_and_refuses_a_bad_venue_name() -> None:
    instrument = InstrumentId.parse("usdm:BTC/USDT:USDT")
    assert (instrument.venue, instrument.symbol, str(instrument)) == ("usdm", "BTC/USDT:USDT", "usdm:BTC/USDT:USDT")
    with pytest.raises(ValueError, match="venue name"):
        InstrumentId("Spot", "BTC/USDT")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected venue:symbol"):
        InstrumentId.parse("BTC/USDT")


def test_the_exchange_section_is_one_venue_named_after_its_exchange(tmp_path: Path) -> None:
    config = _load(tmp_path, {"exchange": {"name": "binance"}, "bot": {"symbol": "binance:ETH/USDT"}})

    narrowed, instrument = config.select_venue()

    assert config.venue_configs() == {"binance": config.exchange}
    assert str(instrument) == "binance:ETH/USDT"
    assert narrowed.bot.symbol == "ETH/USDT"


def test_symbol_picks_its_venue_and_the_venue_keys_come_from_its_own_variables(tmp_path: Path) -> None:
    env = {"TRADING_BOT__VENUES__ALT__API_KEY": "00123", "TRADING_BOT__VENUES__ALT__SECRET": "alt-secret",
           "TRADING_BOT__VENUES__SPOT__API_KEY": "spot-key"}  # fmt: skip
    config = _load(tmp_path, {"venues": VENUES, "bot": {"symbol": "alt:ETH/USD"}}, env)

    narrowed, instrument = config.select_venue()
    _, upper = _load(tmp_path, {"venues": VENUES, "bot": {"symbol": "ALT:ETH/USD"}}, env).select_venue()

    assert str(instrument) == str(upper) == "alt:ETH/USD"
    assert narrowed.exchange.name == "kraken"
    assert narrowed.exchange.api_key is not None
    assert narrowed.exchange.api_key.get_secret_value() == "00123"  # verbatim text, not the JSON number 123
    assert narrowed.exchange.has_credentials()
    assert not narrowed.venues["spot"].has_credentials()  # a key alone is not credentials


def test_venue_keys_come_from_the_credentials_directory(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "venues_spot_api_key").write_text("dir-key\n")
    (creds / "venues_spot_secret").write_text("dir-secret\n")
    config = _load(tmp_path, {"venues": VENUES, "bot": {"symbol": "spot:BTC/USDT"}},
                   {"CREDENTIALS_DIRECTORY": str(creds)})  # fmt: skip

    narrowed, _ = config.select_venue()

    assert narrowed.exchange.secret is not None
    assert narrowed.exchange.secret.get_secret_value() == "dir-secret"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"venues": VENUES, "bot": {"symbol": "spto:BTC/USDT"}},
            "unknown venue 'spto' in 'spto:BTC/USDT' (did you mean 'spot'?); venues: alt, spot",
        ),
        (
            {"venues": VENUES, "bot": {"symbol": "BTC/USDT"}},
            "names no venue and 2 are configured; write VENUE:SYMBOL, e.g. alt:BTC/USDT",
        ),
        (
            {"venues": VENUES, "exchange": {"name": "binance"}},
            "set either the exchange section (one venue) or venues, not both",
        ),
        ({"exchange": {"name": "binance"}, "bot": {"symbol": "kraken:BTC/USDT"}}, "unknown venue 'kraken'"),
    ],
)
def test_a_symbol_that_names_no_configured_venue_is_one_line_naming_the_fix(
    tmp_path: Path, data: dict[str, Any], expected: str
) -> None:
    assert expected in _error(tmp_path, data)


@pytest.mark.parametrize(
    ("venues", "expected"),
    [
        (
            {"spot": {"name": "binance", "api_key": "k"}},
            "venues.spot.api_key: secrets are not read from the config file; set TRADING_BOT__VENUES__SPOT__API_KEY",
        ),
        (
            {"alt": {"name": "kraken", "ccxt_options": {"secret": "x"}}},
            "venues.alt.ccxt_options.secret: secrets are not read from the config file; "
            "set TRADING_BOT__VENUES__ALT__SECRET",
        ),
        (
            {"alt": {"name": "kraken", "ccxt_options": {"headers": {"AUTH": "x"}}}},
            "venues.alt.ccxt_options.headers.AUTH: secrets are not read",
        ),
        ({"Spot": {"name": "binance"}}, "venue name 'Spot': use lower-case letters"),
    ],
)
def test_venue_secrets_in_the_file_and_bad_venue_names_are_refused(
    tmp_path: Path, venues: dict[str, Any], expected: str
) -> None:
    assert expected in _error(tmp_path, {"venues": venues})


def test_secrets_of_every_venue_are_redacted_registered_and_left_out_of_the_hash(tmp_path: Path) -> None:
    data = {"venues": VENUES, "bot": {"symbol": "spot:BTC/USDT"}}
    bare = _load(tmp_path, data)
    env = {
        "TRADING_BOT__VENUES__ALT__SECRET": "alt-secret-value",
        "TRADING_BOT__VENUES__ALT__CCXT_OPTIONS__HEADERS": '{"X-Token": "hdr-secret"}',
    }
    keyed = _load(tmp_path, data, env)

    shown = json.dumps(keyed.redacted())

    assert "alt-secret-value" not in shown
    assert "hdr-secret" not in shown
    assert keyed.redacted()["venues"]["alt"]["secret"] == "**********"
    assert {"alt-secret-value", "hdr-secret"} <= set(keyed.secret_values())
    # the header is config, not only a secret: the hash sees it masked; the API secret not at all
    without_header = _load(tmp_path, data, {"TRADING_BOT__VENUES__ALT__SECRET": "other"})
    assert without_header.config_hash() == bare.config_hash()


@pytest.mark.parametrize(
    ("symbol", "market_type", "expected"),
    [
        (None, "spot", "BTC/USDT"),
        ("spot:BTC/USDT", "spot", "spot:BTC/USDT"),  # the venue stays; the ticker agrees with the bare symbol
        ("usdm:BTC/USDT:USDT", "swap", "usdm:BTC/USDT:USDT"),
    ],
)
def test_ticker_expands_and_keeps_the_venue_of_the_symbol(symbol: str | None, market_type: str, expected: str) -> None:
    from trading_bot.runtime.builder import resolve_symbol

    assert resolve_symbol(symbol, "btc", market_type) == expected


def test_ticker_disagreeing_with_the_symbol_of_a_venue_is_refused() -> None:
    from trading_bot.runtime.builder import resolve_symbol

    with pytest.raises(ConfigError, match="--ticker ETH and --symbol spot:BTC/USDT disagree"):
        resolve_symbol("spot:BTC/USDT", "ETH", "spot")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"bot": {"symbol": "alt:BTC/USD"}, "venues": VENUES}, "alt"),
        ({"bot": {"symbol": "spot:BTC/USDT"}, "venues": VENUES}, "spot"),
        ({"bot": {"symbol": "BTC/USDT"}, "exchange": {"name": "kraken"}}, "kraken"),
        ({"bot": {"symbol": "BTC/USDT"}}, "binance"),
    ],
)
def test_the_journal_records_the_selected_venue_by_its_name_or_the_exchange_name(
    tmp_path: Path, data: dict[str, Any], expected: str
) -> None:
    """Rule (journal v2): rows carry the venue name (a venues key; the exchange name in the one-venue shorthand)."""
    from trading_bot.runtime.builder import journal_venue

    narrowed, instrument = _load(tmp_path, data).select_venue()
    assert journal_venue(narrowed) == instrument.venue == expected
