"""The one place where ccxt's exceptions become the bot's error tree.

Mapping (most specific first; every translation is ``raise ... from`` the ccxt error)::

    ccxt exception                                   → trading_bot.errors
    OrderImmediatelyFillable, InvalidOrder "…immediately match…", USD-M -5022 (post-only refused)
                                                     → PostOnlyWouldCross
    OrderNotFound                                    → OrderNotFound
    InsufficientFunds, "Margin is insufficient." (USD-M -2019, a plain ExchangeError in ccxt)
                                                     → InsufficientFunds
    InvalidOrder, BadRequest, BadSymbol, OperationRejected, and a plain ExchangeError carrying
    USD-M's -2022/-4164/-2021/-5021/-4116 (ccxt maps those only on fapi.binance.com URLs)
                                                     → OrderRejected
    AuthenticationError, PermissionDenied, AccountSuspended
                                                     → AuthenticationError
    DDoSProtection, RateLimitExceeded                → RateLimited (retry_after from Retry-After)
    InvalidNonce (clock skew, -1021)                 → TransientExchangeError (logs the fix)
    RequestTimeout, NetworkError, ExchangeNotAvailable
                                                     → TransientExchangeError, or OrderOutcomeUnknown when
                                                       the call may have placed/cancelled an order
    BadResponse, NullResponse, JSON decode errors    → BadExchangeResponse
    TypeError/KeyError/ValueError/ArithmeticError (OverflowError: ``"transactTime": Infinity``...)
    raised inside ccxt's own code while parsing an answer
                                                     → BadExchangeResponse
    any other ccxt error                             → ExchangeError

A non-ccxt exception whose ``__context__`` is a ccxt error is translated as that error: ccxt 4.5.90
raises ``KeyError('spot')`` over the real ``AuthenticationError`` when the first user-stream subscribe
is refused (CCXT_BINANCE.md, gotcha 1).

This module imports ccxt only when an exception has to be translated, so importing it is cheap.
``retry_transient`` (the bounded retry of read-only calls) lives in ``exchanges/ccxt/retry.py`` with the
streams' reconnect back-off; it is re-exported here, where it was first imported from.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

from exchanges.ccxt.retry import retry_transient
from trading_bot.errors import AuthenticationError
from trading_bot.errors import BadExchangeResponse
from trading_bot.errors import ExchangeError
from trading_bot.errors import InsufficientFunds
from trading_bot.errors import OrderNotFound
from trading_bot.errors import OrderOutcomeUnknown
from trading_bot.errors import OrderRejected
from trading_bot.errors import PostOnlyWouldCross
from trading_bot.errors import RateLimited
from trading_bot.errors import TransientExchangeError
from trading_bot.log import get_logger

__all__ = [
    "ErrorContext",
    "map_ccxt_errors",
    "parse_retry_after",
    "retry_transient",
    "translate_ccxt_error",
]

_log = get_logger(__name__)

_MAX_MESSAGE = 400
_CROSS_TEXTS = ("immediately match", "would immediately")
_POST_ONLY_REFUSED = re.compile(r'"code"\s*:\s*-5022\b|could not be executed as maker')
"""Binance USDⓈ-M -5022, its post-only (GTX) refusal: an ``InvalidOrder`` (``OrderNotFillable``) on
``fapi.binance.com``, a plain ``ExchangeError`` on any other base URL. It is the same "would cross" as spot's."""
_MARGIN_TEXTS = ("margin is insufficient",)
"""Binance USD-M -2019, which ccxt leaves a plain ``ExchangeError``: the venue's margin refusal."""
_FAPI_REFUSALS = re.compile(r'"code"\s*:\s*(-2022|-4164|-2021|-5021|-4116)\b')
"""Binance USDⓈ-M order refusals that ccxt maps only for ``https://fapi.binance.com/`` URLs (a plain
``ExchangeError`` on any other base URL: a proxy, the loopback emulator): reduce-only rejected, min
notional, stop would trigger at once, FOK not filled, duplicate client id. Read from the code in the
message so the same refusal is the same error everywhere."""
_PARSE_ERRORS = (TypeError, KeyError, IndexError, AttributeError, ValueError, ArithmeticError)
_CCXT_DIR = f"{os.sep}ccxt{os.sep}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorContext:
    """What was being done when a ccxt call failed, for the translated error's message.

    Attributes:
        action: the operation (``place_order``, ``fetch_balance``...).
        symbol: the market involved, if any.
        side: ``buy``/``sell`` of the order involved, if any.
        amount: the order quantity (base currency), if any.
        price: the order price (quote currency), if any.
        client_order_id: our id of the order involved, if any.
        order_request: True when the call may have created or cancelled an order; network errors then
            become ``OrderOutcomeUnknown`` instead of a plain ``TransientExchangeError``.
        exchange: the ccxt client, read for ``last_response_headers`` (Retry-After); never logged.
    """

    action: str
    symbol: str | None = None
    side: str | None = None
    amount: Decimal | None = None
    price: Decimal | None = None
    client_order_id: str | None = None
    order_request: bool = False
    exchange: Any = None

    def describe(self) -> str:
        """Return ``"place_order buy 0.01 BTC/USDT @ 30000 (id bot-1)"`` with the known parts only."""
        parts = [self.action]
        if self.side is not None:
            parts.append(str(self.side))
        if self.amount is not None:
            parts.append(str(self.amount))
        if self.symbol is not None:
            parts.append(self.symbol)
        if self.price is not None:
            parts.append(f"@ {self.price}")
        if self.client_order_id is not None:
            parts.append(f"(id {self.client_order_id})")
        return " ".join(parts)


def parse_retry_after(headers: Mapping[str, Any] | None, now_s: float | None = None) -> float | None:
    """Return the Retry-After delay in seconds from response headers, or ``None`` when absent or unreadable.

    Both forms are read: delta-seconds (``"30"``) and an HTTP date; header names are case-insensitive.
    """
    if not headers:
        return None
    value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    if value is None:
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now_s is None else now_s)
    if seconds != seconds or seconds < 0:  # NaN or in the past
        return 0.0 if seconds < 0 else None
    return seconds


def _ccxt_error_in_chain(exc: BaseException, base: type[BaseException]) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, base):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _raised_inside_ccxt(exc: BaseException) -> bool:
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return _CCXT_DIR in tb.tb_frame.f_code.co_filename


def _message(context: ErrorContext, exc: BaseException) -> str:
    detail = str(exc)
    if len(detail) > _MAX_MESSAGE:
        detail = detail[:_MAX_MESSAGE] + "…"
    return f"{context.describe()}: {type(exc).__name__}: {detail}"


def translate_ccxt_error(exc: BaseException, context: ErrorContext) -> ExchangeError | None:  # noqa: C901
    """Return the bot's error for a ccxt exception, or ``None`` when ``exc`` is not ccxt's to translate.

    Args:
        exc: the exception raised by a ccxt call.
        context: what was being done (names the symbol, side, amount and price in the message).
    """
    import ccxt  # lazy: the CLI and backtests never import ccxt

    if isinstance(exc, ExchangeError):
        return None
    if not isinstance(exc, ccxt.BaseError):
        inner = _ccxt_error_in_chain(exc, ccxt.BaseError)
        if inner is not None:
            return translate_ccxt_error(inner, context)
        if isinstance(exc, json.JSONDecodeError) or (isinstance(exc, _PARSE_ERRORS) and _raised_inside_ccxt(exc)):
            return BadExchangeResponse(_message(context, exc))
        return None
    msg = _message(context, exc)
    text = str(exc).lower()
    if (
        isinstance(exc, ccxt.OrderImmediatelyFillable)
        or (isinstance(exc, ccxt.InvalidOrder) and any(t in text for t in _CROSS_TEXTS))
        or _POST_ONLY_REFUSED.search(text)
    ):
        return PostOnlyWouldCross(msg)
    if isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFound(msg)
    if isinstance(exc, ccxt.InsufficientFunds) or any(t in text for t in _MARGIN_TEXTS):
        return InsufficientFunds(msg)
    if isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest | ccxt.OperationRejected) or (
        type(exc) is ccxt.ExchangeError and _FAPI_REFUSALS.search(str(exc))
    ):
        return OrderRejected(msg)
    if isinstance(exc, ccxt.AuthenticationError):
        return AuthenticationError(msg)
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        headers = getattr(context.exchange, "last_response_headers", None) if context.exchange is not None else None
        return RateLimited(msg, retry_after=parse_retry_after(headers if isinstance(headers, Mapping) else None))
    if isinstance(exc, ccxt.InvalidNonce):
        _log.error(
            "exchange_clock_skew",
            action=context.action,
            advice="the request timestamp is outside the exchange's window: sync the host clock (NTP) or set "
            "ccxt_options.options.adjustForTimeDifference=true",
        )
        return TransientExchangeError(msg)
    if isinstance(exc, ccxt.NetworkError):
        return OrderOutcomeUnknown(msg) if context.order_request else TransientExchangeError(msg)
    if isinstance(exc, ccxt.BadResponse):
        return BadExchangeResponse(msg)
    return ExchangeError(msg)


class map_ccxt_errors:
    """Context manager (``with`` or ``async with``) translating ccxt exceptions raised in its body.

    Example::

        async with map_ccxt_errors(ErrorContext(action="fetch_balance", exchange=ex)):
            raw = await ex.fetch_balance()

    Exceptions that are not ccxt's (our own bugs, cancellation) pass through unchanged.
    """

    __slots__ = ("context",)

    def __init__(self, context: ErrorContext | str) -> None:
        self.context = ErrorContext(action=context) if isinstance(context, str) else context

    def __enter__(self) -> ErrorContext:
        return self.context

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or not isinstance(exc, Exception):
            return
        mapped = translate_ccxt_error(exc, self.context)
        if mapped is not None:
            raise mapped from exc

    async def __aenter__(self) -> ErrorContext:
        return self.context

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)
