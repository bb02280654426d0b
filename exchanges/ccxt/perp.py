"""Perpetual swaps through ccxt: leverage and margin mode at connect, positions and funding for cross-checks.

``PerpDesk.configure`` runs once per swap symbol at start (the supervisor's ``_configure_swaps``):

1. the account's position mode is read (``fetch_position_mode``) and **hedge (dual-side) mode is refused**
   with one line: the bot keeps one signed net position per symbol, and a hedge-mode account would book
   a take-profit sell as a new short;
2. the margin mode is set (``set_margin_mode``); "no need to change" (Binance -4046, ccxt
   ``MarginModeAlreadySet``) is success, so a restart is idempotent;
3. the leverage is set (``set_leverage``; Binance answers the same way when it is already so);
4. the maintenance-margin brackets are loaded (``fetch_leverage_tiers``) into the session's market, so
   the risk rules and the liquidation estimate use the venue's own tiers.

A venue that cannot set leverage refuses a leverage above 1 (``ConfigError``): trading at a leverage the
venue did not confirm would misstate every margin figure. Positions (``fetch_positions``) and funding
payments (``fetch_funding_history``: Binance's income history, ``FUNDING_FEE`` rows with their ``tranId``)
are parsed into ``PositionReport`` and ``FundingPayment``; the venue's history gives the amount and the
time of a payment, not its rate or mark, so those are recorded as 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from exchanges.ccxt.client import CcxtSession
from exchanges.ccxt.parse import dec
from exchanges.ccxt.parse import opt_dec
from exchanges.ccxt.retry import retry_transient
from exchanges.config import ExchangeConfig
from trading_bot.domain import ZERO
from trading_bot.domain import Market
from trading_bot.domain import Symbol
from trading_bot.domain.derivatives import FundingPayment
from trading_bot.domain.derivatives import MarginMode
from trading_bot.domain.derivatives import PositionReport
from trading_bot.domain.market import MarginTier
from trading_bot.errors import BadExchangeResponse
from trading_bot.errors import ConfigError
from trading_bot.errors import OrderRejected
from trading_bot.log import get_logger

__all__ = ["PerpDesk", "to_funding_payment", "to_margin_tiers", "to_position_report"]

_log = get_logger(__name__)

_NO_CHANGE_TEXTS = ("no need to change", "already")


class PerpDesk:
    """The perpetual-swap calls of one ccxt account.

    Args:
        session: the account's ccxt session (markets, the one way to call ccxt).
        config: the venue's config (``leverage`` and ``margin_mode`` applied to every swap symbol).
    """

    def __init__(self, session: CcxtSession, config: ExchangeConfig) -> None:
        self._session = session
        self._config = config
        self._mode_checked = False

    def terms(self, symbol: Symbol) -> tuple[int, MarginMode]:
        """Return the configured leverage and margin mode of ``symbol``; spot markets: ``(1, cross)``."""
        market = self._session.markets.get(symbol)
        if market is not None and not market.contract:
            return 1, MarginMode.CROSS
        return int(self._config.leverage), MarginMode(self._config.margin_mode)

    async def configure(self, symbol: Symbol, leverage: int, margin_mode: MarginMode) -> None:
        """Refuse hedge mode, set ``symbol``'s margin mode and leverage, load its margin tiers.

        Raises:
            ConfigError: hedge mode, a leverage the venue cannot set, or the venue refused the values.
        """
        session = self._session
        await session.load_markets()
        market = session.market(symbol)
        if not market.contract:
            return
        client = session.client
        has = client.has
        if not self._mode_checked and has.get("fetchPositionMode"):
            answer = await session.call(session.ctx("fetch_position_mode", symbol), client.fetch_position_mode, symbol)
            if answer.get("hedged"):
                raise ConfigError(
                    f"{session.name}: the account is in hedge (dual-side) position mode; the bot trades one-way "
                    "positions only: switch the account to one-way mode on the venue and start again"
                )
            self._mode_checked = True
        if has.get("setMarginMode"):
            await self._set(session.ctx("set_margin_mode", symbol), client.set_margin_mode, margin_mode.value, symbol)
        elif margin_mode is not MarginMode.CROSS:
            raise ConfigError(f"exchange.margin_mode: {session.name} cannot set the margin mode; use cross")
        if has.get("setLeverage"):
            await self._set(session.ctx("set_leverage", symbol), client.set_leverage, leverage, symbol)
        elif leverage != 1:
            raise ConfigError(f"exchange.leverage: {session.name} cannot set leverage; use 1")
        if has.get("fetchLeverageTiers"):
            session.markets[symbol] = await self._with_tiers(market)
        _log.info("perp_configured", exchange=session.name, symbol=symbol, leverage=leverage,
                  margin_mode=margin_mode.value)  # fmt: skip

    async def _set(self, ctx: Any, fn: Any, *args: Any) -> None:
        """Call one setter; the venue's "already so" answer is success, any other refusal a ``ConfigError``."""
        import ccxt  # lazy, as everywhere in this package

        try:
            await self._session.call(ctx, self._already_so(fn, ccxt), *args)
        except OrderRejected as e:  # ccxt's OperationRejected/BadRequest, translated
            raise ConfigError(f"{ctx.action}: {self._session.name} refused {args[0]!r} for {args[1]}: {e}") from e

    @staticmethod
    def _already_so(fn: Any, ccxt: Any) -> Any:
        async def call(*args: Any) -> Any:
            try:
                return await fn(*args)
            except (ccxt.MarginModeAlreadySet, ccxt.NoChange):
                return None
            except ccxt.ExchangeError as e:
                if any(text in str(e).lower() for text in _NO_CHANGE_TEXTS):
                    return None
                raise

        return call

    async def _with_tiers(self, market: Market) -> Market:
        session = self._session
        raw = await session.call(
            session.ctx("fetch_leverage_tiers", market.symbol), session.client.fetch_leverage_tiers, [market.symbol]
        )
        tiers = to_margin_tiers(raw.get(market.symbol) or ())
        if not tiers:
            return market
        return replace(market, margin_tiers=tiers, max_leverage=max(t.max_leverage for t in tiers))

    @retry_transient()
    async def fetch_positions(self, symbols: Sequence[Symbol]) -> list[PositionReport]:
        """Return the venue's one-way positions in the swap ``symbols`` (flat ones omitted)."""
        session = self._session
        await session.load_markets()
        swaps = [s for s in symbols if session.market(s).contract]
        if not swaps:
            return []
        raw = await session.call(session.ctx("fetch_positions"), session.client.fetch_positions, swaps)
        now = session.now_ms()
        reports = [to_position_report(p, now) for p in raw if p.get("symbol") in swaps]
        return [r for r in reports if r.quantity != 0]

    @retry_transient()
    async def fetch_funding_payments(self, symbol: Symbol, since_ms: int | None = None) -> list[FundingPayment]:
        """Return ``symbol``'s funding payments at or after ``since_ms`` (epoch ms), oldest first, by venue id."""
        session = self._session
        await session.load_markets()
        if not session.market(symbol).contract or not session.client.has.get("fetchFundingHistory"):
            return []
        raw = await session.call(
            session.ctx("fetch_funding_history", symbol), session.client.fetch_funding_history, symbol, since_ms
        )
        payments = [to_funding_payment(p, symbol) for p in raw]
        if since_ms is not None:
            payments = [p for p in payments if p.ts_ms >= since_ms]
        return sorted(payments, key=lambda p: (p.ts_ms, p.id))


def to_position_report(p: Mapping[str, Any], now_ms: int) -> PositionReport:
    """Return the report of one ccxt position dict (one-way: ``side`` long/short, ``contracts`` >= 0).

    Raises:
        BadExchangeResponse: a figure is not a number, or the position names hedge-mode sides.
    """
    contracts = opt_dec(p.get("contracts"), "contracts") or ZERO
    size = opt_dec(p.get("contractSize"), "contractSize") or Decimal(1)
    side = str(p.get("side") or "").lower()
    if side not in ("long", "short", ""):
        raise BadExchangeResponse(f"position {p.get('symbol')}: unknown side {side!r}")
    quantity = contracts * size * (-1 if side == "short" else 1)
    mode = str(p.get("marginMode") or "").lower()
    ts = p.get("timestamp")
    return PositionReport(
        symbol=str(p["symbol"]),
        quantity=quantity,
        entry_price=opt_dec(p.get("entryPrice"), "entryPrice") or ZERO,
        ts_ms=int(ts) if isinstance(ts, int | float) and ts > 0 else now_ms,
        mark_price=opt_dec(p.get("markPrice"), "markPrice"),
        unrealized_pnl=opt_dec(p.get("unrealizedPnl"), "unrealizedPnl") or ZERO,
        leverage=opt_dec(p.get("leverage"), "leverage"),
        margin_mode=MarginMode(mode) if mode in ("cross", "isolated") else None,
        liquidation_price=opt_dec(p.get("liquidationPrice"), "liquidationPrice") or None,
    )


def to_funding_payment(p: Mapping[str, Any], symbol: Symbol) -> FundingPayment:
    """Return one funding payment of a ccxt ``fetch_funding_history`` row (amount + received, - paid).

    Raises:
        BadExchangeResponse: no id or time, or an amount that is not a number.
    """
    ident, ts = p.get("id"), p.get("timestamp")
    if not ident or not isinstance(ts, int | float):
        raise BadExchangeResponse(f"funding payment of {symbol}: no id or timestamp in {dict(p)!r}")
    return FundingPayment(
        id=str(ident), symbol=symbol, ts_ms=int(ts), rate=ZERO, mark_price=ZERO, quantity=ZERO,
        amount=dec(p.get("amount"), "amount"),
    )  # fmt: skip


def to_margin_tiers(rows: Sequence[Mapping[str, Any]]) -> tuple[MarginTier, ...]:
    """Return the maintenance-margin brackets of ccxt ``fetch_leverage_tiers`` rows, ascending by floor.

    Raises:
        BadExchangeResponse: a figure is not a number.
    """
    tiers = [
        MarginTier(
            floor=dec(r.get("minNotional"), "minNotional"),
            cap=dec(r.get("maxNotional"), "maxNotional"),
            max_leverage=dec(r.get("maxLeverage"), "maxLeverage"),
            maintenance_rate=dec(r.get("maintenanceMarginRate"), "maintenanceMarginRate"),
            maintenance_amount=opt_dec((r.get("info") or {}).get("cum"), "info.cum") or ZERO,
        )
        for r in rows
    ]
    return tuple(sorted(tiers, key=lambda t: t.floor))
