"""A journal that went back in time, end to end: the real CLI, real ccxt, the emulator, a real SQLite file.

The bot trades, its journal is copied, it trades more, the old copy is put back. The next start must
refuse (the exchange knows client ids the journal never reserved) without sending anything; ``--adopt``
then takes the exchange's history in, and trading goes on without any client order id sent twice.
"""

from __future__ import annotations

import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.integration import test_live_emulator as live
from tests.integration.test_live_emulator import _own
from tests.integration.test_live_emulator import _run_bot_until
from tests.integration.test_live_emulator import _write_config
from trading_bot.emulator import BinanceEmulator
from trading_bot.runtime.journal.store import Journal

walking_emulator = live.walking_emulator  # the live tests' emulator fixture (seeded random walk)
_PARAMS = {"fast": 2, "slow": 4, "bar_seconds": 1, "quantity": "0.001", "long_only": False}


def _posts(emu: BinanceEmulator) -> list[str]:
    return [str(r["params"].get("newClientOrderId")) for r in emu.request_log() if r["method"] == "POST"]


def _exchange_position(emu: BinanceEmulator) -> Decimal:
    fills = _own(emu.fills(), "clientOrderId")
    return sum((Decimal(str(f["qty"])) * (1 if str(f["side"]).upper() == "BUY" else -1) for f in fills), Decimal(0))


async def _journal_state(path: Path) -> tuple[Decimal, int, list[Any]]:
    journal = await Journal.open(f"sqlite+aiosqlite:///{path}", read_only=True)
    try:
        return await journal.position("BTC/USDT"), len(await journal.fills()), await journal.adoptions()
    finally:
        await journal.close()


@pytest.mark.asyncio
async def test_restored_older_journal_is_refused_then_adopted_and_no_client_id_is_sent_twice(
    tmp_path: Path, walking_emulator: BinanceEmulator
) -> None:
    emu = walking_emulator
    config = _write_config(tmp_path, emu, "sma_cross", _PARAMS)
    journal = tmp_path / "var" / "journal.db"

    def own_fills() -> int:
        return len(_own(emu.fills(), "clientOrderId"))

    def fills_at_least(n: int) -> Any:
        return lambda: own_fills() >= n

    code, _, logs = await _run_bot_until(tmp_path, config, fills_at_least(1), 60)
    assert code == 0, logs[-3000:]
    backup = tmp_path / "journal-backup.db"
    shutil.copyfile(journal, backup)  # a clean stop leaves no WAL: the file is the whole journal
    sent_before_backup = set(_posts(emu))

    code, _, logs = await _run_bot_until(tmp_path, config, fills_at_least(own_fills() + 1), 60)
    assert code == 0, logs[-3000:]
    assert set(_posts(emu)) > sent_before_backup  # the lost run sent ids the backup never reserved

    shutil.copyfile(backup, journal)  # the operator restores the older copy
    for side in ("journal.db-wal", "journal.db-shm"):
        (tmp_path / "var" / side).unlink(missing_ok=True)
    posts_before = len(_posts(emu))

    code, summary, logs = await _run_bot_until(tmp_path, config, lambda: False, 60)

    assert code == 2, logs[-3000:]
    errors = [line for line in logs.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, logs[-3000:]
    assert f"journal {journal} is older than the exchange's history" in errors[0]
    assert "--adopt" in errors[0]
    assert "Traceback" not in logs
    assert "already tracked" not in logs
    assert len(_posts(emu)) == posts_before  # refused before sending anything
    assert summary == {}

    code, summary, logs = await _run_bot_until(tmp_path, config, fills_at_least(own_fills() + 1), 60, "--adopt")

    assert code == 0, logs[-3000:]
    assert "already tracked" not in logs
    assert all(n == 1 for n in Counter(_posts(emu)).values()), Counter(_posts(emu)).most_common(3)
    position, journal_fills, adoptions = await _journal_state(journal)
    assert position == _exchange_position(emu)  # the lost run's fills are in the journal again
    assert journal_fills == own_fills()
    (adoption,) = adoptions
    assert adoption.exchange_sequence > adoption.journal_sequence
    assert adoption.fills  # the fills of the lost run, by trade id

    posts = len(_posts(emu))
    code, _, logs = await _run_bot_until(tmp_path, config, lambda: len(_posts(emu)) > posts, 60)
    assert code == 0, logs[-3000:]  # an ordinary start works again, without --adopt, and trades
    assert all(n == 1 for n in Counter(_posts(emu)).values())
