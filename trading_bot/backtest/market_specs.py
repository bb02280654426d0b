"""Market specs for any data: a market's tick, lot step and minimums given on the command line or in a file.

A backtest of a symbol the bundled snapshot does not know (``GOOG/USD``) needs its rules: ``--tick-size``
(quote currency per base unit), ``--lot-step`` (base units; ``1`` = whole shares), optionally
``--min-notional`` (quote currency) and ``--min-amount`` (base units), or ``--markets FILE``, a JSON object of
several markets::

    {
      "GOOG/USD": {"tick_size": "0.01", "lot_step": "1", "min_notional": "0", "min_amount": "1"},
      "ETH/USDT": {"lot_step": "0.001"}
    }

A symbol that is not bundled and carries a settle currency (``GOOG/USD:USD``) is a linear perpetual swap
(contract size 1, settled in that currency, no leverage cap below the simulator's 125): it also needs
``maintenance_rate`` (``--maintenance-rate``), the maintenance margin rate of its one margin tier (``0`` =
liquidated only when the margin balance is gone); spot markets and bundled swaps (which carry their
venue's tiers) refuse it.

Numbers are strings (or JSON numbers, read through their text) so they load as exact ``Decimal``. A spec
for a bundled symbol overrides only the fields it gives; a symbol that is not bundled needs ``tick_size``
and ``lot_step``. Keys other than the five above are refused. Flags win over the file's entry for the
same symbol. Values must be finite; tick size and lot step > 0, minimums >= 0.

Imported inside commands only: it imports pydantic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import ValidationError

from exchanges.recorded import market_of
from trading_bot.domain import MarginTier
from trading_bot.domain import Market
from trading_bot.domain import Symbol
from trading_bot.domain.bounds import BalanceAmount
from trading_bot.domain.bounds import BaseAmount
from trading_bot.domain.bounds import FeeRate
from trading_bot.domain.bounds import PriceLevel
from trading_bot.errors import ConfigError

__all__ = [
    "MarketSpec",
    "apply_market_spec",
    "apply_market_specs",
    "load_market_specs",
    "market_from_spec",
    "merge_specs",
    "missing_spec_message",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketSpec:
    """Rules of one market given by the user; ``None`` = keep the bundled value.

    Attributes:
        tick_size: price increment, quote currency per base unit.
        lot_step: amount increment, base units.
        min_notional: smallest order value, quote currency.
        min_amount: smallest order amount, base units.
        maintenance_rate: a custom swap's maintenance margin rate (fraction of the position notional).
    """

    tick_size: Decimal | None = None
    lot_step: Decimal | None = None
    min_notional: Decimal | None = None
    min_amount: Decimal | None = None
    maintenance_rate: Decimal | None = None

    @property
    def complete(self) -> bool:
        """True when it gives enough to define a market without a snapshot (tick size and lot step)."""
        return self.tick_size is not None and self.lot_step is not None


class _SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tick_size: PriceLevel | None = None
    lot_step: BaseAmount | None = None
    min_notional: BalanceAmount | None = None
    min_amount: BalanceAmount | None = None
    maintenance_rate: FeeRate | None = None


def load_market_specs(path: Path) -> dict[str, MarketSpec]:
    """Read a ``--markets`` JSON file (see the module docstring): symbol -> spec.

    Raises:
        ConfigError: one line naming the file, the symbol and field, and the problem.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"), parse_float=str, parse_int=str)
    except OSError as exc:
        raise ConfigError(f"--markets: cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"--markets: {path} is not JSON: {exc}") from None
    if not isinstance(document, dict) or not document:
        raise ConfigError(f'--markets: {path} must be a JSON object {{"BASE/QUOTE": {{"tick_size": "0.01", ...}}}}')
    specs: dict[str, MarketSpec] = {}
    for symbol, entry in document.items():
        if "/" not in symbol:
            raise ConfigError(f"--markets: {path}: key {symbol!r} is not a BASE/QUOTE symbol such as GOOG/USD")
        specs[symbol] = _spec(f"--markets {path}: {symbol}", entry)
    return specs


def _spec(where: str, entry: object) -> MarketSpec:
    if not isinstance(entry, dict):
        raise ConfigError(
            f"{where}: expected an object with tick_size, lot_step, min_notional, min_amount, maintenance_rate"
        )
    try:
        model = _SpecModel.model_validate(entry)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        name = ".".join(str(part) for part in error["loc"])
        problem = str(error["msg"]).replace("Input should be", "must be")
        raise ConfigError(f"{where}.{name}: {problem}, got {error.get('input')!r}") from None
    return MarketSpec(**model.model_dump())


def merge_specs(base: MarketSpec | None, flags: MarketSpec) -> MarketSpec:
    """Return ``base`` (a file's entry) with every field ``flags`` gives replaced (flags win)."""
    if base is None:
        return flags
    given = {name: getattr(flags, name) for name in MarketSpec.__slots__ if getattr(flags, name) is not None}
    return replace(base, **given)


def apply_market_spec(market: Market, spec: MarketSpec) -> Market:
    """Return ``market`` (a bundled one) with the fields ``spec`` gives replaced.

    Raises:
        ConfigError: ``spec`` gives a maintenance rate (a bundled swap carries its venue's margin tiers).
    """
    if spec.maintenance_rate is not None:
        raise ConfigError(
            f"--maintenance-rate (maintenance_rate): {market.symbol} is bundled"
            f"{' with its venue margin tiers' if market.contract else ' and spot'}; it is for a custom swap"
        )
    return replace(
        market,
        price_increment=market.price_increment if spec.tick_size is None else spec.tick_size,
        amount_increment=market.amount_increment if spec.lot_step is None else spec.lot_step,
        min_notional=market.min_notional if spec.min_notional is None else spec.min_notional,
        min_amount=market.min_amount if spec.min_amount is None else spec.min_amount,
    )


def apply_market_specs(
    specs: Mapping[str, MarketSpec], snapshot: Mapping[Symbol, Market], fee: Decimal
) -> dict[Symbol, Market]:
    """Return the market of every spec'd symbol: the snapshot's with the spec applied, else the spec's own.

    ``fee`` is the maker and taker rate of a market the snapshot does not have (a bundled one keeps its fees).

    Raises:
        ConfigError: a symbol the snapshot lacks whose spec has no tick size or lot step.
    """
    markets: dict[Symbol, Market] = {}
    for text, spec in specs.items():
        symbol = Symbol(text)
        known = snapshot.get(symbol)
        markets[symbol] = apply_market_spec(known, spec) if known is not None else market_from_spec(text, spec, fee)
    return markets


def market_from_spec(symbol: str, spec: MarketSpec, fee: Decimal) -> Market:
    """Return the market defined by a complete ``spec``: spot ``BASE/QUOTE`` (cash in QUOTE), or the linear
    perpetual ``BASE/QUOTE:SETTLE`` (cash in SETTLE, one margin tier at ``spec.maintenance_rate``).

    Raises:
        ConfigError: the symbol is not ``BASE/QUOTE[:SETTLE]``, the spec lacks tick size or lot step, a swap
            lacks its maintenance rate, or a spot market is given one.
    """
    if spec.tick_size is None or spec.lot_step is None:
        raise ConfigError(missing_spec_message(symbol))
    zero = Decimal(0)
    market = market_of(symbol, tick=spec.tick_size, lot_step=spec.lot_step, fee=fee,
                       min_amount=spec.min_amount or zero, min_notional=spec.min_notional or zero)  # fmt: skip
    settle = symbol.partition(":")[2]
    if not settle:
        if spec.maintenance_rate is not None:
            raise ConfigError(f"--maintenance-rate (maintenance_rate): {symbol} is a spot market; it is for a swap "
                              f"({symbol}:{market.quote})")  # fmt: skip
        return market
    if settle != market.quote:
        raise ConfigError(f"--symbol {symbol}: a linear swap settles in its quote currency ({market.quote})")
    if spec.maintenance_rate is None:
        raise ConfigError(
            f"--symbol {symbol}: not a bundled swap; give its maintenance margin rate with --maintenance-rate "
            "RATE (0 = liquidated only when the margin balance is gone), or maintenance_rate in --markets FILE"
        )
    tier = MarginTier(floor=zero, cap=Decimal("Infinity"), max_leverage=_MAX_LEVERAGE,
                      maintenance_rate=spec.maintenance_rate)  # fmt: skip
    return replace(market, contract=True, settle=settle, margin_tiers=(tier,))


_MAX_LEVERAGE = Decimal(125)
"""The leverage cap of a custom swap's one margin tier: the simulator's own bound (``bounds.Leverage``)."""


def missing_spec_message(symbol: str) -> str:
    """The one-line error for a symbol with no bundled market and no complete spec."""
    return (
        f"--symbol {symbol}: not a bundled market; give its rules with --tick-size PRICE_STEP --lot-step "
        f"AMOUNT_STEP [--min-notional N] (e.g. --tick-size 0.01 --lot-step 1 for whole shares), or --markets FILE"
    )
