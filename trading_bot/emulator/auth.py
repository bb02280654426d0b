"""Request authentication with Binance's rules: API key header, HMAC-SHA256 signature, recvWindow."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from trading_bot.emulator.errors import BinanceApiError

__all__ = ["check_api_key", "check_rest_signature", "check_timestamp", "check_ws_signature", "strip_signature"]

_MAX_RECV_WINDOW_MS = 60_000
_AHEAD_TOLERANCE_MS = 1_000


def check_api_key(api_key: str | None, expected: str) -> None:
    """Refuse a missing or unknown API key with -2015 (HTTP 401).

    Raises:
        BinanceApiError: If the key is absent or not ``expected``.
    """
    if not api_key or not hmac.compare_digest(api_key, expected):
        raise BinanceApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)


def strip_signature(raw: str) -> tuple[str, str | None]:
    """Split a raw url-encoded parameter string into ``(payload without signature, signature)``."""
    kept: list[str] = []
    signature: str | None = None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def _verify(payload: str, signature: str | None, secret: str) -> None:
    if not signature:
        raise BinanceApiError(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise BinanceApiError(-1022, "Signature for this request is not valid.")


def check_rest_signature(raw_query: str, raw_body: str, secret: str) -> None:
    """Verify ``signature`` over the raw query string concatenated with the raw body.

    Raises:
        BinanceApiError: -1102 if no signature was sent, -1022 if it does not match.
    """
    query, sig_q = strip_signature(raw_query)
    body, sig_b = strip_signature(raw_body)
    _verify(query + body, sig_q or sig_b, secret)


def check_ws_signature(params: Mapping[str, object], secret: str) -> None:
    """Verify a WS-API ``signature``: HMAC over the other params sorted by key, joined raw as ``k=v&...``.

    Raises:
        BinanceApiError: -1102 if no signature was sent, -1022 if it does not match.
    """
    payload = "&".join(f"{k}={_raw(params[k])}" for k in sorted(params) if k != "signature")
    signature = params.get("signature")
    _verify(payload, signature if isinstance(signature, str) else None, secret)


def _raw(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_timestamp(params: Mapping[str, str], server_ms: int) -> None:
    """Apply Binance's recvWindow rule to ``timestamp`` against the (possibly skewed) server clock.

    Raises:
        BinanceApiError: -1102 without a timestamp, -1131 on a bad recvWindow, -1021 outside the window.
    """
    try:
        timestamp = int(params["timestamp"])
    except (KeyError, ValueError):
        raise BinanceApiError(
            -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
        ) from None
    try:
        recv_window = int(params.get("recvWindow", "5000"))
    except ValueError:
        raise BinanceApiError(-1131, "recvWindow must be less than 60000") from None
    if recv_window <= 0 or recv_window > _MAX_RECV_WINDOW_MS:
        raise BinanceApiError(-1131, "recvWindow must be less than 60000")
    if timestamp > server_ms + _AHEAD_TOLERANCE_MS:
        raise BinanceApiError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if server_ms - timestamp > recv_window:
        raise BinanceApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
