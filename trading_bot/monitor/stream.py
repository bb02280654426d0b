"""``GET /api/v1/stream``: the dashboard's live feed, Server-Sent Events pushing one snapshot a second.

Each event is ``event: snapshot`` with a JSON ``data`` line: ``status``, ``instruments``, ``positions``,
``orders``, ``fills`` (the latest :data:`STREAM_FILLS`), ``risk`` and ``equity_now`` (the account's equity at
this moment, ``{"ts_ms", "equity"}`` or ``null`` before it is valued: the dashboard appends it to the sampled
curve of ``/api/v1/equity``). The same views as the JSON API, through the same secret redaction.

An event is made at most once per 0.9 interval and sent to every open stream, so the work on the bot's event
loop does not grow with the number of open dashboards; the run's figures (``status.summary``) are kept as long
as :data:`SUMMARY_BUDGET` needs (the trading state, positions, orders, fills and risk are always read now).
The credential is checked when the stream opens (by the app's guard) and again before every event: a session
that ended (logout, expiry) ends the stream. The stream ends when the client goes away or the server shuts
down (the app's ``on_shutdown`` sets :data:`STOPPING`), so an open dashboard never delays the bot's stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from typing import Any

from aiohttp import web

from trading_bot.log import redact_secrets
from trading_bot.monitor.api import API_PREFIX
from trading_bot.monitor.api import ApiContext
from trading_bot.monitor.views import equity_now
from trading_bot.monitor.views import fills_view
from trading_bot.monitor.views import instruments_view
from trading_bot.monitor.views import orders_view
from trading_bot.monitor.views import positions_view
from trading_bot.monitor.views import risk_view
from trading_bot.monitor.views import status_view

__all__ = ["STOPPING", "STREAM_FILLS", "STREAM_INTERVAL_S", "SUMMARY_BUDGET", "add_stream_route", "snapshot"]

STREAM_INTERVAL_S = 1.0
"""Wall seconds between two events of the stream."""

STREAM_FILLS = 50
"""Fills each event carries (the latest)."""

SUMMARY_BUDGET = 0.02
"""Largest share of the bot's loop time the stream spends on the run's figures (``TradingBot.snapshot``, whose
cost grows with the instruments and open orders; it leaves out the trade fingerprint): taken again only after
``cost / SUMMARY_BUDGET`` seconds (at least each event)."""

_REUSE = 0.9  # an event younger than this share of the interval is sent again rather than made anew

STOPPING: web.AppKey[asyncio.Event] = web.AppKey("stream_stopping", asyncio.Event)
"""Set when the app shuts down: every open stream ends."""


def snapshot(ctx: ApiContext, summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return one event's data: the bot's state now (``summary``: the run's figures if already taken)."""
    bot = ctx.bot
    return {
        "status": status_view(bot, ctx.auth.read_only, summary),
        "instruments": instruments_view(bot),
        "positions": positions_view(bot),
        "orders": orders_view(bot),
        "fills": fills_view(bot, STREAM_FILLS),
        "risk": risk_view(bot, ctx.observer),
        "equity_now": equity_now(bot),
    }


class _Feed:
    """The events of every open stream of one app: made at most once per 0.9 interval, shared by all."""

    def __init__(self, ctx: ApiContext, interval_s: float) -> None:
        self.ctx = ctx
        self.interval_s = interval_s
        self._event = b""
        self._made = -math.inf
        self._summary: dict[str, Any] | None = None
        self._summary_at = -math.inf
        self._summary_cost_s = 0.0

    def current(self) -> bytes:
        """Return the latest event, made anew when it is older than 0.9 interval."""
        now = time.monotonic()
        if now - self._made >= self.interval_s * _REUSE:
            self._event = _event(snapshot(self.ctx, self._figures(now)))
            self._made = now
        return self._event

    def _figures(self, now: float) -> dict[str, Any]:
        wait = max(self.interval_s * _REUSE, self._summary_cost_s / SUMMARY_BUDGET)
        if self._summary is None or now - self._summary_at >= wait:
            began = time.perf_counter()
            self._summary = self.ctx.bot.snapshot()
            self._summary_cost_s = time.perf_counter() - began
            self._summary_at = now
        return self._summary


def _event(data: dict[str, Any]) -> bytes:
    safe = redact_secrets(None, "api", {"body": data})["body"]
    return b"event: snapshot\ndata: " + json.dumps(safe, default=str, sort_keys=True).encode() + b"\n\n"


def add_stream_route(app: web.Application, ctx: ApiContext, interval_s: float = STREAM_INTERVAL_S) -> None:
    """Add ``GET /api/v1/stream`` to ``app`` (behind the app's guard, like every read)."""
    stopping = asyncio.Event()
    app[STOPPING] = stopping

    async def on_shutdown(_app: web.Application) -> None:
        stopping.set()

    app.on_shutdown.append(on_shutdown)

    feed = _Feed(ctx, interval_s)

    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
            "X-Accel-Buffering": "no",
        })  # fmt: skip
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):  # the client went away
            await response.write(b"retry: 2000\n\n")
            while not stopping.is_set():
                try:
                    ctx.auth.check(request, control=False)
                except web.HTTPException:
                    break
                await response.write(feed.current())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=interval_s)
        return response

    app.router.add_get(f"{API_PREFIX}/stream", handle)
