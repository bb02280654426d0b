"""What a config file means to a backtest: ``runbot.py backtest --config FILE``.

Every section is read. A setting is either honoured, refused (exit 2, one line naming the field and the
fix) because a backtest cannot do what it asks, or documented here as one that has no meaning without a
live venue. Command-line flags win over the file.

================================ ==========================================================================
setting                          in a backtest
================================ ==========================================================================
``strategy.name``, ``.params``   the strategy and its parameters; ``--strategy`` and strategy flags win
``risk``                         the risk rules, sizer and protection, in place of the relaxed defaults
``bot.symbol``                   the market (``--symbol`` wins; checked against the data file names)
``bot.bot_id``                   the client order id prefix
``bot.on_shutdown``              cancel or keep the open orders when the data ends
``bot.heartbeat_s``              the supervisor's heartbeat
``exchange.name``                whose bundled market snapshot gives the market's rules (``paper``: Binance)
``exchange.market_type``         ``swap``: a symbol from a file name means its perpetual (``--market-type``)
``exchange.leverage``,           swaps: the leverage and margin mode of the position (``--leverage``,
``margin_mode``                  ``--margin-mode``)
``exchange.paper.funding_rate``  swaps: a constant funding rate when no funding file is given
``exchange.paper.liquidation_fee`` swaps: the fee rate of a liquidation
``exchange.paper.balances``      the starting cash: one balance, in the market's quote currency (``--cash``)
``exchange.paper.maker_fee``/    the fee of every fill (``--fee``): one rate, so both must be equal
``taker_fee``
``exchange.paper.slippage_bps``  market and stop fill slippage (``--slippage-bps``)
``exchange.paper.queue_position`` quote/trade data only (bars have no book: ``true`` is refused there)
``exchange.paper.latency_ms``    order latency, quote/trade data only (``--latency-ms``; bars refuse it)
``exchange.paper.partial_fills``  quote/trade data: trades fill resting orders up to their size
``logging.level``, ``.format``   the logs on stderr (``--log-level`` wins; ``--json`` makes them JSON)
credentials, ``testnet``,        no meaning without a live venue: a backtest connects to nothing
``ccxt_options``,
``request_timeout_s``
``bot.data_dir``,                no meaning: a backtest keeps no journal and stops when its data ends
``bot.shutdown_timeout_s``,
``persistence``
================================ ==========================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Any
from typing import Literal

from risk.config import RiskConfig
from trading_bot.config import BotConfig
from trading_bot.errors import ConfigError

__all__ = ["ConfigChoices", "backtest_choices"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigChoices:
    """The backtest settings a config file makes; ``None`` where the file leaves the choice to the defaults.

    Attributes:
        strategy: ``strategy.name`` when the file has a ``strategy`` section.
        params: ``strategy.params``.
        symbol, bot_id: from ``bot``, when set.
        cash: starting cash (quote currency) and ``cash_currency`` its currency, from ``exchange.paper.balances``.
        fee: fee rate of every fill (0.001 = 0.1 %); ``slippage_bps`` in basis points; ``queue_position``,
            ``latency_ms`` and ``partial_fills`` (quote/trade data).
        exchange: whose market snapshot to use.
        market_type, leverage, margin_mode: from ``exchange``; ``funding_rate`` and ``liquidation_fee``
            from ``exchange.paper`` (swaps).
        on_shutdown, heartbeat_s: from ``bot``.
        risk: the ``risk`` section.
        log_level, log_format: from ``logging``, when set.
    """

    strategy: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    symbol: str | None = None
    bot_id: str | None = None
    cash: Decimal | None = None
    cash_currency: str | None = None
    fee: Decimal | None = None
    slippage_bps: Decimal | None = None
    queue_position: bool | None = None
    latency_ms: int | None = None
    partial_fills: bool | None = None
    exchange: str = "binance"
    market_type: Literal["spot", "swap"] = "spot"
    leverage: int | None = None
    margin_mode: Literal["isolated", "cross"] | None = None
    funding_rate: Decimal | None = None
    liquidation_fee: Decimal | None = None
    on_shutdown: Literal["cancel", "keep"] = "cancel"
    heartbeat_s: float = 1.0
    risk: RiskConfig | None = None
    log_level: str | None = None
    log_format: str | None = None


def backtest_choices(config: BotConfig, overridden: Set[str] = frozenset()) -> ConfigChoices:
    """Return what ``config`` asks of a backtest; refuse what a backtest cannot honour.

    Args:
        config: the loaded config (file, environment).
        overridden: the settings the command line gives itself (``cash``, ``fee``, ``slippage_bps``): the
            file's value for them is not used, so it is not checked either.

    Raises:
        ConfigError: one line naming the field and the fix (exit 2).
    """
    exchange, paper, bot = config.exchange, config.exchange.paper, config.bot
    cash, currency = _cash(paper.balances) if "balances" in paper.model_fields_set - overridden else (None, None)
    fee = None
    if "fee" not in overridden and {"maker_fee", "taker_fee"} & paper.model_fields_set:
        if paper.maker_fee != paper.taker_fee or paper.maker_fee is None:
            raise ConfigError(
                "exchange.paper.maker_fee/taker_fee: a backtest charges one fee rate on every fill; set both "
                "to the same rate (or give --fee)"
            )
        fee = paper.maker_fee
    slippage = paper.slippage_bps if "slippage_bps" in paper.model_fields_set else None
    queue = paper.queue_position if "queue_position" in paper.model_fields_set else None
    latency = paper.latency_ms if "latency_ms" in paper.model_fields_set else None
    partial = paper.partial_fills if "partial_fills" in paper.model_fields_set else None
    has_strategy = "strategy" in config.model_fields_set
    logging = config.logging.model_fields_set
    return ConfigChoices(
        strategy=config.strategy.name if has_strategy else None,
        params=dict(config.strategy.params),
        symbol=bot.symbol if "symbol" in bot.model_fields_set else None,
        bot_id=bot.bot_id if "bot_id" in bot.model_fields_set else None,
        cash=cash,
        cash_currency=currency,
        fee=fee,
        slippage_bps=slippage,
        queue_position=queue,
        latency_ms=latency,
        partial_fills=partial,
        exchange=exchange.name,
        market_type=exchange.market_type,
        leverage=exchange.leverage if "leverage" in exchange.model_fields_set else None,
        margin_mode=exchange.margin_mode if "margin_mode" in exchange.model_fields_set else None,
        funding_rate=paper.funding_rate,
        liquidation_fee=paper.liquidation_fee if "liquidation_fee" in paper.model_fields_set else None,
        on_shutdown=bot.on_shutdown,
        heartbeat_s=bot.heartbeat_s,
        risk=config.risk,
        log_level=config.logging.level if "level" in logging else None,
        log_format=config.logging.format if "format" in logging else None,
    )


def _cash(balances: Mapping[str, Decimal]) -> tuple[Decimal, str]:
    held = {currency: amount for currency, amount in balances.items() if amount != 0}
    if len(held) != 1:
        raise ConfigError(
            "exchange.paper.balances: a backtest starts flat, with cash in the market's quote currency only; "
            f"give one balance, e.g. {{\"USDT\": 10000}} (got {', '.join(held) or 'none'}; or give --cash)"
        )
    ((currency, amount),) = held.items()
    return amount, currency
