"""trade_fingerprint: stable for the same trades, sensitive to what was traded."""

from __future__ import annotations

import hashlib

from tests.unit.backtest.helpers import make_fill
from trading_bot.domain import Fill
from trading_bot.domain.fingerprint import canonical_fill_text
from trading_bot.domain.fingerprint import trade_fingerprint


def _fills() -> list[Fill]:
    return [
        make_fill("buy", "1.5", "100.25", ts_ms=1_000, fee="0.15"),
        make_fill("sell", "1.5", "101", ts_ms=2_000, fee="0.15"),
    ]


def test_canonical_line_is_time_side_and_normalised_numbers() -> None:
    fill = make_fill("buy", "1.000", "1E+2", ts_ms=1_000, fee="0.10")

    assert canonical_fill_text(fill) == "1000|buy|1|100|0.1"


def test_empty_fill_list_hashes_the_version_line() -> None:
    assert trade_fingerprint([]) == hashlib.sha256(b"trades-v1\n").hexdigest()


def test_identical_fills_give_identical_fingerprints() -> None:
    assert trade_fingerprint(_fills()) == trade_fingerprint(_fills())
    assert len(trade_fingerprint(_fills())) == 64


def test_trailing_zeros_do_not_change_the_fingerprint() -> None:
    a = [make_fill("buy", "1.0", "100.0", ts_ms=1, fee="0.10")]
    b = [make_fill("buy", "1.00", "100", ts_ms=1, fee="0.1")]

    assert trade_fingerprint(a) == trade_fingerprint(b)


def test_trade_and_client_ids_do_not_change_the_fingerprint() -> None:
    a = [make_fill("buy", "1", "100", ts_ms=1, trade_id="x1", client_order_id="engine_a-1")]
    b = [make_fill("buy", "1", "100", ts_ms=1, trade_id="987", client_order_id="engine_b-42")]

    assert trade_fingerprint(a) == trade_fingerprint(b)


def test_order_of_fills_at_the_same_time_does_not_change_the_fingerprint() -> None:
    a = make_fill("buy", "1", "100", ts_ms=5)
    b = make_fill("buy", "2", "101", ts_ms=5)

    assert trade_fingerprint([a, b]) == trade_fingerprint([b, a])


def test_price_quantity_fee_side_or_time_change_the_fingerprint() -> None:
    base = trade_fingerprint([make_fill("buy", "1", "100", ts_ms=1, fee="0.1")])
    variants = [
        make_fill("buy", "1", "100.01", ts_ms=1, fee="0.1"),
        make_fill("buy", "2", "100", ts_ms=1, fee="0.1"),
        make_fill("buy", "1", "100", ts_ms=1, fee="0.2"),
        make_fill("sell", "1", "100", ts_ms=1, fee="0.1"),
        make_fill("buy", "1", "100", ts_ms=2, fee="0.1"),
    ]

    assert all(trade_fingerprint([v]) != base for v in variants)
