"""``runbot.py emulator``: a Binance-compatible exchange on loopback, to rehearse against with real ccxt."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trading_bot.cli.app import app

__all__ = ["emulator_command"]


@app.command("emulator", help="Serve a Binance-compatible exchange on 127.0.0.1 (REST, market streams, user stream).")
def emulator_command(
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1 (0 = any free port)")] = 8765,
    replay: Annotated[Path | None, typer.Option(help="recorded bars/quotes/trades CSV the market follows")] = None,
    speed: Annotated[float, typer.Option(help="replay time factor (1 = real time)")] = 1.0,
    walk_interval: Annotated[
        float | None, typer.Option(help="seconds between random-walk price steps (default: price moves only on replay)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random-walk seed")] = 7,
    latency_ms: Annotated[int, typer.Option(help="fault: added latency per request, ms")] = 0,
    clock_skew_ms: Annotated[int, typer.Option(help="fault: server clock offset, ms")] = 0,
) -> None:
    """Run the emulator until Ctrl-C; print the ``exchange.ccxt_options`` that point the bot at it."""
    import asyncio
    import contextlib

    from trading_bot.emulator.config import EmulatorConfig
    from trading_bot.emulator.config import FaultConfig
    from trading_bot.emulator.server import run_emulator

    if replay is not None and not replay.exists():
        typer.echo(f"error: --replay: file {replay} not found", err=True)
        raise typer.Exit(2)
    faults = FaultConfig(latency_ms=latency_ms, clock_skew_ms=clock_skew_ms)
    config = EmulatorConfig(
        port=port, replay=replay, replay_speed=speed, walk_interval_s=walk_interval, seed=seed, faults=faults
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_emulator(config))
