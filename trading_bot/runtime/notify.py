"""systemd notifications (``sd_notify``) without libsystemd: one datagram per message.

Under ``Type=notify`` systemd sets ``NOTIFY_SOCKET`` (a unix datagram socket path, or an abstract
socket name starting with ``@``). The bot sends ``READY=1`` once it is connected and reconciled,
``STATUS=...`` lines, ``WATCHDOG=1`` from the supervisor heartbeat and ``STOPPING=1`` on shutdown.
With ``WatchdogSec=`` set, systemd also sets ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``); a service
that stays silent for that long is killed and, with ``Restart=on-failure``, restarted.

Notifications are best effort: :meth:`SystemdNotifier.notify` never raises, and logs the first failure
only. ``WATCHDOG=1`` is rate limited to one datagram per half watchdog interval, so the supervisor may
call it on every heartbeat.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from collections.abc import Mapping

from trading_bot.log import get_logger

__all__ = ["SystemdNotifier"]

_log = get_logger(__name__)

_WATCHDOG = "WATCHDOG=1"


class SystemdNotifier:
    """Sends notifications to the service manager's socket.

    Args:
        address: the socket: a filesystem path, or an abstract name starting with ``@``.
        watchdog_interval_s: the watchdog timeout in seconds, or ``None`` when no watchdog is set
            (``WATCHDOG=1`` is then not sent at all).
        monotonic: the time source for the watchdog rate limit, in seconds.
    """

    def __init__(
        self,
        address: str,
        *,
        watchdog_interval_s: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not address or not (address.startswith("/") or address.startswith("@")):
            raise ValueError(f"NOTIFY_SOCKET must be an absolute path or start with '@', got {address!r}")
        self.address = address
        self.watchdog_interval_s = watchdog_interval_s
        self._target = "\0" + address[1:] if address.startswith("@") else address
        self._monotonic = monotonic
        self._last_watchdog: float | None = None
        self._socket: socket.socket | None = None
        self._failed = False
        self.sent = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SystemdNotifier | None:
        """Return a notifier for ``NOTIFY_SOCKET``, or ``None`` when it is unset (not under systemd).

        ``WATCHDOG_USEC`` (microseconds) sets the watchdog interval unless ``WATCHDOG_PID`` names
        another process. An unusable ``NOTIFY_SOCKET`` is logged and ignored.
        """
        address = environ.get("NOTIFY_SOCKET", "")
        if not address:
            return None
        interval = _watchdog_interval_s(environ)
        try:
            notifier = cls(address, watchdog_interval_s=interval)
        except ValueError as exc:
            _log.warning("systemd_notify_unsupported", error=str(exc))
            return None
        _log.info("systemd_notify_enabled", socket=address, watchdog_interval_s=interval)
        return notifier

    @property
    def watchdog_ping_interval_s(self) -> float | None:
        """Return the minimum seconds between two ``WATCHDOG=1`` datagrams (half the watchdog timeout)."""
        return None if self.watchdog_interval_s is None else self.watchdog_interval_s / 2

    def notify(self, message: str) -> None:
        """Send ``message`` (e.g. ``READY=1``, ``STATUS=trading``) in one datagram; never raises."""
        if message == _WATCHDOG:
            ping = self.watchdog_ping_interval_s
            if ping is None:
                return
            now = self._monotonic()
            if self._last_watchdog is not None and now - self._last_watchdog < ping:
                return
            self._last_watchdog = now
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto(message.encode("utf-8"), self._target)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                _log.warning("systemd_notify_failed", socket=self.address, message=message, error=str(exc))
            return
        self.sent += 1

    __call__ = notify

    def close(self) -> None:
        """Close the socket (a later ``notify`` opens a new one)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _watchdog_interval_s(environ: Mapping[str, str]) -> float | None:
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec:
        return None
    pid = environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None  # the watchdog is meant for another process
    try:
        value = int(usec)
    except ValueError:
        _log.warning("systemd_watchdog_usec_invalid", value=usec)
        return None
    return value / 1_000_000 if value > 0 else None
