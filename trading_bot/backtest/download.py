"""Download OHLCV bars through the ccxt adapter into the shared bar CSV format, resumably.

The file is ``timestamp,open,high,low,close,volume`` (``timestamp`` = bar open, epoch ms UTC; prices in
quote currency, volume in base currency), as in ``/work/shared/data``. Pages of ``limit`` bars are
fetched with ``fetch_ohlcv(symbol, timeframe, since_ms, limit)`` from the start (or, when the file
exists, from its last timestamp + one interval) until the end time or until a page brings nothing new.
Only bars newer than the file's last one are appended, so a download cut short can be run again.
"""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path

from exchanges.recorded import parse_date
from exchanges.recorded import parse_timeframe
from trading_bot.domain import Bar
from trading_bot.domain import LiveClock
from trading_bot.domain import Symbol
from trading_bot.domain import decimal_text
from trading_bot.errors import ConfigError
from trading_bot.errors import DataError
from trading_bot.files import open_data_text
from trading_bot.files import open_private

__all__ = ["HEADER", "download_bars", "last_timestamp"]

HEADER = "timestamp,open,high,low,close,volume"


def last_timestamp(path: Path) -> int | None:
    """Return the last bar's timestamp in an existing bar file, or ``None`` when it has no bars.

    Raises:
        DataError: the file is unreadable, its header is not the bar header or its last line has no timestamp.
    """
    if not path.is_file():
        return None
    try:
        with open_data_text(path, "bar file") as text:
            header = text.readline().strip()
            if header and not header.startswith("timestamp,open,high,low,close"):
                raise DataError(f"{path}:1: not a bar file (header {header!r}); refusing to append to it")
            last = None
            for line in text:
                if line.strip():
                    last = line
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:  # a bad gzip, bytes that are not UTF-8
        raise DataError(f"{path}: cannot read it as a bar file ({exc}); refusing to append to it") from None
    if last is None:
        return None
    try:
        return int(last.split(",", 1)[0])
    except ValueError:
        raise DataError(
            f"{path}: last line {last.strip()[:60]!r} does not start with an epoch ms timestamp; "
            "refusing to append to it"
        ) from None


async def _download(
    exchange: str, symbol: str, timeframe: str, since_ms: int, end_ms: int, out: Path,
    config_path: Path | None, limit: int, progress: bool, new_file: bool,
) -> int:  # fmt: skip
    from exchanges.ccxt.adapter import create_ccxt_exchange
    from trading_bot.config import load_config

    cfg = load_config(config_path, overrides={"exchange": {"name": exchange}}, dotenv=None)
    client = create_ccxt_exchange(cfg.exchange, LiveClock(), public_only=True)
    step = parse_timeframe(timeframe)
    written = 0
    bar_progress = None
    if progress:
        from rich.console import Console
        from rich.progress import Progress

        bar_progress = Progress(console=Console(stderr=True), transient=True)
        bar_progress.start()
        task = bar_progress.add_task("download", total=max(1, (end_ms - since_ms) // step + 1))
    try:
        await client.connect()
        with open_private(out, "a", newline="") as handle:
            if new_file:
                handle.write(HEADER + "\n")
            since = since_ms
            while since <= end_ms:
                page: list[Bar] = await client.fetch_ohlcv(Symbol(symbol), timeframe, since, limit)
                fresh = [b for b in page if since <= b.ts_ms <= end_ms]
                for b in fresh:
                    handle.write(
                        f"{b.ts_ms},{decimal_text(b.open)},{decimal_text(b.high)},{decimal_text(b.low)},"
                        f"{decimal_text(b.close)},{decimal_text(b.volume)}\n"
                    )
                handle.flush()
                written += len(fresh)
                if bar_progress is not None:
                    bar_progress.update(task, advance=len(fresh))
                if not fresh:
                    break
                since = fresh[-1].ts_ms + step
    finally:
        if bar_progress is not None:
            bar_progress.stop()
        await client.close()
    return written


def download_bars(
    *, exchange: str, symbol: str, timeframe: str, start: str | None, end: str | None, out: Path,
    config_path: Path | None = None, limit: int = 1000, progress: bool = False,
) -> int:  # fmt: skip
    """Download bars into ``out`` and return how many were appended (see the module docstring).

    Args:
        exchange: ccxt exchange id.
        symbol: unified symbol, ``BTC/USDT``.
        timeframe: ``1m``, ``1h``, ``1d``...
        start: first bar open time (a date, ISO time or epoch ms); required unless ``out`` has bars.
        end: last bar open time, inclusive; ``None`` = now.
        out: the CSV file (created with a header, or extended).
        config_path: config file whose ``exchange.ccxt_options`` are used (e.g. to reach an emulator).
        limit: bars per request.
        progress: draw a rich progress bar on stderr.

    Raises:
        ConfigError: no start, start after end, bad timeframe or limit.
        DataError: ``out`` exists and is not a bar file.
        ExchangeError: the exchange failed.
    """
    if limit <= 0:
        raise ConfigError(f"--limit must be > 0, got {limit}")
    step = parse_timeframe(timeframe)
    end_ms = parse_date(end, end=True) if end else LiveClock().now_ms()
    last = last_timestamp(out)
    if last is not None:
        since_ms = last + step
    elif start is not None:
        since_ms = parse_date(start)
    else:
        raise ConfigError("--from is needed when the output file has no bars yet")
    if start is not None and last is None and since_ms > end_ms:
        raise ConfigError("--from is after --to")
    if since_ms > end_ms:
        return 0
    new_file = not out.exists() or out.stat().st_size == 0
    return asyncio.run(
        _download(exchange, symbol, timeframe, since_ms, end_ms, out, config_path, limit, progress, new_file)
    )
