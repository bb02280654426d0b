"""Local stand-ins for the alert endpoints, over real sockets on 127.0.0.1.

``FakeTelegram`` (the Bot API's ``sendMessage`` and long-polled ``getUpdates``), ``WebhookReceiver``
(Discord, Slack and JSON webhooks; can answer 500 a number of times first), ``SilentServer`` (accepts
connections and never answers), ``refused_port()`` (nothing listens) and ``SmtpServer`` (aiosmtpd with
a login).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import AuthResult
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import LoginPassword
from aiosmtpd.smtp import Session


class _Server:
    def __init__(self) -> None:
        self.app = web.Application()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.requests: list[str] = []  # every path asked for (tokens included: the stand-in sees them)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class FakeTelegram(_Server):
    """The Bot API methods the bot uses, for one token; ``say`` queues an incoming chat message."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.sent: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.offsets: list[int] = []
        self._arrived = asyncio.Event()
        self.app.router.add_post("/bot{token}/{method}", self._call)

    def say(self, chat_id: int, text: str, date: int | None = None) -> None:
        """Queue a message from ``chat_id``; ``date`` (unix seconds) when it was sent (default: now)."""
        message = {"chat": {"id": chat_id}, "text": text, "date": int(time.time()) if date is None else date}
        self.updates.append({"update_id": 1000 + len(self.updates), "message": message})
        self._arrived.set()

    def texts(self, chat_id: str | None = None) -> list[str]:
        return [m["text"] for m in self.sent if chat_id is None or str(m["chat_id"]) == chat_id]

    async def _call(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        body = await request.json()
        method = request.match_info["method"]
        if method == "sendMessage":
            self.sent.append(body)
            return web.json_response({"ok": True, "result": {"message_id": len(self.sent)}})
        if method == "getUpdates":
            offset = int(body.get("offset") or 0)
            self.offsets.append(offset)
            pending = [u for u in self.updates if u["update_id"] >= offset]
            if not pending:
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), min(float(body.get("timeout") or 0), 0.5))
                pending = [u for u in self.updates if u["update_id"] >= offset]
            return web.json_response({"ok": True, "result": pending})
        return web.json_response({"ok": False, "description": "no such method"}, status=404)


class WebhookReceiver(_Server):
    """Records the JSON bodies POSTed to ``/hook/<token>``; answers 500 to the first ``fail_first``."""

    def __init__(self, fail_first: int = 0) -> None:
        super().__init__()
        self.fail_first = fail_first
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self.app.router.add_post("/hook/{token}", self._hook)

    def hook(self, token: str) -> str:
        return f"{self.url}/hook/{token}"

    async def _hook(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        self.attempts += 1
        if self.attempts <= self.fail_first:
            return web.json_response({"message": "try later"}, status=500)
        self.bodies.append(await request.json())
        return web.Response(status=204)


class SilentServer:
    """Accepts TCP connections and never answers (a hung endpoint); counts the connections."""

    def __init__(self) -> None:
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)  # held open, never written to

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()


def refused_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class _Mailbox:
    user: str
    password: str
    messages: list[str] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        self.messages.append(content.decode() if isinstance(content, bytes) else str(content))
        return "250 OK"


class SmtpServer:
    """aiosmtpd on 127.0.0.1 (its own thread), plain SMTP with AUTH LOGIN/PLAIN for one user."""

    def __init__(self, user: str, password: str) -> None:
        self.box = _Mailbox(user, password)
        self._controller: Controller | None = None
        self.port = 0

    def _auth(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login.decode() == self.box.user
        ok = ok and data.password.decode() == self.box.password
        if ok:
            self.box.logins.append(self.box.user)
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 235 or 535 itself

    def start(self) -> None:
        self.port = refused_port()
        self._controller = Controller(
            self.box, hostname="127.0.0.1", port=self.port, authenticator=self._auth, auth_require_tls=False
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
