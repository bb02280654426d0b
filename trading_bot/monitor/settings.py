"""What the monitor server of one run uses: the ``monitor`` config section with the run command's flags.

``--monitor`` turns it on (as ``monitor.enabled``), ``--monitor-port N`` sets the port (and turns it on). The
token is required unless the server is read-only: without one the run is refused before it starts (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from trading_bot.config.monitor import MONITOR_TOKEN_ENV
from trading_bot.config.monitor import MonitorSection
from trading_bot.errors import ConfigError

__all__ = ["MonitorSettings", "monitor_settings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorSettings:
    """The monitor server of a run: where it listens, its token (``None``: read-only without auth), read-only."""

    host: str
    port: int
    token: SecretStr | None
    read_only: bool

    @property
    def address(self) -> str:
        """``host:port`` as given (IPv6 hosts in brackets), for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def monitor_settings(
    section: MonitorSection, *, enabled: bool = False, port: int | None = None
) -> MonitorSettings | None:
    """Return the run's monitor settings, or ``None`` when the monitor is off.

    Args:
        section: the config's ``monitor`` section.
        enabled: ``--monitor`` was given.
        port: ``--monitor-port`` (turns the monitor on too).

    Raises:
        ConfigError: the monitor is on, not read-only, and has no token (names the variable to set); a port
            outside 0..65535.
    """
    if not (section.enabled or enabled or port is not None):
        return None
    if port is not None and not 0 <= port <= 65535:
        raise ConfigError(f"--monitor-port: a TCP port 0..65535, got {port}")
    if section.token is None and not section.read_only:
        raise ConfigError(
            f"monitor: no token: set {MONITOR_TOKEN_ENV} (or the credential file monitor_token), or "
            "monitor.read_only=true to serve the read-only endpoints without one"
        )
    return MonitorSettings(
        host=section.host, port=section.port if port is None else port, token=section.token,
        read_only=section.read_only,
    )  # fmt: skip
