"""Wiring: build the exchange client, the strategy, the RiskManager and the supervisor from config.

This is the only place that decides which ``ExchangeClient`` and which ``Clock`` a mode uses (live:
ccxt + live clock; paper: live public data + simulated fills; replay: recorded file + simulated clock).
Nothing downstream branches on the mode.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from exchanges import EXCHANGES
from exchanges.base import BaseExchangeClient
from exchanges.request import ExchangeRequest
from risk.manager import RiskContext
from risk.manager import RiskManager
from risk.sizing import size_order
from strategies import STRATEGIES
from strategies.base import BaseStrategy
from trading_bot.config import BotConfig
from trading_bot.domain import Clock
from trading_bot.domain import LiveClock
from trading_bot.domain import Market
from trading_bot.domain import OrderParams
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.domain.bounds import describe_range
from trading_bot.domain.instrument import split_venue
from trading_bot.domain.instrument import venue_name
from trading_bot.errors import ConfigError
from trading_bot.registry import did_you_mean
from trading_bot.runtime.supervisor import TradingBot
from trading_bot.runtime.unit import StrategySpec

__all__ = [
    "BotPlan",
    "build_bot",
    "build_strategy",
    "check_exchange_name",
    "check_replay_venues",
    "exchange_kind",
    "journal_url",
    "journal_venue",
    "parse_strategy_args",
    "resolve_symbol",
    "strategy_specs",
    "validate_strategy_params",
]


@dataclass(frozen=True, slots=True)
class BotPlan:
    """How to run: ``paper`` (simulated fills), replay files (recorded data), replay speed, ``adopt``.

    ``replay_files`` gives each symbol its files when several symbols replay (``replay`` holds them all).

    ``adopt`` lets reconciliation take the exchange's history of this bot into a journal older than it
    (``reconcile``); without it such a journal stops the start with exit 2.

    ``markets`` (replays): market rules that replace or add to the bundled snapshot (``--markets FILE``).
    """

    paper: bool = False
    replay: tuple[Path, ...] = ()
    replay_files: Mapping[Symbol, tuple[Path, ...]] = field(default_factory=dict)
    speed: float | None = None
    adopt: bool = False
    markets: Mapping[Symbol, Market] = field(default_factory=dict)


def journal_url(config: BotConfig, plan: BotPlan) -> str | None:
    """Return the journal URL the run uses, or ``None`` when it journals nothing (replays, journal off).

    Raises:
        ConfigError: ``--adopt`` without a journal; a NUL byte in ``bot.data_dir``.
    """
    if not config.persistence.enabled or plan.replay:
        if plan.adopt:
            raise ConfigError("--adopt: this run keeps no journal (a replay, or persistence.enabled=false)")
        return None
    return config.persistence.resolved_db_url(config.bot.data_dir)


def parse_strategy_args(args: Sequence[str]) -> dict[str, Any]:
    """Turn leftover CLI flags (``--take-profit 0.02 --boost``) into strategy parameters.

    ``--name value`` sets ``name`` (dashes become underscores); a flag followed by another flag or by
    nothing is ``True``; ``--no-name`` is ``False``. Values stay strings: the strategy's ``Params``
    model converts and validates them.
    """
    params: dict[str, Any] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or len(token) < 3:
            raise ConfigError(f"unexpected argument {token!r}: strategy parameters are given as --name value")
        name, eq, inline = token[2:].partition("=")
        key = name.replace("-", "_")
        if eq:
            params[key] = inline
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            params[key] = args[i + 1]
            i += 1
        elif key.startswith("no_"):
            params[key[3:]] = False
        else:
            params[key] = True
        i += 1
    return params


def build_strategy(name: str, params: Mapping[str, Any]) -> BaseStrategy[Any]:
    """Create a registered strategy with validated parameters; every problem is a one-line ConfigError."""
    cls: Any = STRATEGIES.get(name)
    strategy: BaseStrategy[Any] = cls(validate_strategy_params(name, params))
    return strategy


def validate_strategy_params(name: str, params: Mapping[str, Any]) -> Any:
    """Return the strategy's validated ``Params``; raise a one-line ConfigError for an unknown name or a bad value.

    Needs no market data, so ``check-config`` runs it too.
    """
    cls: Any = STRATEGIES.get(name)
    model = cls.Params
    fields = model.model_fields
    for key in params:
        if key not in fields:
            match = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean --{match[0].replace('_', '-')}?)" if match else ""
            known = ", ".join("--" + f.replace("_", "-") for f in fields)
            raise ConfigError(f"strategy {name}: unknown parameter --{key.replace('_', '-')}{hint}; known: {known}")
    try:
        validated = model.model_validate(dict(params))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "params"
        flag = "--" + loc.replace("_", "-")
        if err["type"] == "missing":
            raise ConfigError(f"strategy {name}: missing required parameter {flag} (strategy.params.{loc})") from None
        given = err.get("input")
        info = fields.get(loc)
        allowed = describe_range(info) if info is not None else None
        problem = str(err["msg"]).replace("Input should be", "must be").removeprefix("Value error, ")
        hint = f"; allowed: {allowed}" if allowed is not None else ""
        raise ConfigError(f"strategy {name}: {flag}: {problem} (got {given!r}){hint}") from None
    return validated


def resolve_symbol(symbol: str | None, ticker: str | None, market_type: str, quote: str = "USDT") -> str | None:
    """Return the symbol, expanding ``--ticker BTC`` to ``BTC/USDT`` (spot) or ``BTC/USDT:USDT`` (swap)."""
    if ticker:
        venue, bare = split_venue(symbol) if symbol else (None, "")
        if symbol and not bare.startswith(ticker.upper() + "/"):
            raise ConfigError(f"--ticker {ticker} and --symbol {symbol} disagree; give one of them")
        base = ticker.upper()
        expanded = f"{base}/{quote}:{quote}" if market_type == "swap" else f"{base}/{quote}"
        return expanded if venue is None else f"{venue}:{expanded}"
    return symbol


def exchange_kind(config: BotConfig, plan: BotPlan) -> str:
    """Return the ``EXCHANGES`` name of the client a plan runs on.

    Recorded data → ``replay``; ``--paper`` → ``paper`` (live data of ``exchange.name``); otherwise
    ``exchange.name`` itself (a ccxt id, ``paper``, or a plug-in).
    """
    if plan.replay:
        return "replay"
    if plan.paper:
        return "paper"
    return config.exchange.name


def build_exchange(
    config: BotConfig, plan: BotPlan, clock: Clock, symbols: Sequence[Symbol] = ()
) -> BaseExchangeClient:
    """Build one venue's client for the plan (replay / paper / live) through the ``EXCHANGES`` registry.

    ``config`` is narrowed to the venue (``BotConfig.for_venue``); ``symbols`` are the markets the bot
    trades there (default: ``bot.symbol``).

    Raises:
        ConfigError: an unknown exchange name (with the closest one), missing keys or market data.
    """
    if not plan.replay:
        check_exchange_name(config.exchange.name)
    traded = tuple(symbols) or (Symbol(config.bot.symbol),)
    replay_files = {s: plan.replay_files[s] for s in traded if s in plan.replay_files} or None
    request = ExchangeRequest(
        config=config.exchange, clock=clock, symbol=traded[0], symbols=traded, replay=plan.replay,
        replay_files=replay_files, speed=plan.speed, markets=plan.markets,
    )  # fmt: skip
    return EXCHANGES.create(exchange_kind(config, plan), request)


def check_replay_venues(venue_names: Sequence[str]) -> None:
    """Raise ConfigError unless the instruments of a replay are all on one venue (a replay is one account)."""
    names = list(dict.fromkeys(venue_names))
    if len(names) > 1:
        raise ConfigError(f"--replay: recorded data replays on one venue; these instruments are on {', '.join(names)}")


def strategy_specs(config: BotConfig, strategy: BaseStrategy[Any]) -> list[StrategySpec]:
    """Return the strategy instances to run and their instruments.

    A strategy that declares its instruments (``instruments()``) runs once over them; any other runs one
    instance per ``bot.traded`` symbol (``strategy`` is the first; the others are built from the config).

    Raises:
        ConfigError: an instrument that names an unknown venue, or none while several are configured.
    """
    declared = list(strategy.instruments())
    if declared:
        try:
            instruments = config.instruments(declared)
        except ConfigError as exc:  # name the strategy's parameters, not bot.symbol
            text = str(exc).removeprefix("bot.symbols: ").removeprefix("bot.symbol: ")
            raise ConfigError(f"strategy {strategy.name}: its instruments ({', '.join(declared)}): {text}") from None
        return [StrategySpec(strategy, tuple(instruments))]
    specs = []
    for i, instrument in enumerate(config.instruments()):
        instance = strategy if i == 0 else build_strategy(config.strategy.name, config.strategy.params)
        specs.append(StrategySpec(instance, (instrument,)))
    return specs


def check_exchange_name(name: str) -> None:
    """Raise ConfigError unless ``name`` is a registered exchange (``paper``, a ccxt id, a plug-in).

    Looking up a name that is not a simulator or plug-in imports ccxt (the names of its family).
    """
    if name not in EXCHANGES:
        raise ConfigError(
            f"exchange.name: unknown exchange {name!r}{did_you_mean(name, EXCHANGES.names())}; "
            "see `runbot.py list-exchanges` (or use 'paper' with --replay)"
        )


def journal_venue(config: BotConfig) -> str:
    """Return the venue name the journal records for a config narrowed by ``select_venue``.

    The ``venues`` key whose section is the config's ``exchange`` (the first, should two be equal), or in the
    one-venue shorthand the exchange's name (``binance``), made a venue name (``VENUE_NAME_PATTERN``:
    lower-case, other characters ``_``) should a plug-in's name not be one.
    """
    for name, section in config.venues.items():
        if section == config.exchange:
            return name
    return venue_name(config.exchange.name)


def build_bot(
    config: BotConfig,
    plan: BotPlan,
    *,
    strategy: BaseStrategy[Any] | None = None,
    notify: Any = None,
    services: Sequence[Any] = (),
) -> TradingBot:
    """Build a ready-to-run supervisor from a validated config and a run plan (``services``: its side tasks)."""
    clock: Clock = SimulatedClock() if plan.replay else LiveClock()
    if strategy is None:
        strategy = build_strategy(config.strategy.name, config.strategy.params)
    specs = strategy_specs(config, strategy)
    instruments = [i for spec in specs for i in spec.instruments]
    venue_names = list(dict.fromkeys(i.venue for i in instruments))
    if plan.replay:
        check_replay_venues(venue_names)
    venues: dict[str, BaseExchangeClient] = {}
    for name in venue_names:
        symbols = [i.symbol for i in instruments if i.venue == name]
        venues[name] = build_exchange(config.for_venue(name, symbols[0]), plan, clock, symbols)
    risk = RiskManager(config.risk)
    sizing_cfg = config.risk.sizing

    def sizing(params: OrderParams, ctx: RiskContext) -> Any:
        return size_order(params, ctx, sizing_cfg)

    journal = None
    db_url = journal_url(config, plan)
    if db_url is not None:
        from trading_bot.runtime.journal.link import JournalLink

        # the defaults of rows written without a venue (the supervisor names each one): the primary instrument
        journal = JournalLink(
            db_url,
            config.bot.bot_id,
            config.config_hash(),
            adopt=plan.adopt,
            venue=instruments[0].venue,
            instrument=str(instruments[0]),
        )
    return TradingBot(
        bot_id=config.bot.bot_id,
        venues=venues,
        strategies=specs,
        risk=risk,
        clock=clock,
        sizing=sizing,
        on_shutdown=config.bot.on_shutdown,
        heartbeat_s=config.bot.heartbeat_s,
        shutdown_timeout_s=config.bot.shutdown_timeout_s,
        notify=notify,
        journal=journal,
        services=services,
    )
