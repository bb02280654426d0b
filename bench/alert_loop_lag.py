"""Loop lag of a running bot with alerts to dead endpoints vs. no alerts (issue 14: alerts never slow trading).

    python bench/alert_loop_lag.py [--seconds 3] [--pause-ms 1]

Runs the real supervisor on a paper exchange fed a quote every ``--pause-ms`` (a live feed), with a
strategy that logs an error on every market event (so every event makes an alert: far more than any
channel's rate limit lets through), for ``--seconds`` in each of three setups:

- ``none``: no alert service;
- ``hung``: a JSON webhook whose server accepts the connection and never answers (timeout 30 s);
- ``refused``: a webhook and a Telegram channel on a port nothing listens on (retried with backoff).

A probe task sleeps 5 ms at a time and records how late it wakes: the event loop's lag. Printed: market
events handled, alerts queued/dropped, and the lag's median, p99 and max in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exchanges.config import PaperConfig  # noqa: E402
from exchanges.paper import PaperExchange  # noqa: E402
from risk.config import RiskConfig  # noqa: E402
from risk.manager import RiskManager  # noqa: E402
from tests.kit.pipeline import SYMBOL  # noqa: E402
from tests.kit.pipeline import ListSource  # noqa: E402
from tests.kit.pipeline import ScriptedStrategy  # noqa: E402
from tests.kit.pipeline import quote  # noqa: E402
from trading_bot.alerts import AlertService  # noqa: E402
from trading_bot.config.alerts import AlertChannel  # noqa: E402
from trading_bot.config.alerts import AlertsSection  # noqa: E402
from trading_bot.domain import MarketData  # noqa: E402
from trading_bot.domain import SimulatedClock  # noqa: E402
from trading_bot.log import configure_logging  # noqa: E402
from trading_bot.log import get_logger  # noqa: E402
from trading_bot.runtime.supervisor import TradingBot  # noqa: E402

_log = get_logger("bench.alerts")
PROBE_S = 0.005


class _Feed(ListSource):
    def __init__(self, clock: SimulatedClock, pause_s: float) -> None:
        super().__init__([quote(1000, "60000", "60001")], clock)
        self.pause_s = pause_s

    async def stream_market_data(self, symbol: Any) -> AsyncIterator[MarketData]:
        ts = 1000
        while True:
            ts += 10
            self.clock.advance_to(ts)
            yield quote(ts, "60000", "60001")
            await asyncio.sleep(self.pause_s)


def _error_every_event(i: int, md: MarketData, s: ScriptedStrategy) -> None:
    _log.error("bench_trouble", n=i)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _probe(lags: list[float]) -> None:
    while True:
        start = time.perf_counter()
        await asyncio.sleep(PROBE_S)
        lags.append((time.perf_counter() - start - PROBE_S) * 1000)


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


async def _run(setup: str, seconds: float, pause_s: float) -> dict[str, Any]:
    server = await asyncio.start_server(_silent, "127.0.0.1", 0)
    hung = server.sockets[0].getsockname()[1]
    refused = _free_port()
    channels = {
        "hung": {"wh": AlertChannel(type="webhook", webhook_url=f"http://127.0.0.1:{hung}/h/tok", timeout_s=30)},
        "refused": {
            "wh": AlertChannel(type="webhook", webhook_url=f"http://127.0.0.1:{refused}/h/tok"),
            "tg": AlertChannel(type="telegram", api_url=f"http://127.0.0.1:{refused}", token="1:tok", chat_id="1"),  # noqa: S106
        },
    }.get(setup, {})
    service = AlertService(AlertsSection(channels=channels, retry_base_s=0.05), "b1") if channels else None
    clock = SimulatedClock()
    feed = _Feed(clock, pause_s)
    exchange = PaperExchange(PaperConfig(balances={"USDT": Decimal(10000)}), clock, feed, markets=feed.markets)
    bot = TradingBot(bot_id="b1", symbol=SYMBOL, exchange=exchange, strategy=ScriptedStrategy(_error_every_event),
                     risk=RiskManager(RiskConfig(max_data_age_s=None)), clock=clock,
                     services=[service.run] if service else [])  # fmt: skip
    lags: list[float] = []
    probe = asyncio.create_task(_probe(lags))
    run = asyncio.create_task(bot.run())
    await asyncio.sleep(seconds)
    bot.request_stop("bench over")
    await run
    probe.cancel()
    server.close()
    if service is not None and service.closed is not None:
        service.closed.cancel()
    lags.sort()
    return {
        "setup": setup,
        "events": bot.events,
        "alerts_dropped": service.queue.dropped + sum(o.outbox.dropped for o in service.outlets.values())
        if service else 0,
        "lag_median_ms": statistics.median(lags),
        "lag_p99_ms": lags[int(len(lags) * 0.99)],
        "lag_max_ms": lags[-1],
    }


async def _main(seconds: float, pause_s: float) -> None:
    configure_logging("info", "json", io.StringIO())  # the lines go nowhere: the tap still sees each one
    print(f"{'setup':<8} {'events':>7} {'dropped':>8} {'lag median':>11} {'p99':>7} {'max':>7}  (ms)")
    for setup in ("none", "hung", "refused", "none"):
        r = await _run(setup, seconds, pause_s)
        print(f"{r['setup']:<8} {r['events']:>7} {r['alerts_dropped']:>8} {r['lag_median_ms']:>11.2f} "
              f"{r['lag_p99_ms']:>7.2f} {r['lag_max_ms']:>7.2f}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per setup")
    parser.add_argument("--pause-ms", type=float, default=1.0, help="milliseconds between market events")
    args = parser.parse_args()
    asyncio.run(_main(args.seconds, args.pause_ms / 1000))
