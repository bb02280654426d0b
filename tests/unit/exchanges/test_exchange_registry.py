"""The EXCHANGES registry builds every exchange kind: simulators, every ccxt venue, with one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from exchanges import EXCHANGES
from exchanges.base import BaseExchangeClient
from exchanges.config import ExchangeConfig
from exchanges.request import ExchangeRequest
from trading_bot.domain import LiveClock
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError
from trading_bot.runtime.builder import check_exchange_name

SAMPLE_DATA = Path(__file__).resolve().parents[3] / "trading_bot" / "sample_data"
QUOTES = SAMPLE_DATA / "binance_BTCUSDT_quotes_2024-08-08.csv.gz"
KEYS = {"api_key": SecretStr("k"), "secret": SecretStr("s")}


def _request(name: str) -> ExchangeRequest:
    if name == "replay":
        config = ExchangeConfig(name="binance")
        return ExchangeRequest(config=config, clock=SimulatedClock(), symbol=Symbol("BTC/USDT"), replay=(QUOTES,))
    if name == "paper":
        return ExchangeRequest(config=ExchangeConfig(name="binance"), clock=LiveClock())
    return ExchangeRequest(config=ExchangeConfig(name=name, **KEYS), clock=LiveClock())


def test_every_registered_exchange_name_is_built_by_the_registry() -> None:
    names = EXCHANGES.names()
    assert {"paper", "replay", "binance", "kraken"} <= set(names)
    for name in names:
        client = EXCHANGES.create(name, _request(name))
        assert isinstance(client, BaseExchangeClient), name
        if name not in ("paper", "replay"):
            assert client.name == name


def test_unknown_exchange_name_is_one_line_with_the_closest_name() -> None:
    with pytest.raises(ConfigError) as info:
        check_exchange_name("binanse")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("exchange.name: unknown exchange 'binanse'")
    assert "did you mean 'binance'" in message


def test_live_ccxt_exchange_without_keys_is_refused_by_its_factory() -> None:
    request = ExchangeRequest(config=ExchangeConfig(name="binance"), clock=LiveClock())
    with pytest.raises(ConfigError, match="live trading needs API keys"):
        EXCHANGES.create("binance", request)


def test_simulators_need_market_data_from_somewhere() -> None:
    with pytest.raises(ConfigError, match="needs market data"):
        EXCHANGES.create("paper", ExchangeRequest(config=ExchangeConfig(name="paper"), clock=LiveClock()))
    with pytest.raises(ConfigError, match="needs recorded market data"):
        EXCHANGES.create("replay", ExchangeRequest(config=ExchangeConfig(name="paper"), clock=SimulatedClock()))


def test_looking_up_a_simulator_does_not_import_ccxt() -> None:
    code = (
        "import sys; from exchanges import EXCHANGES; EXCHANGES.get('paper'); EXCHANGES.get('replay'); "
        "print('ccxt' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
