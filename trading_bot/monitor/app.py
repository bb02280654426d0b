"""The monitor's aiohttp application: ``/health``, ``/metrics`` and the ``/api/v1/`` routes, behind the auth.

Every route but ``/health``, ``POST /api/v1/login`` and the dashboard's files (``/``, ``/dashboard/*``: a page
without data, ``dashboard``) goes through the guard (``auth``: GETs are reads, POSTs are controls), an unknown
path included, so a caller without the token learns nothing about which API routes exist. ``GET
/api/v1/stream`` (``stream``) is the dashboard's live feed. Every answer carries ``Cache-Control: no-store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from trading_bot.monitor.api import API_PREFIX
from trading_bot.monitor.api import ApiContext
from trading_bot.monitor.api import Handler
from trading_bot.monitor.api import add_api_routes
from trading_bot.monitor.api import json_response
from trading_bot.monitor.dashboard import add_dashboard_routes
from trading_bot.monitor.dashboard import is_dashboard_path
from trading_bot.monitor.health import health_report
from trading_bot.monitor.metrics import CONTENT_TYPE
from trading_bot.monitor.metrics import MonitorMetrics
from trading_bot.monitor.stream import add_stream_route

if TYPE_CHECKING:
    from trading_bot.runtime.supervisor import TradingBot

__all__ = ["MAX_BODY_BYTES", "OPEN_PATHS", "build_app"]

MAX_BODY_BYTES = 16 * 1024
"""Largest request body accepted (a control's body is a few dozen bytes)."""

OPEN_PATHS = frozenset({"/health", f"{API_PREFIX}/login", f"{API_PREFIX}/logout"})
"""Paths served without a credential (login checks the token itself; logout only forgets a session)."""


def build_app(ctx: ApiContext, metrics: MonitorMetrics) -> web.Application:
    """Return the monitor application of ``ctx.bot``."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in OPEN_PATHS and not is_dashboard_path(request.path):
            ctx.auth.check(request, control=request.method not in ("GET", "HEAD"))
        response = await handler(request)
        if not response.prepared:  # a stream sent its own headers
            response.headers["Cache-Control"] = "no-store"
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    app = web.Application(middlewares=[guard], client_max_size=MAX_BODY_BYTES)
    app.router.add_get("/health", _health_handler(ctx.bot))
    app.router.add_get("/metrics", _metrics_handler(metrics))
    add_api_routes(app, ctx)
    add_stream_route(app, ctx)
    add_dashboard_routes(app)
    return app


def _health_handler(bot: TradingBot) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        status, body = health_report(bot)
        return json_response(body, status)

    return handle


def _metrics_handler(metrics: MonitorMetrics) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    return handle
