"""Cross-check of a perpetual swap's position: the bot's fills against the venue's report.

The bot's position of a swap is the sum of its own fills (``Portfolio.position``, rebuilt from the journal
at start); the venue reports its one-way position (``fetch_positions``: signed base units; no report for
the symbol = flat). They must agree to within one lot step (``Market.amount_increment``). When they do
not, something traded or closed the position behind the bot's back (another client on the account, a fill
the bot never saw, a liquidation it missed): ``position_mismatch`` is logged as an alert with both figures
and trading goes to REDUCING (only orders that reduce the position leave) unless it is already as strict
or stricter. The bot's position is never overwritten: an operator decides which side is wrong. Spot
instruments are skipped (a spot balance is shared with whatever else the account holds).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from exchanges.base import BaseExchangeClient
from risk.manager import RiskManager
from trading_bot.domain import ZERO
from trading_bot.domain import TradingState
from trading_bot.log import get_logger
from trading_bot.runtime.portfolio import Portfolio

__all__ = ["POSITION_MISMATCH", "PositionCheck", "check_position"]

_log = get_logger(__name__)

POSITION_MISMATCH = "position_mismatch"
"""The log event (and the start of the trading-state reason) of a position the venue reports otherwise."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionCheck:
    """One cross-check: the bot's and the venue's signed position (base units) and whether they agree."""

    instrument: str
    bot: Decimal
    venue: Decimal
    agrees: bool


async def check_position(
    *,
    client: BaseExchangeClient,
    portfolio: Portfolio,
    risk: RiskManager,
    instrument: str,
    when: str,
    restrict: bool = True,
) -> PositionCheck | None:
    """Compare ``portfolio``'s position with ``client``'s report; on a mismatch go REDUCING (module docstring).

    Args:
        client: the instrument's venue.
        portfolio: the instrument's portfolio (its market says whether it is a swap).
        risk: the risk manager whose trading state a mismatch restricts.
        instrument: ``venue:symbol``, for the log.
        when: ``start`` or ``periodic``, for the log.
        restrict: False: a mismatch is only logged (``position_mismatch_unconfirmed``, a warning) and the
            trading state is left alone: the caller checks again shortly (a fill the venue counts may still
            be on its way to the bot).

    Returns:
        The check, or ``None`` for a spot instrument (not checked).

    Raises:
        ExchangeError: the venue could not be asked (the caller's error policy applies).
    """
    market = portfolio.market
    if not market.contract:
        return None
    symbol = market.symbol
    reports = [r for r in await client.fetch_positions([symbol]) if r.symbol == symbol]
    venue = sum((r.quantity for r in reports), ZERO)
    bot = portfolio.position.quantity
    agrees = abs(bot - venue) <= market.amount_increment
    if agrees:
        _log.debug("position_checked", instrument=instrument, position=str(bot), when=when)
        return PositionCheck(instrument=instrument, bot=bot, venue=venue, agrees=True)
    if not restrict:
        _log.warning(
            f"{POSITION_MISMATCH}_unconfirmed",
            instrument=instrument, bot_position=str(bot), venue_position=str(venue), when=when,
        )  # fmt: skip
        return PositionCheck(instrument=instrument, bot=bot, venue=venue, agrees=False)
    previous = risk.trading_state
    reason = (
        f"{POSITION_MISMATCH} on {instrument}: the bot's fills hold {bot}, the venue reports {venue} "
        f"(lot step {market.amount_increment}); only reducing orders until an operator reconciles it"
    )
    if TradingState.REDUCING.restriction > previous.restriction:
        risk.set_trading_state(TradingState.REDUCING, reason)
    _log.error(
        POSITION_MISMATCH,
        instrument=instrument, bot_position=str(bot), venue_position=str(venue), difference=str(venue - bot),
        lot_step=str(market.amount_increment), when=when, trading_state=risk.trading_state.value,
        previous=previous.value, alert=True,
    )  # fmt: skip
    return PositionCheck(instrument=instrument, bot=bot, venue=venue, agrees=False)
