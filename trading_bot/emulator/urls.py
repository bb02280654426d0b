"""The ccxt constructor configs that point real ccxt at a loopback emulator (CCXT_BINANCE.md §1,
docs/CCXT_BINANCEUSDM.md §1).

ccxt deep-merges ``urls.api`` over its own table, so every REST base URL is overridden (otherwise some
stay on ``*.binance.com``). Spot: ``ccxt.pro.binance(ccxt_config(port))``. USDⓈ-M futures:
``ccxt.pro.binanceusdm(ccxt_usdm_config(port))``; its user stream and market streams use
``urls.api.ws.linear`` = ``ws://host:port/fstream/ws`` (ccxt rewrites it to ``/fstream/{public,market,
private}/ws``, all served). Credentials are the emulator's (``EmulatorConfig.api_key``/``api_secret``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["REST_PATHS", "ccxt_config", "ccxt_options", "ccxt_usdm_config", "ccxt_usdm_options"]

REST_PATHS = {
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
    "dapiPublic": "/dapi/v1",
    "dapiPrivate": "/dapi/v1",
    "dapiPrivateV2": "/dapi/v2",
    "dapiData": "/futures/data",
    "eapiPublic": "/eapi/v1",
    "eapiPrivate": "/eapi/v1",
    "papi": "/papi/v1",
    "papiV2": "/papi/v2",
}
"""Every base URL key of ccxt's binance ``urls.api`` table and its path on the emulator."""
_WS_TYPES = ("spot", "margin", "linear", "inverse", "stock", "option", "optionMarket", "optionPrivate", "papi")
_COMMON_OPTIONS = {"fetchMargins": False, "fetchCurrencies": False, "adjustForTimeDifference": False,
                   "recvWindow": 10000}  # fmt: skip


def _api(port: int, host: str) -> dict[str, Any]:
    http, ws = f"http://{host}:{port}", f"ws://{host}:{port}"
    api: dict[str, Any] = {k: http + p for k, p in REST_PATHS.items()}
    api["ws"] = {k: f"{ws}/stream/ws" for k in _WS_TYPES}
    api["ws"]["linear"] = f"{ws}/fstream/ws"
    api["ws"]["ws-api"] = {"spot": f"{ws}/ws-api/v3", "linear": f"{ws}/ws-fapi/v1", "inverse": f"{ws}/ws-dapi/v1"}
    return api


def ccxt_options(port: int, host: str = "127.0.0.1") -> dict[str, Any]:
    """Return the spot ``ccxt.binance`` config without credentials (load_markets: one GET /api/v3/exchangeInfo)."""
    return {"urls": {"api": _api(port, host)},
            "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}, **_COMMON_OPTIONS}}  # fmt: skip


def ccxt_usdm_options(port: int, host: str = "127.0.0.1") -> dict[str, Any]:
    """Return the ``ccxt.binanceusdm`` config without credentials (load_markets: one GET /fapi/v1/exchangeInfo)."""
    options = {"defaultType": "swap", "defaultSubType": "linear", "fetchMarkets": {"types": ["linear"]},
               **_COMMON_OPTIONS}  # fmt: skip
    return {"urls": {"api": _api(port, host)}, "options": options}


def ccxt_config(port: int, api_key: str, secret: str, host: str = "127.0.0.1") -> dict[str, Any]:
    """Return the full spot ccxt config with the emulator's key and secret."""
    return {"apiKey": api_key, "secret": secret, **ccxt_options(port, host)}


def ccxt_usdm_config(port: int, api_key: str, secret: str, host: str = "127.0.0.1") -> dict[str, Any]:
    """Return the full ``binanceusdm`` config with the emulator's key and secret."""
    return {"apiKey": api_key, "secret": secret, **ccxt_usdm_options(port, host)}
