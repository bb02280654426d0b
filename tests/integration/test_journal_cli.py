"""``runbot.py orders | trades | status`` run as subprocesses against a journal filled through its API."""

from __future__ import annotations

import asyncio
import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import Order
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderType
from trading_bot.domain import Symbol
from trading_bot.domain import TradeId
from trading_bot.runtime.journal.store import Journal

BTC = Symbol("BTC/USDT")
ETH = Symbol("ETH/USDT")
T0 = 1_723_075_200_000  # 2024-08-08T00:00:00Z
HOUR = 3_600_000


def _order(seq: int, symbol: Symbol, side: OrderSide, qty: str, price: str, created_ms: int) -> Order:
    return Order(
        client_order_id=ClientOrderId(f"tb1-{seq}"),
        symbol=symbol,
        side=side,
        quantity=Decimal(qty),
        order_type=OrderType.LIMIT,
        price=Decimal(price),
        client_tag="open" if side is OrderSide.BUY else "tp",
        created_ms=created_ms,
        updated_ms=created_ms,
    )


def _fill(order: Order, trade: str, ts_ms: int) -> Fill:
    assert order.price is not None
    return Fill(
        trade_id=TradeId(trade),
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        price=order.price,
        fee=order.quantity * order.price * Decimal("0.001"),
        fee_currency="USDT",
        ts_ms=ts_ms,
    )


async def _fill_journal(path: Path) -> None:
    """Two runs: a round trip on BTC (bought 0.02 @ 60000, sold 0.01 @ 61000), one resting order."""
    journal = await Journal.open(f"sqlite+aiosqlite:///{path}")
    try:
        first = await journal.start_run("tb1", "abc", T0)
        await journal.finish_run(first, T0 + HOUR, "signal SIGTERM", 0)
        run_id = await journal.start_run("tb1", "abc", T0 + 2 * HOUR)
        buy = _order(1, BTC, OrderSide.BUY, "0.02", "60000", T0 + 2 * HOUR)
        sell = _order(2, BTC, OrderSide.SELL, "0.01", "61000", T0 + 3 * HOUR)
        rest = _order(3, BTC, OrderSide.BUY, "0.01", "59000.5", T0 + 4 * HOUR)
        eth = _order(4, ETH, OrderSide.BUY, "0.5", "2500", T0 + 4 * HOUR)
        for order in (buy, sell, rest, eth):
            await journal.record_intent(order, run_id, "tb1")
            order.transition(OrderStatus.SUBMITTED, order.created_ms)
            order.transition(OrderStatus.ACCEPTED, order.created_ms + 5)
            await journal.record_order(order)
        for order, trade, ts in ((buy, "t1", T0 + 2 * HOUR + 60_000), (sell, "t2", T0 + 3 * HOUR + 60_000)):
            fill = _fill(order, trade, ts)
            order.apply_fill(fill)
            await journal.record_fill(fill, ts)
            await journal.record_order(order)
    finally:
        await journal.close()


@pytest.fixture(scope="module")
def journal_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("journal") / "journal.db"
    asyncio.run(_fill_journal(path))
    return path


def test_orders_lists_every_order_as_an_aligned_table(journal_path: Path, workdir: Path) -> None:
    proc = run_cli("orders", "--db", str(journal_path), cwd=workdir)

    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:4] == ["created", "client_order_id", "venue", "symbol"]
    assert [line.split()[1] for line in lines[1:]] == ["tb1-1", "tb1-2", "tb1-3", "tb1-4"]
    assert lines[1].index("tb1-1") == lines[0].index("client_order_id")  # columns line up
    assert "59000.5" in lines[3]


def test_orders_filters_by_symbol_status_since_and_limit_as_json(journal_path: Path, workdir: Path) -> None:
    proc = run_cli(
        "orders", "--db", str(journal_path), "--symbol", "BTC/USDT", "--status", "open",
        "--since", "2024-08-08T01:00", "--json", cwd=workdir,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    orders = json.loads(proc.stdout)
    assert [o["client_order_id"] for o in orders] == ["tb1-3"]
    assert orders[0]["price"] == "59000.5"
    assert orders[0]["status"] == "accepted"
    limited = json.loads(run_cli("orders", "--db", str(journal_path), "--limit", "1", "--json", cwd=workdir).stdout)
    assert [o["client_order_id"] for o in limited] == ["tb1-4"]


def test_trades_exports_fills_as_csv_trade_log_and_json(journal_path: Path, workdir: Path) -> None:
    out = workdir / "trades.csv"

    proc = run_cli("trades", "--db", str(journal_path), "--csv", str(out), "--json", cwd=workdir)

    assert proc.returncode == 0, proc.stderr
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "time", "venue", "symbol", "side", "quantity", "price", "fee", "fee_currency", "client_order_id", "trade_id",
    ]  # fmt: skip
    assert rows[0] == {
        "time": "2024-08-08T02:01:00.000Z",
        "venue": "default",
        "symbol": "BTC/USDT",
        "side": "buy",
        "quantity": "0.02",
        "price": "60000",
        "fee": "1.20000",
        "fee_currency": "USDT",
        "client_order_id": "tb1-1",
        "trade_id": "t1",
    }
    assert [r["trade_id"] for r in rows] == ["t1", "t2"]
    assert json.loads(proc.stdout) == rows


def test_status_shows_last_run_open_orders_and_position_with_pnl(journal_path: Path, workdir: Path) -> None:
    proc = run_cli("status", "--db", str(journal_path), "--json", cwd=workdir)

    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["last_run"]["id"] == 2
    assert status["last_run"]["stopped_ms"] is None
    assert sorted(o["client_order_id"] for o in status["open_orders"]) == ["tb1-3", "tb1-4"]
    (btc,) = status["positions"]
    assert btc["symbol"] == "BTC/USDT"
    assert Decimal(btc["quantity"]) == Decimal("0.01")
    assert Decimal(btc["average_entry"]) == Decimal("60000")
    assert Decimal(btc["realized_pnl"]) == Decimal("10")
    assert Decimal(btc["fees"]) == Decimal("1.2") + Decimal("0.61")
    assert Decimal(btc["net_pnl"]) == Decimal("10") - Decimal("1.81")

    text = run_cli("status", "--db", str(journal_path), cwd=workdir)
    assert text.returncode == 0, text.stderr
    assert "#2 bot tb1" in text.stdout
    assert "without a clean stop" in text.stdout
    assert "open orders  2" in text.stdout


def test_status_reads_the_journal_location_from_the_config(journal_path: Path, workdir: Path) -> None:
    config = workdir / "config.json"
    config.write_text(json.dumps({"persistence": {"db_url": f"sqlite+aiosqlite:///{journal_path}"}}))

    proc = run_cli("status", "--config", str(config), "--json", cwd=workdir)

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["last_run"]["bot_id"] == "tb1"


def test_missing_journal_exits_2_with_one_line_naming_the_path(workdir: Path) -> None:
    proc = run_cli("trades", cwd=workdir)  # default: ./var/journal.db under the working directory

    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert str(workdir.resolve() / "var" / "journal.db") in line
    assert "run" in line
    assert proc.stdout == ""
    assert not (workdir / "var" / "journal.db").exists()  # the command did not create one


def test_bad_filters_exit_2_with_one_line(journal_path: Path, workdir: Path) -> None:
    proc = run_cli("orders", "--db", str(journal_path), "--status", "bogus", "--since", "yesterday", cwd=workdir)

    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "--status" in proc.stderr or "--since" in proc.stderr


def test_status_of_an_empty_file_reports_no_journal_and_writes_nothing_into_it(workdir: Path) -> None:
    empty = workdir / "empty.db"
    empty.touch()

    proc = run_cli("status", "--db", str(empty), cwd=workdir)

    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: no journal at {empty} (the file is empty)")
    assert empty.stat().st_size == 0  # no schema written into it
    assert sorted(p.name for p in workdir.iterdir()) == ["empty.db"]


@pytest.mark.parametrize("command", [["orders"], ["trades"], ["status"], ["status", "--json"]])
def test_read_commands_open_the_journal_read_only_and_change_no_byte(
    journal_path: Path, workdir: Path, command: list[str]
) -> None:
    copy = workdir / "journal.db"
    copy.write_bytes(journal_path.read_bytes())
    before = copy.read_bytes()

    proc = run_cli(*command, "--db", str(copy), cwd=workdir)

    assert proc.returncode == 0, proc.stderr
    assert copy.read_bytes() == before
    assert sorted(p.name for p in workdir.iterdir()) == ["journal.db"]  # no -wal, -shm or lock file


async def _fill_uneven_entries(path: Path) -> None:
    """Three buys at prices whose average does not terminate, then one sell."""
    journal = await Journal.open(f"sqlite+aiosqlite:///{path}")
    try:
        for i, (side, price) in enumerate(
            [(OrderSide.BUY, "60000.01"), (OrderSide.BUY, "60001.13"), (OrderSide.BUY, "60003.37"),
             (OrderSide.SELL, "60100.11")]
        ):  # fmt: skip
            order = _order(i + 1, BTC, side, "0.001", price, T0 + i)
            await journal.record_fill(_fill(order, f"u{i}", T0 + i), T0 + i)
    finally:
        await journal.close()


def test_status_prints_pnl_and_average_entry_without_decimal_residue(workdir: Path) -> None:
    path = workdir / "journal.db"
    asyncio.run(_fill_uneven_entries(path))

    proc = run_cli("status", "--db", str(path), "--json", cwd=workdir)

    assert proc.returncode == 0, proc.stderr
    (btc,) = json.loads(proc.stdout)["positions"]
    # average entry 180004.51 / 3 = 60001.503333...; realized (60100.11 - that) * 0.001 = 0.0986066...
    assert btc["average_entry"] == "60001.50333"  # 2 price decimals + 3 quantity decimals
    assert btc["realized_pnl"] == "0.09861"
    assert btc["quantity"] == "0.002"
    assert btc["fees"] == "0.24010462"  # a sum of fills: exact
    assert btc["net_pnl"] == "-0.14149462"
    text = run_cli("status", "--db", str(path), cwd=workdir).stdout
    assert "60001.50333 " in text
    assert "0000000" not in text


@pytest.mark.parametrize("target", ["a_dir", "missing/trades.csv", "a_file/trades.csv"])
def test_trades_csv_to_a_path_that_cannot_be_a_file_exits_2_with_one_line(
    journal_path: Path, workdir: Path, target: str
) -> None:
    (workdir / "a_dir").mkdir()
    (workdir / "a_file").write_text("x")

    proc = run_cli("trades", "--db", str(journal_path), "--csv", str(workdir / target), cwd=workdir)

    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: --csv: ")
    assert str(workdir / target) in line
    assert "Traceback" not in proc.stderr


# -- several bots in one journal: --bot narrows every read command to one of them ----------------------------


async def _two_bots_journal(path: Path) -> None:
    """Bot ``t_1`` bought 0.02 BTC and rests a buy; bot ``tx1`` (whose id ``t_1`` matches as a LIKE pattern)
    bought 1 ETH, in a later run."""
    journal = await Journal.open(f"sqlite+aiosqlite:///{path}")
    try:
        bots = (("t_1", 1, BTC, "0.02", "60000", T0), ("tx1", 1, ETH, "1", "2500", T0 + HOUR))
        for bot, seq, symbol, qty, price, start in bots:
            run_id = await journal.start_run(bot, "abc", start)
            order = Order(
                client_order_id=ClientOrderId(f"{bot}-{seq}"), symbol=symbol, side=OrderSide.BUY,
                quantity=Decimal(qty), order_type=OrderType.LIMIT, price=Decimal(price), client_tag="open",
                created_ms=start, updated_ms=start,
            )  # fmt: skip
            await journal.record_intent(order, run_id, bot)
            order.transition(OrderStatus.SUBMITTED, start)
            order.transition(OrderStatus.ACCEPTED, start + 5)
            fill = _fill(order, f"{bot}-trade", start + 60_000)
            order.apply_fill(fill)
            await journal.record_fill(fill, start + 60_000)
            await journal.record_order(order)
        resting = _order(7, BTC, OrderSide.BUY, "0.01", "59000", T0 + 2 * HOUR)
        resting.client_order_id = ClientOrderId("t_1-2")
        await journal.record_intent(resting, 1, "t_1")
    finally:
        await journal.close()


def test_bot_filter_shows_one_bots_run_orders_fills_and_position_of_a_shared_journal(
    tmp_path: Path, workdir: Path
) -> None:
    path = tmp_path / "shared.db"
    asyncio.run(_two_bots_journal(path))

    status = json.loads(run_cli("status", "--db", str(path), "--bot", "t_1", "--json", cwd=workdir).stdout)
    trades = json.loads(run_cli("trades", "--db", str(path), "--bot", "t_1", "--json", cwd=workdir).stdout)
    orders = json.loads(run_cli("orders", "--db", str(path), "--bot", "tx1", "--json", cwd=workdir).stdout)
    everything = json.loads(run_cli("status", "--db", str(path), "--json", cwd=workdir).stdout)

    assert status["last_run"]["bot_id"] == "t_1"  # not the later run of tx1
    assert [o["client_order_id"] for o in status["open_orders"]] == ["t_1-2"]
    assert [(p["symbol"], p["quantity"]) for p in status["positions"]] == [("BTC/USDT", "0.02")]
    assert [t["client_order_id"] for t in trades] == ["t_1-1"]  # '_' is not a wildcard: tx1's fill is not here
    assert [o["client_order_id"] for o in orders] == ["tx1-1"]
    assert sorted(p["symbol"] for p in everything["positions"]) == ["BTC/USDT", "ETH/USDT"]


def test_bot_filter_refuses_an_impossible_bot_id_in_one_line_with_exit_2(journal_path: Path, workdir: Path) -> None:
    proc = run_cli("status", "--db", str(journal_path), "--bot", "no-dash", cwd=workdir)

    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --bot: bot id 'no-dash' must be 1-20 characters of letters, digits and '_'"


async def _fill_two_venue_journal(path: Path) -> None:
    """BTC bought on ``spot`` and on ``alt`` under the same trade id, ETH resting on ``alt``."""
    journal = await Journal.open(f"sqlite+aiosqlite:///{path}", venue="spot")
    try:
        run_id = await journal.start_run("tb1", "abc", T0)
        spot = _order(1, BTC, OrderSide.BUY, "0.02", "60000", T0)
        alt = _order(2, BTC, OrderSide.BUY, "0.05", "60100", T0 + 1)
        eth = _order(3, ETH, OrderSide.BUY, "0.5", "2500", T0 + 2)
        for order, venue in ((spot, "spot"), (alt, "alt"), (eth, "alt")):
            await journal.record_intent(order, run_id, "tb1", venue)
            order.transition(OrderStatus.SUBMITTED, order.created_ms)
            order.transition(OrderStatus.ACCEPTED, order.created_ms + 5)
            await journal.record_order(order, venue)
        for order, venue in ((spot, "spot"), (alt, "alt")):
            fill = _fill(order, "1", order.created_ms + 60_000)  # the same trade id on both venues
            order.apply_fill(fill)
            await journal.record_fill(fill, fill.ts_ms, venue)
            await journal.record_order(order, venue)
    finally:
        await journal.close()


@pytest.fixture(scope="module")
def two_venue_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("journal2") / "journal.db"
    asyncio.run(_fill_two_venue_journal(path))
    return path


def test_status_shows_every_instrument_with_its_own_position(two_venue_journal: Path, workdir: Path) -> None:
    """Rule: status shows one position per venue:symbol, from that instrument's fills only."""
    proc = run_cli("status", "--db", str(two_venue_journal), "--json", cwd=workdir)

    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    positions = {p["instrument"]: Decimal(p["quantity"]) for p in status["positions"]}
    assert positions == {"alt:BTC/USDT": Decimal("0.05"), "spot:BTC/USDT": Decimal("0.02")}
    assert [(o["instrument"], o["client_order_id"]) for o in status["open_orders"]] == [("alt:ETH/USDT", "tb1-3")]
    text = run_cli("status", "--db", str(two_venue_journal), cwd=workdir).stdout
    assert "  alt:BTC/USDT  " in text
    assert "  spot:BTC/USDT  " in text


@pytest.mark.parametrize(
    ("args", "instruments"),
    [
        (["--venue", "alt"], ["alt:BTC/USDT"]),
        (["--symbol", "spot:BTC/USDT"], ["spot:BTC/USDT"]),
        (["--symbol", "BTC/USDT"], ["alt:BTC/USDT", "spot:BTC/USDT"]),
        (["--symbol", "BTC/USDT", "--venue", "spot"], ["spot:BTC/USDT"]),
        (["--venue", "kraken"], []),
    ],
)
def test_status_filters_by_venue_and_symbol(
    two_venue_journal: Path, workdir: Path, args: list[str], instruments: list[str]
) -> None:
    """Rule: --venue and --symbol (or --symbol VENUE:SYMBOL) narrow status to those instruments."""
    proc = run_cli("status", "--db", str(two_venue_journal), "--json", *args, cwd=workdir)

    assert proc.returncode == 0, proc.stderr
    assert [p["instrument"] for p in json.loads(proc.stdout)["positions"]] == instruments


def test_orders_and_trades_filter_by_venue_and_name_it_on_every_row(two_venue_journal: Path, workdir: Path) -> None:
    """Rule: orders/trades gain --venue and --symbol VENUE:SYMBOL; every row says its venue."""
    orders = json.loads(run_cli("orders", "--db", str(two_venue_journal), "--venue", "alt", "--json").stdout)
    assert [(o["venue"], o["client_order_id"]) for o in orders] == [("alt", "tb1-2"), ("alt", "tb1-3")]
    trades = json.loads(run_cli("trades", "--db", str(two_venue_journal), "--symbol", "spot:BTC/USDT", "--json").stdout)
    assert [(t["venue"], t["trade_id"], t["quantity"]) for t in trades] == [("spot", "1", "0.02")]
    table = run_cli("trades", "--db", str(two_venue_journal), cwd=workdir).stdout.splitlines()
    assert [line.split()[1] for line in table[1:]] == ["spot", "alt"]


@pytest.mark.parametrize("args", [["--venue", "Not A Venue"], ["--symbol", "spot:BTC/USDT", "--venue", "alt"]])
def test_bad_venue_filters_exit_2_with_one_line(two_venue_journal: Path, workdir: Path, args: list[str]) -> None:
    """Rule: bad input is one line naming the option, exit 2."""
    proc = run_cli("orders", "--db", str(two_venue_journal), *args, cwd=workdir)

    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "--venue" in line
