"""When a running bot asks a swap's venue for funding payments (``trading_bot.runtime.funding_poll``).

Rules: once per announced funding time, SETTLE_DELAY_MS after it, even when the market data already
announces the next one; at least every FALLBACK_MS; never twice for the same funding time; each ask
starts from the newest payment seen (the first from the run's start less LOOKBACK_MS).
"""

from __future__ import annotations

from decimal import Decimal

from trading_bot.domain import FundingPayment
from trading_bot.domain import InstrumentId
from trading_bot.domain import Symbol
from trading_bot.runtime.funding_poll import FALLBACK_MS
from trading_bot.runtime.funding_poll import LOOKBACK_MS
from trading_bot.runtime.funding_poll import SETTLE_DELAY_MS
from trading_bot.runtime.funding_poll import FundingPoller

BTC = InstrumentId("binanceusdm", Symbol("BTC/USDT:USDT"))
START = 1_000_000
T1 = START + 30_000  # the first funding time announced


def _payment(ts: int) -> FundingPayment:
    z = Decimal(0)
    return FundingPayment(id=f"p{ts}", symbol="BTC/USDT:USDT", ts_ms=ts, rate=z, mark_price=z, quantity=z,
                          amount=Decimal("-0.1"))  # fmt: skip


def test_asks_once_after_each_announced_funding_time_even_once_the_next_is_announced() -> None:
    poller = FundingPoller(START)

    assert poller.due(BTC, T1, START + 1) is None  # announced, not yet
    assert poller.due(BTC, T1 + 8_000, T1 + 500) is None  # the stream moved on; T1 is still waited for
    assert poller.due(BTC, T1 + 8_000, T1 + SETTLE_DELAY_MS) == START - LOOKBACK_MS  # asked for T1
    poller.seen(BTC, [_payment(T1)])
    assert poller.due(BTC, T1 + 8_000, T1 + SETTLE_DELAY_MS + 10) is None  # never twice for T1
    assert poller.due(BTC, T1, T1 + SETTLE_DELAY_MS + 20) is None  # a lagging stream re-announcing T1: no
    assert poller.due(BTC, T1 + 8_000, T1 + 8_000 + SETTLE_DELAY_MS) == T1  # from the newest payment seen


def test_without_announcements_it_asks_every_fallback_period() -> None:
    poller = FundingPoller(START)

    assert poller.due(BTC, None, START) is None
    assert poller.due(BTC, None, START + FALLBACK_MS - 1) is None
    assert poller.due(BTC, None, START + FALLBACK_MS) == START - LOOKBACK_MS
    assert poller.due(BTC, None, START + FALLBACK_MS + 1) is None
