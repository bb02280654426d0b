"""How loaded bars are held: repeated numbers share one Decimal, each keeping the exact text it was read from."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import exchanges.recorded as data
from exchanges.recorded import load_bars


def test_repeated_number_texts_share_one_decimal_and_keep_their_exponent(tmp_path: Path) -> None:
    """Sharing is by text, not by value: ``1.0`` and ``1.00`` stay two Decimals with their own exponents."""
    path = tmp_path / "bars.csv"
    path.write_text("timestamp,open,high,low,close,volume\n60000,1.0,1.00,1.0,1.00,5\n120000,1.0,1.00,1.0,1.00,5\n")

    first, second = load_bars([path]).bars

    assert [str(v) for v in (first.open, first.high, first.low, first.close)] == ["1.0", "1.00", "1.0", "1.00"]
    assert first.open is second.open
    assert first.close is second.close
    assert first.volume is second.volume
    assert first.open is first.low
    assert first.open is not first.high


def test_past_the_memo_limit_numbers_are_still_read_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The memo's size cap only stops sharing: later distinct texts are converted as before."""
    monkeypatch.setattr(data, "_MEMO_MAX", 2)
    rows = [f"{60_000 * i},{i}.5,{i + 1}.25,{i}.125,{i}.75,0.{i}" for i in range(1, 6)]
    path = tmp_path / "bars.csv"
    path.write_text("\n".join(["timestamp,open,high,low,close,volume", *rows]) + "\n")

    bars = load_bars([path]).bars

    assert [b.close for b in bars] == [Decimal(f"{i}.75") for i in range(1, 6)]
    assert [str(b.volume) for b in bars] == [f"0.{i}" for i in range(1, 6)]
