"""A loopback Binance-spot-compatible exchange that real ccxt (REST, streams, WS API) can trade against.

Start it in-process (``async with BinanceEmulator(EmulatorConfig()) as emu``) and build ccxt with
``ccxt.pro.binance(emu.ccxt_config())``; move its market with ``set_quote`` / ``trade`` (or let a replay
file or a seeded random walk drive it) and inject faults with ``set_faults``. ``run_emulator`` serves
until cancelled (the ``emulator`` CLI command).
"""

from trading_bot.emulator.config import EmulatorConfig
from trading_bot.emulator.config import FaultConfig
from trading_bot.emulator.config import MarketFilters
from trading_bot.emulator.server import BinanceEmulator
from trading_bot.emulator.server import DecimalLike
from trading_bot.emulator.server import run_emulator

__all__ = ["BinanceEmulator", "DecimalLike", "EmulatorConfig", "FaultConfig", "MarketFilters", "run_emulator"]
