"""Bundled market snapshots: precision, limits and fees of an exchange's markets without a network call.

A snapshot is a JSON file ``exchanges/markets/<exchange>_spot.json`` (and ``<exchange>_swap.json`` for its
linear perpetuals) with an ``as_of`` date, a ``source`` note and one entry per unified symbol (``BTC/USDT``,
``BTC/USDT:USDT``; swaps carry settle, max_leverage, funding_interval_ms and margin_tiers). Numbers are
strings so they load as exact ``Decimal``. The paper exchange and the replay feed use it when no live
``load_markets`` is available.
"""

from __future__ import annotations

import json
from decimal import Decimal
from decimal import InvalidOperation
from importlib import resources
from typing import Any

from trading_bot.domain import MarginTier
from trading_bot.domain import Market
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError
from trading_bot.registry import did_you_mean

__all__ = ["SIMULATED", "SIMULATED_MARKETS", "available_snapshots", "load_market_snapshot"]

_PACKAGE = "exchanges"
_FOLDER = "markets"
_SUFFIX = "_spot.json"
_SWAP_SUFFIX = "_swap.json"


def available_snapshots() -> list[str]:
    """Return the exchange names that have a bundled snapshot, sorted."""
    folder = resources.files(_PACKAGE).joinpath(_FOLDER)
    return sorted(entry.name.removesuffix(_SUFFIX) for entry in folder.iterdir() if entry.name.endswith(_SUFFIX))


SIMULATED = ("paper", "replay")
"""Exchange names that are simulators, not venues; their market rules are Binance's (``SIMULATED_MARKETS``)."""
SIMULATED_MARKETS = "binance"
"""The snapshot a simulator name stands for."""


def load_market_snapshot(exchange: str = "binance") -> dict[Symbol, Market]:
    """Load the bundled market snapshot of ``exchange``: its spot markets and, when bundled, its linear swaps.

    Args:
        exchange: exchange id as ccxt names it (``binance``); a simulator name (``paper``, ``replay``)
            means ``SIMULATED_MARKETS``.

    Returns:
        Markets by unified symbol; prices in quote currency, amounts in base currency, fees as rates.

    Raises:
        ConfigError: no snapshot is bundled for ``exchange``, or the snapshot file is malformed.
    """
    if exchange in SIMULATED:
        exchange = SIMULATED_MARKETS
    resource = resources.files(_PACKAGE).joinpath(_FOLDER, f"{exchange}{_SUFFIX}")
    if not resource.is_file():
        known = available_snapshots()
        raise ConfigError(
            f"no bundled market snapshot for exchange {exchange!r}{did_you_mean(exchange, known)}; "
            f"known: {', '.join(known) or 'none'}"
        )
    markets: dict[Symbol, Market] = {}
    for suffix in (_SUFFIX, _SWAP_SUFFIX):
        file = resources.files(_PACKAGE).joinpath(_FOLDER, f"{exchange}{suffix}")
        if not file.is_file():
            continue
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
            markets.update({Symbol(s): _market(Symbol(s), entry) for s, entry in document["markets"].items()})
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise ConfigError(f"market snapshot {exchange}{suffix} is malformed: {exc!r}") from exc
    return markets


def _market(symbol: Symbol, entry: dict[str, Any]) -> Market:
    max_amount = entry.get("max_amount")
    return Market(
        symbol=symbol,
        base=str(entry["base"]),
        quote=str(entry["quote"]),
        price_increment=Decimal(entry["price_increment"]),
        amount_increment=Decimal(entry["amount_increment"]),
        min_amount=Decimal(entry.get("min_amount", "0")),
        min_notional=Decimal(entry.get("min_notional", "0")),
        max_amount=None if max_amount is None else Decimal(max_amount),
        maker_fee=Decimal(entry.get("maker_fee", "0.001")),
        taker_fee=Decimal(entry.get("taker_fee", "0.001")),
        contract=bool(entry.get("contract", False)),
        settle=None if entry.get("settle") is None else str(entry["settle"]),
        max_leverage=None if entry.get("max_leverage") is None else Decimal(entry["max_leverage"]),
        funding_interval_ms=None if entry.get("funding_interval_ms") is None else int(entry["funding_interval_ms"]),
        margin_tiers=tuple(
            MarginTier(
                floor=Decimal(t["floor"]),
                cap=Decimal(t["cap"]),
                max_leverage=Decimal(t["max_leverage"]),
                maintenance_rate=Decimal(t["maintenance_rate"]),
                maintenance_amount=Decimal(t.get("maintenance_amount", "0")),
            )
            for t in entry.get("margin_tiers", ())
        ),
    )
