"""The ccxt → trading_bot error translation table and the bounded retry decorator."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from types import SimpleNamespace

import ccxt
import pytest

from exchanges.ccxt.errors import ErrorContext
from exchanges.ccxt.errors import map_ccxt_errors
from exchanges.ccxt.errors import parse_retry_after
from exchanges.ccxt.errors import retry_transient
from exchanges.ccxt.errors import translate_ccxt_error
from trading_bot import errors

READ = ErrorContext(action="fetch_ticker", symbol="BTC/USDT")
PLACE = ErrorContext(
    action="place_order",
    symbol="BTC/USDT",
    side="buy",
    amount=Decimal("0.015"),
    price=Decimal("29999.5"),
    client_order_id="bot-7",
    order_request=True,
)

TABLE = [
    (ccxt.OrderImmediatelyFillable("binance post only"), READ, errors.PostOnlyWouldCross),
    (
        ccxt.InvalidOrder('binance {"code":-2010,"msg":"Order would immediately match and take."}'),
        READ,
        errors.PostOnlyWouldCross,
    ),
    (  # USD-M -5022, the post-only (GTX) refusal: a plain ExchangeError off fapi.binance.com, OrderNotFillable on it
        ccxt.ExchangeError('binanceusdm {"code":-5022,"msg":"Due to the order could not be executed as maker, the '
                           'Post Only order will be rejected."}'),
        PLACE,
        errors.PostOnlyWouldCross,
    ),
    (
        ccxt.OrderNotFillable("binanceusdm Due to the order could not be executed as maker, the Post Only order "
                              "will be rejected."),
        PLACE,
        errors.PostOnlyWouldCross,
    ),
    (ccxt.OrderNotFound("binance Unknown order sent."), READ, errors.OrderNotFound),
    (ccxt.InsufficientFunds("binance Account has insufficient balance"), PLACE, errors.InsufficientFunds),
    (  # USD-M -2019: ccxt 4.5.90 raises a plain ExchangeError; it is the venue's margin refusal
        ccxt.ExchangeError('binanceusdm {"code":-2019,"msg":"Margin is insufficient."}'),
        PLACE,
        errors.InsufficientFunds,
    ),
    (ccxt.InvalidOrder("binance Filter failure: LOT_SIZE"), PLACE, errors.OrderRejected),
    (  # USD-M reduce-only refused, on a base URL other than fapi.binance.com: a plain ExchangeError in ccxt
        ccxt.ExchangeError('binanceusdm {"code":-2022,"msg":"ReduceOnly Order is rejected."}'),
        PLACE,
        errors.OrderRejected,
    ),
    (
        ccxt.ExchangeError('binanceusdm {"code": -4164, "msg": "notional must be no smaller than 100"}'),
        PLACE,
        errors.OrderRejected,
    ),
    (ccxt.BadRequest("binance Filter failure: NOTIONAL"), PLACE, errors.OrderRejected),
    (ccxt.BadSymbol("binance does not have market symbol FOO/BAR"), READ, errors.OrderRejected),
    (ccxt.DuplicateOrderId("binance Duplicate order sent."), PLACE, errors.OrderRejected),
    (
        ccxt.AuthenticationError("binance -1022 Signature for this request is not valid."),
        READ,
        errors.AuthenticationError,
    ),
    (ccxt.PermissionDenied("binance -2015"), READ, errors.AuthenticationError),
    (ccxt.AccountSuspended("binance suspended"), READ, errors.AuthenticationError),
    (ccxt.DDoSProtection("binance 429 Too Many Requests"), READ, errors.RateLimited),
    (ccxt.RateLimitExceeded("binance rate"), PLACE, errors.RateLimited),
    (ccxt.InvalidNonce("binance -1021 Timestamp outside recvWindow"), PLACE, errors.TransientExchangeError),
    (ccxt.RequestTimeout("binance GET https://x timed out"), READ, errors.TransientExchangeError),
    (ccxt.NetworkError("connection reset"), READ, errors.TransientExchangeError),
    (ccxt.ExchangeNotAvailable("binance 503"), READ, errors.TransientExchangeError),
    (ccxt.OnMaintenance("binance maintenance"), READ, errors.TransientExchangeError),
    (ccxt.RequestTimeout("binance POST https://x timed out"), PLACE, errors.OrderOutcomeUnknown),
    (ccxt.ExchangeNotAvailable("binance 502"), PLACE, errors.OrderOutcomeUnknown),
    (ccxt.BadResponse("binance garbage"), READ, errors.BadExchangeResponse),
    (ccxt.NullResponse("binance empty"), READ, errors.BadExchangeResponse),
    (ccxt.NotSupported("binance fetchFoo() is not supported"), READ, errors.ExchangeError),
    (ccxt.ExchangeError("binance something else"), READ, errors.ExchangeError),
]


@pytest.mark.parametrize(("exc", "context", "expected"), TABLE, ids=[type(e).__name__ for e, _, _ in TABLE])
def test_translate_maps_each_ccxt_error_to_the_most_specific_class(
    exc: Exception, context: ErrorContext, expected: type[errors.ExchangeError]
) -> None:
    mapped = translate_ccxt_error(exc, context)

    assert type(mapped) is expected


def test_network_error_on_an_order_request_is_outcome_unknown_not_plain_transient() -> None:
    read = translate_ccxt_error(ccxt.RequestTimeout("t"), READ)
    place = translate_ccxt_error(ccxt.RequestTimeout("t"), PLACE)

    assert not isinstance(read, errors.OrderOutcomeUnknown)
    assert isinstance(place, errors.OrderOutcomeUnknown)


def test_rate_limit_on_an_order_request_is_not_outcome_unknown() -> None:
    mapped = translate_ccxt_error(ccxt.DDoSProtection("429"), PLACE)

    assert isinstance(mapped, errors.RateLimited)
    assert not isinstance(mapped, errors.OrderOutcomeUnknown)


def test_message_names_symbol_side_amount_price_and_client_id() -> None:
    mapped = translate_ccxt_error(ccxt.InsufficientFunds("binance Account has insufficient balance"), PLACE)

    text = str(mapped)
    for part in ("place_order", "buy", "0.015", "BTC/USDT", "29999.5", "bot-7", "InsufficientFunds"):
        assert part in text


def test_context_manager_raises_from_the_ccxt_error() -> None:
    original = ccxt.InsufficientFunds("no money")

    with pytest.raises(errors.InsufficientFunds) as info, map_ccxt_errors(PLACE):
        raise original

    assert info.value.__cause__ is original


@pytest.mark.asyncio
async def test_context_manager_works_with_async_with() -> None:
    with pytest.raises(errors.OrderNotFound):
        async with map_ccxt_errors("fetch_order"):
            raise ccxt.OrderNotFound("gone")


def test_context_manager_leaves_our_own_bugs_alone() -> None:
    with pytest.raises(TypeError, match="our bug"), map_ccxt_errors(READ):
        raise TypeError("our bug")


def test_context_manager_leaves_our_own_errors_alone() -> None:
    with pytest.raises(errors.ConfigError), map_ccxt_errors(READ):
        raise errors.ConfigError("bad")


def test_parse_error_raised_inside_ccxt_is_a_bad_exchange_response() -> None:
    with pytest.raises(errors.BadExchangeResponse), map_ccxt_errors(READ):
        ccxt.binance().parse_trades(5)  # ccxt's own parser chokes on a non-list answer


def _ccxt_like_refused_subscribe() -> None:
    # ccxt 4.5.90 raises KeyError('spot') over the real AuthenticationError on a refused WS-API subscribe
    try:
        raise ccxt.AuthenticationError('binance {"code":-1022,"msg":"Signature for this request is not valid."}')
    except ccxt.AuthenticationError:
        raise KeyError("spot")  # noqa: B904 - reproduces ccxt: only __context__ keeps the real error


def test_keyerror_over_a_ccxt_auth_error_is_an_authentication_error() -> None:
    with pytest.raises(errors.AuthenticationError, match="Signature"), map_ccxt_errors("watch_orders"):
        _ccxt_like_refused_subscribe()


def test_rate_limited_reads_retry_after_from_the_last_response_headers() -> None:
    fake_client = SimpleNamespace(last_response_headers={"Content-Type": "json", "Retry-After": "7"})
    context = ErrorContext(action="fetch_balance", exchange=fake_client)

    mapped = translate_ccxt_error(ccxt.DDoSProtection("429"), context)

    assert isinstance(mapped, errors.RateLimited)
    assert mapped.retry_after == 7.0


def test_rate_limited_without_headers_has_no_retry_after() -> None:
    mapped = translate_ccxt_error(ccxt.RateLimitExceeded("slow down"), READ)

    assert isinstance(mapped, errors.RateLimited)
    assert mapped.retry_after is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"RETRY-AFTER": "1.5"}, 1.5),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_parse_retry_after_reads_seconds_and_http_dates(headers: dict[str, str] | None, expected: float | None) -> None:
    now = 1445412480.0  # 2015-10-21 07:28:00 UTC

    assert parse_retry_after(headers, now_s=now) == expected


def test_clock_skew_logs_the_adjust_for_time_difference_advice() -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        translate_ccxt_error(ccxt.InvalidNonce("-1021"), PLACE)

    assert any(e["event"] == "exchange_clock_skew" and "adjustForTimeDifference" in e["advice"] for e in logs)


@pytest.mark.asyncio
async def test_retry_transient_retries_then_returns() -> None:
    calls = 0

    @retry_transient(attempts=4, base=0.001, cap=0.002)
    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise errors.TransientExchangeError("503")
        return "ok"

    assert await flaky() == "ok"
    assert calls == 3


@pytest.mark.asyncio
async def test_retry_transient_gives_up_after_the_bounded_attempts() -> None:
    calls = 0

    @retry_transient(attempts=3, base=0.001, cap=0.002)
    async def down() -> None:
        nonlocal calls
        calls += 1
        raise errors.TransientExchangeError("503")

    with pytest.raises(errors.TransientExchangeError):
        await down()
    assert calls == 3


@pytest.mark.asyncio
async def test_retry_transient_never_retries_an_unknown_order_outcome() -> None:
    calls = 0

    @retry_transient(attempts=4, base=0.001, cap=0.002)
    async def place() -> None:
        nonlocal calls
        calls += 1
        raise errors.OrderOutcomeUnknown("timeout")

    with pytest.raises(errors.OrderOutcomeUnknown):
        await place()
    assert calls == 1


@pytest.mark.asyncio
async def test_retry_transient_does_not_retry_rejections() -> None:
    calls = 0

    @retry_transient(attempts=4, base=0.001, cap=0.002)
    async def rejected() -> None:
        nonlocal calls
        calls += 1
        raise errors.OrderRejected("no")

    with pytest.raises(errors.OrderRejected):
        await rejected()
    assert calls == 1


@pytest.mark.asyncio
async def test_retry_transient_sleeps_the_retry_after_of_a_rate_limit() -> None:
    calls = 0

    @retry_transient(attempts=2, base=0.001, cap=0.002)
    async def limited() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise errors.RateLimited("429", retry_after=0.2)
        return "ok"

    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await limited() == "ok"
    assert loop.time() - start >= 0.19
