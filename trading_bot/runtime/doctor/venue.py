"""The doctor's checks of one venue: credentials present, reachable, clock skew, the symbols, the keys accepted.

Every call goes through the ccxt adapter's own session (``exchanges.ccxt.client.CcxtSession``), built from
the venue's section with its ``ccxt_options``, so the doctor reaches exactly what the bot would (the
emulator, a proxy, a testnet). Each network step is bounded by ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import TypeVar

from exchanges.ccxt.client import CcxtSession
from exchanges.ccxt.client import ccxt_exchange_ids
from exchanges.config import ExchangeConfig
from trading_bot.domain import LiveClock
from trading_bot.domain import Symbol
from trading_bot.errors import AuthenticationError
from trading_bot.errors import ConfigError
from trading_bot.errors import ExchangeError
from trading_bot.registry import did_you_mean
from trading_bot.runtime.doctor.report import Check
from trading_bot.runtime.doctor.report import failed
from trading_bot.runtime.doctor.report import passed
from trading_bot.runtime.doctor.report import skipped

__all__ = ["VenueProbe", "check_venue", "credential_variables"]

T = TypeVar("T")

_CLOCK_SAMPLES = 3
_NTP_FIX = "sync the host clock with NTP (timedatectl set-ntp true; chrony or systemd-timesyncd), then run doctor again"


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueProbe:
    """What to check on one venue.

    Attributes:
        venue: the venue name (``binance``, or a key of ``venues``).
        section: its exchange section.
        symbols: the symbols the config trades there.
        variable_prefix: where its keys come from (``TRADING_BOT__EXCHANGE__`` or ``TRADING_BOT__VENUES__X__``).
        paper: ``--paper``: public market data only, no keys needed or sent.
        timeout_s: bound of each network step, seconds.
        max_skew_s: largest accepted difference between the venue's clock and this host's, seconds.
    """

    venue: str
    section: ExchangeConfig
    symbols: Sequence[Symbol]
    variable_prefix: str
    paper: bool
    timeout_s: float
    max_skew_s: float


def credential_variables(prefix: str) -> str:
    """Return where the keys of a venue are set, for messages (never their values)."""
    return f"{prefix}API_KEY and {prefix}SECRET (environment, .env or the systemd credentials directory)"


async def check_venue(probe: VenueProbe) -> list[Check]:
    """Return the checks of one venue, in order: credentials, reachable, clock, markets, authenticated call.

    A venue that cannot be reached skips the checks after it; a simulated venue (``paper``) has nothing
    to reach.
    """
    name = f"venue {probe.venue}"
    section = probe.section
    if section.name not in ccxt_exchange_ids():
        return [skipped(f"{name}: exchange", f"{section.name!r} is simulated: nothing to reach, no keys needed")]
    checks = [_credentials(probe)]
    public_only = probe.paper or not section.has_credentials()
    session = CcxtSession(section, LiveClock(), public_only=public_only)
    try:
        reach = await _reach(probe, session)
        checks.append(reach)
        if reach.status != "pass":
            rest = "skipped: the venue was not reached"
            checks += [skipped(f"{name}: {step}", rest) for step in ("clock", "markets", "authenticated call")]
            return checks
        checks.append(await _clock(probe, session))
        checks.append(_markets(probe, session))
        checks.append(await _authenticated(probe, session, public_only))
    finally:
        await session.close()
    return checks


def _credentials(probe: VenueProbe) -> Check:
    name = f"venue {probe.venue}: credentials"
    section = probe.section
    if probe.paper:
        return skipped(name, "--paper: public market data only, no keys needed")
    shown = [f"{key} {'set' if getattr(section, key) is not None else 'missing'}" for key in ("api_key", "secret")]
    if section.password is not None:
        shown.append("password set")
    if section.has_credentials():
        return passed(name, ", ".join(shown))
    return failed(
        name,
        ", ".join(shown) + f": live trading on {section.name} needs both",
        f"set {credential_variables(probe.variable_prefix)}; or run with --paper",
    )


async def _bounded(probe: VenueProbe, step: str, call: Callable[[], Awaitable[T]]) -> T:
    """Await ``call()`` within ``probe.timeout_s``; a timeout becomes an ``ExchangeError`` naming the step."""
    try:
        async with asyncio.timeout(probe.timeout_s):
            return await call()
    except TimeoutError:
        raise ExchangeError(f"{step}: no answer within {probe.timeout_s:g} s") from None


async def _reach(probe: VenueProbe, session: CcxtSession) -> Check:
    name = f"venue {probe.venue}: reachable"
    started = time.monotonic()
    try:
        await _bounded(probe, "load_markets", session.connect)
    except ConfigError as exc:
        return failed(name, str(exc), "fix the exchange section of the config")
    except ExchangeError as exc:
        return failed(
            name,
            f"{probe.section.name}: {exc}",
            "check the network, DNS, firewall or proxy, and the URLs in exchange.ccxt_options (urls.api)",
        )
    elapsed_ms = (time.monotonic() - started) * 1000
    return passed(name, f"{len(session.markets)} markets loaded in {elapsed_ms:.0f} ms")


async def _clock(probe: VenueProbe, session: CcxtSession) -> Check:
    name = f"venue {probe.venue}: clock"
    client: Any = session.client
    if not client.has.get("fetchTime"):
        return skipped(name, f"{probe.section.name} has no time endpoint (ccxt fetchTime)")
    samples: list[tuple[float, float]] = []  # (round trip, venue - local at the middle), ms
    for _ in range(_CLOCK_SAMPLES):
        before_ms = time.time() * 1000
        try:
            venue_ms = await _bounded(
                probe, "fetch_time", lambda: session.call(session.ctx("fetch_time"), client.fetch_time)
            )
        except ExchangeError as exc:
            return failed(name, f"fetch_time: {exc}", "check that the venue answers its time endpoint; then NTP")
        after_ms = time.time() * 1000
        samples.append((after_ms - before_ms, float(venue_ms) - (before_ms + after_ms) / 2))
    round_trip_ms, offset_ms = min(samples)  # the fastest answer says most (a rate-limit pause inflates one)
    skew_s = offset_ms / 1000
    side = "ahead of" if skew_s > 0 else "behind"
    detail = (
        f"venue clock {abs(skew_s):.3f} s {side} this host (limit {probe.max_skew_s:g} s; round trip "
        f"{round_trip_ms:.0f} ms)"
    )
    if abs(skew_s) > probe.max_skew_s:
        return failed(name, detail + ": signed requests are refused outside the venue's window", _NTP_FIX)
    return passed(name, detail)


def _markets(probe: VenueProbe, session: CcxtSession) -> Check:
    name = f"venue {probe.venue}: markets"
    missing = [s for s in probe.symbols if s not in session.markets]
    if not missing:
        return passed(name, f"{', '.join(probe.symbols)} listed on {probe.section.name}")
    shown = "; ".join(f"{s}{did_you_mean(s, session.markets)}" for s in missing)
    return failed(
        name,
        f"not listed on {probe.section.name} ({probe.section.market_type}): {shown}",
        "fix bot.symbol / bot.symbols (ccxt unified symbols: BTC/USDT, swaps BTC/USDT:USDT) or exchange.market_type",
    )


async def _authenticated(probe: VenueProbe, session: CcxtSession, public_only: bool) -> Check:
    name = f"venue {probe.venue}: authenticated call"
    if public_only:
        why = "--paper" if probe.paper else "no keys set"
        return skipped(name, f"{why}: fetch_balance not tried")
    client: Any = session.client
    try:
        balances = await _bounded(
            probe, "fetch_balance", lambda: session.call(session.ctx("fetch_balance"), client.fetch_balance)
        )
    except AuthenticationError as exc:
        return failed(
            name,
            f"fetch_balance: the venue refused the API key: {exc}",
            f"check the key and secret ({credential_variables(probe.variable_prefix)}), the key's permissions "
            "(reading and trading enabled) and its IP whitelist",
        )
    except ExchangeError as exc:
        text = str(exc)
        skew = "timestamp" in text.lower() or "recvwindow" in text.lower()
        return failed(name, f"fetch_balance: {text}", _NTP_FIX if skew else "see the venue's message; then retry")
    assets = [a for a, v in (balances.get("total") or {}).items() if v] if isinstance(balances, dict) else []
    return passed(name, f"fetch_balance answered ({len(assets)} assets held)")
