"""The emulator's replay reader refuses impossible records with file, line and field; the CLI exits 2."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kit.bad_records import BAD_QUOTES
from tests.kit.bad_records import BAD_RECORDS
from tests.kit.bad_records import GOOD_QUOTE
from tests.kit.bad_records import QUOTES_HEADER
from trading_bot.emulator.price import load_replay
from trading_bot.errors import DataError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
@pytest.mark.parametrize(("header", "good", "row", "reason"), BAD_RECORDS)
def test_load_replay_refuses_an_impossible_record_naming_file_line_and_field(
    tmp_path: Path, suffix: str, header: str, good: str, row: str, reason: str
) -> None:
    text = "\n".join([header, good, row, good]) + "\n"
    path = tmp_path / f"data{suffix}"
    if suffix.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)

    with pytest.raises(DataError) as caught:
        load_replay(path, "BTC/USDT")

    assert str(caught.value).startswith(f"{path}:3: ")
    assert reason in str(caught.value)


def test_emulator_command_on_an_impossible_replay_file_exits_2_with_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text("\n".join([QUOTES_HEADER, GOOD_QUOTE, BAD_QUOTES[0][0]]) + "\n")

    proc = subprocess.run(
        [sys.executable, str(ROOT / "runbot.py"), "emulator", "--port", "0", "--replay", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: --replay: {path}:3: bid -2 must be > 0"]
    assert "Traceback" not in proc.stderr
