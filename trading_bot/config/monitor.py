"""The ``monitor`` section: the bot's HTTP monitor server (``trading_bot.monitor``), off by default.

The token is a secret: read only from ``TRADING_BOT__MONITOR__TOKEN`` (environment or ``.env``) or the systemd
credential file ``monitor_token``, never from the config file or the command line (``refusals``).
"""

from __future__ import annotations

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import SecretStr
from pydantic import field_validator

__all__ = ["MONITOR_TOKEN_ENV", "MONITOR_TOKEN_MIN_LENGTH", "MonitorSection"]

MONITOR_TOKEN_ENV = "TRADING_BOT__MONITOR__TOKEN"  # noqa: S105 (the variable's name, not a token)
"""The variable that carries the monitor's bearer token."""

MONITOR_TOKEN_MIN_LENGTH = 16
"""Shortest token accepted, in characters (``openssl rand -hex 32`` gives 64)."""


class MonitorSection(BaseModel):
    """The monitor server: ``/health``, ``/metrics`` and the JSON API with its controls (README, "Monitoring")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=False, description="serve the monitor while the bot runs (or --monitor)")
    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="address to bind; 127.0.0.1 keeps it on this machine (put a TLS proxy in front to expose it)",
    )
    port: int = Field(default=8787, ge=0, le=65535, description="TCP port (or --monitor-port); 0 = any free port")
    token: SecretStr | None = Field(
        default=None,
        description=f"bearer token of every call but /health; from {MONITOR_TOKEN_ENV} or the credential "
        "file monitor_token only",
    )
    read_only: bool = Field(
        default=False, description="serve the GET endpoints only (controls answer 403); allowed without a token"
    )

    @field_validator("token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MONITOR_TOKEN_MIN_LENGTH:
            raise ValueError(
                f"at least {MONITOR_TOKEN_MIN_LENGTH} characters (e.g. `openssl rand -hex 32`); set {MONITOR_TOKEN_ENV}"
            )
        return value
