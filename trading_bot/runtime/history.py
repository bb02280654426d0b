"""Step 0 of reconciliation: a journal older than the exchange's history.

A journal can go back in time: emptied or deleted, restored from an older copy, rolled back by a stale
WAL, or a second journal used with the same bot id. Started on it, a bot would reuse client order ids the
exchange has already seen. The rule that detects it: the bot reserves client-order-id sequence numbers in
the journal (``JournalLink.next``, blocks of ``SEQUENCE_BLOCK``) before it uses them, so a healthy journal
has reserved every ``<bot_id>-<n>`` the exchange can know. Evidence of an id beyond the journal's reserved
sequence is looked for in the exchange's open orders, the account's newest trades (``fetch_my_trades``
without ``since``) and lookups of the ``_PROBES`` ids after the reserved sequence (an order placed and
cancelled unfilled leaves no trade; the first ids of a block may have been denied and never sent).

* Found, without ``adopt``: nothing is touched; ``ConfigError`` (exit 2: restarting cannot fix it) names
  the journal, the ids and the recovery: restore the newest journal, or start once with ``--adopt``.
* Found, with ``adopt``: every later block is probed too (a restarted bot starts a new block), the
  sequence moves one spare block past the last id found, and reconciliation takes in the exchange's open
  orders and recent fills of this bot; :func:`record_adoption` journals what was done (``adoptions``).

Ids of orders placed and cancelled unfilled beyond what the probes reach cannot be seen (the client
contract has no order history); the spare block keeps the new ids clear of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from exchanges.base import BaseExchangeClient
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError
from trading_bot.log import get_logger
from trading_bot.runtime.journal.store import SEQUENCE_BLOCK
from trading_bot.runtime.journal.store import Journal

__all__ = ["History", "check_history", "is_own_client_id", "record_adoption"]

_log = get_logger(__name__)

_PROBES = 3
_MAX_BLOCK_WALK = 1000


def is_own_client_id(client_order_id: str | None, bot_id: str) -> bool:
    """Return True when ``client_order_id`` is ``<bot_id>-<digits>`` (one of this bot's ids)."""
    if not client_order_id:
        return False
    prefix, sep, sequence = client_order_id.rpartition("-")
    return bool(sep) and prefix == bot_id and sequence.isdigit()


def _sequence_of(client_order_id: str | None, bot_id: str) -> int:
    """Return the sequence number of one of this bot's client ids, 0 for anything else."""
    if client_order_id is None or not is_own_client_id(client_order_id, bot_id):
        return 0
    return int(client_order_id.rpartition("-")[2])


@dataclass(frozen=True, slots=True, kw_only=True)
class History:
    """What step 0 found.

    Attributes:
        reserved: the journal's reserved sequence before the check.
        seen: the highest sequence of this bot the exchange showed (0: none).
        new_sequence: the reserved sequence after an adoption (``reserved`` when nothing was adopted).
        recent_fills: the account's newest trades in the symbol (fetched without ``since``).
    """

    reserved: int
    seen: int
    new_sequence: int
    recent_fills: tuple[Fill, ...] = ()

    @property
    def adopted(self) -> bool:
        """True when the journal was behind and ``adopt`` moved its sequence."""
        return self.new_sequence != self.reserved


async def check_history(
    *,
    exchange: BaseExchangeClient,
    journal: Journal,
    symbol: Symbol,
    bot_id: str,
    open_orders: Sequence[OrderStatusReport],
    adopt: bool,
) -> History:
    """Compare the journal's reserved sequence with the exchange's own ids of ``bot_id`` (module docstring).

    Args:
        exchange: the connected client.
        journal: the open journal.
        symbol: the traded market (the exchange is asked about it only).
        bot_id: this bot's id.
        open_orders: the exchange's open orders in ``symbol`` (already fetched by reconciliation).
        adopt: move the sequence past the exchange's ids instead of refusing.

    Raises:
        ConfigError: the journal is behind and ``adopt`` is off.
        ExchangeError: the exchange could not be asked.
    """
    reserved = await journal.reserved_sequence(bot_id)
    recent = tuple(await exchange.fetch_my_trades(symbol, None))
    ids = [r.client_order_id for r in open_orders] + [f.client_order_id for f in recent]
    seen = max((_sequence_of(coid, bot_id) for coid in ids), default=0)
    if seen <= reserved:
        seen = max(seen, await _probe(exchange, symbol, bot_id, reserved))
    if seen <= reserved:
        return History(reserved=reserved, seen=seen, new_sequence=reserved, recent_fills=recent)
    name = journal.location.name
    if not adopt:
        _log.error("journal_behind_exchange", journal=name, reserved=reserved, exchange_sequence=seen)
        raise ConfigError(
            f"journal {name} is older than the exchange's history: the exchange knows order {bot_id}-{seen}, the "
            f"journal reserved ids only up to {bot_id}-{reserved} (emptied, restored from an older copy, rolled "
            f"back, or another journal uses bot id {bot_id}); trading from it could reuse a client order id. "
            "Restore the newest journal, or start once with --adopt to take this bot's orders and fills from the "
            "exchange into it (README: 'A journal older than the exchange')"
        )
    last = seen
    for _ in range(_MAX_BLOCK_WALK):  # a restarted bot starts a new block: look at the start of each next one
        block_end = reserved + -(-(last - reserved) // SEQUENCE_BLOCK) * SEQUENCE_BLOCK
        found = await _probe(exchange, symbol, bot_id, block_end)
        if not found:
            break
        last = found
    new = await journal.advance_sequence(bot_id, last + SEQUENCE_BLOCK)
    _log.warning("journal_history_adopted", journal=name, reserved=reserved, exchange_sequence=last, new_sequence=new)
    return History(reserved=reserved, seen=last, new_sequence=new, recent_fills=recent)


async def _probe(exchange: BaseExchangeClient, symbol: Symbol, bot_id: str, after: int) -> int:
    """Return the first of the ``_PROBES`` ids after sequence ``after`` that the exchange knows, else 0."""
    for seq in range(after + 1, after + 1 + _PROBES):
        if await exchange.fetch_order(symbol, ClientOrderId(f"{bot_id}-{seq}")) is not None:
            return seq
    return 0


async def record_adoption(
    history: History,
    journal: Journal,
    *,
    bot_id: str,
    symbol: Symbol,
    now_ms: int,
    orders: Sequence[str],
    fills: Sequence[str],
    venue: str | None = None,
) -> None:
    """Journal one adoption on ``venue`` (``None``: the journal's): the sequences before and after, the orders
    and trade ids taken in."""
    last = await journal.last_run()
    await journal.record_adoption(
        ts_ms=now_ms,
        run_id=None if last is None else last.id,
        bot_id=bot_id,
        venue=venue or journal.venue,
        symbol=symbol,
        journal_sequence=history.reserved,
        exchange_sequence=history.seen,
        new_sequence=history.new_sequence,
        orders=",".join(orders),
        fills=",".join(fills),
    )
