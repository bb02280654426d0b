"""A perpetual swap's funding payments at start: restored from the journal, then caught up from the venue.

Step f of ``reconcile``. The portfolio's funding total and payment count are rebuilt from the journaled
payments of the instrument (as its position is from its fills). Then the venue is asked for the payments
since the latest journaled one (or, with none journaled, since the bot's first fill of the instrument: no
position, no funding): those the journal does not have (settled while the bot was down) are recorded and
added. A payment is known by its venue id (``FundingPayment.id``), so asking again records nothing.
Spot instruments are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from exchanges.base import BaseExchangeClient
from trading_bot.domain import Fill
from trading_bot.log import get_logger
from trading_bot.runtime.journal.store import Journal
from trading_bot.runtime.portfolio import Portfolio

__all__ = ["FundingSync", "sync_funding"]

_log = get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingSync:
    """What the funding step did: payments restored from the journal, ids of those caught up from the venue."""

    restored: int = 0
    caught_up: tuple[str, ...] = ()


async def sync_funding(
    *,
    exchange: BaseExchangeClient,
    journal: Journal,
    portfolio: Portfolio,
    own_fills: Sequence[Fill],
    now_ms: int,
    venue: str | None = None,
    run_id: int | None = None,
) -> FundingSync:
    """Restore ``portfolio``'s funding from ``journal`` and record what the venue paid since (module docstring).

    Args:
        exchange: the venue's connected client (``fetch_funding_payments``).
        journal: the open journal.
        portfolio: the instrument's portfolio (its market says whether it is a swap).
        own_fills: the bot's journaled fills of the instrument (the first one bounds the catch-up).
        now_ms: the clock's time (epoch ms), the ``recorded_ms`` of caught-up payments.
        venue: the venue's name (``None``: read every venue, write the journal's).
        run_id: the run recording the caught-up payments.

    Raises:
        ExchangeError: the venue could not be asked; do not start trading.
    """
    market = portfolio.market
    if not market.contract:
        return FundingSync()
    symbol = market.symbol
    journaled = await journal.funding_payments(symbol=symbol, venue=venue)
    portfolio.restore_funding(record.payment for record in journaled)
    since = journaled[-1].payment.ts_ms if journaled else min((f.ts_ms for f in own_fills), default=None)
    if since is None:
        return FundingSync()  # the bot never held this swap: nothing can have been paid on its position
    asset = market.settle_currency
    caught_up: list[str] = []
    for payment in await exchange.fetch_funding_payments(symbol, since_ms=since):
        if payment.symbol != symbol or portfolio.has_funding(payment.id):
            continue
        await journal.record_funding(payment, now_ms, asset=asset, venue=venue, run_id=run_id)
        portfolio.apply_funding(payment)
        caught_up.append(payment.id)
    log = _log.warning if caught_up else _log.info
    log(
        "funding_caught_up",
        symbol=symbol, venue=venue, count=len(caught_up), since_ms=since, restored=len(journaled),
        funding=str(portfolio.funding), payments=portfolio.funding_payments, ids=caught_up[:20],
    )  # fmt: skip
    return FundingSync(restored=len(journaled), caught_up=tuple(caught_up))
