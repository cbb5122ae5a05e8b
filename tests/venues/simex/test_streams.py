"""simex's websocket streams: ccxt pro keeps a synced book and sees our orders."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from fundarb.venues.simex import binanceusdm_client
from tests.venues.simex.conftest import API_KEY, API_SECRET, Simex

pytestmark = pytest.mark.looptime(False)

BTC = "BTC/USDT:USDT"


@pytest.fixture
async def pro(simex: Simex) -> AsyncIterator[Any]:
    client = binanceusdm_client(
        simex.address.url,
        api_key=API_KEY,
        secret=API_SECRET,
        pro=True,
        config={"options": {"watchPositions": {"fetchPositionsSnapshot": False}}},
    )
    try:
        yield client
    finally:
        await client.close()


async def test_watch_order_book_follows_the_venue_book(simex: Simex, pro: Any) -> None:
    first = await asyncio.wait_for(pro.watch_order_book(BTC), 5)
    first_nonce = first["nonce"]
    simex.venue.set_book(
        "BTCUSDT", bids=[("59999.9", "3"), ("59999.5", "1")], asks=[("60000.0", "2")]
    )

    second = await asyncio.wait_for(pro.watch_order_book(BTC), 5)

    assert second["nonce"] > first_nonce
    assert second["bids"][:2] == [[59999.9, 3.0], [59999.5, 1.0]]
    assert second["asks"][:1] == [[60000.0, 2.0]]
    assert [59999.0, 5.0] not in second["bids"]  # the level set_book removed is gone


async def test_watch_orders_sees_a_market_order_fill(simex: Simex, pro: Any) -> None:
    watching = asyncio.create_task(pro.watch_orders(BTC))
    await asyncio.wait_for(_user_stream_connected(pro), 5)

    placed = await pro.create_order(BTC, "market", "buy", 0.01)
    orders = await asyncio.wait_for(watching, 5)

    assert orders[-1]["id"] == placed["id"]
    assert orders[-1]["filled"] == 0.01


async def _user_stream_connected(pro: Any) -> None:
    while True:
        for url, client in list(pro.clients.items()):
            if "listenKey=" in url:
                await client.connected
                return
        await asyncio.sleep(0.01)


async def _ws(simex: Simex, path: str) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    url = "ws" + simex.address.url.removeprefix("http") + path
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
        yield socket


async def _next_json(socket: aiohttp.ClientWebSocketResponse) -> Any:
    return json.loads(await asyncio.wait_for(socket.receive_str(), 5))


async def test_subscribe_to_book_ticker_and_mark_price(simex: Simex) -> None:
    async for socket in _ws(simex, "/ws"):
        await socket.send_json(
            {
                "method": "SUBSCRIBE",
                "params": ["btcusdt@bookTicker", "btcusdt@markPrice@1s"],
                "id": 7,
            }
        )
        assert await _next_json(socket) == {"result": None, "id": 7}
        simex.venue.set_book("BTCUSDT", bids=[("59999.8", "1")], asks=[("60000.0", "2")])

        seen: dict[str, Any] = {}
        while len(seen) < 2:
            event = await _next_json(socket)
            seen.setdefault(event["e"], event)

        assert seen["bookTicker"]["b"] == "59999.8"
        assert seen["bookTicker"]["a"] == "60000"
        assert seen["markPriceUpdate"]["s"] == "BTCUSDT"
        assert seen["markPriceUpdate"]["r"] == "0.0001"


async def test_combined_stream_wraps_payloads(simex: Simex) -> None:
    async for socket in _ws(simex, "/stream?streams=btcusdt@depth@100ms"):
        simex.venue.set_book("BTCUSDT", bids=[("59999.8", "1")], asks=[("60000.0", "2")])

        message = await _next_json(socket)

        assert message["stream"] == "btcusdt@depth@100ms"
        assert message["data"]["e"] == "depthUpdate"
        assert message["data"]["pu"] == message["data"]["U"] - 1


async def test_user_stream_sends_order_and_account_updates(simex: Simex) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{simex.address.url}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": API_KEY}
        ) as response,
    ):
        listen_key = (await response.json())["listenKey"]
    async for socket in _ws(simex, f"/ws/{listen_key}"):
        await simex.venue.place_market_order("BTCUSDT", Decimal("0.01"), "buy")

        kinds: dict[str, Any] = {}
        while "ACCOUNT_UPDATE:" not in kinds:
            event = await _next_json(socket)
            kinds.setdefault(f"{event['e']}:{event.get('o', {}).get('x', '')}", event)

        trade = kinds["ORDER_TRADE_UPDATE:TRADE"]["o"]
        assert (trade["s"], trade["S"], trade["X"], trade["l"]) == (
            "BTCUSDT",
            "BUY",
            "FILLED",
            "0.01",
        )
        position = kinds["ACCOUNT_UPDATE:"]["a"]["P"][0]
        assert (position["s"], position["pa"]) == ("BTCUSDT", "0.01")


async def test_listen_key_needs_the_api_key(simex: Simex) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{simex.address.url}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": "wrong"}
        ) as response,
    ):
        assert response.status == 401
        assert (await response.json())["code"] == -2015
