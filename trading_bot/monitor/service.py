"""The monitor server of one run: bound before the bot starts, served as a bot service while it trades.

:class:`MonitorServer` is made by the run command when the monitor is on (``settings``):

1. :meth:`MonitorServer.bind` opens the listening socket **before the bot starts** (before the journal,
   the venues and reconciliation): a port already taken is a one-line ``OperationalError`` (exit 1) and
   the bot never trades. Connections that arrive while the bot starts wait in the socket's backlog.
2. :meth:`MonitorServer.attach` gives it the built bot (its order events are observed from the first one).
3. :meth:`MonitorServer.serve` is the bot service (``TradingBot(services=...)``): it serves the app on the
   bound socket, runs the loop-lag probe and samples the equity curve, until the bot stops (cancelled).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import TYPE_CHECKING

from aiohttp import web

from trading_bot.errors import OperationalError
from trading_bot.log import get_logger
from trading_bot.monitor.api import ApiContext
from trading_bot.monitor.app import build_app
from trading_bot.monitor.auth import Auth
from trading_bot.monitor.events import LogEventCounter
from trading_bot.monitor.lag import LoopLagProbe
from trading_bot.monitor.metrics import BotCollector
from trading_bot.monitor.metrics import MonitorMetrics
from trading_bot.monitor.observer import BotObserver
from trading_bot.monitor.settings import MonitorSettings

if TYPE_CHECKING:
    from trading_bot.config import BotConfig
    from trading_bot.runtime.supervisor import TradingBot

__all__ = ["MonitorServer"]

_log = get_logger(__name__)


class MonitorServer:
    """One run's monitor server (see the module docstring).

    Args:
        settings: where to listen, the token, read-only.
        config: the run's config, shown redacted by ``/api/v1/config`` (``None``: shown as ``null``).
        equity_interval_s: wall seconds between two samples of the equity curve.
        equity_points: samples the curve keeps (the oldest dropped first).
    """

    def __init__(
        self,
        settings: MonitorSettings,
        config: BotConfig | None = None,
        *,
        equity_interval_s: float = 5.0,
        equity_points: int = 2880,
    ) -> None:
        self.settings = settings
        self.config = config
        self.equity_interval_s = equity_interval_s
        self.metrics = MonitorMetrics()
        self.observer = BotObserver(self.metrics.round_trip, equity_points)
        self.lag = LoopLagProbe(self.metrics.loop_lag)
        self.events = LogEventCounter()
        self.auth = Auth(settings.token, settings.read_only)
        self._socket: socket.socket | None = None
        self._bot: TradingBot | None = None

    @property
    def port(self) -> int:
        """The bound port (the one the OS chose for port 0)."""
        if self._socket is None:
            raise RuntimeError("the monitor is not bound: call bind() first")
        return int(self._socket.getsockname()[1])

    def bind(self) -> None:
        """Open the listening socket now.

        Raises:
            OperationalError: the address cannot be bound (the port is taken, the host is not this machine's).
        """
        settings = self.settings
        try:
            infos = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
            family, _, _, _, address = infos[0]
            self._socket = socket.create_server(address[:2], family=family, backlog=64)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise OperationalError(
                f"monitor: cannot listen on {settings.address}: {reason} (monitor.host / monitor.port, "
                "--monitor-port)"
            ) from None
        self._socket.setblocking(False)

    def attach(self, bot: TradingBot) -> None:
        """Watch ``bot`` (call once, before it runs)."""
        self._bot = bot
        self.observer.attach(bot)
        self.metrics.register(BotCollector(bot, self.observer, self.events, self.lag))

    def close(self) -> None:
        """Close the socket if it was never served (a run refused before it started)."""
        if self._socket is not None:
            self._socket.close()

    async def serve(self, bot: TradingBot) -> None:
        """Serve until cancelled (the bot service); the socket is closed at the end."""
        if self._bot is not bot:
            self.attach(bot)
        sock = self._socket
        if sock is None:
            self.bind()
            sock = self._socket
        assert sock is not None
        ctx = ApiContext(bot, self.observer, self.auth, self.config, self.equity_interval_s)
        app = build_app(ctx, self.metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        self.events.install()
        try:
            await web.SockSite(runner, sock).start()
            _log.info("monitor_listening", address=self.settings.address, port=self.port,
                      read_only=self.settings.read_only)  # fmt: skip
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.lag.run(), name="monitor_loop_lag")
                tg.create_task(self._sample_equity(bot), name="monitor_equity")
        finally:
            self.events.uninstall()
            with contextlib.suppress(Exception):
                await runner.cleanup()
            sock.close()
            self._socket = None

    async def _sample_equity(self, bot: TradingBot) -> None:
        while True:
            self.observer.sample_equity(bot)
            await asyncio.sleep(self.equity_interval_s)
