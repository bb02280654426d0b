"""The ``run`` command (the default) and the commands that describe a run: ``list-strategies``,
``list-exchanges``, ``check-config``.

Heavy modules (pydantic models, the runtime, ccxt) are imported inside the commands, so ``--help``
answers fast and never imports ccxt.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Annotated
from typing import Any

import typer

from trading_bot.cli.app import EXIT_FAILURE
from trading_bot.cli.app import EXIT_USAGE
from trading_bot.cli.app import app
from trading_bot.cli.app import fail
from trading_bot.stop_signals import STOP_SIGNALS

if TYPE_CHECKING:
    from trading_bot.config import BotConfig

__all__ = ["check_config", "check_plugins", "list_exchanges", "list_strategies", "run_command"]

_RUN_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}
_WATCHDOG_MARGIN_S = 5.0  # after the first stop signal, exit 1 is forced at shutdown_timeout_s + this


def _load_config(path: Path | None, overrides: dict[str, Any]) -> BotConfig:
    from trading_bot.config import load_config

    return load_config(path, overrides=overrides)


def _configure_logging(config: BotConfig, fmt: str | None, level: str | None) -> None:
    from trading_bot.log import configure_logging
    from trading_bot.log import register_secret

    configure_logging(level or config.logging.level, fmt or config.logging.format)
    for secret in config.secret_values():
        register_secret(secret)


def _parse_speed(speed: str) -> float | None:
    """Return the replay speed factor, or None for ``max``; raise ConfigError outside (0, 1e6]."""
    if speed == "max":
        return None
    from trading_bot.cli.values import check_flag
    from trading_bot.domain.bounds import SpeedFactor

    value: float = check_flag("--speed", speed, SpeedFactor)
    return value


@app.command(
    "run",
    context_settings=_RUN_CONTEXT,
    help="Run the bot (the default command). Strategy parameters are flags: --take-profit 0.02 --boost.",
)
def run_command(
    ctx: typer.Context,
    strategy: Annotated[str | None, typer.Option(help="strategy name (list-strategies)")] = None,
    exchange: Annotated[str | None, typer.Option(help="exchange id: binance, ... or paper (list-exchanges)")] = None,
    symbol: Annotated[
        list[str] | None,
        typer.Option(
            help="market symbol, e.g. BTC/USDT, or VENUE:SYMBOL; repeat it to trade several (one strategy "
            "instance each)"
        ),
    ] = None,
    ticker: Annotated[str | None, typer.Option(help="shorthand: BTC is BTC/USDT (spot), BTC/USDT:USDT (swap)")] = None,
    market_type: Annotated[
        str | None, typer.Option(help="spot | swap (linear perpetuals; exchange.market_type) [default: spot]")
    ] = None,
    leverage: Annotated[str | None, typer.Option(help="swap: leverage 1..125 set on each symbol at connect")] = None,
    margin_mode: Annotated[
        str | None, typer.Option(help="swap: cross | isolated, set on each symbol at connect")
    ] = None,
    paper: Annotated[bool, typer.Option("--paper", help="simulated fills on live (or replayed) market data")] = False,
    replay: Annotated[list[Path] | None, typer.Option(help="recorded CSV/CSV.gz file(s) to replay (--paper)")] = None,
    speed: Annotated[str, typer.Option(help="replay speed factor, or 'max'")] = "max",
    markets: Annotated[
        Path | None,
        typer.Option(
            help="--replay: JSON of market rules (tick_size, lot_step, min_notional, min_amount per symbol) for "
            "symbols not bundled, or to override a bundled one; the format of `backtest --markets`"
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="JSON config file (config.example.json)")] = None,
    bot_id: Annotated[str | None, typer.Option(help="prefix of client order ids")] = None,
    log_format: Annotated[str | None, typer.Option(help="console | json | auto")] = None,
    log_level: Annotated[str | None, typer.Option(help="debug | info | warning | error")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print the summary as one JSON object on stdout")] = False,
    adopt: Annotated[
        bool,
        typer.Option(
            "--adopt",
            help="once, after restoring an older journal: take the exchange's orders and fills of this bot id "
            "into it and move the id sequence past them (see README, 'A journal older than the exchange')",
        ),
    ] = False,
    monitor: Annotated[
        bool, typer.Option("--monitor", help="serve /health, /metrics and the control API (monitor.enabled)")
    ] = False,
    monitor_port: Annotated[
        int | None, typer.Option(help="the monitor's TCP port (monitor.port, default 8787); turns it on")
    ] = None,
) -> None:
    """Run the bot until stopped or until the replayed data ends."""
    signals = _StopSignals()
    signals.install()  # before anything slow: from here on a signal is an orderly stop, exit 0
    from trading_bot.errors import ConfigError
    from trading_bot.errors import DataError
    from trading_bot.errors import OperationalError
    from trading_bot.runtime.builder import BotPlan
    from trading_bot.runtime.builder import build_bot
    from trading_bot.runtime.builder import build_strategy
    from trading_bot.runtime.builder import journal_url
    from trading_bot.runtime.builder import parse_strategy_args
    from trading_bot.runtime.builder import resolve_symbol

    try:
        params = parse_strategy_args(ctx.args)
        overrides: dict[str, Any] = {}
        if strategy is not None:
            overrides.setdefault("strategy", {})["name"] = strategy
        if params:
            overrides.setdefault("strategy", {})["params"] = params
        if exchange is not None:
            overrides.setdefault("exchange", {})["name"] = exchange
        if bot_id is not None:
            overrides.setdefault("bot", {})["bot_id"] = bot_id
        overrides = _with_perp_flags(overrides, market_type, leverage, margin_mode)
        cfg = _with_symbols(_load_config(config, overrides), symbol or [], ticker, resolve_symbol)
        _refuse_perp_flags_on_spot(cfg, leverage, margin_mode)
        _configure_logging(cfg, log_format, log_level)
        strat = build_strategy(cfg.strategy.name, cfg.strategy.params)
        plan = BotPlan(
            paper=paper or bool(replay),
            replay=tuple(replay or ()),
            replay_files=_replay_files(replay or [], cfg),
            speed=_parse_speed(speed),
            adopt=adopt,
            markets=_replay_markets(markets, bool(replay), cfg),
        )
        server = _monitor_server(cfg, monitor, monitor_port)
        _check_journal(journal_url(cfg, plan))
        from trading_bot.runtime.notify import SystemdNotifier

        notifier = SystemdNotifier.from_env()
        try:
            result, collector = _run_bot(cfg, plan, strat, server, notifier, signals, build_bot)
        finally:
            if notifier is not None:
                notifier.close()
    except (ConfigError, DataError) as exc:
        raise fail(str(exc)) from None
    except OperationalError as exc:  # the journal's disk or permissions, found before trading
        raise fail(str(exc), EXIT_FAILURE) from None
    if result.exit_code == EXIT_USAGE:
        raise fail(result.reason)
    if collector is not None:  # a replay ends with the backtest's warnings (exit code unchanged)
        result.summary["warnings"] = [w.to_dict() for w in collector.warnings(int(result.summary.get("fills") or 0))]
    _print_summary(result.summary, json_output)
    raise typer.Exit(result.exit_code)


def _refuse_perp_flags_on_spot(cfg: Any, leverage: str | None, margin_mode: str | None) -> None:
    """Refuse ``--leverage``/``--margin-mode`` when every traded symbol is spot (they would be ignored).

    Raises:
        ConfigError: one line naming the flags and the fix.
    """
    from trading_bot.errors import ConfigError

    given = [flag for flag, value in (("--leverage", leverage), ("--margin-mode", margin_mode)) if value is not None]
    if not given or any(v.market_type == "swap" for v in cfg.venue_configs().values()):
        return
    spot = [s for s in cfg.bot.traded if ":" not in s.split("/", 1)[-1]]
    if len(spot) == len(cfg.bot.traded):
        raise ConfigError(
            f"{'/'.join(given)}: {', '.join(spot)} is spot (swaps only); give the swap symbol "
            f"({spot[0].split(':')[-1]}:{spot[0].rsplit('/', 1)[-1]}) or --market-type swap"
        )


def _run_bot(cfg: BotConfig, plan: Any, strat: Any, server: Any, notifier: Any, signals: Any, build: Any) -> Any:
    """Bind the monitor (before the bot starts: a port taken stops the run here, exit 1), build the bot with its
    side services (the alert sender and Telegram control, the monitor server) and run it; the alerts' last
    sends are awaited after the run.

    Returns ``(result, collector)``: the run's result and a replay's warning collector (``None`` otherwise).
    """
    from trading_bot.alerts import alert_services
    from trading_bot.alerts import finish_alerts

    try:
        if server is not None:
            server.bind()
        notify = notifier.notify if notifier is not None else None
        alerts = alert_services(cfg.alerts, cfg.bot.bot_id)
        services = [*alerts, *([] if server is None else [server.serve])]
        bot = build(cfg, plan, strategy=strat, notify=notify, services=services)
        if server is not None:
            server.attach(bot)
        collector = _watch_replay(bot) if plan.replay else None
        return _run_with_signals(bot, signals, lambda: finish_alerts(alerts)), collector
    finally:
        if server is not None:
            server.close()


def _monitor_server(cfg: BotConfig, enabled: bool, port: int | None) -> Any:
    """Return the run's ``MonitorServer`` (not bound yet), or ``None`` when the monitor is off.

    Raises:
        ConfigError: the monitor is on without a token and not read-only (exit 2), a bad port.
    """
    from trading_bot.monitor.settings import monitor_settings

    settings = monitor_settings(cfg.monitor, enabled=enabled, port=port)
    if settings is None:
        return None  # the server's modules (aiohttp's web, prometheus-client) are not imported
    from trading_bot.monitor.service import MonitorServer

    return MonitorServer(settings, cfg)


def _with_perp_flags(
    overrides: dict[str, Any], market_type: str | None, leverage: str | None, margin_mode: str | None
) -> dict[str, Any]:
    """Add ``--market-type``/``--leverage``/``--margin-mode`` to the config overrides, each checked here.

    Raises:
        ConfigError: one line naming the flag and its allowed values.
    """
    from trading_bot.cli.values import check_flag
    from trading_bot.domain.bounds import Leverage
    from trading_bot.errors import ConfigError

    exchange = overrides.setdefault("exchange", {})
    if market_type is not None:
        if market_type not in ("spot", "swap"):
            raise ConfigError(f"--market-type: spot or swap, got {market_type!r}")
        exchange["market_type"] = market_type
    if leverage is not None:
        exchange["leverage"] = check_flag("--leverage", leverage, Leverage)
    if margin_mode is not None:
        if margin_mode not in ("cross", "isolated"):
            raise ConfigError(f"--margin-mode: cross or isolated, got {margin_mode!r}")
        exchange["margin_mode"] = margin_mode
    if not exchange:
        del overrides["exchange"]
    return overrides


def _watch_replay(bot: Any) -> Any:
    """Feed ``bot``'s order events to a ``WarningCollector`` (a replay's summary gets ``warnings``) and return it."""
    from trading_bot.backtest.warnings import WarningCollector

    collector = WarningCollector()
    bot.on_order_event = collector.observe
    return collector


def _with_symbols(cfg: BotConfig, symbols: list[str], ticker: str | None, resolve: Any) -> BotConfig:
    """Return ``cfg`` trading the ``--symbol`` values (``--ticker`` expands the one symbol, or is the symbol).

    Raises:
        ConfigError: ``--ticker`` with several ``--symbol``; a symbol that is not ``BASE/QUOTE``.
    """
    from pydantic import ValidationError

    from trading_bot.errors import ConfigError

    if ticker and len(symbols) > 1:
        raise ConfigError(f"--ticker {ticker} with {len(symbols)} --symbol values: give the symbols alone")
    if len(symbols) <= 1:
        resolved = resolve(symbols[0] if symbols else None, ticker, cfg.exchange.market_type)
        bot = None if resolved is None else cfg.bot.model_copy(update={"symbol": resolved, "symbols": []})
    else:
        try:
            bot = type(cfg.bot).model_validate({**cfg.bot.model_dump(), "symbol": symbols[0], "symbols": symbols})
        except ValidationError as exc:
            raise ConfigError(f"--symbol: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    return cfg if bot is None else cfg.model_copy(update={"bot": bot})


def _replay_markets(path: Path | None, replaying: bool, cfg: BotConfig) -> dict[Any, Any]:
    """Return the ``--markets`` file's markets over the bundled snapshot of ``exchange.name`` (replays only).

    Raises:
        ConfigError: ``--markets`` without ``--replay``; a bad file (one line naming it and the field).
    """
    if path is None:
        return {}
    from trading_bot.errors import ConfigError

    if not replaying:
        raise ConfigError("--markets: market rules are for --replay; live and --paper trade the venue's own rules")
    from decimal import Decimal

    from exchanges.markets import load_market_snapshot
    from trading_bot.backtest.market_specs import apply_market_specs
    from trading_bot.backtest.market_specs import load_market_specs

    paper = cfg.exchange.paper
    fee = paper.taker_fee if paper.taker_fee is not None else Decimal("0.001")
    return apply_market_specs(load_market_specs(path), load_market_snapshot(cfg.exchange.name), fee)


def _replay_files(replay: list[Path], cfg: BotConfig) -> dict[Any, tuple[Path, ...]]:
    """Map the ``--replay`` files to the symbols traded when there are several (``FILE`` or ``SYMBOL=FILE``).

    One symbol: empty (every file is that symbol's, checked by the replay itself as always).

    Raises:
        ConfigError: a file of no ``--symbol``, a symbol without a file, a ``SYMBOL=`` its name contradicts.
    """
    symbols = cfg.bot.traded
    if not replay or len(symbols) < 2:
        return {}
    from trading_bot.runtime.builder import check_replay_venues

    check_replay_venues([i.venue for i in cfg.instruments()])
    from exchanges.recorded import data_specs
    from exchanges.recorded import files_by_symbol
    from trading_bot.domain import Symbol
    from trading_bot.domain.instrument import split_venue

    specs = data_specs([str(p) for p in replay], symbols, option="--replay")
    return {Symbol(split_venue(s)[1]): tuple(paths) for s, paths in files_by_symbol(specs).items()}


def _check_journal(db_url: str | None) -> str | None:
    """Check the journal a run would open (nothing is created or changed); describe it, or ``None`` if none.

    Raises:
        ConfigError: the bot would refuse it (exit 2).
        OperationalError: the bot could not use it on this machine (exit 1).
    """
    if db_url is None:
        return None
    import asyncio

    from trading_bot.runtime.journal.connect import check_journal

    return asyncio.run(check_journal(db_url))


class _StopSignals:
    """SIGINT, SIGTERM and SIGHUP for the run command, from its first line to the process exit.

    The first signal is an orderly stop: before the event loop runs it is only recorded (the bot, once
    built, is stopped before it starts anything); in the loop it asks the bot to stop and arms a
    watchdog that forces exit 1 should the process still be there ``shutdown_timeout_s`` + 5 s later
    (the orderly shutdown takes at most ``shutdown_timeout_s`` + 2 s). A second signal forces exit 1 at
    once: that is safe for the exactly-once rule, as every order intent is committed to the journal
    before its request leaves; updates still queued are reconciled with the exchange at the next start.
    """

    def __init__(self) -> None:
        self.received: list[str] = []
        self._bot: Any = None

    def install(self) -> None:
        """Record stop signals (outside the event loop: a second one still forces exit 1)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal_outside_loop)

    def _on_signal_outside_loop(self, signum: int, frame: object) -> None:
        self._record(signal.Signals(signum).name)

    def _record(self, name: str) -> None:
        self.received.append(name)
        if len(self.received) > 1:
            typer.echo(f"error: second {name}: forcing exit", err=True)
            os._exit(EXIT_FAILURE)

    def on_loop_signal(self, name: str) -> None:
        """Handle a signal inside the event loop: stop the bot in order (a second one forces exit 1)."""
        self._record(name)
        self._stop_bot(name)

    def take_over(self, bot: Any) -> None:
        """Give the signals to ``bot`` (in its event loop); a signal recorded earlier stops it at once."""
        self._bot = bot
        if self.received:
            self._stop_bot(self.received[0])

    def _stop_bot(self, name: str) -> None:
        bot = self._bot
        if bot is None:
            return
        bot.request_stop(f"signal {name}")
        limit_s = bot.shutdown_timeout_s + _WATCHDOG_MARGIN_S
        watchdog = threading.Timer(limit_s, _force_exit, args=(limit_s,))
        watchdog.daemon = True  # a backstop only: it dies with the process
        watchdog.start()


def _force_exit(limit_s: float) -> None:
    typer.echo(f"error: the orderly stop took longer than {limit_s:.0f} s: forcing exit", err=True)
    os._exit(EXIT_FAILURE)


def _run_with_signals(bot: Any, signals: _StopSignals, after: Callable[[], Awaitable[None]] | None = None) -> Any:
    """Run the bot's event loop with the stop signals handled in it (``_StopSignals``); then await ``after()``."""
    import asyncio

    async def runner() -> Any:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, signals.on_loop_signal, sig.name)
        signals.take_over(bot)
        try:
            result = await bot.run()
            if after is not None:
                await after()  # the alerts' last sends (bounded)
            return result
        finally:
            # Back to the recording handlers, not the defaults the loop would restore: a late signal must
            # not kill the process (143). Blocked meanwhile, so none lands in between.
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            try:
                for sig in STOP_SIGNALS:
                    loop.remove_signal_handler(sig)
                signals.install()
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    return asyncio.run(runner())


def _print_summary(summary: dict[str, Any], json_output: bool) -> None:
    if json_output:
        import json

        sys.stdout.write(json.dumps(summary, sort_keys=True, default=str) + "\n")
        return
    from trading_bot.runtime.summary import format_summary

    warnings = summary.pop("warnings", [])
    typer.echo(format_summary(summary))
    if warnings:
        typer.echo("\nwarnings:\n" + "\n".join(f"  {w['message']}" for w in warnings))


@app.command("list-strategies", help="List the registered strategies and their parameters.")
def list_strategies() -> None:
    """Print each strategy with its parameters (required ones marked) and each number's allowed range."""
    from strategies import STRATEGIES
    from trading_bot.domain.bounds import describe_range

    for name in STRATEGIES.names():
        cls: Any = STRATEGIES.get(name)
        typer.echo(name)
        for field, info in cls.Params.model_fields.items():
            flag = "--" + field.replace("_", "-")
            default = "required" if info.is_required() else f"default {info.default}"
            allowed = describe_range(info)
            suffix = f"; range {allowed}" if allowed is not None else ""
            typer.echo(f"    {flag:<22} {default:<20} {info.description or ''}{suffix}")


@app.command("list-exchanges", help="List the exchanges: 'paper', 'replay' and every exchange id ccxt knows.")
def list_exchanges() -> None:
    """Print the registered exchange names (this one imports ccxt, whose ids are a family of the registry)."""
    from exchanges import EXCHANGES

    for name in EXCHANGES.names():
        typer.echo(name)


@app.command(
    "check-config",
    help="Validate a config file (plus environment) and the journal it names; print the config, secrets redacted.",
)
def check_config(
    path: Annotated[Path | None, typer.Argument(help="config file; default: config.example.json rules only")] = None,
) -> None:
    """Print the effective, redacted config as JSON; exit 2 (or 1) with a one-line reason if it is unusable.

    Beyond the config models it checks what the plug-ins know (``check_plugins``): the strategy name
    and its params, and the exchange name; and, read-only, the journal a live or paper run would open:
    the URL and its driver, the path (SQLite: a writable directory or file, a SQLite database whose
    schema this code can read). The journal's description goes to stderr; stdout is the config alone. A
    FIFO, device or directory given as FILE is refused, never read.
    """
    import json

    from trading_bot.errors import ConfigError
    from trading_bot.errors import OperationalError

    try:
        cfg = _load_config(path, {})
        check_plugins(cfg)
        from trading_bot.runtime.builder import BotPlan
        from trading_bot.runtime.builder import journal_url

        described = _check_journal(journal_url(cfg, BotPlan()))
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except OperationalError as exc:
        raise fail(str(exc), EXIT_FAILURE) from None
    typer.echo(json.dumps(cfg.redacted(), indent=2, sort_keys=True, default=str))
    if described is not None:
        typer.echo(described, err=True)


def check_plugins(cfg: BotConfig) -> None:
    """Validate ``strategy.name``, ``strategy.params`` (the strategy's ``Params``) and ``exchange.name``.

    Raises:
        ConfigError: one line naming the field; unknown names come with a "did you mean".
    """
    from trading_bot.errors import ConfigError
    from trading_bot.runtime.builder import check_exchange_name
    from trading_bot.runtime.builder import traded_instruments
    from trading_bot.runtime.builder import validate_strategy_params

    try:
        validate_strategy_params(cfg.strategy.name, cfg.strategy.params)
    except ConfigError as exc:
        text = str(exc)
        field = "strategy.name" if text.startswith("unknown strategy") else "strategy.params"
        raise ConfigError(f"{field}: {text}") from None
    if not cfg.venues:
        check_exchange_name(cfg.exchange.name)
    for name, venue in cfg.venues.items():
        try:
            check_exchange_name(venue.name)
        except ConfigError as exc:
            raise ConfigError(f"venues.{name}.name: {str(exc).removeprefix('exchange.name: ')}") from None
    traded_instruments(cfg)  # as the bot resolves them: a strategy's declared instruments, else bot.symbols
