"""The one exception tree of the trading bot.

Every error the bot raises on purpose is a :class:`TradingBotError`. The supervisor picks its
reaction by class, never by message::

    TradingBotError                     (never raised itself)
     ├── ConfigError                    bad config / CLI / data file → exit 2 before trading starts
     ├── StrategyError                  a strategy hook raised → that strategy is stopped, bot halts opens
     ├── RiskRejected                   an order broke a risk rule → OrderDenied event, never propagates
     ├── DataError                      malformed market data / replay file → exit 2 (startup) or skip + log
     ├── AlertDeliveryError             an alert channel refused or missed a message → retried, then dropped
     ├── OperationalError               the bot cannot go on safely → cancel per config, persist, exit 1
     │    └── EmergencyStop             an account-protection rule fired → flatten, halt, exit 1
     └── ExchangeError                  anything the exchange or the network said no to
          ├── TransientExchangeError    network / 5xx / timeout → bounded jittered back-off, then go on
          │    ├── RateLimited          429 / 418 → honour Retry-After, slow the bot down
          │    └── OrderOutcomeUnknown  timeout while placing/cancelling → look the order up by client id
          ├── OrderRejected             the exchange refused one order → OrderRejected event to the strategy
          │    ├── InsufficientFunds    not enough free balance → OrderRejected event
          │    └── PostOnlyWouldCross   a post-only order would take → OrderRejected event (strategy retries)
          ├── OrderNotFound             lookup / cancel of an unknown order → tracker decides (lost rule)
          ├── BadExchangeResponse       malformed or impossible answer → logged, the answer is dropped
          └── AuthenticationError       keys refused → halt after repeated failures, exit 1

Programming errors (``ValueError`` from a domain invariant, ``InvalidOrderTransition``) are bugs, not
operating conditions: they are not in this tree and stop the bot with exit code 1 after an orderly
shutdown.
"""

from __future__ import annotations

__all__ = [
    "AlertDeliveryError",
    "AuthenticationError",
    "BadExchangeResponse",
    "ConfigError",
    "DataError",
    "EmergencyStop",
    "ExchangeError",
    "InsufficientFunds",
    "OperationalError",
    "OrderNotFound",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "PostOnlyWouldCross",
    "RateLimited",
    "RiskRejected",
    "StrategyError",
    "TradingBotError",
    "TransientExchangeError",
]


class TradingBotError(Exception):
    """Root of every error the bot raises on purpose."""


class ConfigError(TradingBotError):
    """The configuration, a CLI flag or a strategy parameter is invalid.

    The supervisor never starts with one: the CLI prints the one-line message (which names the field and
    the fix) and exits with code 2.
    """


class DataError(TradingBotError):
    """Market data that cannot be used: an unreadable, malformed or unsorted replay file.

    At startup the CLI prints it and exits 2; a bad live message is logged and skipped.
    """


class StrategyError(TradingBotError):
    """A strategy hook raised.

    The supervisor wraps every hook call: the strategy is stopped (no new intents are taken from it),
    the event is logged as ``strategy_failed`` and the bot halts new opens; resting orders are handled
    per ``bot.on_shutdown``.
    """


class RiskRejected(TradingBotError):
    """An order broke a risk rule.

    Raised only inside ``risk`` helpers; the RiskManager turns it into a ``Rejected`` decision, so it
    never reaches the supervisor.
    """

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason


class OperationalError(TradingBotError):
    """The bot cannot continue safely (repeated auth failures, lost exchange, broken journal).

    The supervisor halts trading, cancels open orders if configured, persists state and exits 1.
    """


class EmergencyStop(OperationalError):
    """An account-protection rule fired (for example the emergency loss limit).

    The supervisor cancels the bot's orders, closes its position at market, halts and exits 1 with the
    rule's message.
    """


class ExchangeError(TradingBotError):
    """The exchange, or the network to it, refused a request.

    Messages name the symbol, side, amount and price of the order involved, when there is one.
    """


class TransientExchangeError(ExchangeError):
    """A network error, a timeout or a 5xx: the request may succeed if repeated later.

    Adapters retry read-only calls with bounded jittered back-off; the supervisor logs and goes on.
    Order placement is never retried blindly: see :class:`OrderOutcomeUnknown`.
    """


class RateLimited(TransientExchangeError):
    """The exchange answered 429/418: slow down for ``retry_after`` seconds (``None`` if not given)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OrderOutcomeUnknown(TransientExchangeError):
    """A place or cancel request timed out or lost its connection after it may have been sent.

    The order manager looks the order up by client id (with back-off) and never re-sends it.
    """


class OrderRejected(ExchangeError):
    """The exchange refused one order (filters, price, state).

    The order becomes REJECTED and the strategy gets an ``OrderRejected`` event; the bot goes on.
    """


class InsufficientFunds(OrderRejected):
    """The account's free balance does not cover the order."""


class PostOnlyWouldCross(OrderRejected):
    """A post-only (maker-only) order would have taken liquidity and was refused."""


class OrderNotFound(ExchangeError):
    """The exchange does not know the order asked for (by client id or exchange id)."""


class BadExchangeResponse(ExchangeError):
    """The exchange answered with something malformed or impossible (missing fields, a crossed book).

    The answer is dropped and logged; the request counts as failed.
    """


class AuthenticationError(ExchangeError):
    """The API key or signature was refused.

    One failure is logged; repeated failures halt the bot with exit 1 and a message naming the keys'
    environment variables.
    """


class AlertDeliveryError(TradingBotError):
    """An alert channel (Telegram, a webhook, SMTP) did not take a message; trading is never affected.

    Attributes:
        retryable: a timeout, a refused connection, a 5xx or a 429 (tried again with backoff); False for
            an answer that will not change (a 4xx: a wrong token or chat id), given up at once.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable
