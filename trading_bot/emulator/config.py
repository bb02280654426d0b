"""Configuration of the emulator: accounts, markets, price source and faults."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from pathlib import Path

from trading_bot.domain import Market
from trading_bot.domain import Symbol
from trading_bot.domain.bounds import DAY_S
from trading_bot.domain.bounds import MAX_SPEED
from trading_bot.domain.bounds import MIN_PERIOD_S
from trading_bot.emulator.futures.config import FuturesConfig

__all__ = [
    "FAULT_RANGES",
    "EmulatorConfig",
    "FaultConfig",
    "FuturesConfig",
    "MarketFilters",
    "check_faults",
    "default_filters",
    "market_id",
    "split_symbol",
]

FAULT_RANGES: Mapping[str, tuple[type, float, float]] = {
    "latency_ms": (int, 0, 600_000),
    "error_5xx_rate": (float, 0, 1),
    "next_n_5xx": (int, 0, 1_000_000),
    "error_5xx_status": (int, 500, 599),
    "next_n_429": (int, 0, 1_000_000),
    "retry_after_s": (int, 0, 3600),
    "clock_skew_ms": (int, -86_400_000, 86_400_000),
    "accept_then_timeout": (bool, 0, 1),
    "accept_timeout_delay_s": (float, 0, 3600),
    "bad_quotes": (int, 0, 1_000_000),
    "bad_trades": (int, 0, 1_000_000),
    "drop_ws": (bool, 0, 1),
}
"""Every fault name (``FaultConfig`` fields plus the ``drop_ws`` action): its JSON type and inclusive range."""


def _check_fault(name: str, value: object) -> object:
    kind, low, high = FAULT_RANGES[name]
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected true or false (a JSON boolean), got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and isinstance(value, float)):
        expected = "an integer" if kind is int else "a number"
        raise ValueError(f"{name}: expected {expected} in [{low:g}, {high:g}], got {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name}: expected a value in [{low:g}, {high:g}], got {value!r}")
    return float(value) if kind is float else value


def check_faults(changes: Mapping[str, object]) -> dict[str, object]:
    """Return ``changes`` checked against ``FAULT_RANGES``: exact JSON types (a boolean must be ``true`` or
    ``false``, never ``"false"``), finite numbers, inclusive ranges.

    Raises:
        ValueError: an unknown fault name, a wrong type or a value outside its range (one line).
    """
    unknown = set(changes) - set(FAULT_RANGES)
    if unknown:
        raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {sorted(FAULT_RANGES)}")
    return {name: _check_fault(name, value) for name, value in changes.items()}


_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "BTC", "ETH", "BNB")
_USD_LIKE = frozenset({"FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR"})


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultConfig:
    """Injected faults; the same names are accepted by ``BinanceEmulator.set_faults`` at run time.

    Attributes:
        latency_ms: Delay added before answering every REST call, in milliseconds.
        error_5xx_rate: Probability (0..1) that a REST call answers ``error_5xx_status`` (seeded).
        next_n_5xx: The next N REST calls answer ``error_5xx_status`` with a non-JSON body.
        error_5xx_status: HTTP status used for injected server errors (e.g. 500, 502, 503).
        next_n_429: The next N REST calls answer 429 with ``Retry-After``.
        retry_after_s: Value of the ``Retry-After`` header of injected 429s, in seconds.
        clock_skew_ms: Offset added to the server clock (serverTime, recvWindow checks, event times).
        accept_then_timeout: Arm once: the next order POST is booked, but its answer is held back.
        accept_timeout_delay_s: How long the held-back answer is delayed, in seconds.
        bad_quotes: The next N ``bookTicker`` stream messages carry bid -2 and ask -1 (an impossible quote;
            the book itself, REST answers and matching are unchanged).
        bad_trades: The next N public prints are streamed (``trade`` and ``aggTrade``) with quantity -1.
    """

    latency_ms: int = 0
    error_5xx_rate: float = 0.0
    next_n_5xx: int = 0
    error_5xx_status: int = 503
    next_n_429: int = 0
    retry_after_s: int = 1
    clock_skew_ms: int = 0
    accept_then_timeout: bool = False
    accept_timeout_delay_s: float = 15.0
    bad_quotes: int = 0
    bad_trades: int = 0

    def __post_init__(self) -> None:
        check_faults({name: getattr(self, name) for name in FAULT_RANGES if name != "drop_ws"})


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketFilters:
    """Exchange filters of one market (Binance PRICE_FILTER, LOT_SIZE, NOTIONAL)."""

    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal = Decimal("9000000")
    min_price: Decimal = Decimal("0")
    max_price: Decimal = Decimal("10000000")
    min_notional: Decimal = Decimal("5")

    def market(self, symbol: str, base: str, quote: str) -> Market:
        """Return the domain ``Market`` of these filters, whose ``order_problem`` the order checks use.

        Its grids are absolute (multiples of the tick and step from 0), Binance's start at ``min_price`` and
        ``min_qty``: the same whenever those lie on the grid, as in every default and every real market.
        """
        return Market(
            symbol=Symbol(symbol),
            base=base,
            quote=quote,
            price_increment=self.tick_size,
            amount_increment=self.step_size,
            min_amount=self.min_qty,
            max_amount=self.max_qty,
            min_notional=self.min_notional,
        )


def _balances() -> dict[str, Decimal]:
    return {"USDT": Decimal(100000), "BTC": Decimal(10)}


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorConfig:
    """Everything the emulator needs to start.

    Attributes:
        host: Interface to bind (loopback by default).
        port: TCP port; 0 picks a free ephemeral port.
        symbols: Unified spot symbols served, e.g. ``("BTC/USDT",)``.
        api_key: The one accepted API key.
        api_secret: HMAC-SHA256 secret of that key.
        balances: Starting free balances per asset.
        start_price: Starting mid price of every random-walk market (quote units).
        replay: Quotes, trades or bars CSV[.gz] the replay market follows; None = random walk only.
        replay_symbol: Symbol the replay drives; None = inferred from the file name, else the first symbol.
        replay_speed: Time factor of the replay (1.0 = recorded pace, 60.0 = a minute per second).
        replay_events_per_s: If set, replay at this fixed event rate and ignore the recorded timestamps.
        replay_loop: Start over at the end of the file (else the market stops moving).
        replay_start_index: Row at which the replay starts (earlier bars count as history).
        seed: Seed of the random walk and of random faults.
        walk_interval_s: Random-walk tick period in seconds; None = prices move only by control/replay.
        history_bars: One-minute bars of seeded history synthesized before start (random-walk markets).
        maker_fee: Fee rate of maker fills, charged in the quote asset (see ``buy_fee_in_base``).
        taker_fee: Fee rate of taker fills, charged in the quote asset (see ``buy_fee_in_base``).
        buy_fee_in_base: Charge a buy's fee in the base asset it receives, as Binance spot does for an account
            that does not pay fees in BNB (``commissionAsset`` is then the base asset); off by default.
        filters: Per-symbol filter overrides; others are derived from the price magnitude.
        faults: Faults active from the start.
        futures: The USDⓈ-M futures venue served beside spot (``/fapi``, ``/fstream``); ``None`` = spot only.
    """

    host: str = "127.0.0.1"
    port: int = 0
    symbols: tuple[str, ...] = ("BTC/USDT",)
    api_key: str = "test-key"
    api_secret: str = "test-secret"  # noqa: S105 - loopback test credential
    balances: Mapping[str, Decimal] = field(default_factory=_balances)
    start_price: Decimal = Decimal("60000")
    replay: Path | None = None
    replay_symbol: str | None = None
    replay_speed: float = 1.0
    replay_events_per_s: float | None = None
    replay_loop: bool = True
    replay_start_index: int = 0
    seed: int = 7
    walk_interval_s: float | None = None
    history_bars: int = 500
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    buy_fee_in_base: bool = False
    filters: Mapping[str, MarketFilters] = field(default_factory=dict)
    faults: FaultConfig = field(default_factory=FaultConfig)
    futures: FuturesConfig | None = None

    def __post_init__(self) -> None:
        if isinstance(self.port, bool) or not 0 <= self.port <= 65535:
            raise ValueError(f"port: expected 0 to 65535 (0 = any free port), got {self.port!r}")
        _check_positive("replay_speed", self.replay_speed, 0, MAX_SPEED)
        if self.replay_events_per_s is not None:
            _check_positive("replay_events_per_s", self.replay_events_per_s, 0, MAX_SPEED)
        if self.walk_interval_s is not None:
            _check_positive("walk_interval_s", self.walk_interval_s, MIN_PERIOD_S, DAY_S, inclusive=True)


def _check_positive(name: str, value: float, low: float, high: float, *, inclusive: bool = False) -> None:
    """Raise ValueError unless ``low < value <= high`` (``low <= value`` when ``inclusive``) and finite."""
    above = value >= low if inclusive else value > low
    if not (math.isfinite(value) and above and value <= high):
        left = "[" if inclusive else "("
        raise ValueError(f"{name}: expected a number in {left}{low:g}, {high:g}], got {value!r}")


def split_symbol(symbol: str) -> tuple[str, str]:
    """Return ``(base, quote)`` of a unified (``BTC/USDT``) or exchange (``BTCUSDT``, ``ADA-BTC``) symbol.

    Raises:
        ValueError: If the quote asset cannot be recognised.
    """
    for sep in ("/", "-", "_"):
        if sep in symbol:
            base, quote = symbol.upper().split(sep, 1)
            return base, quote.split(":", 1)[0]
    upper = symbol.upper()
    for quote in _QUOTES:
        if upper.endswith(quote) and len(upper) > len(quote):
            return upper[: -len(quote)], quote
    raise ValueError(f"cannot split symbol {symbol!r} into base and quote")


def market_id(symbol: str) -> str:
    """Return Binance's market id (``BTCUSDT``) of a unified or exchange symbol."""
    base, quote = split_symbol(symbol)
    return base + quote


def default_filters(price: Decimal, quote: str) -> MarketFilters:
    """Derive Binance-like filters from a reference price: ~6 significant price digits, cheap lots.

    Args:
        price: A typical price of the market (quote units per base unit), > 0.
        quote: Quote asset; sets the minimum notional (5 for USD-like quotes).
    """
    magnitude = math.floor(math.log10(float(price)))
    tick = max(Decimal(10) ** (magnitude - 6), Decimal("0.00000001"))
    step = min(Decimal(10) ** (-magnitude - 1), Decimal(1))
    step = max(step, Decimal("0.00000001"))
    if quote in _USD_LIKE:
        notional = Decimal(5)
    elif quote == "BTC":
        notional = Decimal("0.0001")
    else:
        notional = Decimal("0.001")
    return MarketFilters(tick_size=tick, step_size=step, min_qty=step, min_notional=notional)
