"""``runbot.py download-data`` against the Binance emulator's klines endpoint: pages, resume, format."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli
from trading_bot.emulator.config import EmulatorConfig
from trading_bot.emulator.server import BinanceEmulator

SOURCE = Path("/work/shared/data/binance_XRPETH_1m.csv")
pytestmark = pytest.mark.skipif(not SOURCE.is_file(), reason="shared data folder not available")


@pytest.fixture
def emulator_config(tmp_path: Path) -> Iterator[Path]:
    """Run the emulator (replaying the XRP/ETH bars) on its own loop in a thread; yield a config file."""
    loop = asyncio.new_event_loop()
    emu = BinanceEmulator(EmulatorConfig(symbols=("XRP/ETH",), replay=SOURCE, replay_symbol="XRP/ETH"))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(emu.start(), loop).result(timeout=30)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"exchange": {"name": "binance", "ccxt_options": emu.ccxt_options()}}))
    try:
        yield config
    finally:
        asyncio.run_coroutine_threadsafe(emu.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def _source_rows(start: int, end: int) -> list[str]:
    rows = SOURCE.read_text().splitlines()[1:]
    return [r for r in rows if start <= int(r.split(",")[0]) <= end]


def test_download_paginates_then_resumes_appending_only_missing_bars(emulator_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "bars.csv"
    common = ("download-data", "--exchange", "binance", "--symbol", "XRP/ETH", "--timeframe", "1m",
              "--out", str(out), "--config", str(emulator_config), "--limit", "100")  # fmt: skip
    first = run_cli(*common, "--from", "2019-10-11T00:00", "--to", "2019-10-11T05:59:59", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_cli(*common, "--to", "2019-10-11T11:59:59", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    lines = out.read_text().splitlines()
    assert lines[0] == "timestamp,open,high,low,close,volume"
    stamps = [int(line.split(",")[0]) for line in lines[1:]]
    assert stamps == sorted(set(stamps))  # no duplicates after the resume
    expected = _source_rows(1570752000000, 1570795199999)
    assert len(stamps) == len(expected) > 100  # more than one page
    assert [int(r.split(",")[0]) for r in expected] == stamps
