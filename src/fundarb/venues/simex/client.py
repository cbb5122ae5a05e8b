"""An unmodified ccxt ``binanceusdm`` pointed at a simex server.

ccxt picks its USDⓈ-M error table by the URL's host (``https://fapi.binance.com/``); the
only change here is that a simex URL is read as that host, so ``-2019`` still raises
``InsufficientFunds`` and ``-4164`` ``InvalidOrder``. Requests, signing and parsing are
ccxt's own.
"""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

__all__ = ["binanceusdm_client"]

_LIVE_FAPI = "https://fapi.binance.com/"
_API_PATHS = {
    "fapiPublic": "/fapi/v1",
    "fapiPrivate": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
}


class _LocalBinanceUsdm(ccxt_async.binanceusdm):  # type: ignore[misc]  # ccxt is untyped
    """``binanceusdm`` whose error table follows a simex base URL as if it were fapi's."""

    simex_url: str = ""

    def get_exceptions_by_url(self, url: Any, exactOrBroad: str) -> Any:
        if isinstance(url, str) and self.simex_url and url.startswith(self.simex_url + "/"):
            url = _LIVE_FAPI + url[len(self.simex_url) + 1 :]
        return super().get_exceptions_by_url(url, exactOrBroad)


class _LocalBinanceUsdmPro(ccxt_pro.binanceusdm):  # type: ignore[misc]  # ccxt is untyped
    """The websocket ``binanceusdm``, with the same error-table reading as above."""

    simex_url: str = ""

    def get_exceptions_by_url(self, url: Any, exactOrBroad: str) -> Any:
        if isinstance(url, str) and self.simex_url and url.startswith(self.simex_url + "/"):
            url = _LIVE_FAPI + url[len(self.simex_url) + 1 :]
        return super().get_exceptions_by_url(url, exactOrBroad)


def binanceusdm_client(
    base_url: str,
    *,
    api_key: str,
    secret: str,
    config: dict[str, Any] | None = None,
    pro: bool = False,
) -> Any:
    """A ccxt ``binanceusdm`` (async) that trades on the simex server at ``base_url``.

    ``pro``: ccxt's websocket client (``watch_order_book``, ``watch_orders``, ...), with
    its linear stream URL pointed at the server too.

    Only linear markets are loaded and currencies are not fetched (simex has no ``sapi``).
    ``config`` is merged into ccxt's constructor config. Close it with ``await client.close()``.
    """
    base_url = base_url.rstrip("/")
    options = {"fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False}
    merged: dict[str, Any] = {"apiKey": api_key, "secret": secret, "options": options}
    for key, value in (config or {}).items():
        if key == "options":
            options.update(value)
        else:
            merged[key] = value
    client = (_LocalBinanceUsdmPro if pro else _LocalBinanceUsdm)(merged)
    client.simex_url = base_url
    client.urls["api"] = {
        **client.urls["api"],
        **{name: base_url + path for name, path in _API_PATHS.items()},
    }
    if pro:
        ws_base = "ws" + base_url.removeprefix("http")
        client.urls["api"]["ws"] = {**client.urls["api"]["ws"], "linear": ws_base + "/ws"}
    return client
