"""The shutdown's exchange steps over every instrument: settle the open orders, cross-check the fills.

Each runs inside the supervisor's guarded shutdown step (``shutdown.run_step``) with its share of the one
deadline; a venue that does not answer only costs that step.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Literal

from trading_bot.domain import Fill
from trading_bot.log import get_logger
from trading_bot.runtime.slot import InstrumentSlot

__all__ = ["drain_fills", "settle_orders"]

_log = get_logger(__name__)


async def settle_orders(slots: Sequence[InstrumentSlot], on_shutdown: Literal["cancel", "keep"]) -> None:
    """Cancel every instrument's open orders (``cancel``), or log that they are kept (``keep``)."""
    for slot in slots:
        if not slot.tracker.open_count:
            continue
        if on_shutdown == "cancel":
            await slot.orders.cancel_all()
        else:
            _log.info("orders_kept", instrument=str(slot.instrument), open_orders=slot.tracker.open_count)


async def drain_fills(
    slots: Sequence[InstrumentSlot], since_ms: int, apply: Callable[[InstrumentSlot, Fill], None]
) -> None:
    """Apply the bot's fills each venue has since ``since_ms`` (epoch ms) but the user stream did not deliver.

    ``apply`` is the supervisor's update path (tracker, portfolio, journal, strategy); fills already seen
    are skipped by the tracker, so asking again is harmless.
    """
    for slot in slots:
        fills = await slot.venue.client.fetch_my_trades(slot.market.symbol, since_ms)
        tracker, recovered = slot.tracker, []
        for fill in fills:
            if tracker.is_ours(fill.client_order_id) and not tracker.seen_trade(fill.symbol, fill.trade_id):
                apply(slot, fill)
                if tracker.seen_trade(fill.symbol, fill.trade_id):
                    recovered.append(fill.trade_id)
        if recovered:
            _log.warning(
                "fills_recovered_at_shutdown",
                instrument=str(slot.instrument), count=len(recovered), trade_ids=recovered[:20],
            )  # fmt: skip
        else:
            _log.info("fills_cross_checked", instrument=str(slot.instrument), exchange_fills=len(fills))
