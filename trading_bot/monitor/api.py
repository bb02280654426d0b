"""The JSON API under ``/api/v1/``: read views of the bot, the operator controls, login and logout.

Reads (GET): ``status``, ``instruments``, ``positions``, ``orders``, ``fills?limit=N``, ``equity``, ``risk``,
``config``. Controls (POST): ``halt``, ``resume``, ``reduce-only``, ``cancel-all``, ``flatten``, with an optional
JSON body ``{"instrument": "venue:symbol" | null, "reason": "..."}``; each is submitted to the bot's
``OperatorDesk`` as ``who = "api:<peer address>"`` and answered with the outcome
``{"ok", "detail", "trading_state", "ts_ms"}`` (HTTP 200 whether ``ok`` is true or false; 504 when the bot did
not run it within ``CONTROL_TIMEOUT_S``, 503 when too many commands wait). ``halt``, ``resume`` and
``reduce-only`` act on the whole bot and refuse an ``instrument``. ``docs/monitor-openapi.yaml`` has it all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

from aiohttp import web

from trading_bot.log import redact_secrets
from trading_bot.monitor.auth import SESSION_COOKIE
from trading_bot.monitor.auth import SESSION_TTL_S
from trading_bot.monitor.auth import Auth
from trading_bot.monitor.views import MAX_FILLS
from trading_bot.monitor.views import equity_view
from trading_bot.monitor.views import fills_view
from trading_bot.monitor.views import instruments_view
from trading_bot.monitor.views import orders_view
from trading_bot.monitor.views import positions_view
from trading_bot.monitor.views import risk_view
from trading_bot.monitor.views import status_view
from trading_bot.runtime.journal.tables import INSTRUMENT_LENGTH
from trading_bot.runtime.operator import OperatorAction
from trading_bot.runtime.operator import OperatorCommand

if TYPE_CHECKING:
    from trading_bot.config import BotConfig
    from trading_bot.monitor.observer import BotObserver
    from trading_bot.runtime.supervisor import TradingBot

__all__ = ["API_PREFIX", "CONTROL_TIMEOUT_S", "ApiContext", "add_api_routes", "json_response"]

API_PREFIX = "/api/v1"
"""Where the API lives."""

CONTROL_TIMEOUT_S = 30.0
"""Longest wait for the bot to run a control, seconds."""

_STATE_ACTIONS = (OperatorAction.HALT, OperatorAction.RESUME, OperatorAction.REDUCE_ONLY)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200) -> web.Response:
    """Answer ``data`` as JSON after a last pass of the log's secret redaction (registered secrets masked)."""
    safe = redact_secrets(None, "api", {"body": data})["body"]
    return web.Response(
        text=json.dumps(safe, default=str, sort_keys=True), status=status, content_type="application/json"
    )


class ApiContext:
    """What the handlers read: the bot, its observer, the redacted config, the auth and the equity interval."""

    def __init__(
        self, bot: TradingBot, observer: BotObserver, auth: Auth, config: BotConfig | None, equity_interval_s: float
    ) -> None:
        self.bot = bot
        self.observer = observer
        self.auth = auth
        self.config = config
        self.equity_interval_s = equity_interval_s


def add_api_routes(app: web.Application, ctx: ApiContext) -> None:
    """Add every ``/api/v1/`` route of ``ctx``'s bot to ``app``."""
    bot, observer = ctx.bot, ctx.observer
    reads: dict[str, Callable[[web.Request], Any]] = {
        "status": lambda _r: status_view(bot, ctx.auth.read_only),
        "instruments": lambda _r: instruments_view(bot),
        "positions": lambda _r: positions_view(bot),
        "orders": lambda _r: orders_view(bot),
        "fills": lambda r: fills_view(bot, _limit(r)),
        "equity": lambda _r: equity_view(observer, ctx.equity_interval_s),
        "risk": lambda _r: risk_view(bot, observer),
        "config": lambda _r: None if ctx.config is None else ctx.config.redacted(),
    }
    for name, view in reads.items():
        app.router.add_get(f"{API_PREFIX}/{name}", _read_handler(view))
    for action in OperatorAction:
        app.router.add_post(f"{API_PREFIX}/{action.value}", _control_handler(ctx, action))
    app.router.add_post(f"{API_PREFIX}/login", _login_handler(ctx.auth))
    app.router.add_post(f"{API_PREFIX}/logout", _logout_handler(ctx.auth))


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"limit: an integer 0..{MAX_FILLS}"}),
                                 content_type="application/json") from None  # fmt: skip
    if not 0 <= value <= MAX_FILLS:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"limit: an integer 0..{MAX_FILLS}"}),
                                 content_type="application/json")  # fmt: skip
    return value


def _read_handler(view: Callable[[web.Request], Any]) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return json_response(view(request))

    return handle


async def _body(request: web.Request) -> dict[str, Any]:
    """The control's JSON body (empty allowed), checked: ``instrument`` a string or null, ``reason`` a string."""
    text = await request.text()
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict) or set(body) - {"instrument", "reason"}:
        raise _bad('the body is a JSON object {"instrument": "venue:symbol" | null, "reason": "..."}')
    instrument = body.get("instrument")
    if instrument is not None and (not isinstance(instrument, str) or not 0 < len(instrument) <= INSTRUMENT_LENGTH):
        raise _bad(f"instrument: a string (venue:symbol) of at most {INSTRUMENT_LENGTH} characters, or null")
    if not isinstance(body.get("reason", ""), str):
        raise _bad("reason: a string")
    return body


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _control_handler(ctx: ApiContext, action: OperatorAction) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        instrument = body.get("instrument")
        if instrument is not None and action in _STATE_ACTIONS:
            raise _bad(f"{action.value} acts on the whole bot: give no instrument")
        command = OperatorCommand(action=action, who=f"api:{request.remote or 'unknown'}", instrument=instrument,
                                  reason=body.get("reason", ""))  # fmt: skip
        try:
            outcome = await ctx.bot.operator.submit(command, timeout_s=CONTROL_TIMEOUT_S)
        except TimeoutError:
            detail = f"the bot did not run {action.value} within {CONTROL_TIMEOUT_S:.0f} s; it may still run it"
            return json_response({"ok": False, "detail": detail}, status=504)
        except asyncio.QueueFull:
            return json_response({"ok": False, "detail": "too many operator commands waiting; try again"}, 503)
        return json_response(
            {"ok": outcome.ok, "detail": outcome.detail, "trading_state": outcome.trading_state, "ts_ms": outcome.ts_ms}
        )

    return handle


def _login_handler(auth: Auth) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError:
            body = None
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise web.HTTPUnauthorized(text=json.dumps({"error": 'send {"token": "..."}'}),
                                       content_type="application/json")  # fmt: skip
        if not auth.token_matches(token):
            raise web.HTTPForbidden(text=json.dumps({"error": "forbidden: wrong token"}),
                                    content_type="application/json")  # fmt: skip
        response = json_response({"ok": True, "expires_in_s": SESSION_TTL_S})
        response.set_cookie(SESSION_COOKIE, auth.new_session(), max_age=SESSION_TTL_S, path="/", httponly=True,
                            samesite="Strict")  # fmt: skip
        return response

    return handle


def _logout_handler(auth: Auth) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        auth.end_session(request.cookies.get(SESSION_COOKIE))
        response = json_response({"ok": True})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    return handle
