"""Read-only views of the futures account in Binance USDⓈ-M shapes, every figure from ``MarginAccount``.

``GET /fapi/v2|v3/account`` and ``/fapi/v2|v3/balance`` (wallet, unrealized PnL, margins, available),
``GET /fapi/v2|v3/positionRisk`` (v3 as Binance sends it: no ``leverage`` or ``marginType``, only symbols
with a position or open orders; v2: every symbol, with both) and ``GET /fapi/v1/symbolConfig``. Money in
the settle currency; ``initialMargin`` = position margin + open-order margin, ``availableBalance`` =
``MarginAccount.free`` floored at 0, ``walletBalance`` = the margin account's wallet + the isolated
positions' margin (which ``MarginAccount`` holds apart), ``crossWalletBalance`` = the former alone.
"""

from __future__ import annotations

from decimal import Decimal

from trading_bot.domain import MarginMode
from trading_bot.emulator.futures.engine import FuturesEngine
from trading_bot.emulator.futures.market import PerpMarket
from trading_bot.emulator.futures.market import num

__all__ = ["account_view", "balance_view", "position_risk", "symbol_config"]

_ZERO = Decimal(0)


def _settle(m: PerpMarket) -> str:
    return m.rules.settle_currency


def _asset_row(engine: FuturesEngine, asset: str, now_ms: int) -> dict[str, object]:
    account = engine.account
    markets = [m for m in engine.markets.values() if _settle(m) == asset]
    upnl = sum((account.unrealized_pnl(m.rules.symbol) for m in markets), _ZERO)
    position_margin = sum((account.position_margin(m.rules.symbol) for m in markets), _ZERO)
    maint = sum((account.maintenance_margin(m.rules.symbol) for m in markets), _ZERO)
    isolated = engine.isolated_margin(asset)
    cross_upnl = sum((account.unrealized_pnl(m.rules.symbol) for m in markets
                      if account.margin_mode(m.rules.symbol) is MarginMode.CROSS), _ZERO)  # fmt: skip
    order_margin = account.locked(asset)
    cross_wallet = account.wallet_balance(asset)  # the margin account holds isolated margin outside it
    wallet = cross_wallet + isolated
    available = max(_ZERO, account.free(asset))
    return {
        "asset": asset,
        "walletBalance": num(wallet),
        "unrealizedProfit": num(upnl),
        "marginBalance": num(wallet + upnl),
        "maintMargin": num(maint),
        "initialMargin": num(position_margin + order_margin),
        "positionInitialMargin": num(position_margin),
        "openOrderInitialMargin": num(order_margin),
        "crossWalletBalance": num(cross_wallet),
        "crossUnPnl": num(cross_upnl),
        "availableBalance": num(available),
        "maxWithdrawAmount": num(min(available, wallet)),
        "updateTime": now_ms,
    }


def _assets(engine: FuturesEngine) -> list[str]:
    return sorted({_settle(m) for m in engine.markets.values()})


def account_view(engine: FuturesEngine, now_ms: int, *, version: int) -> dict[str, object]:
    """Return the ``GET /fapi/v{version}/account`` answer (2 or 3): totals, assets and positions."""
    rows = [_asset_row(engine, a, now_ms) for a in _assets(engine)]

    def total(key: str) -> str:
        return num(sum((Decimal(str(r[key])) for r in rows), _ZERO))

    positions = []
    for m in engine.markets.values():
        p = engine.account.position(m.rules.symbol)
        if version == 3 and p.quantity == 0:
            continue
        mark = m.mark
        row: dict[str, object] = {
            "symbol": m.market_id,
            "positionSide": "BOTH",
            "positionAmt": num(p.quantity),
            "unrealizedProfit": num(engine.account.unrealized_pnl(m.rules.symbol)),
            "isolatedMargin": num(_isolated(engine, m)),
            "notional": num(p.quantity * mark),
            "isolatedWallet": num(_isolated(engine, m)),
            "initialMargin": num(engine.account.position_margin(m.rules.symbol)),
            "maintMargin": num(engine.account.maintenance_margin(m.rules.symbol)),
            "updateTime": now_ms,
        }
        if version == 2:
            row.update({"leverage": str(engine.account.leverage(m.rules.symbol)), "entryPrice": num(p.entry_price),
                        "isolated": engine.account.margin_mode(m.rules.symbol) is MarginMode.ISOLATED,
                        "maxNotional": num(_max_notional(engine, m))})  # fmt: skip
        positions.append(row)
    body: dict[str, object] = {
        "totalInitialMargin": total("initialMargin"),
        "totalMaintMargin": total("maintMargin"),
        "totalWalletBalance": total("walletBalance"),
        "totalUnrealizedProfit": total("unrealizedProfit"),
        "totalMarginBalance": total("marginBalance"),
        "totalPositionInitialMargin": total("positionInitialMargin"),
        "totalOpenOrderInitialMargin": total("openOrderInitialMargin"),
        "totalCrossWalletBalance": total("crossWalletBalance"),
        "totalCrossUnPnl": total("crossUnPnl"),
        "availableBalance": total("availableBalance"),
        "maxWithdrawAmount": total("maxWithdrawAmount"),
        "assets": rows,
        "positions": positions,
    }
    if version == 2:
        body.update({"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True, "updateTime": 0,
                     "multiAssetsMargin": False, "tradeGroupId": -1})  # fmt: skip
    return body


def balance_view(engine: FuturesEngine, now_ms: int) -> list[dict[str, object]]:
    """Return the ``GET /fapi/v2|v3/balance`` rows."""
    out = []
    for asset in _assets(engine):
        row = _asset_row(engine, asset, now_ms)
        out.append({"accountAlias": "SgsR", "asset": asset, "balance": row["walletBalance"],
                    "crossWalletBalance": row["crossWalletBalance"], "crossUnPnl": row["crossUnPnl"],
                    "availableBalance": row["availableBalance"], "maxWithdrawAmount": row["maxWithdrawAmount"],
                    "marginAvailable": True, "updateTime": now_ms})  # fmt: skip
    return out


def _isolated(engine: FuturesEngine, m: PerpMarket) -> Decimal:
    symbol = m.rules.symbol
    if engine.account.margin_mode(symbol) is not MarginMode.ISOLATED:
        return _ZERO
    return engine.account.position_margin(symbol) + engine.account.unrealized_pnl(symbol)


def _max_notional(engine: FuturesEngine, m: PerpMarket) -> Decimal:
    leverage = engine.account.leverage(m.rules.symbol)
    return next((t.cap for t in m.rules.margin_tiers if t.max_leverage >= leverage), _ZERO)


def position_risk(
    engine: FuturesEngine, market_ids: list[str], now_ms: int, *, version: int
) -> list[dict[str, object]]:
    """Return the ``GET /fapi/v{version}/positionRisk`` rows (module docstring for the v2/v3 difference)."""
    out: list[dict[str, object]] = []
    account = engine.account
    for market_id in market_ids:
        m = engine.markets[market_id]
        symbol = m.rules.symbol
        p = account.position(symbol)
        if version == 3 and p.quantity == 0 and not engine.has_open_orders(market_id):
            continue
        liquidation = account.liquidation_price(m.rules) if p.quantity else None
        isolated = _isolated(engine, m)
        row: dict[str, object] = {
            "symbol": market_id,
            "positionSide": "BOTH",
            "positionAmt": num(p.quantity),
            "entryPrice": num(p.entry_price),
            "breakEvenPrice": num(p.entry_price),
            "markPrice": num(m.mark),
            "unRealizedProfit": num(account.unrealized_pnl(symbol)),
            "liquidationPrice": num(liquidation or _ZERO),
            "isolatedMargin": num(isolated),
            "notional": num(p.quantity * m.mark),
            "isolatedWallet": num(account.position_margin(symbol) if account.margin_mode(symbol) is MarginMode.ISOLATED
                                  else _ZERO),
            "updateTime": now_ms if p.quantity else 0,
        }  # fmt: skip
        if version == 3:
            row.update({"marginAsset": _settle(m), "initialMargin": num(account.position_margin(symbol)),
                        "maintMargin": num(account.maintenance_margin(symbol)),
                        "positionInitialMargin": num(account.position_margin(symbol)),
                        "openOrderInitialMargin": "0", "adl": 0, "bidNotional": "0", "askNotional": "0"})  # fmt: skip
        else:
            cross = account.margin_mode(symbol) is MarginMode.CROSS
            row.update({"leverage": str(account.leverage(symbol)), "maxNotionalValue": num(_max_notional(engine, m)),
                        "marginType": "cross" if cross else "isolated", "isAutoAddMargin": "false",
                        "isolated": not cross, "adlQuantile": 0})  # fmt: skip
        out.append(row)
    return out


def symbol_config(engine: FuturesEngine, market_ids: list[str]) -> list[dict[str, object]]:
    """Return the ``GET /fapi/v1/symbolConfig`` rows (what ccxt's ``fetch_leverages`` / margin modes read)."""
    out: list[dict[str, object]] = []
    for market_id in market_ids:
        m = engine.markets[market_id]
        cross = engine.account.margin_mode(m.rules.symbol) is MarginMode.CROSS
        out.append({"symbol": market_id, "marginType": "CROSSED" if cross else "ISOLATED", "isAutoAddMargin": False,
                    "leverage": engine.account.leverage(m.rules.symbol),
                    "maxNotionalValue": num(_max_notional(engine, m))})  # fmt: skip
    return out
