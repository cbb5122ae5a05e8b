"""simex's answers on the wire: Binance's HTTP statuses, error codes and string amounts."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

import fundarb.venues.simex
from fundarb.venues.sim import Fault
from fundarb.venues.simex import serve
from tests.venues.simex.conftest import API_KEY, API_SECRET, Simex

pytestmark = pytest.mark.looptime(False)


def _signed(params: dict[str, str], *, secret: str = API_SECRET, skew_ms: int = 0) -> str:
    query = urlencode({**params, "timestamp": str(int(time.time() * 1000) + skew_ms)})
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={signature}"


async def _get(
    simex: Simex, path: str, query: str, *, api_key: str | None = API_KEY
) -> tuple[int, Any, Mapping[str, str]]:
    headers = {"X-MBX-APIKEY": api_key} if api_key else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{simex.address.url}{path}?{query}", headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None), response.headers


@pytest.mark.parametrize(
    ("secret", "skew_ms", "api_key", "status", "code"),
    [
        (API_SECRET, 0, API_KEY, 200, None),
        ("not-the-secret", 0, API_KEY, 400, -1022),
        (API_SECRET, 0, "not-the-key", 401, -2015),
        (API_SECRET, 0, None, 401, -2014),
        (API_SECRET, -30_000, API_KEY, 400, -1021),  # older than the 5 s default recvWindow
        (API_SECRET, 5_000, API_KEY, 400, -1021),  # more than 1 s ahead of the server
    ],
)
async def test_signed_request_checks(
    simex: Simex, secret: str, skew_ms: int, api_key: str | None, status: int, code: int | None
) -> None:
    query = _signed({}, secret=secret, skew_ms=skew_ms)

    got_status, body, _ = await _get(simex, "/fapi/v2/balance", query, api_key=api_key)

    assert got_status == status
    if code is not None:
        assert isinstance(body, dict)
        assert body["code"] == code
        assert isinstance(body["msg"], str)


async def test_balance_amounts_are_strings(simex: Simex) -> None:
    status, body, _ = await _get(simex, "/fapi/v2/balance", _signed({}))

    assert status == 200
    assert isinstance(body, list)
    assert body[0]["asset"] == "USDT"
    assert body[0]["balance"] == "100000"
    assert body[0]["availableBalance"] == "100000"


async def test_rate_limit_fault_is_429_with_retry_after(simex: Simex) -> None:
    simex.venue.faults.add(Fault.rate_limit(retry_after_s=3, on=frozenset({"get_balance"})))

    status, body, headers = await _get(simex, "/fapi/v2/balance", _signed({}))

    assert status == 429
    assert isinstance(body, dict)
    assert body["code"] == -1003
    assert headers["Retry-After"] == "3"


async def test_unknown_symbol_is_1121(simex: Simex) -> None:
    status, body, _ = await _get(simex, "/fapi/v1/depth", "symbol=DOGEUSDT")

    assert status == 400
    assert body == {"code": -1121, "msg": "Invalid symbol."}


async def test_exchange_info_filters_come_from_the_market_spec(simex: Simex) -> None:
    status, body, _ = await _get(simex, "/fapi/v1/exchangeInfo", "")

    assert status == 200
    assert isinstance(body, dict)
    [btc] = [s for s in body["symbols"] if s["symbol"] == "BTCUSDT"]
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert btc["contractType"] == "PERPETUAL"
    assert btc["status"] == "TRADING"
    assert (btc["baseAsset"], btc["quoteAsset"], btc["marginAsset"]) == ("BTC", "USDT", "USDT")
    assert filters["PRICE_FILTER"]["tickSize"] == "0.1"
    assert filters["LOT_SIZE"]["stepSize"] == "0.001"
    assert filters["LOT_SIZE"]["minQty"] == "0.001"
    assert filters["MIN_NOTIONAL"]["notional"] == "100"


async def test_premium_index_funding_info_and_history(simex: Simex) -> None:
    _, premium, _ = await _get(simex, "/fapi/v1/premiumIndex", "symbol=BTCUSDT")
    _, info, _ = await _get(simex, "/fapi/v1/fundingInfo", "")
    _, history, _ = await _get(simex, "/fapi/v1/fundingRate", "symbol=BTCUSDT&limit=5")

    assert isinstance(premium, dict)
    assert premium["lastFundingRate"] == "0.0001"
    assert premium["nextFundingTime"] % (8 * 3_600_000) == 0
    assert isinstance(info, list)
    assert {i["fundingIntervalHours"] for i in info} == {8}
    assert isinstance(history, list)  # the venue started at a funding time: none settled yet


def test_public_names_are_pinned() -> None:
    assert fundarb.venues.simex.__all__ == [
        "ServerAddress",
        "binanceusdm_client",
        "create_app",
        "serve",
    ]


async def test_admin_endpoints_are_off_by_default(simex: Simex) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{simex.address.url}/simex/admin/faults", headers={"X-MBX-APIKEY": API_KEY}
        ) as response,
    ):
        assert response.status == 404


async def test_admin_arms_a_fault_that_the_client_then_meets(simex: Simex) -> None:
    async with serve(simex.venue, api_key=API_KEY, api_secret=API_SECRET, admin=True) as admin:
        fault = {"kind": "rate_limit", "on": ["get_balance"], "retry_after_s": 2}
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{admin.url}/simex/admin/faults", json=fault, headers={"X-MBX-APIKEY": API_KEY}
            ) as response,
        ):
            armed = await response.json()
        status, body, _ = await _get(simex, "/fapi/v2/balance", _signed({}))
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{admin.url}/simex/admin/faults",
                json={"kind": "no-such-kind"},
                headers={"X-MBX-APIKEY": API_KEY},
            ) as bad,
        ):
            bad_status = bad.status

    assert response.status == 200
    assert armed[0]["kind"] == "rate_limit"
    assert (status, body["code"]) == (429, -1003)
    assert bad_status == 400
    assert simex.venue.faults.pending == []
