"""Journal commands: ``runbot.py orders``, ``trades``, ``funding``, ``operator-actions``, ``status`` and
``migrate-journal``.

They read the bot's journal (``--db URL`` or a SQLite file path; else the config's
``persistence.db_url``, default ``<bot.data_dir>/journal.db``) and never talk to an exchange. The
journal is opened read-only (``Journal.open(read_only=True)``): nothing is created, migrated or written,
and a missing, empty or foreign file exits 2 with a one-line message naming the path. They take no lock,
so they work while the bot runs. Tables are plain aligned text; ``--json`` prints one JSON value on
stdout (money as exact decimal strings, times as epoch ms plus ISO-8601 UTC). ``trades --csv FILE``
exports the fills as a trade log. Every row names its venue; ``--venue NAME`` and ``--symbol SYMBOL``
(or ``--symbol VENUE:SYMBOL``) narrow what is shown, as ``--bot`` does. ``status`` shows one position per
instrument (``venue:symbol``), built from that instrument's fills, with a perpetual swap's funding total.
``funding`` lists a swap's funding payments beside the fills ``trades`` lists (the fills stay a trade log).
``operator-actions`` lists the audit log of operator commands (halt, resume, flatten...: who, when, outcome).

A journal of an older schema is refused by the readers (exit 2, naming the fix): ``migrate-journal``
brings it to the current schema (the bot also does at its start), with the venue of ``--config``'s bot
or ``--venue``.

Only typer is imported at module level: ``--help`` stays fast and never imports the runtime.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Annotated
from typing import Any

import typer

from trading_bot.cli.app import EXIT_FAILURE
from trading_bot.cli.app import app
from trading_bot.cli.app import fail
from trading_bot.domain import decimal_text
from trading_bot.domain.ids import validate_bot_id

if TYPE_CHECKING:
    from collections.abc import Awaitable
    from collections.abc import Callable
    from collections.abc import Sequence
    from decimal import Decimal
    from typing import TypeVar

    from trading_bot.domain import Fill
    from trading_bot.domain import Order
    from trading_bot.domain import OrderStatus
    from trading_bot.runtime.journal.rows import FundingRecord
    from trading_bot.runtime.journal.rows import OperatorActionRecord
    from trading_bot.runtime.journal.store import Journal

    T = TypeVar("T")

__all__ = [
    "FUNDING_COLUMNS",
    "OPERATOR_ACTION_COLUMNS",
    "TRADE_LOG_COLUMNS",
    "funding_command",
    "migrate_journal_command",
    "operator_actions_command",
    "orders_command",
    "status_command",
    "trades_command",
]


TRADE_LOG_COLUMNS = (
    "time",
    "venue",
    "symbol",
    "side",
    "quantity",
    "price",
    "fee",
    "fee_currency",
    "client_order_id",
    "trade_id",
)
"""Columns of ``trades --csv`` (time is ISO-8601 UTC; amounts are exact decimals)."""

FUNDING_COLUMNS = ("time", "venue", "symbol", "amount", "asset", "rate", "mark_price", "quantity", "payment_id")
"""Columns of the ``funding`` table (amount in the settle asset, negative = paid; rate per funding interval)."""

OPERATOR_ACTION_COLUMNS = ("time", "who", "action", "instrument", "ok", "detail", "reason")
"""Columns of the ``operator-actions`` table (the audit log; instrument empty = every instrument)."""

ConfigOption = Annotated[Path | None, typer.Option("--config", help="JSON config file (for the journal's location)")]
DbOption = Annotated[
    str | None, typer.Option("--db", help="journal URL (sqlite+aiosqlite:///..., postgresql+asyncpg://...) or file")
]
SymbolOption = Annotated[
    str | None, typer.Option("--symbol", help="only this market, e.g. BTC/USDT, or one instrument, binance:BTC/USDT")
]
VenueOption = Annotated[
    str | None, typer.Option("--venue", help="only this venue (a venues key, or the exchange name, e.g. binance)")
]
BotOption = Annotated[
    str | None, typer.Option("--bot", help="only this bot id's runs, orders and fills (a journal several bots share)")
]
SinceOption = Annotated[
    str | None, typer.Option("--since", help="only from this UTC date/time (2024-08-08, 2024-08-08T12:00) or epoch ms")
]
LimitOption = Annotated[int | None, typer.Option("--limit", min=1, max=1_000_000_000, help="only the latest N rows")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON value on stdout")]


# -- journal location and access -------------------------------------------------------------------
def _db_url(config: Path | None, db: str | None) -> str:
    """Return the journal URL from ``--db`` (a URL or a SQLite file), else from the config."""
    from trading_bot.errors import ConfigError

    if db is not None:
        if "://" not in db:
            return f"sqlite+aiosqlite:///{_file_url_path(Path(db).expanduser().absolute())}"
        from trading_bot.config.models import normalize_db_url

        try:
            return normalize_db_url(db)
        except ValueError as exc:
            raise fail(f"--db: {exc}") from None
    from trading_bot.config import load_config

    try:
        cfg = load_config(config)
        return cfg.persistence.resolved_db_url(cfg.bot.data_dir)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def _file_url_path(path: Path) -> str:
    from urllib.parse import quote

    return quote(str(path), safe="/~-._")


def _with_journal(config: Path | None, db: str | None, query: Callable[[Journal], Awaitable[T]]) -> tuple[str, T]:
    """Open the journal read-only, run ``query`` on it, close it; return the display URL and the result."""
    import asyncio

    from trading_bot.errors import ConfigError
    from trading_bot.errors import TradingBotError
    from trading_bot.log import configure_logging
    from trading_bot.runtime.journal.store import Journal

    configure_logging("warning", "console")  # logs go to stderr; stdout is the command's output
    url = _db_url(config, db)

    async def run() -> tuple[str, T]:
        journal = await Journal.open(url, read_only=True)
        try:
            return journal.location.shown, await query(journal)
        finally:
            await journal.close()

    try:
        return asyncio.run(run())
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except TradingBotError as exc:
        raise fail(str(exc), EXIT_FAILURE) from None


# -- parsing and formatting ------------------------------------------------------------------------
def _parse_since(since: str | None) -> int | None:
    """Return ``--since`` as epoch ms (naive times are UTC)."""
    if since is None:
        return None
    from datetime import UTC
    from datetime import datetime

    from trading_bot.domain.checks import MAX_TS_MS

    text = since.strip()
    expected = f"expected a date like 2024-08-08, 2024-08-08T12:00 or epoch ms, got {since!r}"
    if text.isascii() and text.isdigit():  # not str.isdigit alone: '²' and '١' are digits int() refuses or reads
        if len(text) > len(str(MAX_TS_MS)) or int(text) >= MAX_TS_MS:
            raise fail(f"--since: epoch ms must be before 2100 (below {MAX_TS_MS}), got {since!r}")
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"--since: {expected}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _parse_bot(bot: str | None) -> str | None:
    """Return the ``--bot`` id, checked like ``bot.bot_id``."""
    if bot is None:
        return None
    try:
        return validate_bot_id(bot)
    except ValueError as exc:
        raise fail(f"--bot: {exc}") from None


def _parse_instrument(symbol: str | None, venue: str | None) -> tuple[str | None, str | None]:
    """Return the ``(venue, symbol)`` filters of ``--venue`` and ``--symbol`` (which may be ``VENUE:SYMBOL``)."""
    from trading_bot.domain.instrument import VENUE_NAME_PATTERN
    from trading_bot.domain.instrument import split_venue

    if venue is not None and not VENUE_NAME_PATTERN.fullmatch(venue):
        raise fail(f"--venue: {venue!r} is not a venue name (lower-case letters, digits and _, e.g. binance)")
    if symbol is None:
        return venue, None
    named, bare = split_venue(symbol)
    if named is not None and venue is not None and named != venue:
        raise fail(f"--symbol {symbol} names venue {named!r} but --venue is {venue!r}; give one of them")
    return named or venue, bare


def _parse_status(status: str | None) -> list[OrderStatus] | None:
    """Return the statuses of ``--status`` (comma-separated; ``open`` = every status that may still fill)."""
    if status is None:
        return None
    from trading_bot.domain import OrderStatus
    from trading_bot.runtime.journal.store import OPEN_STATUSES

    names = {s.value for s in OrderStatus}
    chosen: list[OrderStatus] = []
    for word in (part.strip().lower() for part in status.split(",")):
        if word == "open":
            chosen.extend(sorted(OPEN_STATUSES))
        elif word in names:
            chosen.append(OrderStatus(word))
        else:
            raise fail(f"--status: unknown status {word!r}; known: open, {', '.join(sorted(names))}")
    return chosen


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    from datetime import UTC
    from datetime import datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return rows as plain text, each column left-aligned to its widest cell."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in [headers, *rows]
    ]
    return "\n".join(lines)


def _print_json(value: Any) -> None:
    import json

    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _order_json(venue: str, order: Order) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "exchange_order_id": order.exchange_order_id,
        "venue": venue,
        "symbol": order.symbol,
        "instrument": f"{venue}:{order.symbol}",
        "side": order.side.value,
        "type": order.order_type.value,
        "quantity": str(order.quantity),
        "price": _text(order.price) or None,
        "status": order.status.value,
        "filled_quantity": str(order.filled_quantity),
        "average_price": _text(order.average_price) or None,
        "fees": str(order.fees),
        "client_tag": order.client_tag,
        "reason": order.reason,
        "created_ms": order.created_ms,
        "created": _iso(order.created_ms),
        "updated_ms": order.updated_ms,
        "updated": _iso(order.updated_ms),
    }


_ORDER_HEADERS = (
    "created",
    "client_order_id",
    "venue",
    "symbol",
    "side",
    "type",
    "quantity",
    "price",
    "status",
    "filled",
)
_ORDER_HEADERS_TAIL = ("avg_price", "fees", "tag")


def _order_row(venue: str, order: Order) -> list[str]:
    return [
        _iso(order.created_ms),
        order.client_order_id,
        venue,
        order.symbol,
        order.side.value,
        order.order_type.value,
        str(order.quantity),
        _text(order.price),
        order.status.value,
        str(order.filled_quantity),
        _text(order.average_price),
        str(order.fees),
        order.client_tag,
    ]


def _fill_record(venue: str, fill: Fill) -> dict[str, Any]:
    return {
        "time": _iso(fill.ts_ms),
        "venue": venue,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "quantity": str(fill.quantity),
        "price": str(fill.price),
        "fee": str(fill.fee),
        "fee_currency": fill.fee_currency,
        "client_order_id": fill.client_order_id,
        "trade_id": fill.trade_id,
    }


def _funding_record(record: FundingRecord) -> dict[str, Any]:
    payment = record.payment
    return {
        "time": _iso(payment.ts_ms),
        "ts_ms": payment.ts_ms,
        "venue": record.venue,
        "symbol": payment.symbol,
        "instrument": f"{record.venue}:{payment.symbol}",
        "amount": str(payment.amount),
        "asset": record.asset,
        "rate": str(payment.rate),
        "mark_price": str(payment.mark_price),
        "quantity": str(payment.quantity),
        "payment_id": payment.id,
        "run_id": record.run_id,
    }


def _orders_table(orders: Sequence[tuple[str, Order]]) -> str:
    return _table((*_ORDER_HEADERS, *_ORDER_HEADERS_TAIL), [_order_row(v, o) for v, o in orders])


# -- commands --------------------------------------------------------------------------------------
@app.command("orders", help="List the orders in the journal (newest last).")
def orders_command(
    config: ConfigOption = None,
    db: DbOption = None,
    symbol: SymbolOption = None,
    status: Annotated[
        str | None, typer.Option("--status", help="only these statuses, comma-separated (open, filled, canceled...)")
    ] = None,
    since: SinceOption = None,
    limit: LimitOption = None,
    json_output: JsonOption = False,
    bot: BotOption = None,
    venue: VenueOption = None,
) -> None:
    """Print the journal's orders as a table, or as a JSON list with ``--json``."""
    statuses = _parse_status(status)
    since_ms = _parse_since(since)
    bot_id = _parse_bot(bot)
    venue, symbol = _parse_instrument(symbol, venue)

    async def query(journal: Journal) -> list[tuple[str, Order]]:
        return await journal.orders_by_venue(
            symbol=symbol, status=statuses, since_ms=since_ms, limit=limit, bot_id=bot_id, venue=venue
        )

    _, orders = _with_journal(config, db, query)
    if json_output:
        _print_json([_order_json(v, o) for v, o in orders])
    elif orders:
        typer.echo(_orders_table(orders))
    else:
        typer.echo("no orders")


@app.command("trades", help="List the fills in the journal (oldest first); --csv exports them as a trade log.")
def trades_command(
    config: ConfigOption = None,
    db: DbOption = None,
    symbol: SymbolOption = None,
    order: Annotated[str | None, typer.Option("--order", help="only the fills of this client order id")] = None,
    since: SinceOption = None,
    limit: LimitOption = None,
    json_output: JsonOption = False,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="write the fills to this CSV file")] = None,
    bot: BotOption = None,
    venue: VenueOption = None,
) -> None:
    """Print the journal's fills as a table or JSON; with ``--csv FILE`` also write them as CSV."""
    since_ms = _parse_since(since)
    bot_id = _parse_bot(bot)
    venue, symbol = _parse_instrument(symbol, venue)
    if csv_path is not None:
        _check_csv_path(csv_path)

    async def query(journal: Journal) -> list[tuple[str, Fill]]:
        return await journal.fills_by_venue(
            symbol=symbol, since_ms=since_ms, client_order_id=order, limit=limit, bot_id=bot_id, venue=venue
        )

    _, fills = _with_journal(config, db, query)
    records = [_fill_record(v, f) for v, f in fills]
    if csv_path is not None:
        _write_csv(csv_path, records)
    if json_output:
        _print_json(records)
    elif csv_path is not None:
        typer.echo(f"wrote {len(records)} fills to {csv_path}")
    elif records:
        typer.echo(_table(TRADE_LOG_COLUMNS, [[r[c] for c in TRADE_LOG_COLUMNS] for r in records]))
    else:
        typer.echo("no fills")


@app.command("funding", help="List the funding payments of perpetual swaps in the journal (oldest first).")
def funding_command(
    config: ConfigOption = None,
    db: DbOption = None,
    symbol: SymbolOption = None,
    since: SinceOption = None,
    limit: LimitOption = None,
    json_output: JsonOption = False,
    bot: BotOption = None,
    venue: VenueOption = None,
) -> None:
    """Print the journal's funding payments as a table with each instrument's total, or JSON with ``--json``."""
    since_ms = _parse_since(since)
    bot_id = _parse_bot(bot)
    venue, symbol = _parse_instrument(symbol, venue)

    async def query(journal: Journal) -> list[FundingRecord]:
        return await journal.funding_payments(symbol=symbol, venue=venue, since_ms=since_ms, limit=limit, bot_id=bot_id)

    _, payments = _with_journal(config, db, query)
    records = [_funding_record(r) for r in payments]
    if json_output:
        _print_json(records)
        return
    if not records:
        typer.echo("no funding payments")
        return
    typer.echo(_table(FUNDING_COLUMNS, [[r[c] for c in FUNDING_COLUMNS] for r in records]))
    for (instrument, asset), (total, count) in sorted(_funding_totals(payments).items()):
        typer.echo(f"{instrument}: {count} payments, {decimal_text(total)} {asset}")


@app.command("operator-actions", help="List the operator commands the bot executed (the audit log, oldest first).")
def operator_actions_command(
    config: ConfigOption = None,
    db: DbOption = None,
    since: SinceOption = None,
    limit: LimitOption = None,
    json_output: JsonOption = False,
    bot: BotOption = None,
) -> None:
    """Print who halted, resumed, flattened... when, and what came of it; JSON with ``--json``."""
    since_ms = _parse_since(since)
    bot_id = _parse_bot(bot)

    async def query(journal: Journal) -> list[OperatorActionRecord]:
        return await journal.operator_actions(bot_id=bot_id, since_ms=since_ms, limit=limit)

    _, actions = _with_journal(config, db, query)
    records = [
        {"time": _iso(a.ts_ms), "ts_ms": a.ts_ms, "bot_id": a.bot_id, "run_id": a.run_id, "who": a.who,
         "action": a.action, "instrument": a.instrument, "ok": a.ok, "detail": a.detail, "reason": a.reason}
        for a in actions
    ]  # fmt: skip
    if json_output:
        _print_json(records)
        return
    if not records:
        typer.echo("no operator actions")
        return
    rows = [[_cell(r[c]) for c in OPERATOR_ACTION_COLUMNS] for r in records]
    typer.echo(_table(OPERATOR_ACTION_COLUMNS, rows))


def _cell(value: object) -> str:
    """A table cell: ``None`` empty, booleans ``true``/``false``, anything else its text."""
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _funding_totals(payments: Sequence[FundingRecord]) -> dict[tuple[str, str], tuple[Decimal, int]]:
    """Return the sum and count of the payments per ``(venue:symbol, asset)``."""
    from decimal import Decimal

    totals: dict[tuple[str, str], tuple[Decimal, int]] = {}
    for record in payments:
        key = (f"{record.venue}:{record.payment.symbol}", record.asset)
        total, count = totals.get(key, (Decimal(0), 0))
        totals[key] = (total + record.payment.amount, count + 1)
    return totals


def _check_csv_path(path: Path) -> None:
    """Exit 2 with one line when ``--csv`` names something that cannot become a CSV file."""
    import os

    parent = path.parent
    try:
        is_dir, parent_is_dir = path.is_dir(), parent.is_dir()
        writable = os.access(parent, os.W_OK | os.X_OK) and (not path.exists() or os.access(path, os.W_OK))
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise fail(f"--csv: cannot use {str(path)!r}: {reason}") from None
    if is_dir:
        raise fail(f"--csv: {path} is a directory; give a file name, e.g. {path / 'trades.csv'}")
    if not parent_is_dir:
        raise fail(f"--csv: the directory of {path} does not exist (or is a file); create it or give another path")
    if not writable:
        raise fail(f"--csv: permission denied: cannot write {path}; give a path this user may write")
    from trading_bot.files import output_path_problem

    problem = output_path_problem(path, directory=False)  # a FIFO: writing to it would wait for a reader
    if problem is not None:
        raise fail(f"--csv: {problem}")


def _write_csv(path: Path, records: Sequence[dict[str, Any]]) -> None:
    """Write the trade log ``0600``: exit 2 when ``path`` cannot be a file there, 1 when writing fails."""
    import csv

    from trading_bot.files import open_private
    from trading_bot.files import output_path_problem

    problem = output_path_problem(path, directory=False)
    if problem is not None:
        raise fail(f"--csv: {problem}")
    try:
        with open_private(path, newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=TRADE_LOG_COLUMNS)
            writer.writeheader()
            writer.writerows(records)
    except OSError as exc:
        raise fail(f"--csv: cannot write {path}: {exc.strerror or exc}", EXIT_FAILURE) from None


@app.command("status", help="Show the last run, the open orders, and each instrument's position and PnL.")
def status_command(
    config: ConfigOption = None,
    db: DbOption = None,
    json_output: JsonOption = False,
    bot: BotOption = None,
    symbol: SymbolOption = None,
    venue: VenueOption = None,
) -> None:
    """Print the bot's state as the journal records it (no exchange is asked): one position per instrument
    (``venue:symbol``); ``--bot``, ``--venue`` and ``--symbol`` narrow it."""
    bot_id = _parse_bot(bot)
    venue, symbol = _parse_instrument(symbol, venue)

    async def query(journal: Journal) -> dict[str, Any]:
        run = await journal.last_run(bot_id)
        return {
            "last_run": None if run is None else _run_json(run),
            "open_orders": await journal.open_orders_by_venue(bot_id=bot_id, symbol=symbol, venue=venue),
            "positions": _positions(
                await journal.fills_by_venue(bot_id=bot_id, symbol=symbol, venue=venue),
                await journal.funding_payments(bot_id=bot_id, symbol=symbol, venue=venue),
            ),
        }

    shown, state = _with_journal(config, db, query)
    open_orders: list[tuple[str, Order]] = state["open_orders"]
    if json_output:
        _print_json(
            {
                "journal": shown,
                "last_run": state["last_run"],
                "open_orders": [_order_json(v, o) for v, o in open_orders],
                "positions": state["positions"],
            }
        )
        return
    typer.echo(f"journal      {shown}")
    typer.echo(f"last run     {_describe_run(state['last_run'])}")
    typer.echo(f"open orders  {len(open_orders)}")
    if open_orders:
        typer.echo(_indent(_orders_table(open_orders)))
    positions: list[dict[str, Any]] = state["positions"]
    if not positions:
        typer.echo("positions    none (no fills)")
        return
    typer.echo("positions")
    headers = ["instrument", "quantity", "avg_entry", "realized_pnl", "fees", "funding", "net_pnl", "currency"]
    keys = ["instrument", "quantity", "average_entry", "realized_pnl", "fees", "funding", "net_pnl", "currency"]
    headers, keys = [*headers, "fills"], [*keys, "fills"]
    rows = [[str(p[key]) for key in keys] for p in positions]
    typer.echo(_indent(_table(headers, rows)))


@app.command(
    "migrate-journal", help="Bring a journal of an older schema up to date, keeping every row (the bot does at start)."
)
def migrate_journal_command(config: ConfigOption = None, db: DbOption = None, venue: VenueOption = None) -> None:
    """Migrate the journal (``--db``, else ``--config``'s) to the current schema; print what was done.

    The rows of a journal older than venues get ``--venue``, else the venue of ``--config``'s bot (what the
    bot would give them at its start). The bot's lock is taken: a running bot is never migrated under.
    Exit 2 when there is nothing to name the venue by, the journal is another bot's or not a journal.
    """
    import asyncio

    from trading_bot.errors import ConfigError
    from trading_bot.errors import TradingBotError
    from trading_bot.log import configure_logging
    from trading_bot.runtime.journal.store import Journal

    configure_logging("warning", "console")
    venue, _ = _parse_instrument(None, venue)
    bot_id = "migrate_journal"
    if config is not None:
        from trading_bot.config import load_config
        from trading_bot.runtime.builder import journal_venue

        try:
            cfg, _ = load_config(config).select_venue()
        except ConfigError as exc:
            raise fail(str(exc)) from None
        venue = venue or journal_venue(cfg)
        bot_id = cfg.bot.bot_id
    elif db is None:
        raise fail("migrate-journal: give --config FILE (the bot's config), or --db URL with --venue NAME")
    url = _db_url(config, db)

    async def run() -> tuple[str, list[int], int, int]:
        journal = await Journal.open(url, lock_as=bot_id, venue=venue)
        try:
            orders, fills = await journal.orders(), await journal.fills()
            return journal.location.shown, journal.migrated, len(orders), len(fills)
        finally:
            await journal.close()

    try:
        shown, applied, orders, fills = asyncio.run(run())
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except TradingBotError as exc:
        raise fail(str(exc), EXIT_FAILURE) from None
    if not applied:
        typer.echo(f"journal {shown} is up to date ({orders} orders, {fills} fills)")
        return
    steps = ", ".join(str(v) for v in applied)
    typer.echo(f"journal {shown}: applied schema version {steps} (venue {venue}); {orders} orders, {fills} fills")


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _run_json(run: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "bot_id": run.bot_id,
        "config_hash": run.config_hash,
        "started_ms": run.started_ms,
        "started": _iso(run.started_ms),
        "stopped_ms": run.stopped_ms,
        "stopped": _iso(run.stopped_ms) or None,
        "exit_reason": run.exit_reason,
        "exit_code": run.exit_code,
    }


def _describe_run(run: dict[str, Any] | None) -> str:
    if run is None:
        return "none (the bot has not run with this journal)"
    head = f"#{run['id']} bot {run['bot_id']}, started {run['started']}"
    if run["stopped_ms"] is None:
        return f"{head}, still running or ended without a clean stop (crash, kill -9, power loss)"
    return f"{head}, stopped {run['stopped']} (exit {run['exit_code']}: {run['exit_reason']})"


def _positions(fills: Sequence[tuple[str, Fill]], funding: Sequence[FundingRecord] = ()) -> list[dict[str, Any]]:
    """Return one position per instrument (venue, symbol), built from its fills in order (``Position``), with a
    perpetual swap's funding (``funding``: the sum of its payments, in the settle currency; in ``net_pnl``).

    The average entry and the realized PnL come from an average-cost division (``Position.apply``), so
    they carry up to 28 significant digits (``0.09782000000000000000000004``). They are shown rounded to
    the finest amount the symbol's fills can express exactly: price decimals + quantity decimals (a
    realized PnL of fills never needs more). Quantities and fees are sums of fills: shown exactly.
    """
    from decimal import Decimal

    from trading_bot.domain import Position

    positions: dict[tuple[str, str], Position] = {}
    places: dict[tuple[str, str], int] = {}
    for venue, fill in fills:
        key = (venue, fill.symbol)
        position = positions.get(key)
        if position is None:
            quote = fill.symbol.partition("/")[2].partition(":")[0]
            position = positions[key] = Position(symbol=fill.symbol, quote_currency=quote)
        position.apply(fill)
        places[key] = max(places.get(key, 0), _places(fill.price) + _places(fill.quantity))
    paid: dict[tuple[str, str], tuple[Decimal, int]] = {}
    for record in funding:
        where = (record.venue, record.payment.symbol)
        if where in positions:  # funding is paid on a position: an instrument without fills has none of the bot's
            total, count = paid.get(where, (Decimal(0), 0))
            paid[where] = (total + record.payment.amount, count + 1)
    rows = []
    for (venue, symbol), p in sorted(positions.items()):
        digits = places[(venue, symbol)]
        realized = _rounded(p.realized_pnl, digits)
        funded, payments = paid.get((venue, symbol), (Decimal(0), 0))
        rows.append(
            {
                "instrument": f"{venue}:{symbol}",
                "venue": venue,
                "symbol": symbol,
                "quantity": decimal_text(p.quantity),
                "average_entry": decimal_text(_rounded(p.average_price, digits)),
                "realized_pnl": decimal_text(realized),
                "fees": decimal_text(p.fees),
                "funding": decimal_text(funded),
                "funding_payments": payments,
                "net_pnl": decimal_text(realized - p.fees + funded),
                "currency": p.quote_currency,
                "fills": p.fill_count,
            }
        )
    return rows


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _rounded(value: Decimal, places: int) -> Decimal:
    from decimal import Context
    from decimal import Decimal

    return value.quantize(Decimal(1).scaleb(-places), context=Context(prec=100))
