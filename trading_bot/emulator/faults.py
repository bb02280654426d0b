"""Run-time fault state: latency, injected 5xx / 429, clock skew, held-back order answers, impossible market data."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from trading_bot.emulator.config import FAULT_RANGES
from trading_bot.emulator.config import FaultConfig
from trading_bot.emulator.config import check_faults

__all__ = ["FAULT_NAMES", "FaultState", "HttpFault"]

FAULT_NAMES = frozenset(FAULT_RANGES)


@dataclass(frozen=True, slots=True)
class HttpFault:
    """An injected HTTP answer: ``status`` with ``retry_after_s`` set for 429s."""

    status: int
    retry_after_s: int | None = None


class FaultState:
    """Mutable fault settings shared by the server's request path.

    Args:
        config: Faults active from the start.
        seed: Seed of the random 5xx draw.
    """

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self._config = config
        self._rng = random.Random(seed)

    @property
    def config(self) -> FaultConfig:
        """Return the current settings."""
        return self._config

    @property
    def latency_s(self) -> float:
        """Return the added REST latency in seconds."""
        return self._config.latency_ms / 1000.0

    @property
    def clock_skew_ms(self) -> int:
        """Return the server clock offset in milliseconds."""
        return self._config.clock_skew_ms

    def update(self, **changes: object) -> FaultConfig:
        """Replace some settings; ``drop_ws`` is an action handled by the server, not stored here.

        Raises:
            ValueError: On an unknown fault name, a value of the wrong type or out of range
                (``trading_bot.emulator.config.FAULT_RANGES``); nothing is changed then.
        """
        clean = check_faults(changes)
        clean.pop("drop_ws", None)
        self._config = dataclasses.replace(self._config, **clean)  # type: ignore[arg-type]
        return self._config

    def take_http_fault(self) -> HttpFault | None:
        """Consume and return the fault the next REST call must answer with, if any."""
        cfg = self._config
        if cfg.next_n_429 > 0:
            self._config = dataclasses.replace(cfg, next_n_429=cfg.next_n_429 - 1)
            return HttpFault(429, cfg.retry_after_s)
        if cfg.next_n_5xx > 0:
            self._config = dataclasses.replace(cfg, next_n_5xx=cfg.next_n_5xx - 1)
            return HttpFault(cfg.error_5xx_status)
        if cfg.error_5xx_rate > 0 and self._rng.random() < cfg.error_5xx_rate:
            return HttpFault(cfg.error_5xx_status)
        return None

    def take_accept_then_timeout(self) -> float | None:
        """Consume the armed accept-then-timeout fault; return the answer delay in seconds, if armed."""
        if not self._config.accept_then_timeout:
            return None
        self._config = dataclasses.replace(self._config, accept_then_timeout=False)
        return self._config.accept_timeout_delay_s

    def take_bad_quote(self) -> bool:
        """Consume one armed ``bad_quotes``; return True if the next bookTicker message must be impossible."""
        if self._config.bad_quotes <= 0:
            return False
        self._config = dataclasses.replace(self._config, bad_quotes=self._config.bad_quotes - 1)
        return True

    def take_bad_trade(self) -> bool:
        """Consume one armed ``bad_trades``; return True if the next public print must be streamed impossible."""
        if self._config.bad_trades <= 0:
            return False
        self._config = dataclasses.replace(self._config, bad_trades=self._config.bad_trades - 1)
        return True
