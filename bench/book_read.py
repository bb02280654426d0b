#!/usr/bin/env python3
"""L2 book reading: rows and events per second of rebuilding a recorded book file into ``MarketData``.

Reads the file with ``exchanges.recorded_book.read_book`` (gzip, CSV, Decimal parsing and checks, the
snapshot-then-deltas rebuild, one ``BookView`` of ``--depth`` levels per side per message) several times and
prints the median and the best run. Default file: the shared 324,682-row Binance USD-M BTCUSDT capture of 2023-04-04.

    python bench/book_read.py [FILE] [--depth 50] [--repeat 5] [--profile] [--model]

``--model`` times the book model alone instead: the file's level updates, parsed once up front, applied to an
``L2Book`` (``update`` per message, then ``apply`` per level), and ``view(depth)`` once per message.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exchanges import recorded_book  # noqa: E402
from exchanges.recorded import columns_kind  # noqa: E402
from exchanges.recorded_book import read_book  # noqa: E402
from trading_bot.domain import L2Book  # noqa: E402
from trading_bot.domain import Symbol  # noqa: E402
from trading_bot.files import open_data_text  # noqa: E402

DEFAULT = Path("/work/shared/data/binanceusdm_BTCUSDT_book_l2_2023-04-04.csv.gz")


def run_once(path: Path, depth: int) -> tuple[int, float]:
    """Read the whole file once; return (events, seconds)."""
    start = time.perf_counter()
    events = sum(1 for _ in read_book(path, Symbol("BTC/USDT"), depth))
    return events, time.perf_counter() - start


def csv_only(path: Path) -> tuple[int, float]:
    """Only decompress and split the file's rows (the floor under any reader); return (rows, seconds)."""
    start = time.perf_counter()
    with open_data_text(path) as text:
        rows = sum(1 for _ in csv.reader(text)) - 1
    return rows, time.perf_counter() - start


def model_only(path: Path, depth: int, repeat: int) -> None:
    """Time ``L2Book`` on the file's pre-parsed level updates; print the best of ``repeat`` runs."""
    with open_data_text(path) as text:
        reader = csv.reader(text)
        _, cols = columns_kind(path, next(reader))
        messages = list(recorded_book._messages(path, reader, cols))
    updates = sum(len(m.levels) for m in messages)
    timings: dict[str, float] = {}
    for name in ("update", "apply", "view"):
        best = float("inf")
        for _ in range(repeat):
            book = L2Book()
            start = time.perf_counter()
            for message in messages:
                if message.snapshot:
                    book.clear()
                if name == "apply":
                    for side, price, quantity in message.levels:
                        book.apply(side, price, quantity)
                else:
                    book.update(message.levels)
                    if name == "view":
                        book.view(depth)
            best = min(best, time.perf_counter() - start)
        timings[name] = best
    view_s = max(0.0, timings["view"] - timings["update"])
    print(
        f"{updates:,} level updates: update {timings['update']:.3f} s ({updates / timings['update']:,.0f}/s), "
        f"apply {timings['apply']:.3f} s ({updates / timings['apply']:,.0f}/s); {len(messages):,} view({depth}): "
        f"{view_s:.3f} s ({view_s / len(messages) * 1e6:.1f} µs each); final levels {book.levels()}"
    )


def main() -> None:
    """Parse arguments, run the benchmark, print one line per run and the median."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--model", action="store_true")
    args = parser.parse_args()
    if args.model:
        model_only(args.file, args.depth, args.repeat)
        return
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run_once, args.file, args.depth)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
        return
    rows, _ = csv_only(args.file)
    times, floors = [], []
    events = 0
    for _ in range(args.repeat):
        floors.append(csv_only(args.file)[1])
        events, seconds = run_once(args.file, args.depth)
        times.append(seconds)
        print(f"{events} events in {seconds:.3f} s: {events / seconds:,.0f} events/s, {rows / seconds:,.0f} rows/s")
    median, best, floor = statistics.median(times), min(times), min(floors)
    print(
        f"median {median:.3f} s: {events / median:,.0f} events/s, {rows / median:,.0f} rows/s; best {best:.3f} s: "
        f"{events / best:,.0f} events/s, {rows / best:,.0f} rows/s ({rows:,} rows, depth {args.depth}); "
        f"gzip + csv alone, best: {floor:.3f} s"
    )

if __name__ == "__main__":
    main()
