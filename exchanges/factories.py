"""The simulated exchange kinds of the ``EXCHANGES`` registry: ``paper`` and ``replay``.

* ``replay`` — the paper account over recorded market-data files, on the simulated clock; market
  metadata from the bundled snapshot of ``exchange.name`` (``binance`` when that name is ``paper``).
  Quote and trade files go through the paper matching engine; **bar files go through the bar
  simulator** (``exchanges.bar_venue.BarVenue``), the very code ``runbot.py backtest`` runs, so the same
  bar file gives the same fills and trade fingerprint in both modes;
* ``paper`` — the paper account over the live public market data of the ccxt venue ``exchange.name``.

Every factory takes one ``ExchangeRequest``; the ccxt venues themselves are in ``exchanges.ccxt.factory``.
``replay_paper_exchange`` builds the replay kind for several symbols at once (files grouped by symbol).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from exchanges import EXCHANGES
from exchanges.bar_venue import BarData
from exchanges.bar_venue import BarVenue
from exchanges.base import BaseExchangeClient
from exchanges.config import ExchangeConfig
from exchanges.markets import SIMULATED
from exchanges.markets import load_market_snapshot
from exchanges.paper import PaperExchange
from exchanges.recorded import check_data_symbol
from exchanges.recorded import data_kind
from exchanges.recorded import load_bars
from exchanges.recorded_funding import read_funding
from exchanges.replay import ReplayFeed
from exchanges.replay_multi import MultiReplayFeed
from exchanges.request import ExchangeRequest
from exchanges.sim.funding import FundingRate
from exchanges.sim.model import PerpSettings
from exchanges.sim.model import refuse_book_knobs_on_bars
from trading_bot.domain import MarginMode
from trading_bot.domain import Market
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError
from trading_bot.registry import did_you_mean

__all__ = ["paper_exchange", "perp_settings", "replay_exchange", "replay_paper_exchange"]

_DEFAULT_BAR_MS = 60_000  # the interval of a file holding one bar


@EXCHANGES.register("replay")
def replay_exchange(request: ExchangeRequest) -> BaseExchangeClient:
    """Build the paper account over ``request.replay`` files (needs a ``SimulatedClock`` and a symbol).

    Raises:
        ConfigError: no files or no symbol given; no market snapshot bundled for the exchange; unreadable files.
    """
    if not isinstance(request.clock, SimulatedClock):
        raise TypeError("a replay runs on a SimulatedClock")
    if request.replay_files:
        return replay_paper_exchange(request.config, request.clock, request.replay_files, request.speed,
                                     request.markets)  # fmt: skip
    if not request.replay or request.symbol is None:
        raise ConfigError("exchange 'replay' needs recorded market data: add --replay FILE and --symbol")
    return replay_paper_exchange(request.config, request.clock, {request.symbol: request.replay}, request.speed,
                                 request.markets)  # fmt: skip


def replay_paper_exchange(
    config: ExchangeConfig,
    clock: SimulatedClock,
    files: Mapping[Symbol, Sequence[Path]],
    speed: float | None = None,
    market_rules: Mapping[Symbol, Market] | None = None,
) -> BaseExchangeClient:
    """Build the paper account over recorded files of one or several symbols, their files checked now.

    One symbol is today's single ``ReplayFeed``; several get one feed each behind a ``MultiReplayFeed``, whose
    ``PaperExchange.stream_markets(symbols)`` merges them exactly in event time on ``clock``. Symbols are bare
    (``BTC/USDT``, no venue prefix); ``exchanges.recorded.data_specs`` + ``files_by_symbol`` make ``files``.

    Args:
        config: the venue's settings: ``name`` picks the bundled market snapshot, ``paper`` the account.
        clock: the run's simulated clock, shared by every feed.
        files: each symbol's files (quotes, trades or bars, merged per symbol by ``ReplayFeed``).
        speed: replay speed (1 = real time, ``None`` = as fast as possible).
        market_rules: markets that replace or add to the bundled snapshot's (``--markets FILE``).

    Bar files (every file of every symbol holds bars) replay through ``BarVenue`` instead: one event per bar
    close, orders filled from the next bar on by the bar rules of ``exchanges.backtest``, every fill at the
    taker fee (bars do not say who provided liquidity), as fast as possible.

    Raises:
        ConfigError: no files; no market snapshot bundled for the exchange; a file's name contradicts its symbol;
            bars mixed with quotes or trades; bars with a ``speed`` or a maker fee other than the taker fee
            (``queue_position`` does not apply to bars: there is no book to queue in).
        DataError: a file is missing or unreadable, or has an unknown header, or bad bars.
    """
    if not files or not all(files.values()):
        raise ConfigError("exchange 'replay' needs recorded market data: add --replay FILE and --symbol")
    markets = {**load_market_snapshot(config.name), **(market_rules or {})}
    for symbol in files:
        if symbol not in markets:
            raise ConfigError(
                f"--symbol {symbol}: no bundled {config.name} market{did_you_mean(symbol, markets)}; give its rules "
                f'with --markets FILE, e.g. {{"{symbol}": {{"tick_size": "0.01", "lot_step": "0.001"}}}}'
            )
    files, funding = _split_funding(files, markets)
    kinds = {data_kind(path) for paths in files.values() for path in paths}
    if "bars" in kinds:
        if len(kinds) > 1:
            raise ConfigError("--replay: bars cannot be mixed with quotes or trades; give bar files only, or ticks")
        if funding or any(markets[s].contract for s in files):
            raise ConfigError("--replay: swaps replay quotes and trades; backtest their bars with runbot.py backtest")
        return _bar_replay(config, clock, files, markets, speed)
    feeds = [ReplayFeed(list(paths), symbol, clock, speed=speed) for symbol, paths in files.items()]
    source: ReplayFeed | MultiReplayFeed = feeds[0] if len(feeds) == 1 else MultiReplayFeed(feeds)
    source.validate()
    return PaperExchange(config.paper, clock, source, markets=markets, perp=perp_settings(config, funding))


def perp_settings(config: ExchangeConfig, funding: Sequence[FundingRate] = ()) -> PerpSettings:
    """The simulated swap account of a venue's config: its leverage and margin mode, the paper section's
    liquidation fee, and the recorded ``funding`` rates or else the paper section's constant rate."""
    return PerpSettings(
        leverage=config.leverage,
        margin_mode=MarginMode(config.margin_mode),
        liquidation_fee=config.paper.liquidation_fee,
        funding=tuple(funding),
        funding_rate=None if funding else config.paper.funding_rate,
    )


def _split_funding(
    files: Mapping[Symbol, Sequence[Path]], markets: Mapping[Symbol, Market]
) -> tuple[dict[Symbol, list[Path]], list[FundingRate]]:
    """Take the funding files out of the symbols' files; they belong to the one swap symbol replayed.

    Raises:
        ConfigError: funding files with several symbols, or for a spot market.
    """
    kept: dict[Symbol, list[Path]] = {}
    funding_files: list[Path] = []
    for symbol, paths in files.items():
        kept[symbol] = [p for p in paths if data_kind(p) != "funding"]
        funding_files += [p for p in paths if p not in kept[symbol]]
        if not kept[symbol]:
            raise ConfigError(f"--replay: {symbol} has only funding files; add its quotes or trades")
    if not funding_files:
        return kept, []
    if len(kept) > 1 or not markets[next(iter(kept))].contract:
        raise ConfigError("--replay: a funding file goes with one swap symbol (e.g. --symbol BTC/USDT:USDT)")
    rates = sorted((r for p in funding_files for r in read_funding(p)), key=lambda r: r.ts_ms)
    return kept, rates


def _bar_replay(
    config: ExchangeConfig,
    clock: SimulatedClock,
    files: Mapping[Symbol, Sequence[Path]],
    markets: Mapping[Symbol, Market],
    speed: float | None,
) -> BarVenue:
    """The bar simulator over each symbol's bar files (see ``replay_paper_exchange``)."""
    paper = config.paper
    if speed is not None:
        raise ConfigError("--speed: bar files replay as fast as possible (one event per bar); leave --speed out")
    refuse_book_knobs_on_bars(latency_ms=paper.latency_ms, queue_position=None)
    data: list[BarData] = []
    fees: set[Decimal] = set()
    for symbol, paths in files.items():
        market = markets[symbol]
        taker = market.taker_fee if paper.taker_fee is None else paper.taker_fee
        maker = market.maker_fee if paper.maker_fee is None else paper.maker_fee
        if paper.maker_fee is not None and maker != taker:
            raise ConfigError(
                f"exchange.paper.maker_fee {maker} differs from the taker fee {taker}: bar fills all pay one fee "
                "(bars do not say who provided liquidity); set exchange.paper.taker_fee instead"
            )
        fees.add(taker)
        check_data_symbol(list(paths), symbol)
        series = load_bars(list(paths))
        data.append(BarData(market=market, bars=series.bars, bar_ms=series.interval_ms or _DEFAULT_BAR_MS))
    if len(fees) > 1:
        raise ConfigError("--replay: the bar markets have different taker fees; set exchange.paper.taker_fee")
    venue = BarVenue(
        data=data, clock=clock, balances=paper.balances, fee=fees.pop(), slippage_bps=paper.slippage_bps
    )
    venue.prepare()
    clock.advance_to(venue.start_ms)
    return venue


@EXCHANGES.register("paper")
def paper_exchange(request: ExchangeRequest) -> BaseExchangeClient:
    """Build the paper account over the live public market data of the ccxt venue ``exchange.name``.

    Raises:
        ConfigError: ``exchange.name`` is itself a simulator (there is no live data to read).
    """
    if request.config.name in SIMULATED:
        raise ConfigError(
            f"exchange {request.config.name!r} needs market data: add --replay FILE, or use --paper --exchange binance"
        )
    from exchanges.ccxt.adapter import create_ccxt_exchange

    source = create_ccxt_exchange(request.config, request.clock, public_only=True)
    return PaperExchange(request.config.paper, request.clock, source, perp=perp_settings(request.config))
