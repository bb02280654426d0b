"""A buy's fee charged in the base currency (Binance spot without BNB) is not sold back, and leaves no stuck position.

Binance spot charges a buy's commission in the asset received: buying 0.00166 BTC credits 0.00166 − 0.00000166.
The bot used to count the whole 0.00166 as its position, so the take-profit asked to sell more than the account
held and the risk gate denied it on every bar, for ever (the emulator charged every fee in quote, so no test
saw it). The rules (``Position``: a base-currency fee reduces the quantity; ``ContextHelpers.tradable_quantity``:
what is below one lot step is dust, not a position): the real CLI with real ccxt against the spot emulator
with ``buy_fee_in_base``, ``dca`` buying and taking its profit twice, prices moved only by the emulator's
controls.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from tests.integration.restart_live import push_quote
from tests.integration.restart_live import run_until
from tests.integration.restart_live import write_config
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig

KEYS = ("fee-key", "fee-secret")
PARAMS = {"bar_timeframe": "1s", "interval_bars": 3, "amount": "100", "take_profit": "0.01"}


def _filled(emu: BinanceEmulator, side: str) -> list[dict[str, object]]:
    return [o for o in emu.orders() if str(o.get("clientOrderId", "")).startswith("bf-") and o["side"] == side
            and Decimal(str(o["executedQty"])) > 0]  # fmt: skip


@pytest.mark.asyncio
async def test_take_profits_sell_what_the_buys_received_when_the_fee_is_charged_in_the_base_asset(
    tmp_path: Path,
) -> None:
    config_ = EmulatorConfig(api_key=KEYS[0], api_secret=KEYS[1], walk_interval_s=None, seed=5,
                             start_price=Decimal(60_000), buy_fee_in_base=True)  # fmt: skip
    async with BinanceEmulator(config_) as emu:
        config = write_config(tmp_path, emu, "bf", "dca", PARAMS)
        start_btc = Decimal(str(emu.state()["balances"]["BTC"]["free"]))  # type: ignore[index]

        async def two_cycles() -> None:  # a steady rise, +0.4 % a step: dca buys every 3rd bar and takes +1 %
            for step in range(24):  # (which bar is the 3rd depends on where the steps fall in the seconds)
                mid = int(60_000 * Decimal("1.004") ** step)
                # a public trade too: once the feed carried one (the bot's own buy prints), bars are made of trades
                await emu.trade("BTC/USDT", Decimal(mid), Decimal("0.01"), "buy")
                await push_quote(emu, mid)
            await asyncio.sleep(5)

        code, summary, events = await run_until(emu, tmp_path, config, "run", KEYS, two_cycles,
                                                lambda: len(_filled(emu, "SELL")) >= 2)  # fmt: skip
        balances = emu.state()["balances"]
        held = Decimal(str(balances["BTC"]["free"])) - start_btc  # type: ignore[index]
        fills = emu.fills()

    tail = [e.get("event") for e in events[-15:]]
    assert code == 0, tail
    sells = _filled(emu, "SELL")
    assert len(sells) >= 2, tail
    assert not [e for e in events if e.get("event") == "order_denied"], "a sell asked for more than the account held"
    own = [f for f in fills if str(f["clientOrderId"]).startswith("bf-")]
    assert {f["commissionAsset"] for f in own if f["side"] == "BUY"} == {"BTC"}  # the emulator charged it in BTC
    received = Decimal(0)  # what the bot's buys delivered and its sells have not sold yet
    for f in own:  # in the venue's order
        quantity = Decimal(str(f["qty"]))
        if f["side"] == "BUY":
            received += quantity - Decimal(str(f["commission"]))
        else:  # every take-profit sells what was received, on the lot step: less than one lot is left
            assert quantity <= received < quantity + Decimal("0.00001"), (quantity, received)
            received -= quantity
    assert Decimal(summary["position"]) == held == received  # the journal's position is what the account holds
    assert summary["strategy_summary"]["entries"] >= 2  # it bought again after the first take-profit
