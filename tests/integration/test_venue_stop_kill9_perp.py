"""On a perpetual the stop-loss attached on entry rests on the venue, survives a kill -9 and fires there (issue 16).

The real CLI with real ccxt ``binanceusdm`` against the emulator's USDⓈ-M venue, marks moved only by its
controls. The first run's ``dca`` buys on its first closed 1 s bar with a 1 % stop-loss attached; once the
buy filled, the bot places a reduce-only STOP_MARKET sell for the whole position through the Algo Order API
(``strategies.lib.venue_stop``), and is killed with SIGKILL the moment that order rests. While it is down the
stop is still on the venue. The second run must find it again (reconciled from the journal, not sent twice),
leave the stop-loss to the venue, and count it when the venue fills it on a 1.7 % fall: no bot-side close,
no second buy. When the venue fills the stop while the bot is down, the restart names that fill (it is of a
conditional order: ``OrderDesk`` looks it up with ccxt's trigger flag) and journals it: flat, nothing sent.
"""

from __future__ import annotations

import asyncio
import json
import signal
from decimal import ROUND_CEILING
from decimal import Decimal
from pathlib import Path

import pytest

from tests.integration.restart_live import BAR_GAP_S
from tests.integration.restart_live import run_until
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.emulator.futures.config import FuturesConfig
from trading_bot.emulator.futures.orders import FutOrder

KEYS = ("stop-key", "stop-secret")
BTC = "BTC/USDT:USDT"
PARAMS = {"bar_timeframe": "1s", "interval_bars": 1000, "amount": "1000", "take_profit": "10", "stop_loss": "0.01"}


def _emulator() -> BinanceEmulator:
    futures = FuturesConfig(funding_interval_ms=3_600_000, leverage=5)
    return BinanceEmulator(EmulatorConfig(api_key=KEYS[0], api_secret=KEYS[1], walk_interval_s=None, seed=3,
                                          history_bars=0, futures=futures))  # fmt: skip


def _config(tmp_path: Path, emu: BinanceEmulator) -> Path:
    config = {
        "bot": {"bot_id": "vs", "data_dir": str(tmp_path / "var"), "heartbeat_s": 0.2, "shutdown_timeout_s": 10,
                "on_shutdown": "keep", "symbol": BTC},
        "exchange": {"name": "binanceusdm", "market_type": "swap", "leverage": 5,
                     "ccxt_options": emu.ccxt_usdm_options(), "request_timeout_s": 5},
        "strategy": {"name": "dca", "params": PARAMS},
        "risk": {"max_data_age_s": None, "max_orders_per_minute": None, "price_band_pct": None},
    }  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def _orders(emu: BinanceEmulator, *, algo: bool) -> list[FutOrder]:
    """The bot's own orders (plain or conditional), without the plain orders its stops placed when they triggered."""
    return [o for o in emu.futures.engine.orders.values()
            if o.client_order_id.startswith("vs-") and o.algo is algo and o.parent_algo_id is None]  # fmt: skip


def _placed_by(emu: BinanceEmulator, stop: FutOrder) -> list[FutOrder]:
    """The plain orders ``stop`` placed in the matching engine when it triggered (``actualOrderId``)."""
    return [o for o in emu.futures.engine.orders.values() if o.parent_algo_id == stop.order_id]


def _open_stops(emu: BinanceEmulator) -> list[FutOrder]:
    return [o for o in _orders(emu, algo=True) if o.is_open]


def _streaming(emu: BinanceEmulator) -> bool:
    return emu.futures.streams.wants("btcusdt@bookticker")


def _venue_fill_seen(tmp_path: Path) -> bool:
    """True once the second run logged the venue stop's fill (its ``exit_fired``)."""
    log = tmp_path / "second.log"
    return log.exists() and '"exit_fired"' in log.read_text()


async def _mark(emu: BinanceEmulator, price: int) -> None:
    emu.futures.set_mark(BTC, Decimal(price))
    await asyncio.sleep(BAR_GAP_S)


async def _buy_then_kill(emu: BinanceEmulator, tmp_path: Path, config: Path) -> tuple[FutOrder, FutOrder]:
    """Run the bot until its stop rests on the venue after the first buy, SIGKILL it; return (buy, stop)."""

    async def first_bar() -> None:  # the second mark closes the first bar: dca buys; the next arms the stop
        for price in (60_000, 60_010, 60_020, 60_030):
            await _mark(emu, price)
        await asyncio.sleep(30)

    code, _, events = await run_until(emu, tmp_path, config, "first", KEYS, first_bar, lambda: bool(_open_stops(emu)),
                                      signal.SIGKILL, symbol=BTC, ready=lambda: _streaming(emu))  # fmt: skip
    assert code == -signal.SIGKILL, events[-5:]
    (buy,) = _orders(emu, algo=False)
    (stop,) = _open_stops(emu)
    assert (stop.side, stop.type, stop.reduce_only) == ("SELL", "STOP_MARKET", True)
    assert stop.orig_qty == buy.executed_qty  # the whole position
    assert stop.stop_price == (buy.avg_price * Decimal("0.99")).quantize(Decimal("0.1"), rounding=ROUND_CEILING)
    return buy, stop


@pytest.mark.asyncio
async def test_a_perp_stop_loss_rests_on_the_venue_through_a_kill_9_and_fires_there(tmp_path: Path) -> None:
    async with _emulator() as emu:
        config = _config(tmp_path, emu)
        _, stop = await _buy_then_kill(emu, tmp_path, config)

        async def fall() -> None:  # a few quiet bars first: the restarted bot must hold the stop, not resend it
            for price in (60_020, 60_010):
                await _mark(emu, price)
            assert [o.client_order_id for o in _open_stops(emu)] == [stop.client_order_id], "stop not held"
            await _mark(emu, 59_000)  # 1.7 % below the entry: the venue fills the stop
            await _mark(emu, 58_990)
            await asyncio.sleep(30)

        code2, second, events2 = await run_until(emu, tmp_path, config, "second", KEYS, fall,
                                                 lambda: stop.status == "FILLED" and _venue_fill_seen(tmp_path),
                                                 symbol=BTC, ready=lambda: _streaming(emu))  # fmt: skip
        position = emu.futures.engine.account.position(BTC).quantity

    tail = [e.get("event") for e in events2[-15:]]
    assert code2 == 0, tail
    assert stop.status == "FILLED", tail
    assert position == 0, tail
    assert [o.client_order_id for o in _orders(emu, algo=True)] == [stop.client_order_id], "a second stop was sent"
    (placed,) = _placed_by(emu, stop)  # the venue filled the stop under a new order id, as Binance does
    assert (placed.order_id, placed.status) == (stop.actual_order_id, "FILLED")
    assert len(_orders(emu, algo=False)) == 1, "a bot-side close or a second buy was sent"  # only the buy
    assert not [e for e in events2 if e.get("event") == "venue_stop_placing"], tail
    fired = [e for e in events2 if e.get("event") == "exit_fired"]
    assert [(e["barrier"], e.get("on_venue")) for e in fired] == [("sl", True)], tail
    assert second["strategy_summary"]["exits_sl"] == 1


@pytest.mark.asyncio
async def test_a_perp_stop_loss_the_venue_filled_while_the_bot_was_down_is_journaled_at_the_restart(
    tmp_path: Path,
) -> None:
    async with _emulator() as emu:
        config = _config(tmp_path, emu)
        _, stop = await _buy_then_kill(emu, tmp_path, config)
        emu.futures.set_mark(BTC, Decimal(59_000))  # the bot is down: only the venue can close the position
        assert stop.status == "FILLED"

        async def quiet() -> None:
            for price in (58_990, 58_980, 58_970):
                await _mark(emu, price)

        code2, second, events2 = await run_until(emu, tmp_path, config, "second", KEYS, quiet, symbol=BTC,
                                                 ready=lambda: _streaming(emu))  # fmt: skip

    tail = [e.get("event") for e in events2[-15:]]
    assert code2 == 0, tail
    assert len(_orders(emu, algo=False)) == 1, "a bot-side close or a second buy was sent"
    assert [o.client_order_id for o in _orders(emu, algo=True)] == [stop.client_order_id], "a second stop was sent"
    (placed,) = _placed_by(emu, stop)  # the venue filled the stop under a new order id, as Binance does
    assert (placed.order_id, placed.status) == (stop.actual_order_id, "FILLED")
    assert not [e for e in events2 if e.get("event") in ("venue_stop_placing", "order_denied")], tail
    assert not [e for e in events2 if e.get("event") == "fill_order_unknown"], "the stop's fill was not named"
    assert (second["position"], second["fills"], second["open_orders"]) == ("0", 2, {}), tail  # buy + stop, flat
