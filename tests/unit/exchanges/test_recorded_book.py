"""Rebuilding recorded L2 books (``exchanges.recorded_book``): the real files against the real quotes, the
snapshot-then-deltas rule, and one-line ``DataError``s for broken files."""

from __future__ import annotations

import csv
import gzip
import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from exchanges.recorded import columns_kind
from exchanges.recorded import data_kind
from exchanges.recorded_book import book_states
from exchanges.recorded_book import read_book
from trading_bot.domain import BookView
from trading_bot.domain import Symbol
from trading_bot.errors import DataError

D = Decimal
DATA = Path("/work/shared/data")
SAMPLE = Path(__file__).resolve().parents[3] / "trading_bot" / "sample_data"
SPOT_BOOK = SAMPLE / "binance_BTCUSDT_book_l2_2024-08-08_2354_2356.csv.gz"
SPOT_QUOTES = SAMPLE / "binance_BTCUSDT_quotes_2024-08-08.csv.gz"
USDM_BOOK = DATA / "binanceusdm_BTCUSDT_book_l2_2023-04-04.csv.gz"
USDM_QUOTES = DATA / "binanceusdm_BTCUSDT_quotes_2023-04-04.csv.gz"
needs_shared = pytest.mark.skipif(not USDM_BOOK.is_file(), reason="shared data folder not available")

HEADER = "timestamp,update_type,first_update_id,last_update_id,prev_last_update_id,side,price,quantity\n"
SNAPSHOT = "1000,snapshot,10,10,,bid,99,1\n1000,snapshot,10,10,,bid,98,2\n1000,snapshot,10,10,,ask,101,3\n"


def write(tmp_path: Path, text: str, name: str = "book.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + text)
    return path


def states(path: Path, depth: int = 50) -> list[tuple[int, int, BookView]]:
    return [(s.ts_ms, s.update_id, s.view) for s in book_states(path, depth)]


def top_of_book_matches(book: Path, quotes: Path) -> tuple[int, int]:
    """Compare each rebuilt state with the quote of the same update id: (matching, differing) counts."""
    with gzip.open(quotes, "rt", newline="") as text:
        by_id = {
            int(r["update_id"]): (D(r["bid_price"]), D(r["bid_size"]), D(r["ask_price"]), D(r["ask_size"]))
            for r in csv.DictReader(text)
        }
    same = differ = 0
    for _, update_id, view in book_states(book):
        quote = by_id.get(update_id)
        if quote is not None:
            if (*view.bids[0], *view.asks[0]) == (quote[0], quote[1], quote[2], quote[3]):
                same += 1
            else:
                differ += 1
    return same, differ


# ---------------------------------------------------------------- the real files against the real quotes


@needs_shared
def test_usdm_book_rebuilt_equals_every_bookticker_quote_of_the_same_update_id() -> None:
    assert top_of_book_matches(USDM_BOOK, USDM_QUOTES) == (1565, 0)  # the README's full-replay check


@needs_shared
def test_spot_book_rebuilt_equals_every_bookticker_quote_of_the_same_update_id() -> None:
    full = DATA / "binance_BTCUSDT_book_l2_2024-08-08.csv.gz"
    assert top_of_book_matches(full, DATA / "binance_BTCUSDT_quotes_2024-08-08.csv.gz") == (1072, 0)


def test_bundled_spot_book_slice_equals_the_bundled_quotes_of_the_same_update_id() -> None:
    assert top_of_book_matches(SPOT_BOOK, SPOT_QUOTES) == (189, 0)


def test_spot_capture_snapshot_takes_the_delta_written_before_it_and_times_never_go_back() -> None:
    found = list(book_states(SPOT_BOOK))

    # The snapshot (id 50093239218, local time 23:54:14.206) is written after three deltas; the two older than
    # it are dropped, the third (…208-…224) is applied to it: the first state is at that delta's id and time.
    assert found[0][:2] == (1723161255408, 50093239224)
    assert all(a.ts_ms <= b.ts_ms for a, b in itertools.pairwise(found))
    assert len(found) == 1043


def test_read_book_yields_market_data_whose_top_of_book_is_the_views_best_levels() -> None:
    events = read_book(SPOT_BOOK, Symbol("BTC/USDT"), depth=5)
    md = next(events)
    events.close()

    assert md.book is not None
    assert (len(md.book.bids), len(md.book.asks)) == (5, 5)
    assert (md.bid, md.bid_size) == md.book.bids[0]
    assert (md.ask, md.ask_size) == md.book.asks[0]
    assert md.bid < md.ask
    assert md.symbol == "BTC/USDT"
    assert md.ts_ms == 1723161255408


def test_book_header_is_its_own_kind_and_extra_columns_are_ignored() -> None:
    assert data_kind(SPOT_BOOK) == "book"
    kind, cols = columns_kind(Path("x.csv"), [*HEADER.strip().split(","), "local_timestamp_us"])
    assert kind == "book"
    assert cols["local_timestamp_us"] == 8


# ---------------------------------------------------------------- the rebuilding rules, on small files


def test_deltas_apply_in_order_and_quantity_zero_removes_a_level(tmp_path: Path) -> None:
    path = write(tmp_path, SNAPSHOT + "1010,delta,11,12,,bid,99,0\n1010,delta,11,12,,ask,100.5,4\n")

    (_, _, first), (ts, update_id, second) = states(path)

    assert first == BookView(bids=((D(99), D(1)), (D(98), D(2))), asks=((D(101), D(3)),))
    assert (ts, update_id) == (1010, 12)
    assert second == BookView(bids=((D(98), D(2)),), asks=((D("100.5"), D(4)), (D(101), D(3))))


def test_futures_deltas_chain_by_prev_last_update_id(tmp_path: Path) -> None:
    text = SNAPSHOT + "1010,delta,5,15,3,bid,99,5\n1020,delta,17,20,15,bid,99,6\n"

    assert [s[1] for s in states(write(tmp_path, text))] == [10, 15, 20]


def test_a_delta_older_than_the_snapshot_is_dropped(tmp_path: Path) -> None:
    text = "990,delta,1,9,,bid,50,1\n" + SNAPSHOT + "1010,delta,9,11,,bid,97,1\n"

    found = states(write(tmp_path, text))

    assert [s[1] for s in found] == [10, 11]
    assert found[-1][2].bids[-1] == (D(97), D(1))
    assert D(50) not in {p for p, _ in found[-1][2].bids}


def test_a_new_snapshot_restarts_the_book(tmp_path: Path) -> None:
    text = SNAPSHOT + "1010,delta,11,11,,bid,97,1\n1020,snapshot,30,30,,bid,90,1\n1020,snapshot,30,30,,ask,91,1\n"

    *_, (_, update_id, view) = states(write(tmp_path, text))

    assert update_id == 30
    assert view == BookView(bids=((D(90), D(1)),), asks=((D(91), D(1)),))


def test_one_sided_and_crossed_states_are_skipped_with_one_counted_warning(tmp_path: Path) -> None:
    text = (
        "1000,snapshot,10,10,,bid,99,1\n"  # bids only: skipped
        "1010,delta,11,11,,ask,98,1\n"  # crossed (bid 99 > ask 98): skipped
        "1020,delta,12,12,,ask,98,0\n1020,delta,12,12,,ask,100,1\n"  # sane again
    )
    with capture_logs() as logs:
        found = states(write(tmp_path, text))

    assert [s[1] for s in found] == [12]
    [warning] = [e for e in logs if e["event"] == "book_states_skipped"]
    assert (warning["count"], warning["first_line"]) == (2, 2)


def test_snapshot_time_behind_the_state_before_it_is_raised_and_a_small_step_back_is_clamped(tmp_path: Path) -> None:
    text = SNAPSHOT + "1050,delta,11,11,,bid,97,1\n1020,snapshot,30,30,,bid,90,1\n1020,snapshot,30,30,,ask,91,1\n"
    text += "1000,delta,31,31,,bid,89,1\n"

    assert [s[0] for s in states(write(tmp_path, text))] == [1000, 1050, 1050, 1050]


def test_depth_limits_the_levels_of_each_view(tmp_path: Path) -> None:
    [(_, _, view)] = states(write(tmp_path, SNAPSHOT), depth=1)

    assert view == BookView(bids=((D(99), D(1)),), asks=((D(101), D(3)),))


# ---------------------------------------------------------------- broken files: one line naming file:line


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (SNAPSHOT + "1010,delta,11,12,,bid,99,1\n1020,delta,14,15,,bid,99,2\n",
         r"book\.csv:6: update id gap: first_update_id 14 does not follow .* 12 \(expected 13\).*fresh snapshot"),
        (SNAPSHOT + "1010,delta,5,15,3,bid,99,1\n1020,delta,17,20,16,bid,99,2\n",
         r"book\.csv:6: update id gap: prev_last_update_id 16 is not the previous message's last_update_id 15"),
        (SNAPSHOT + "1010,delta,12,13,,bid,99,1\n",
         r"book\.csv:5: update id gap: the first delta after the snapshot \(last_update_id 10\) starts at first_upd"),
        (SNAPSHOT + "1010,delta,11,11,,bid,99,x\n", r"book\.csv:5: not a valid number or value in row"),
        (SNAPSHOT + "1010,delta,11,11,,bid,abc,1\n", r"book\.csv:5: not a valid number or value in row"),
        (SNAPSHOT + "10x0,delta,11,11,,bid,99,1\n", r"book\.csv:5: not a valid timestamp or update id"),
        (SNAPSHOT + "1010,delta,11,11,,middle,99,1\n", r"book\.csv:5: book side must be bid or ask, got 'middle'"),
        (SNAPSHOT + "1010,delta,11,11,,bid,99,-1\n", r"book\.csv:5: quantity -1 must be >= 0"),
        (SNAPSHOT + "1010,delta,11,11,,bid,-99,1\n", r"book\.csv:5: price -99 must be > 0"),
        (SNAPSHOT + "1010,delta,11,11,,bid,NaN,1\n", r"book\.csv:5: price NaN must be a finite number"),
        (SNAPSHOT + "1010,update,11,11,,bid,99,1\n", r"book\.csv:5: update_type must be snapshot or delta"),
        (SNAPSHOT + "1010,delta,12,11,,bid,99,1\n", r"book\.csv:5: first_update_id 12 is above last_update_id 11"),
        (SNAPSHOT + "800,delta,11,11,,bid,99,1\n", r"book\.csv:5: timestamps go backwards \(800 after 1000"),
        ("1010,delta,11,11,,bid,99,1\n", r"book\.csv: no snapshot in the file"),
    ],
)  # fmt: skip
def test_broken_book_file_is_one_data_error_naming_file_and_line(tmp_path: Path, rows: str, message: str) -> None:
    path = write(tmp_path, rows)

    with pytest.raises(DataError, match=message) as caught:
        states(path)
    assert "\n" not in str(caught.value)


def test_truncated_gzip_is_one_data_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "binance_BTCUSDT_book_l2_cut.csv.gz"
    path.write_bytes(SPOT_BOOK.read_bytes()[:60_000])

    with pytest.raises(DataError, match=r"cut\.csv\.gz:\d+: unreadable gzip or text") as caught:
        states(path)
    assert "\n" not in str(caught.value)


def test_a_quote_file_is_not_a_book(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"quotes.*:1: holds quotes, not an L2 book; expected columns timestamp"):
        states(SPOT_QUOTES)


@pytest.mark.skipif(not (DATA / "bybit_XRPUSDT_book_l2_2024-12-01.csv.gz").is_file(), reason="shared data missing")
def test_bybit_book_with_one_update_id_per_message_rebuilds_every_message() -> None:
    found = list(book_states(DATA / "bybit_XRPUSDT_book_l2_2024-12-01.csv.gz"))

    assert [s.update_id for s in found] == list(range(20254869, 20254919))  # 1 snapshot + 49 deltas, u + 1 each
    first = found[0].view
    assert (first.bids[0], first.asks[0]) == ((D("1.9531"), D("6203.0")), (D("1.9532"), D("10480.0")))
    assert all(s.view.bids[0][0] < s.view.asks[0][0] for s in found)


def test_one_update_id_per_message_must_count_up_by_one(tmp_path: Path) -> None:
    path = tmp_path / "bybit.csv"
    path.write_text(
        "timestamp,update_type,update_id,seq,side,price,quantity\n"
        "1000,snapshot,7,1,bid,1.95,10\n1000,snapshot,7,1,ask,1.96,10\n1001,delta,8,2,bid,1.95,9\n"
        "1002,delta,10,3,bid,1.95,8\n"
    )

    with pytest.raises(DataError, match=r"bybit\.csv:5: update id gap: update_id 10 does not follow .* 8 \(expected"):
        list(book_states(path))
