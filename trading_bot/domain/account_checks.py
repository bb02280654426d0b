"""Plausibility of account answers from a venue: orders, fills, balances and market rules.

The account-side twin of ``trading_bot.domain.checks`` (market data), built from its field rules. Each
``*_problem`` function returns ``None`` for a plausible record, else the reason as a short phrase naming
the field (``price -1 must be > 0``); the ccxt adapter refuses the record (``BadExchangeResponse``, or
``bad_fill`` / ``bad_order_report`` / ``market_skipped`` in lists), so an impossible value from the venue
never becomes a domain object.

The rules (prices in quote currency, quantities in base currency, times in epoch milliseconds UTC; every
number is already a finite ``Decimal``: ``to_decimal`` refused NaN and infinities):

* **order report** — the time is plausible (``timestamp_problem``); ``quantity``, ``price`` and
  ``average_price`` are ``> 0`` when known; ``filled`` is ``>= 0`` and not above ``quantity``.
* **fill** — a plausible time, ``price`` and ``quantity`` ``> 0`` (``trade_problem``). A fee may be
  negative (a maker rebate).
* **balance** — ``free`` and ``locked`` ``>= 0``.
* **market rules** — the price and amount increments ``> 0``; the minimum amount and notional ``>= 0``;
  the maximum amount ``> 0`` when set.
"""

from __future__ import annotations

from decimal import Decimal

from trading_bot.domain.checks import price_problem
from trading_bot.domain.checks import size_problem
from trading_bot.domain.checks import timestamp_problem
from trading_bot.domain.checks import trade_problem

__all__ = ["balance_problem", "fill_problem", "market_rules_problem", "order_report_problem"]


def order_report_problem(
    ts_ms: int, quantity: Decimal | None, price: Decimal | None, filled: Decimal, average_price: Decimal | None
) -> str | None:
    """Return why an order report is impossible (see the module docstring), or ``None``."""
    problem = (
        timestamp_problem(ts_ms)
        or (price_problem("quantity", quantity) if quantity is not None else None)
        or (price_problem("price", price) if price is not None else None)
        or (price_problem("average", average_price) if average_price is not None else None)
        or size_problem("filled", filled)
    )
    if problem is None and quantity is not None and filled > quantity:
        return f"filled {filled} is above quantity {quantity}"
    return problem


def fill_problem(ts_ms: int, price: Decimal, quantity: Decimal) -> str | None:
    """Return why a fill of ours is impossible (see the module docstring), or ``None``."""
    return trade_problem(ts_ms, price, quantity)


def balance_problem(currency: str, free: Decimal, locked: Decimal) -> str | None:
    """Return why a balance is impossible (see the module docstring), or ``None``."""
    return size_problem(f"{currency}.free", free) or size_problem(f"{currency}.locked", locked)


def market_rules_problem(
    price_increment: Decimal,
    amount_increment: Decimal,
    min_amount: Decimal,
    min_notional: Decimal,
    max_amount: Decimal | None,
) -> str | None:
    """Return why a market's trading rules are impossible (see the module docstring), or ``None``."""
    return (
        price_problem("price_increment", price_increment)
        or price_problem("amount_increment", amount_increment)
        or size_problem("min_amount", min_amount)
        or size_problem("min_notional", min_notional)
        or (price_problem("max_amount", max_amount) if max_amount is not None else None)
    )
