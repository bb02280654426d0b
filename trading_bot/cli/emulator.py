"""``runbot.py emulator``: a Binance-compatible exchange on loopback, to rehearse against with real ccxt.

Every flag is checked before the server starts: ``--port`` 0 to 65535, ``--speed`` above 0 and at most
1e6, ``--walk-interval`` 0.01 s to 1 day, the fault flags within their ranges, ``--replay`` a regular
file. A bad one is one ``error:`` line, exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trading_bot.cli.app import EXIT_FAILURE
from trading_bot.cli.app import app
from trading_bot.cli.app import fail

__all__ = ["emulator_command"]


@app.command(
    "emulator",
    help="Serve a Binance-compatible exchange on 127.0.0.1 (REST, market streams, user stream); --futures adds USDⓈ-M.",
)
def emulator_command(
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1 (0 = any free port)", min=0, max=65535)] = 8765,
    replay: Annotated[Path | None, typer.Option(help="recorded bars/quotes/trades CSV the market follows")] = None,
    speed: Annotated[str, typer.Option(help="replay time factor (1 = real time), above 0, at most 1e6")] = "1",
    walk_interval: Annotated[
        str | None,
        typer.Option(
            help="seconds between random-walk price steps, 0.01 to 86400 (default: price moves only on replay)"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="random-walk seed")] = 7,
    latency_ms: Annotated[int, typer.Option(help="fault: added latency per request, ms")] = 0,
    clock_skew_ms: Annotated[int, typer.Option(help="fault: server clock offset, ms")] = 0,
    futures: Annotated[
        bool, typer.Option(help="also serve Binance USDⓈ-M futures (/fapi, /fstream) for ccxt binanceusdm")
    ] = False,
    funding_interval_ms: Annotated[
        int | None,
        typer.Option(help="futures: ms between funding settlements, 10 to 86400000 (default: 8 h)", min=10,
                     max=86_400_000),
    ] = None,
    buy_fee_in_base: Annotated[
        bool, typer.Option(help="charge a spot buy's fee in the coin bought, as Binance does without BNB fees")
    ] = False,
) -> None:
    """Run the emulator until Ctrl-C; print the ``exchange.ccxt_options`` that point the bot at it."""
    import asyncio
    import contextlib

    from trading_bot.cli.values import check_flag
    from trading_bot.domain.bounds import IntervalSeconds
    from trading_bot.domain.bounds import SpeedFactor
    from trading_bot.emulator.config import EmulatorConfig
    from trading_bot.emulator.config import FaultConfig
    from trading_bot.emulator.config import FuturesConfig
    from trading_bot.emulator.server import run_emulator
    from trading_bot.errors import ConfigError
    from trading_bot.errors import DataError

    if replay is not None:
        _check_replay(replay)
    try:
        replay_speed: float = check_flag("--speed", speed, SpeedFactor)
        walk_s: float | None = (
            None if walk_interval is None else check_flag("--walk-interval", walk_interval, IntervalSeconds)
        )
        faults = FaultConfig(latency_ms=latency_ms, clock_skew_ms=clock_skew_ms)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except ValueError as exc:  # a fault flag out of range: "latency_ms: expected ..."
        name, _, problem = str(exc).partition(": ")
        raise fail(f"--{name.replace('_', '-')}: {problem}") from None
    if funding_interval_ms is not None and not futures:
        raise fail("--funding-interval-ms: applies to the futures venue; add --futures")
    perps = FuturesConfig(funding_interval_ms=funding_interval_ms) if futures else None
    config = EmulatorConfig(port=port, replay=replay, replay_speed=replay_speed, walk_interval_s=walk_s, seed=seed,
                            faults=faults, futures=perps, buy_fee_in_base=buy_fee_in_base)  # fmt: skip
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_emulator(config))
    except DataError as exc:  # an unreadable or impossible replay file, named with its line
        raise fail(f"--replay: {exc}") from None
    except ValueError as exc:  # the replay file's rows (load_replay), read before the port is bound
        if replay is None:
            raise
        raise fail(f"--replay: {exc}") from None
    except OSError as exc:  # the port is taken, ...
        raise fail(f"--port: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", EXIT_FAILURE) from None


def _check_replay(replay: Path) -> None:
    """Exit 2 with one line unless ``replay`` is an existing regular file."""
    try:
        exists, regular = replay.exists(), replay.is_file()
    except OSError as exc:  # a name too long, a search permission denied
        raise fail(f"--replay: cannot use {str(replay)!r}: {exc.strerror or exc}") from None
    if not exists:
        raise fail(f"--replay: file {replay} not found")
    if not regular:
        raise fail(f"--replay: {replay} is not a regular file; give a CSV/CSV.gz file")
