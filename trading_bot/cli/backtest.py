"""The ``backtest`` and ``download-data`` commands.

Only typer is imported at module level: ``runbot.py --help`` imports this module and must stay fast and
never import ccxt or pydantic. ``backtest`` never imports ccxt at all; ``download-data`` does (through
the ccxt adapter), inside the command.

Exit codes: 0 done (also when the run has warnings: orders denied by risk, refused by the simulator,
or no fill at all; they are printed as a ``warnings:`` block after the metrics table and carried by
``--json`` as ``warnings``, because the run itself did what it was asked), 1 the run failed (a
strategy crash, or an output file that could not be written once the run was done: disk full, ...),
2 bad input (one line on stderr naming the problem: missing file, wrong columns, unsorted or duplicate
bars, ``--from`` after ``--to``, unknown strategy parameter, a number outside its range, an output path
that cannot be written: ``--report`` naming a file, ``--out`` naming a directory, a parent that is not
a writable directory, ...). Output paths are checked
before anything runs or is downloaded.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated
from typing import Any
from typing import TypeVar

import typer

from trading_bot.cli.app import EXIT_FAILURE
from trading_bot.cli.app import app
from trading_bot.cli.app import fail

__all__ = ["backtest_command", "download_data_command"]

_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}

_T = TypeVar("_T")


def _check_output(flag: str, path: Path, *, directory: bool) -> None:
    """Raise ConfigError (exit 2) when ``path`` cannot be written, before any work is done."""
    from trading_bot.errors import ConfigError
    from trading_bot.files import output_path_problem

    problem = output_path_problem(path, directory=directory)
    if problem is not None:
        raise ConfigError(f"{flag}: {problem}")


@app.command(
    "backtest",
    context_settings=_EXTRA,
    help="Backtest a strategy on recorded bars, quotes or trades. Strategy parameters are flags: --fast 10.",
)
def backtest_command(
    ctx: typer.Context,
    data: Annotated[
        list[Path],
        typer.Option(help="CSV/CSV.gz data file (or SYMBOL=FILE); repeat to merge files by time, or for --symbol"),
    ],
    strategy: Annotated[str | None, typer.Option(help="strategy name (list-strategies); default: the config's")] = None,
    symbol: Annotated[
        list[str] | None,
        typer.Option(
            help="market symbol; default: the config's, else the file name; repeat it for several symbols "
            "(bars; one strategy instance each, one account, each quote currency starting with --cash)"
        ),
    ] = None,
    timeframe: Annotated[str | None, typer.Option(help="bar interval (1m, 1h, 1d); default: from the data")] = None,
    cash: Annotated[str | None, typer.Option(help="starting quote-currency balance [default: 10000]")] = None,
    fee: Annotated[str | None, typer.Option(help="fee rate of every fill (0.001 = 0.1 %) [default: 0.001]")] = None,
    slippage_bps: Annotated[str | None, typer.Option(help="market/stop fill slippage, bps [default: 0]")] = None,
    latency_ms: Annotated[
        str | None,
        typer.Option(help="ms from sending an order to its arrival (quote/trade data; bars refuse it) [default: 0]"),
    ] = None,
    market_type: Annotated[
        str | None,
        typer.Option(help="spot | swap: swap trades the file's symbol as its linear perpetual [default: spot]"),
    ] = None,
    leverage: Annotated[
        str | None, typer.Option(help="swaps: leverage 1..125 (the market's cap applies) [default: 1]")
    ] = None,
    margin_mode: Annotated[str | None, typer.Option(help="swaps: cross | isolated [default: cross]")] = None,
    funding_rate: Annotated[
        str | None, typer.Option(help="swaps: constant funding rate per interval when no funding file is given")
    ] = None,
    liquidation_fee: Annotated[
        str | None, typer.Option(help="swaps: fee rate of a liquidated notional [default: 0.0125]")
    ] = None,
    from_: Annotated[str | None, typer.Option("--from", help="first date (UTC), e.g. 2023-08-01")] = None,
    to: Annotated[str | None, typer.Option(help="last date (UTC), inclusive")] = None,
    tick_size: Annotated[
        str | None, typer.Option(help="price step of --symbol's market, quote currency (overrides a bundled one)")
    ] = None,
    lot_step: Annotated[
        str | None, typer.Option(help="amount step of --symbol's market, base units (1 = whole shares)")
    ] = None,
    min_notional: Annotated[str | None, typer.Option(help="smallest order value, quote currency")] = None,
    min_amount: Annotated[str | None, typer.Option(help="smallest order amount, base units")] = None,
    maintenance_rate: Annotated[
        str | None,
        typer.Option(help="a custom swap's (BASE/QUOTE:SETTLE) maintenance margin rate (0 = liquidated at no margin)"),
    ] = None,
    markets: Annotated[
        Path | None,
        typer.Option(help='JSON of market rules: {"GOOG/USD": {"tick_size": "0.01", "lot_step": "1", ...}}'),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="write report.html, trades.csv, fills.csv, equity.csv here")
    ] = None,
    periods_per_year: Annotated[
        str | None,
        typer.Option(
            help="annualise Sharpe, Sortino, volatility and CAGR with N periods a year [default: from the "
            "data's calendar: 24/7 → 365 days of bars, weekday-only daily → 252]"
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")] = False,
    config: Annotated[
        Path | None, typer.Option(help="JSON config: every section applies, flags win (trading_bot.backtest.settings)")
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="debug | info | warning | error [default: warning]")] = None,
) -> None:
    """Run the backtest and print the metrics table (or JSON), the trade fingerprint and the report path."""
    from trading_bot.errors import ConfigError
    from trading_bot.errors import DataError

    try:
        _run_backtest(ctx.args, locals())
    except (ConfigError, DataError) as exc:
        raise fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


def _perp_choices(opts: dict[str, Any], choices: Any) -> dict[str, Any]:
    """The swap settings of a backtest from the flags, else the config (``market_type`` and ``perp``)."""
    from exchanges.sim.model import PerpSettings
    from trading_bot.cli.values import check_flag
    from trading_bot.domain import MarginMode
    from trading_bot.domain.bounds import FeeRate
    from trading_bot.domain.bounds import FundingRateValue
    from trading_bot.domain.bounds import Leverage
    from trading_bot.errors import ConfigError

    market_type = opts["market_type"] or choices.market_type
    if market_type not in ("spot", "swap"):
        raise ConfigError(f"--market-type: spot or swap, got {market_type!r}")
    mode = opts["margin_mode"] or choices.margin_mode or "cross"
    if mode not in ("cross", "isolated"):
        raise ConfigError(f"--margin-mode: cross or isolated, got {mode!r}")
    leverage = check_flag("--leverage", opts["leverage"], Leverage) if opts["leverage"] else choices.leverage or 1
    funding = opts["funding_rate"]
    rate = check_flag("--funding-rate", funding, FundingRateValue) if funding else choices.funding_rate
    fee = opts["liquidation_fee"]
    liquidation_fee = check_flag("--liquidation-fee", fee, FeeRate) if fee else choices.liquidation_fee
    perp = PerpSettings(
        leverage=leverage,
        margin_mode=MarginMode(mode),
        funding_rate=rate,
        **({} if liquidation_fee is None else {"liquidation_fee": liquidation_fee}),
    )
    return {"market_type": market_type, "perp": perp}


def _run_backtest(extra: list[str], opts: dict[str, Any]) -> None:
    import asyncio

    from exchanges.recorded import parse_date
    from exchanges.recorded import parse_timeframe
    from trading_bot.backtest.engine import BacktestSpec
    from trading_bot.backtest.engine import prepare_backtest
    from trading_bot.cli.values import check_flag
    from trading_bot.domain.bounds import LatencyMs
    from trading_bot.domain.bounds import PeriodsPerYear
    from trading_bot.errors import ConfigError
    from trading_bot.log import configure_logging
    from trading_bot.runtime.builder import parse_strategy_args

    choices = _config_choices(opts)
    log_format = "json" if opts["json_output"] else (choices.log_format or "auto")
    configure_logging(opts["log_level"] or choices.log_level or "warning", log_format)
    if opts["report"] is not None:
        _check_output("--report", opts["report"], directory=True)
    strategy = opts["strategy"] or choices.strategy
    if strategy is None:
        raise ConfigError("--strategy: name the strategy (see list-strategies), or set strategy.name in --config")
    if choices.strategy not in (None, strategy) and choices.params:
        raise ConfigError(
            f"--strategy {strategy}: the config's strategy.params are for {choices.strategy}; "
            "drop --strategy or the config's params"
        )
    params = {**(choices.params if choices.strategy in (None, strategy) else {}), **parse_strategy_args(extra)}
    symbols = list(opts["symbol"] or [])
    market_specs, flag_spec = _market_specs(opts, symbols or ([choices.symbol] if choices.symbol else []))
    cash, fee, slippage = run_costs(opts, choices)
    spec = BacktestSpec(
        strategy=strategy,
        params=params,
        data=tuple(opts["data"]),
        symbol=symbols[0] if len(symbols) == 1 else (None if symbols else choices.symbol),
        symbols=tuple(symbols) if len(symbols) > 1 else (),
        timeframe_ms=parse_timeframe(opts["timeframe"]) if opts["timeframe"] else None,
        cash=cash,
        fee=fee,
        slippage_bps=slippage,
        latency_ms=(
            check_flag("--latency-ms", opts["latency_ms"], LatencyMs)
            if opts["latency_ms"]
            else _or(choices.latency_ms, 0)
        ),
        partial_fills=_or(choices.partial_fills, True),
        start_ms=parse_date(opts["from_"]) if opts["from_"] else None,
        end_ms=parse_date(opts["to"], end=True) if opts["to"] else None,
        risk=choices.risk,
        bot_id=choices.bot_id or "bt",
        exchange=choices.exchange,
        cash_currency=None if opts["cash"] else choices.cash_currency,
        queue_position=choices.queue_position,
        on_shutdown=choices.on_shutdown,
        heartbeat_s=choices.heartbeat_s,
        market_specs=market_specs,
        market_spec=flag_spec,
        periods_per_year=(
            check_flag("--periods-per-year", opts["periods_per_year"], PeriodsPerYear)
            if opts["periods_per_year"] is not None
            else None
        ),
        **_perp_choices(opts, choices),
    )
    show_progress = not opts["json_output"] and sys.stderr.isatty()
    with _Progress(show_progress) as progress:
        prepared = prepare_backtest(spec, progress=progress.update)
        progress.start(prepared.bar_count)
        out: list[Any] = []

        async def main() -> None:  # returns None: asyncio.run's teardown would repr a returned result
            out.append(await prepared.run())

        asyncio.run(main())
    result = out[0]
    report_path = None
    if opts["report"] is not None:
        from trading_bot.backtest.report import write_report

        symbols_text = ", ".join(result.instruments) or result.market.symbol
        params = {"strategy": spec.strategy, **dict(spec.params), "symbol": symbols_text,
                  "data": ", ".join(str(p) for p in spec.data), "cash": str(spec.cash), "fee": str(spec.fee),
                  "slippage_bps": str(spec.slippage_bps),
                  "periods_per_year": str(result.metrics.periods_per_year)}  # fmt: skip
        try:
            report_path = write_report(
                opts["report"],
                metrics=result.metrics,
                round_trips=result.round_trips,
                fills=result.fills,
                equity=result.equity,
                params=params,
                title=f"Backtest: {spec.strategy} on {symbols_text}",
                prices=_report_prices(prepared),
                warnings=[w.line() for w in result.warnings],
                swap=result.market.contract,
            )
        except OSError as exc:  # found only by writing: a full disk, a path changed during the run
            where = exc.filename or opts["report"]
            raise fail(f"--report: cannot write {where}: {exc.strerror or exc}", EXIT_FAILURE) from None
    _print_result(result, spec, report_path, opts["json_output"])
    raise typer.Exit(result.exit_code)


def _report_prices(prepared: Any) -> list[Any]:
    """The bars of each instrument for the report's candles (none for quotes/trades data)."""
    from trading_bot.backtest.report import PriceBars

    if prepared.venue is not None:
        sims = [(s, prepared.venue.market_sim(s)) for s in prepared.venue.symbols]
        return [PriceBars(str(s), sim.bars, sim.bar_ms) for s, sim in sims]
    if prepared.bars is not None:
        return [PriceBars(str(prepared.market.symbol), prepared.bars.bars, prepared.bars.bar_ms)]
    return []


def _config_choices(opts: dict[str, Any]) -> Any:
    """Return the ``ConfigChoices`` of ``--config`` (defaults without one); flags given are not checked there."""
    from trading_bot.backtest.settings import ConfigChoices
    from trading_bot.backtest.settings import backtest_choices

    if opts["config"] is None:
        return ConfigChoices()
    from trading_bot.config import load_config

    overridden = {name for name in ("cash", "fee", "slippage_bps") if opts[name]}
    config, _ = load_config(opts["config"], dotenv=None).select_venue()  # bot.symbol may name one of venues
    return backtest_choices(config, overridden)


_SPEC_FLAGS = ("tick_size", "lot_step", "min_notional", "min_amount", "maintenance_rate")


def _market_specs(opts: dict[str, Any], symbols: list[str]) -> tuple[dict[str, Any], Any]:
    """Return symbol -> ``MarketSpec`` of ``--markets FILE``, and the spec flags' ``MarketSpec`` (or ``None``).

    Raises:
        ConfigError: a bad value (``--tick-size: must be greater than 0, got '0'``), spec flags without
            exactly one ``--symbol``, or a bad ``--markets`` file.
    """
    from trading_bot.backtest.market_specs import MarketSpec
    from trading_bot.backtest.market_specs import load_market_specs
    from trading_bot.cli.values import check_flag
    from trading_bot.domain.bounds import BalanceAmount
    from trading_bot.domain.bounds import BaseAmount
    from trading_bot.domain.bounds import FeeRate
    from trading_bot.domain.bounds import PriceLevel
    from trading_bot.errors import ConfigError

    specs = load_market_specs(opts["markets"]) if opts["markets"] is not None else {}
    kinds = {"tick_size": PriceLevel, "lot_step": BaseAmount, "min_notional": BalanceAmount,
             "min_amount": BalanceAmount, "maintenance_rate": FeeRate}  # fmt: skip
    given = {
        name: check_flag("--" + name.replace("_", "-"), opts[name], kinds[name])
        for name in _SPEC_FLAGS
        if opts[name] is not None
    }
    if given and len(symbols) > 1:
        flag = "--" + next(iter(given)).replace("_", "-")
        raise ConfigError(f"{flag}: applies to one market; give several markets' rules in --markets FILE")
    return specs, (MarketSpec(**given) if given else None)


def _or(value: _T | None, default: _T) -> _T:
    return default if value is None else value


def run_costs(opts: dict[str, Any], choices: Any) -> tuple[Decimal, Decimal, Decimal]:
    """The run's ``(cash, fee, slippage_bps)``: the flags, else the config's (a 0 is kept), else the defaults
    (10,000 quote, 0.1 %, 0 bp); ``backtest`` and ``optimize`` share it.

    Raises:
        ConfigError: a flag outside its range, one line.
    """
    from trading_bot.cli.values import check_flag
    from trading_bot.domain.bounds import BasisPoints
    from trading_bot.domain.bounds import FeeRate
    from trading_bot.domain.bounds import QuoteAmount

    slip = opts["slippage_bps"]
    cash = check_flag("--cash", opts["cash"], QuoteAmount) if opts["cash"] else _or(choices.cash, Decimal(10_000))
    fee = check_flag("--fee", opts["fee"], FeeRate) if opts["fee"] else _or(choices.fee, Decimal("0.001"))
    slippage = check_flag("--slippage-bps", slip, BasisPoints) if slip else _or(choices.slippage_bps, Decimal(0))
    return cash, fee, slippage


def _print_result(result: Any, spec: Any, report_path: Path | None, json_output: bool) -> None:
    run = {
        "strategy": spec.strategy,
        "params": {k: str(v) for k, v in dict(spec.params).items()},
        "symbol": result.market.symbol,
        "data_kind": result.kind,
        "events": result.events,
        "fills": len(result.fills),
        "run_seconds": round(result.run_seconds, 4),
        "exit_code": result.exit_code,
        "stop_reason": result.stop_reason,
        "report": str(report_path) if report_path is not None else None,
    }
    if json_output:
        import json

        trades = [
            {"side": t.side.value, "entry_ts": t.entry_ts, "exit_ts": t.exit_ts, "quantity": str(t.quantity),
             "entry_price": str(t.entry_price), "exit_price": str(t.exit_price), "pnl": str(t.pnl),
             "return_pct": t.return_pct, "fees": str(t.fees)}
            for t in result.round_trips
        ]  # fmt: skip
        document = {"metrics": result.metrics.to_dict(), "trades": trades, "fingerprint": result.fingerprint,
                    "run": run, "warnings": [w.to_dict() for w in result.warnings]}  # fmt: skip
        if result.instruments:
            document["instruments"] = {
                symbol: {"metrics": i.metrics.to_dict(), "fingerprint": i.fingerprint, "fills": len(i.fills),
                         "round_trips": len(i.round_trips)}
                for symbol, i in result.instruments.items()
            }  # fmt: skip
        sys.stdout.write(json.dumps(document, sort_keys=True) + "\n")
        return
    from trading_bot.backtest.report import format_metrics_table

    for symbol, instrument in result.instruments.items():
        typer.echo(f"{symbol}  ({len(instrument.fills):,} fills, trade fingerprint {instrument.fingerprint})")
        typer.echo(format_metrics_table(instrument.metrics, swap=instrument.market.contract) + "\n")
    if result.instruments:
        typer.echo(f"portfolio ({', '.join(result.instruments)}; quote currencies at par)")
    typer.echo(format_metrics_table(result.metrics, swap=result.market.contract))
    if result.warnings:
        typer.echo("\nwarnings:\n" + "\n".join(f"  {w.line()}" for w in result.warnings))
    rate = result.events / result.run_seconds if result.run_seconds > 0 else 0.0
    typer.echo(
        f"\n{result.events:,} {result.kind} events, {len(result.fills):,} fills, "
        f"{result.run_seconds:.3f} s ({rate:,.0f} events/s)"
    )
    typer.echo(f"trade fingerprint: {result.fingerprint}")
    if report_path is not None:
        typer.echo(f"report: {report_path}")


class _Progress:
    """A rich progress bar on stderr when ``enabled`` (a TTY and no --json); otherwise it does nothing."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        return self

    def start(self, total: int) -> None:
        if not self.enabled or total < 50_000:  # short runs finish before a bar is worth drawing
            return
        from rich.console import Console
        from rich.progress import Progress

        self._bar = Progress(console=Console(stderr=True), transient=True)
        self._bar.start()
        self._task = self._bar.add_task("backtest", total=total)

    def update(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


@app.command("download-data", help="Download OHLCV bars through ccxt into a CSV file (resumable).")
def download_data_command(
    symbol: Annotated[str, typer.Option(help="market symbol, e.g. BTC/USDT")],
    out: Annotated[Path, typer.Option(help="CSV file to write or extend")],
    exchange: Annotated[str, typer.Option(help="ccxt exchange id")] = "binance",
    timeframe: Annotated[str, typer.Option(help="bar interval: 1m, 1h, 1d")] = "1m",
    from_: Annotated[str | None, typer.Option("--from", help="first bar (UTC date)")] = None,
    to: Annotated[str | None, typer.Option(help="last bar (UTC date), inclusive; default: now")] = None,
    config: Annotated[Path | None, typer.Option(help="JSON config (exchange.ccxt_options, e.g. an emulator)")] = None,
    limit: Annotated[int, typer.Option(help="bars per request", min=1, max=100_000)] = 1000,
) -> None:
    """Fetch bars page by page and append the missing ones to ``out`` (``timestamp,open,...,volume``).

    Exit 2 when ``--out`` is a directory or cannot be created (checked before connecting); exit 1 when
    the exchange fails or the file cannot be written during the download.
    """
    from trading_bot.errors import ConfigError
    from trading_bot.errors import DataError
    from trading_bot.errors import ExchangeError

    try:
        _check_output("--out", out, directory=False)
        from trading_bot.backtest.download import download_bars

        count = download_bars(
            exchange=exchange, symbol=symbol, timeframe=timeframe, start=from_, end=to, out=out,
            config_path=config, limit=limit, progress=sys.stderr.isatty(),
        )  # fmt: skip
    except (ConfigError, DataError) as exc:
        raise fail(str(exc)) from None
    except ExchangeError as exc:
        raise fail(f"exchange error: {exc}", EXIT_FAILURE) from None
    except OSError as exc:
        raise fail(f"--out: cannot write {out}: {exc.strerror or exc}", EXIT_FAILURE) from None
    typer.echo(f"{count} bars appended to {out}")
