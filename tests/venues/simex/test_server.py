"""An unmodified ccxt binanceusdm trades against simex over real local sockets."""

from __future__ import annotations

from decimal import Decimal

import ccxt.async_support as ccxt_async
import pytest
from ccxt.base import errors as ccxt_errors

from fundarb.venues.sim import Fault
from fundarb.venues.simex import binanceusdm_client
from tests.venues.simex.conftest import API_KEY, Simex

pytestmark = pytest.mark.looptime(False)

BTC = "BTC/USDT:USDT"


async def test_load_markets_lists_the_venue_symbols_with_their_filters(simex: Simex) -> None:
    markets = await simex.client.load_markets()

    btc = markets[BTC]
    assert btc["id"] == "BTCUSDT"
    assert btc["swap"]
    assert btc["linear"]
    assert btc["precision"]["price"] == 0.1
    assert btc["precision"]["amount"] == 0.001
    assert btc["limits"]["cost"]["min"] == 100
    assert "ETH/USDT:USDT" in markets


async def test_order_book_is_the_venue_book(simex: Simex) -> None:
    book = await simex.client.fetch_order_book(BTC, 5)

    assert book["bids"][0] == [59999.9, 2.0]
    assert book["asks"][0] == [60000.0, 2.0]
    assert book["nonce"] is not None


async def test_limit_order_by_id_and_client_id_then_cancel(simex: Simex) -> None:
    placed = await simex.client.create_order(
        BTC, "limit", "buy", 0.01, 59000, {"clientOrderId": "leg-1"}
    )

    by_id = await simex.client.fetch_order(placed["id"], BTC)
    by_client_id = await simex.client.fetch_order(None, BTC, {"clientOrderId": "leg-1"})
    open_orders = await simex.client.fetch_open_orders(BTC)
    cancelled = await simex.client.cancel_order(placed["id"], BTC)

    assert placed["status"] == "open"
    assert placed["clientOrderId"] == "leg-1"
    assert by_id["id"] == by_client_id["id"] == placed["id"]
    assert by_id["amount"] == 0.01
    assert by_id["price"] == 59000
    assert [o["id"] for o in open_orders] == [placed["id"]]
    assert cancelled["status"] == "canceled"
    assert await simex.client.fetch_open_orders(BTC) == []
    info = await simex.venue.get_order_by_client_id("leg-1")
    assert info is not None
    assert info.status == "CANCELED"


async def test_market_order_fills_and_shows_in_trades_positions_and_balance(simex: Simex) -> None:
    order = await simex.client.create_order(BTC, "market", "buy", 0.01)

    trades = await simex.client.fetch_my_trades(BTC)
    positions = await simex.client.fetch_positions([BTC])
    balance = await simex.client.fetch_balance()

    assert order["status"] == "closed"
    assert order["filled"] == 0.01
    assert order["average"] == 60000.0
    assert [(t["order"], t["side"], t["amount"], t["price"]) for t in trades] == [
        (order["id"], "buy", 0.01, 60000.0)
    ]
    assert trades[0]["fee"]["cost"] == pytest.approx(0.3)  # 600 USDT notional x 5 bps taker
    [position] = positions
    assert position["symbol"] == BTC
    assert position["side"] == "long"
    assert position["contracts"] == 0.01
    assert position["entryPrice"] == 60000.0
    assert balance["USDT"]["total"] == pytest.approx(100000 - 0.3, abs=1)
    assert balance["USDT"]["free"] < balance["USDT"]["total"]
    venue_position = await simex.venue.get_position("BTCUSDT")
    assert venue_position is not None
    assert venue_position.quantity == Decimal("0.01")


async def test_post_only_that_would_cross_is_refused(simex: Simex) -> None:
    with pytest.raises(ccxt_errors.InvalidOrder, match="-5022"):
        await simex.client.create_order(BTC, "limit", "buy", 0.01, 60000.0, {"postOnly": True})


async def test_duplicate_client_order_id_is_refused(simex: Simex) -> None:
    await simex.client.create_order(BTC, "limit", "buy", 0.01, 59000, {"clientOrderId": "dup"})

    with pytest.raises(ccxt_errors.InvalidOrder, match="-4116"):
        await simex.client.create_order(BTC, "limit", "buy", 0.01, 59000, {"clientOrderId": "dup"})


async def test_set_leverage_and_funding_rate(simex: Simex) -> None:
    answer = await simex.client.set_leverage(5, BTC)
    rate = await simex.client.fetch_funding_rate(BTC)

    assert answer["leverage"] == 5
    assert rate["fundingRate"] == 0.0001
    assert rate["markPrice"] > 0
    assert rate["fundingTimestamp"] > 0


async def test_fetch_time_and_ticker(simex: Simex) -> None:
    server_ms = await simex.client.fetch_time()
    ticker = await simex.client.fetch_ticker(BTC)

    assert abs(server_ms - simex.client.milliseconds()) < 5_000
    assert ticker["symbol"] == BTC


@pytest.mark.parametrize(
    ("api_key", "secret", "code"),
    [(API_KEY, "wrong-secret", "-1022"), ("wrong-key", "whatever", "-2015")],
)
async def test_bad_credentials_raise_authentication_error(
    simex: Simex, api_key: str, secret: str, code: str
) -> None:
    client = binanceusdm_client(simex.address.url, api_key=api_key, secret=secret)
    try:
        await client.load_markets()
        with pytest.raises(ccxt_errors.AuthenticationError, match=code):
            await client.fetch_balance()
    finally:
        await client.close()


async def test_stale_timestamp_is_refused(simex: Simex) -> None:
    simex.client.options["timeDifference"] = 120_000  # the client's clock two minutes slow

    with pytest.raises(ccxt_errors.InvalidNonce, match="-1021"):
        await simex.client.fetch_balance()


async def test_cancel_of_unknown_order_is_order_not_found(simex: Simex) -> None:
    with pytest.raises(ccxt_errors.OrderNotFound, match="-2011"):
        await simex.client.cancel_order("987654", BTC)
    with pytest.raises(ccxt_errors.OrderNotFound, match="-2013"):
        await simex.client.fetch_order("987654", BTC)


async def test_too_small_order_is_invalid_order(simex: Simex) -> None:
    # 0.001 BTC at 59000 is 59 USDT, under the 100 USDT minimum notional
    with pytest.raises(ccxt_errors.InvalidOrder, match="-4164"):
        await simex.client.create_order(BTC, "limit", "buy", 0.001, 59000)


@pytest.mark.parametrize("initial_balance", [Decimal("50")])
async def test_order_beyond_margin_is_insufficient_funds(simex: Simex) -> None:
    with pytest.raises(ccxt_errors.InsufficientFunds, match="-2019"):
        await simex.client.create_order(BTC, "limit", "buy", 0.1, 59000)
    assert await simex.venue.get_open_orders() == []


async def test_rate_limit_fault_is_429(simex: Simex) -> None:
    simex.venue.faults.add(Fault.rate_limit(on=frozenset({"get_balance"})))

    with pytest.raises(ccxt_errors.DDoSProtection):
        await simex.client.fetch_balance()


def test_client_is_an_unmodified_binanceusdm() -> None:
    client = binanceusdm_client("http://127.0.0.1:1", api_key="k", secret="s")

    assert isinstance(client, ccxt_async.binanceusdm)
    assert client.urls["api"]["fapiPrivate"] == "http://127.0.0.1:1/fapi/v1"
