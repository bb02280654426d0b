"""Running every doctor check of one config, in order, read-only: nothing is created, no order is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from trading_bot.config import BotConfig
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError
from trading_bot.runtime.builder import BotPlan
from trading_bot.runtime.builder import journal_url
from trading_bot.runtime.builder import traded_instruments
from trading_bot.runtime.doctor.journal import check_journal_path
from trading_bot.runtime.doctor.monitor import check_monitor_token
from trading_bot.runtime.doctor.monitor import monitor_token
from trading_bot.runtime.doctor.report import Check
from trading_bot.runtime.doctor.report import failed
from trading_bot.runtime.doctor.report import scrubbed
from trading_bot.runtime.doctor.report import skipped
from trading_bot.runtime.doctor.unit import check_unit
from trading_bot.runtime.doctor.venue import VenueProbe
from trading_bot.runtime.doctor.venue import check_venue

__all__ = ["DEFAULT_MAX_SKEW_S", "DEFAULT_TIMEOUT_S", "DoctorRequest", "run_doctor"]

DEFAULT_TIMEOUT_S = 10.0
"""Bound of each network step (markets, time, balance, a PostgreSQL connection), seconds."""
DEFAULT_MAX_SKEW_S = 1.0
"""Largest accepted clock difference with a venue, seconds: Binance refuses a signed request stamped more than
1 s ahead of its own clock (-1021), so a host clock further off than that fails orders."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DoctorRequest:
    """What one ``doctor`` run checks.

    Attributes:
        config_check: the outcome of loading and validating the config (the first line of the table).
        config: the loaded config, ``None`` when it is invalid (the checks that need it are skipped).
        config_file: the ``--config`` file, if any (read raw by the monitor check).
        paper: ``--paper``: public market data only, so no keys are needed.
        unit: the systemd unit to check, or ``None`` (skipped).
        timeout_s: bound of each network step, seconds.
        max_skew_s: largest accepted clock difference with a venue, seconds.
        environ: the process environment.
    """

    config_check: Check
    config: BotConfig | None
    config_file: Path | None = None
    paper: bool = False
    unit: Path | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_skew_s: float = DEFAULT_MAX_SKEW_S
    environ: Mapping[str, str] = field(default_factory=dict)


async def run_doctor(request: DoctorRequest) -> list[Check]:
    """Return every check's outcome, in table order, with every secret value scrubbed from the texts."""
    checks = [request.config_check]
    config = request.config
    if config is None:
        checks.append(skipped("venues", "skipped: the config did not load"))
        checks.append(skipped("journal", "skipped: the config did not load"))
    else:
        for probe in _probes(config, request):
            checks += await _guarded(f"venue {probe.venue}", check_venue(probe))
        checks += await _guarded("journal", _journal(config, request))
    checks.append(check_monitor_token(config, request.config_file, request.environ))
    if request.unit is None:
        checks.append(skipped("systemd unit", "no unit installed here; check one with --unit FILE"))
    else:
        checks += check_unit(request.unit)
    secrets = list(config.secret_values()) if config is not None else []
    token = monitor_token(getattr(config, "monitor", None), request.environ)
    return scrubbed(checks, [*secrets, *([token] if token else [])])


async def _guarded(name: str, checks: Awaitable[list[Check] | Check]) -> list[Check]:
    """Await some checks; an unexpected error (a bug, an odd venue answer) is one failed line, not a traceback."""
    try:
        found = await checks
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return [failed(name, f"the check itself failed: {type(exc).__name__}: {exc}", "report this as a bug")]
    return found if isinstance(found, list) else [found]


def _probes(config: BotConfig, request: DoctorRequest) -> list[VenueProbe]:
    symbols: dict[str, list[Symbol]] = {}
    for instrument in traded_instruments(config):
        symbols.setdefault(instrument.venue, []).append(instrument.symbol)
    probes = []
    for venue, section in config.venue_configs().items():
        if venue not in symbols:
            continue  # a configured account the bot does not trade on
        prefix = f"TRADING_BOT__VENUES__{venue.upper()}__" if config.venues else "TRADING_BOT__EXCHANGE__"
        probes.append(
            VenueProbe(
                venue=venue,
                section=section,
                symbols=symbols[venue],
                variable_prefix=prefix,
                paper=request.paper,
                timeout_s=request.timeout_s,
                max_skew_s=request.max_skew_s,
            )
        )
    return probes


async def _journal(config: BotConfig, request: DoctorRequest) -> Check:
    try:
        url = journal_url(config, BotPlan(paper=request.paper))
    except ConfigError as exc:
        return failed("journal", str(exc), "fix bot.data_dir or persistence.db_url")
    return await check_journal_path(url, request.timeout_s)
