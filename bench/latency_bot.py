"""The bot side of ``bench/live_latency.py``: the real CLI plus an order-on-every-quote strategy and timing stamps.

Run by ``live_latency.py`` as a subprocess, never by hand. It registers the ``latency_probe`` strategy,
wraps four ccxt methods to note ``time.monotonic_ns()`` at each stage of the live path, runs
``trading_bot.cli.main()`` unchanged, and at exit writes the stamps as JSON to ``$LATENCY_TRACE_OUT``.

Stamps (one list each, in order of occurrence):

- ``ws``: ccxt.pro's ``handle_bids_asks`` was called for a bookTicker frame (after the WebSocket read and
  ``json.loads``), with the frame's update id ``u``;
- ``strategy``: the probe's ``execute_strategy`` was called (after our adapter, queue and supervisor);
- ``create_order``: ccxt's ``create_order`` was entered (after risk, the journal and the order manager);
- ``sign_start`` / ``sign_end``: ccxt's ``sign()`` for ``POST order`` (urlencode + HMAC-SHA256);
- ``fetch``: ccxt's ``fetch()`` was entered for that POST (then aiohttp sends it).

Wrapping ccxt here is instrumentation only: the bot's code path is the one ``runbot.py`` runs.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import Field  # noqa: E402

from strategies import STRATEGIES  # noqa: E402
from strategies.base import BaseStrategy  # noqa: E402
from strategies.base import StrategyParams  # noqa: E402
from trading_bot.domain import MarketData  # noqa: E402
from trading_bot.domain import OrderParams  # noqa: E402
from trading_bot.domain import OrderSide  # noqa: E402
from trading_bot.domain import OrderType  # noqa: E402
from trading_bot.domain import StrategyResult  # noqa: E402

__all__ = ["LatencyProbe", "LatencyProbeParams"]

STAMPS: dict[str, list[Any]] = {
    "ws": [],
    "strategy": [],
    "create_order": [],
    "sign_start": [],
    "sign_end": [],
    "fetch": [],
}
_now = time.monotonic_ns


class LatencyProbeParams(StrategyParams):
    """Parameters of ``latency_probe``."""

    quantity: Decimal = Field(default=Decimal("0.0001"), gt=0, description="order size, base units")
    offset_pct: Decimal = Field(
        default=Decimal("2"), gt=0, lt=5, description="limit price below the bid, percent (inside the price band)"
    )


@STRATEGIES.register("latency_probe")
class LatencyProbe(BaseStrategy[LatencyProbeParams]):
    """Place one post-only buy below the bid on every new quote; it rests and never fills."""

    name = "latency_probe"
    Params = LatencyProbeParams

    def __init__(self, params: LatencyProbeParams) -> None:
        super().__init__(params)
        self._last: MarketData | None = None

    def should_execute(self, market_data: MarketData) -> bool:
        """Order on each quote once (extra passes after order events reuse the same event)."""
        return market_data is not self._last and market_data.trade is None and market_data.bid > 0

    def execute_strategy(self, market_data: MarketData) -> StrategyResult:
        """Return one post-only limit buy ``offset_pct`` below the bid."""
        STAMPS["strategy"].append(_now())
        self._last = market_data
        price = self.ctx.market.round_price(market_data.bid * (1 - self.params.offset_pct / 100), "down")
        order = OrderParams(
            side=OrderSide.BUY, quantity=self.params.quantity, price=price, order_type=OrderType.LIMIT, post_only=True
        )
        return StrategyResult.place(order)


def _instrument_ccxt() -> None:
    import ccxt.pro

    cls = ccxt.pro.binance
    handle_bids_asks, create_order, sign, fetch = cls.handle_bids_asks, cls.create_order, cls.sign, cls.fetch

    def stamped_handle_bids_asks(self: Any, client: Any, message: Any) -> Any:
        STAMPS["ws"].append((_now(), message.get("u") if isinstance(message, dict) else None))
        return handle_bids_asks(self, client, message)

    async def stamped_create_order(self: Any, *args: Any, **kwargs: Any) -> Any:
        STAMPS["create_order"].append(_now())
        return await create_order(self, *args, **kwargs)

    def stamped_sign(self: Any, path: str, api: Any = "public", method: str = "GET", params: Any = None) -> Any:
        is_order = path == "order" and method == "POST"
        if is_order:
            STAMPS["sign_start"].append(_now())
        signed = sign(self, path, api, method, {} if params is None else params)
        if is_order:
            STAMPS["sign_end"].append(_now())
        return signed

    async def stamped_fetch(self: Any, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        if method == "POST" and url.split("?", 1)[0].endswith("/order"):
            STAMPS["fetch"].append(_now())
        return await fetch(self, url, method, headers, body)

    cls.handle_bids_asks = stamped_handle_bids_asks
    cls.create_order = stamped_create_order
    cls.sign = stamped_sign
    cls.fetch = stamped_fetch


def _write_stamps() -> None:
    out = os.environ.get("LATENCY_TRACE_OUT")
    if out:
        Path(out).write_text(json.dumps(STAMPS))


if __name__ == "__main__":
    _instrument_ccxt()
    atexit.register(_write_stamps)
    from trading_bot.cli import main

    main()
