"""``CcxtExchangeClient`` over the real ccxt ``bybit``, ``okx`` and ``hyperliquid`` classes,
their HTTP answered from payloads written by hand in the shapes of each exchange's API
documentation (``fixtures/`` here and ``tests/funding/fixtures/``): market specs, books,
orders placed, looked up and cancelled, fills, positions, balances, funding. No network;
ccxt's request building, signing, error conventions and parsing run unmodified.

Hyperliquid signs every action with an Ethereum key: a throwaway key made up for these
tests (never a real one) signs through ccxt's own bundled secp256k1 code.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt.async_support as ccxt
import pytest

from fundarb.venues import OrderResult
from fundarb.venues.ccxt import AccountRateLimiter, CcxtExchangeClient

HERE = Path(__file__).parent / "fixtures"
FUNDING = Path(__file__).parents[2] / "funding" / "fixtures"

# a throwaway key for signing in tests only: it holds nothing and is known to everyone
HL_PRIVATE_KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
HL_WALLET = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"


def load(path: Path) -> Any:
    return json.loads(path.read_text())


Handler = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Route:
    """``method`` and URL ``path``; ``match``: query (GET) or JSON body (POST) fields that
    must be equal; ``answer``: a fixture path, or a handler of the request's fields that
    returns the JSON value to answer."""

    method: str
    path: str
    answer: Path | Handler
    match: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Sent:
    method: str
    path: str
    fields: dict[str, Any]
    headers: dict[str, str]


class Transport:
    """Answers ccxt's HTTP calls in place of the network, and remembers them."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        self.sent: list[Sent] = []

    def answer(self, method: str, url: str, headers: Any, body: Any) -> str:
        parts = urlsplit(url)
        fields: dict[str, Any] = dict(parse_qsl(parts.query))
        if body:
            decoded = json.loads(body)
            # OKX posts a list of orders even for one
            fields |= decoded[0] if isinstance(decoded, list) and len(decoded) == 1 else decoded
        self.sent.append(Sent(method, parts.path, fields, dict(headers or {})))
        for route in self.routes:
            if route.method != method or route.path != parts.path:
                continue
            if any(_field(fields, k) != v for k, v in (route.match or {}).items()):
                continue
            if isinstance(route.answer, Path):
                return route.answer.read_text()
            return json.dumps(route.answer(fields))
        raise AssertionError(f"no recorded answer for {method} {url} {body}")

    def calls(self, method: str, path: str) -> list[Sent]:
        return [s for s in self.sent if s.method == method and s.path == path]


def _field(fields: Mapping[str, Any], key: str) -> Any:
    """A field, or a dotted path into the JSON body (``action.type``)."""
    value: Any = fields
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def recorded(name: str, routes: list[Route], **config: Any) -> tuple[Any, Transport]:
    """The real ccxt class ``name`` with its HTTP layer answering from ``routes``."""
    transport = Transport(routes)

    class Recorded(getattr(ccxt, name)):  # type: ignore[misc]
        async def fetch(
            self, url: str, method: str = "GET", headers: Any = None, body: Any = None
        ) -> Any:
            text = transport.answer(method, url, headers, body)
            parsed = self.parse_json(text)
            # the venue's error conventions (retCode, code, status err) are ccxt's to apply
            self.handle_errors(200, "OK", url, method, {}, text, parsed, headers, body)
            return parsed

    # the tests run on a fast-forwarded loop clock: ccxt's throttle counts wall time
    settings = {"enableRateLimit": False, "timeout_on_exit": 0, **config}
    return Recorded(settings), transport


def client_of(exchange: Any) -> CcxtExchangeClient:
    return CcxtExchangeClient(exchange, limiter=AccountRateLimiter(rate_per_s=1000, burst=1000))


@pytest.fixture
async def made() -> AsyncIterator[list[Any]]:
    exchanges: list[Any] = []
    yield exchanges
    for exchange in exchanges:
        await exchange.close()


def client_id(result: OrderResult) -> str:
    assert result.client_order_id is not None
    return result.client_order_id


def at(milliseconds: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=milliseconds)


# -- Bybit v5 (linear USDT perpetuals) -------------------------------------------------------

BYBIT_BTC = "BTC/USDT:USDT"


class FakeBybit:
    """Bybit v5's order endpoints: the order placed is the one looked up. As documented,
    ``/v5/order/realtime`` lists open orders, and with ``openOnly=1`` recently closed ones."""

    def __init__(self) -> None:
        self.link_id = ""
        self.filled = False  # the order has filled: no longer open
        self.cancelled = False  # the order was cancelled (after filling 0.004 of 0.010)

    def create(self, fields: Mapping[str, Any]) -> Any:
        self.link_id = str(fields["orderLinkId"])
        payload = load(HERE / "bybit_order_create.json")
        payload["result"]["orderLinkId"] = self.link_id
        return payload

    def cancel(self, fields: Mapping[str, Any]) -> Any:
        """As documented: the ids only. The order is cancelled with what it had filled."""
        payload = load(HERE / "bybit_order_cancel.json")
        payload["result"]["orderLinkId"] = self.link_id
        self.cancelled = True
        return payload

    def realtime(self, fields: Mapping[str, Any]) -> Any:
        payload = load(HERE / "bybit_order_realtime.json")
        row = payload["result"]["list"][0]
        row["orderLinkId"] = self.link_id
        if self.filled:
            row.update(orderStatus="Filled", leavesQty="0", leavesValue="0", cumExecQty="0.010")
        if self.cancelled:
            row.update(orderStatus="Cancelled", cancelType="CancelByUser", leavesQty="0")
        done = self.filled or self.cancelled
        wanted = fields.get("orderId") or row["orderId"]
        linked = fields.get("orderLinkId") or row["orderLinkId"]
        closed_asked = fields.get("openOnly") == "1"
        if wanted != row["orderId"] or linked != row["orderLinkId"] or closed_asked != done:
            payload["result"]["list"] = []
        return payload


def bybit(made: list[Any]) -> tuple[CcxtExchangeClient, Transport, FakeBybit]:
    fake = FakeBybit()
    empty = FUNDING / "bybit_empty.json"
    routes = [
        Route("GET", "/v5/asset/coin/query-info", lambda f: {"retCode": 0, "result": {"rows": []}}),
        Route("GET", "/v5/market/instruments-info", empty, {"status": "PreLaunch"}),
        Route(
            "GET",
            "/v5/market/instruments-info",
            FUNDING / "bybit_instruments_linear.json",
            {"category": "linear"},
        ),
        Route("GET", "/v5/market/instruments-info", empty),  # spot, inverse, option
        Route("GET", "/v5/market/orderbook", HERE / "bybit_orderbook_btcusdt.json"),
        Route("GET", "/v5/market/tickers", FUNDING / "bybit_tickers_linear.json"),
        Route("GET", "/v5/user/query-api", HERE / "bybit_user_query_api.json"),
        Route("GET", "/v5/account/info", HERE / "bybit_account_info.json"),
        Route("POST", "/v5/order/create", fake.create),
        Route("GET", "/v5/order/realtime", fake.realtime),
        Route("POST", "/v5/order/cancel", fake.cancel),
        Route("GET", "/v5/execution/list", HERE / "bybit_execution_list.json"),
        Route("GET", "/v5/position/list", HERE / "bybit_position_list.json"),
        Route("GET", "/v5/account/wallet-balance", HERE / "bybit_wallet_balance.json"),
    ]
    exchange, transport = recorded("bybit", routes, apiKey="bybit-key", secret="bybit-secret")
    made.append(exchange)
    return client_of(exchange), transport, fake


async def test_bybit_market_spec_from_instruments_info(made: list[Any]) -> None:
    client, _, _ = bybit(made)

    spec = await client.get_market_spec("BTCUSDT")

    assert spec.symbol == BYBIT_BTC
    assert (spec.tick_size, spec.lot_size, spec.min_quantity) == (
        Decimal("0.1"),
        Decimal("0.001"),
        Decimal("0.001"),
    )
    assert (spec.contract_size, spec.max_quantity) == (Decimal(1), Decimal(1190))
    assert (spec.base_asset, spec.quote_asset) == ("BTC", "USDT")


async def test_bybit_book_in_base_units(made: list[Any]) -> None:
    client, transport, _ = bybit(made)

    book = await client.get_order_book_depth(BYBIT_BTC, 2)

    assert book["bids"] == [
        {"price": Decimal("64990.10"), "size": Decimal("1.528")},
        {"price": Decimal("64990.00"), "size": Decimal("0.004")},
    ]
    assert book["asks"][0] == {"price": Decimal("64990.20"), "size": Decimal("2.105")}
    assert book["timestamp"] == 1716863719031
    (sent,) = transport.calls("GET", "/v5/market/orderbook")
    assert (sent.fields["category"], sent.fields["symbol"]) == ("linear", "BTCUSDT")


async def test_bybit_limit_order_carries_order_link_id_and_is_found_by_it(
    made: list[Any],
) -> None:
    client, transport, _ = bybit(made)

    result = await client.place_limit_order(
        BYBIT_BTC, Decimal("0.010"), Decimal("64990.04"), "buy", post_only=True
    )

    (sent,) = transport.calls("POST", "/v5/order/create")
    assert sent.fields["orderLinkId"] == client_id(result)
    assert client_id(result).startswith("fa")
    assert (sent.fields["symbol"], sent.fields["side"], sent.fields["orderType"]) == (
        "BTCUSDT",
        "Buy",
        "Limit",
    )
    assert (sent.fields["qty"], sent.fields["price"]) == ("0.01", "64990")  # a buy rounds down
    assert sent.fields["timeInForce"] == "PostOnly"
    assert "X-BAPI-SIGN" in sent.headers
    assert "bybit-secret" not in json.dumps(sent.fields)
    assert result.success
    assert result.order_id == "1321003749386327552"
    assert result.status == "UNKNOWN"  # acknowledged by ids only: not yet known to rest
    assert result.size == Decimal("0.010")
    info = await client.get_order_info(result.order_id, BYBIT_BTC)
    by_client_id = await client.get_order_by_client_id(client_id(result))

    assert info is not None
    assert by_client_id is not None
    assert info == by_client_id
    assert info.status == "PARTIALLY_FILLED"
    assert (info.size, info.filled_size, info.remaining_size) == (
        Decimal("0.010"),
        Decimal("0.004"),
        Decimal("0.006"),
    )
    assert (info.price, info.average_fill_price) == (Decimal("64990.00"), Decimal("64989.95"))
    assert info.client_order_id == client_id(result)
    lookups = transport.calls("GET", "/v5/order/realtime")
    assert lookups[0].fields["orderId"] == result.order_id
    assert lookups[-1].fields["orderLinkId"] == client_id(result)
    assert all("orderId" not in s.fields for s in lookups[1:])


async def test_bybit_filled_order_is_found_among_recently_closed(made: list[Any]) -> None:
    client, transport, fake = bybit(made)
    result = await client.place_limit_order(BYBIT_BTC, Decimal("0.010"), Decimal("64990"), "buy")
    fake.filled = True

    info = await client.get_order_by_client_id(client_id(result), BYBIT_BTC)

    assert info is not None
    assert info.status == "FILLED"
    assert (info.filled_size, info.remaining_size) == (Decimal("0.010"), Decimal(0))
    lookups = transport.calls("GET", "/v5/order/realtime")
    assert [s.fields["openOnly"] for s in lookups] == ["0", "1"]


async def test_bybit_unknown_order_is_none(made: list[Any]) -> None:
    client, _, _ = bybit(made)

    assert await client.get_order_info("1321003749386327999", BYBIT_BTC) is None


async def test_bybit_cancel_acknowledged_by_ids_is_read_back(made: list[Any]) -> None:
    client, transport, _ = bybit(made)
    placed = await client.place_limit_order(BYBIT_BTC, Decimal("0.010"), Decimal("64990"), "buy")
    assert placed.order_id is not None

    cancelled = await client.cancel_order(placed.order_id)

    (sent,) = transport.calls("POST", "/v5/order/cancel")
    assert sent.fields["orderId"] == placed.order_id
    assert cancelled.success
    assert cancelled.status == "CANCELED"
    assert cancelled.filled_size == Decimal("0.004")  # what filled before the cancel
    assert cancelled.client_order_id == client_id(placed)


async def test_bybit_fills_from_the_execution_list(made: list[Any]) -> None:
    client, transport, _ = bybit(made)

    (fill,) = await client.get_fills(BYBIT_BTC)

    assert transport.calls("GET", "/v5/execution/list")[0].fields["symbol"] == "BTCUSDT"
    assert (fill.order_id, fill.trade_id) == (
        "1321003749386327552",
        "e0cbe81d-0f18-5866-9415-cf319b5dab3b",
    )
    assert (fill.side.value, fill.price, fill.quantity) == (
        "buy",
        Decimal("64989.95"),
        Decimal("0.004"),
    )
    assert fill.fee == Decimal("0.05199196")
    assert fill.liquidity.value == "maker"
    assert fill.timestamp == at(1672211919029)


async def test_bybit_short_position_is_negative(made: list[Any]) -> None:
    client, _, _ = bybit(made)

    (position,) = await client.get_positions()
    same = await client.get_position(BYBIT_BTC)

    assert position == same
    assert position.symbol == BYBIT_BTC
    assert position.quantity == Decimal("-0.015")
    assert (position.entry_price, position.mark_price) == (Decimal("65012.4"), Decimal("64991.02"))
    assert position.liquidation_price == Decimal("77321.5")
    assert position.leverage == 5
    assert position.unrealized_pnl == Decimal("0.3207")


async def test_bybit_unified_wallet_balance(made: list[Any]) -> None:
    client, _, _ = bybit(made)

    balance = await client.get_balance()

    assert balance.asset == "USDT"
    assert balance.wallet_balance == Decimal("10020")
    assert balance.equity == Decimal("10020.3207")
    assert balance.unrealized_pnl == Decimal("0.3207")
    assert balance.margin_used == Decimal("195.0372")
    assert balance.maintenance_margin == Decimal("4.8759")
    assert balance.available == Decimal("9825.2835")


async def test_bybit_funding_rate_from_tickers(made: list[Any]) -> None:
    client, _, _ = bybit(made)

    rate = await client.get_funding_rate(BYBIT_BTC)

    assert rate.rate == Decimal("0.0001")
    assert rate.next_funding_time == at(1760371200000)
    assert (rate.mark_price, rate.index_price) == (Decimal("114898.43"), Decimal("114890.92"))
    assert rate.interval == timedelta(hours=8)  # fundingInterval 480 minutes


# -- OKX v5 (USDT-margined swaps: one BTC-USDT-SWAP contract is 0.01 BTC) --------------------

OKX_BTC = "BTC/USDT:USDT"


class FakeOkx:
    """OKX v5's order endpoints: the order placed is the one looked up."""

    def __init__(self) -> None:
        self.cl_ord_id = ""
        self.cancelled = False  # the order was cancelled (after filling 12 of 30 contracts)

    def place(self, fields: Mapping[str, Any]) -> Any:
        self.cl_ord_id = str(fields["clOrdId"])
        payload = load(HERE / "okx_order_place.json")
        payload["data"][0]["clOrdId"] = self.cl_ord_id
        return payload

    def cancel(self, fields: Mapping[str, Any]) -> Any:
        """As documented: the ids only, and ``sCode`` 0 for the order cancelled."""
        payload = load(HERE / "okx_cancel_order.json")
        payload["data"][0]["clOrdId"] = self.cl_ord_id
        self.cancelled = True
        return payload

    def get(self, fields: Mapping[str, Any]) -> Any:
        payload = load(HERE / "okx_order_get.json")
        row = payload["data"][0]
        row["clOrdId"] = self.cl_ord_id
        if self.cancelled:
            row.update(state="canceled", cancelSource="1", uTime="1695190492211")
        if (
            fields.get("ordId", row["ordId"]) != row["ordId"]
            or fields.get("clOrdId", row["clOrdId"]) != row["clOrdId"]
        ):
            return {"code": "51603", "msg": "Order does not exist", "data": []}
        return payload


def okx_funding(fields: Mapping[str, Any]) -> Any:
    payload = load(FUNDING / "okx_funding_rate.json")
    payload["data"] = [r for r in payload["data"] if r["instId"] == fields.get("instId")]
    return payload


def okx(made: list[Any]) -> tuple[CcxtExchangeClient, Transport, FakeOkx]:
    fake = FakeOkx()
    routes = [
        Route("GET", "/api/v5/asset/currencies", FUNDING / "okx_empty.json"),
        Route(
            "GET",
            "/api/v5/public/instruments",
            FUNDING / "okx_instruments_swap.json",
            {"instType": "SWAP"},
        ),
        Route("GET", "/api/v5/public/instruments", FUNDING / "okx_empty.json"),
        Route("GET", "/api/v5/market/books", HERE / "okx_books_btc_usdt_swap.json"),
        Route("GET", "/api/v5/public/funding-rate", okx_funding),
        Route("GET", "/api/v5/public/mark-price", HERE / "okx_mark_price.json"),
        Route("POST", "/api/v5/trade/order", fake.place),
        # ccxt places one order through the batch endpoint; its answer has the same shape
        Route("POST", "/api/v5/trade/batch-orders", fake.place),
        Route("GET", "/api/v5/trade/order", fake.get),
        Route("POST", "/api/v5/trade/cancel-order", fake.cancel),
        # ccxt reads our trades from fills-history (3 months): the shape of /trade/fills
        Route("GET", "/api/v5/trade/fills-history", HERE / "okx_fills_history.json"),
        Route("GET", "/api/v5/account/positions", HERE / "okx_account_positions.json"),
        Route("GET", "/api/v5/account/balance", HERE / "okx_account_balance.json"),
    ]
    exchange, transport = recorded(
        "okx", routes, apiKey="okx-key", secret="okx-secret", password="okx-passphrase"
    )
    made.append(exchange)
    return client_of(exchange), transport, fake


async def test_okx_market_spec_in_base_units_from_contracts(made: list[Any]) -> None:
    client, _, _ = okx(made)

    spec = await client.get_market_spec("BTC-USDT-SWAP")

    assert spec.symbol == OKX_BTC
    assert spec.contract_size == Decimal("0.01")  # ctVal
    assert spec.tick_size == Decimal("0.1")
    # lotSz and minSz are 0.01 contracts: 0.0001 BTC
    assert (spec.lot_size, spec.min_quantity) == (Decimal("0.0001"), Decimal("0.0001"))
    assert (spec.base_asset, spec.quote_asset) == ("BTC", "USDT")


async def test_okx_book_sizes_are_contracts_times_ct_val(made: list[Any]) -> None:
    client, transport, _ = okx(made)

    book = await client.get_order_book_depth(OKX_BTC, 2)

    assert book["bids"] == [
        {"price": Decimal("64001.1"), "size": Decimal("2.30")},
        {"price": Decimal("64001.0"), "size": Decimal("0.08")},
    ]
    assert book["asks"][0] == {"price": Decimal("64001.2"), "size": Decimal("1.50")}
    assert book["timestamp"] == 1695190486502
    assert transport.calls("GET", "/api/v5/market/books")[0].fields["instId"] == "BTC-USDT-SWAP"


async def test_okx_order_in_contracts_with_cl_ord_id_and_read_back_in_base(
    made: list[Any],
) -> None:
    client, transport, _ = okx(made)

    result = await client.place_limit_order(
        OKX_BTC, Decimal("0.3"), Decimal("64001.04"), "buy", post_only=True
    )

    (sent,) = transport.calls("POST", "/api/v5/trade/batch-orders")
    assert sent.fields["sz"] == "30"  # 0.3 BTC is 30 contracts of 0.01
    assert sent.fields["px"] == "64001"
    assert (sent.fields["instId"], sent.fields["side"], sent.fields["ordType"]) == (
        "BTC-USDT-SWAP",
        "buy",
        "post_only",
    )
    assert sent.fields["clOrdId"] == client_id(result)
    assert client_id(result).isalnum()
    assert len(client_id(result)) <= 32
    assert "OK-ACCESS-SIGN" in sent.headers
    assert result.success
    assert result.order_id == "312269865356374016"
    assert result.status == "UNKNOWN"  # acknowledged by ids only: not yet known to rest
    assert result.size == Decimal("0.30")  # base units, not contracts
    info = await client.get_order_info(result.order_id, OKX_BTC)
    by_client_id = await client.get_order_by_client_id(client_id(result))

    assert info is not None
    assert by_client_id is not None
    assert info == by_client_id
    assert info.status == "PARTIALLY_FILLED"
    assert (info.size, info.filled_size, info.remaining_size) == (
        Decimal("0.30"),
        Decimal("0.12"),
        Decimal("0.18"),
    )
    assert (info.price, info.average_fill_price) == (Decimal("64001.0"), Decimal("64000.9"))
    lookups = transport.calls("GET", "/api/v5/trade/order")
    assert lookups[0].fields["ordId"] == result.order_id
    assert lookups[-1].fields["clOrdId"] == client_id(result)


async def test_okx_funding_rate(made: list[Any]) -> None:
    client, _, _ = okx(made)

    rate = await client.get_funding_rate(OKX_BTC)

    assert rate.rate == Decimal("0.0000182221218054")
    assert rate.next_funding_time == at(1743609600000)  # fundingTime: the coming settlement
    assert rate.interval == timedelta(hours=8)
    # the funding-rate answer has no mark price: it comes from /api/v5/public/mark-price
    assert rate.mark_price == rate.index_price == Decimal("83913.7")


async def test_okx_cancel_acknowledged_by_ids_is_read_back_in_base(made: list[Any]) -> None:
    client, transport, _ = okx(made)
    placed = await client.place_limit_order(OKX_BTC, Decimal("0.3"), Decimal("64001"), "buy")
    assert placed.order_id is not None

    cancelled = await client.cancel_order(placed.order_id)

    (sent,) = transport.calls("POST", "/api/v5/trade/cancel-order")
    assert (sent.fields["instId"], sent.fields["ordId"]) == ("BTC-USDT-SWAP", placed.order_id)
    assert cancelled.success
    assert cancelled.status == "CANCELED"
    assert cancelled.filled_size == Decimal("0.12")  # 12 contracts of 0.01 filled before
    assert cancelled.size == Decimal("0.30")
    assert cancelled.client_order_id == client_id(placed)


async def test_okx_fills_in_base_units_with_the_fee_paid_positive(made: list[Any]) -> None:
    client, transport, _ = okx(made)

    (fill,) = await client.get_fills(OKX_BTC)

    (sent,) = transport.calls("GET", "/api/v5/trade/fills-history")
    assert (sent.fields["instId"], sent.fields["instType"]) == ("BTC-USDT-SWAP", "SWAP")
    assert (fill.order_id, fill.trade_id) == ("312269865356374016", "1104593826")
    assert (fill.side.value, fill.price) == ("buy", Decimal("64000.9"))
    assert fill.quantity == Decimal("0.12")  # fillSz 12 contracts of ctVal 0.01
    assert fill.fee == Decimal("1.5360216")  # OKX states a charge negative
    assert fill.liquidity.value == "maker"
    assert fill.timestamp == at(1695190491834)


async def test_okx_short_position_in_base_units(made: list[Any]) -> None:
    client, transport, _ = okx(made)

    (position,) = await client.get_positions()
    same = await client.get_position(OKX_BTC)

    assert position == same
    assert transport.calls("GET", "/api/v5/account/positions")[-1].fields["instId"] == (
        "BTC-USDT-SWAP"
    )
    assert position.symbol == OKX_BTC
    assert position.quantity == Decimal("-0.25")  # pos -25 contracts of 0.01
    assert (position.entry_price, position.mark_price) == (Decimal("64010.2"), Decimal("64001.3"))
    assert position.liquidation_price == Decimal("69876.5")
    assert position.leverage == 10
    assert position.margin == Decimal("1600.0325")
    assert position.unrealized_pnl == Decimal("2.225")


async def test_okx_trading_account_balance(made: list[Any]) -> None:
    client, _, _ = okx(made)

    balance = await client.get_balance()

    assert balance.asset == "USDT"
    assert balance.wallet_balance == Decimal("10000")  # cashBal
    assert balance.equity == Decimal("10002.225")  # eq
    assert balance.unrealized_pnl == Decimal("2.225")
    assert balance.margin_used == Decimal("1600.0325")
    assert balance.maintenance_margin == Decimal("64.0013")
    assert balance.available == Decimal("8402.1925")  # availEq


# -- Hyperliquid (USDC perpetuals) -----------------------------------------------------------

HL_BTC = "BTC/USDC:USDC"


class FakeHyperliquid:
    """Hyperliquid's exchange and orderStatus: the order placed is the one looked up."""

    def __init__(self) -> None:
        self.cloid = ""
        self.cancelled = False  # the order was cancelled (after filling 0.0004 of 0.001)
        self.gone = False  # the order had closed before the cancel arrived

    def exchange(self, fields: Mapping[str, Any]) -> Any:
        action = fields["action"]
        if action["type"] == "cancel":
            if self.gone:
                return load(HERE / "hyperliquid_cancel_error.json")
            self.cancelled = True
            return load(HERE / "hyperliquid_cancel_ok.json")
        if action["type"] != "order":
            return load(HERE / "hyperliquid_default_ok.json")  # approveBuilderFee, setReferrer
        self.cloid = str(action["orders"][0].get("c", ""))
        return load(HERE / "hyperliquid_order_resting.json")

    def order_status(self, fields: Mapping[str, Any]) -> Any:
        payload = load(HERE / "hyperliquid_order_status.json")
        order = payload["order"]["order"]
        order["cloid"] = self.cloid or None
        if self.cancelled:
            payload["order"].update(status="canceled", statusTimestamp=1754450990877)
        if self.gone:
            order["sz"] = "0.0"
            payload["order"].update(status="filled", statusTimestamp=1754450988140)
        if fields["oid"] not in (order["oid"], order["cloid"]):
            return {"status": "unknownOid"}
        return payload


def hyperliquid(made: list[Any]) -> tuple[CcxtExchangeClient, Transport, FakeHyperliquid]:
    fake = FakeHyperliquid()
    routes = [
        Route("POST", "/info", FUNDING / "hyperliquid_spot_meta.json", {"type": "spotMeta"}),
        Route(
            "POST",
            "/info",
            FUNDING / "hyperliquid_spot_meta_and_asset_ctxs.json",
            {"type": "spotMetaAndAssetCtxs"},
        ),
        Route(
            "POST",
            "/info",
            FUNDING / "hyperliquid_meta_and_asset_ctxs.json",
            {"type": "metaAndAssetCtxs"},
        ),
        Route("POST", "/info", FUNDING / "hyperliquid_perp_dexs.json", {"type": "perpDexs"}),
        Route("POST", "/info", HERE / "hyperliquid_l2book_btc.json", {"type": "l2Book"}),
        Route("POST", "/info", fake.order_status, {"type": "orderStatus"}),
        Route("POST", "/info", lambda f: "default", {"type": "userAbstraction"}),
        Route("POST", "/info", HERE / "hyperliquid_user_fills.json", {"type": "userFills"}),
        Route(
            "POST",
            "/info",
            HERE / "hyperliquid_clearinghouse_state.json",
            {"type": "clearinghouseState"},
        ),
        Route("POST", "/exchange", fake.exchange),
    ]
    exchange, transport = recorded(
        "hyperliquid", routes, walletAddress=HL_WALLET, privateKey=HL_PRIVATE_KEY
    )
    made.append(exchange)
    return client_of(exchange), transport, fake


async def test_hyperliquid_market_spec_from_meta(made: list[Any]) -> None:
    client, _, _ = hyperliquid(made)

    spec = await client.get_market_spec(HL_BTC)

    assert spec.symbol == HL_BTC
    assert (spec.lot_size, spec.min_quantity) == (Decimal("0.00001"), Decimal("0.00001"))
    assert spec.contract_size == Decimal(1)
    assert spec.min_notional == Decimal(10)
    assert (spec.base_asset, spec.quote_asset) == ("BTC", "USDC")


async def test_hyperliquid_book(made: list[Any]) -> None:
    client, transport, _ = hyperliquid(made)

    book = await client.get_order_book_depth(HL_BTC, 2)

    assert book["bids"] == [
        {"price": Decimal("64253.0"), "size": Decimal("7.6699")},
        {"price": Decimal("64252.0"), "size": Decimal("0.00012")},
    ]
    assert book["asks"][0] == {"price": Decimal("64254.0"), "size": Decimal("0.87")}
    assert book["timestamp"] == 1754450974231
    (sent,) = [s for s in transport.calls("POST", "/info") if s.fields["type"] == "l2Book"]
    assert sent.fields["coin"] == "BTC"


async def test_hyperliquid_order_carries_cloid_and_is_found_by_it(made: list[Any]) -> None:
    client, transport, _ = hyperliquid(made)

    result = await client.place_limit_order(
        HL_BTC, Decimal("0.001"), Decimal("64253"), "buy", post_only=True
    )

    orders = [
        s for s in transport.calls("POST", "/exchange") if s.fields["action"]["type"] == "order"
    ]
    (sent,) = orders
    (wire,) = sent.fields["action"]["orders"]
    assert wire["c"] == client_id(result)  # a cloid: 128 bits as 0x and 32 hex digits
    assert len(client_id(result)) == 34
    assert client_id(result).startswith("0x")
    int(client_id(result), 16)
    assert (wire["a"], wire["b"], wire["s"], wire["p"]) == (0, True, "0.001", "64253")
    assert wire["t"] == {"limit": {"tif": "Alo"}}
    assert set(sent.fields["signature"]) == {"r", "s", "v"}
    assert result.success
    assert result.order_id == "77738308"
    assert result.status == "UNKNOWN"  # ccxt reads no status from {"resting": {"oid"}}
    assert result.size == Decimal("0.001")
    info = await client.get_order_info(result.order_id, HL_BTC)
    by_client_id = await client.get_order_by_client_id(client_id(result))

    assert info is not None
    assert by_client_id is not None
    assert info.status == by_client_id.status == "PARTIALLY_FILLED"
    assert (info.size, info.filled_size, info.remaining_size) == (
        Decimal("0.001"),
        Decimal("0.0004"),
        Decimal("0.0006"),
    )
    assert info.price == Decimal("64253.0")
    assert by_client_id.order_id == "77738308"
    lookups = [s for s in transport.calls("POST", "/info") if s.fields["type"] == "orderStatus"]
    assert lookups[0].fields["oid"] == 77738308
    assert lookups[-1].fields["oid"] == client_id(result)
    assert {s.fields["user"] for s in lookups} == {HL_WALLET}


async def test_hyperliquid_funding_rate_is_hourly(made: list[Any]) -> None:
    client, _, _ = hyperliquid(made)

    rate = await client.get_funding_rate(HL_BTC)

    assert rate.rate == Decimal("0.0000125")
    assert (rate.mark_price, rate.index_price) == (Decimal("64253.5"), Decimal("64241.0"))
    assert rate.interval == timedelta(hours=1)


async def test_hyperliquid_cancel_acknowledged_by_status_is_read_back(made: list[Any]) -> None:
    client, transport, _ = hyperliquid(made)
    placed = await client.place_limit_order(HL_BTC, Decimal("0.001"), Decimal("64253"), "buy")
    assert placed.order_id is not None

    cancelled = await client.cancel_order(placed.order_id)

    (sent,) = [
        s for s in transport.calls("POST", "/exchange") if s.fields["action"]["type"] == "cancel"
    ]
    assert sent.fields["action"]["cancels"] == [{"a": 0, "o": 77738308}]
    assert cancelled.success
    assert cancelled.status == "CANCELED"
    assert cancelled.filled_size == Decimal("0.0004")
    assert cancelled.client_order_id == client_id(placed)


async def test_hyperliquid_cancel_of_a_closed_order_is_refused_with_its_state(
    made: list[Any],
) -> None:
    client, _, fake = hyperliquid(made)
    placed = await client.place_limit_order(HL_BTC, Decimal("0.001"), Decimal("64253"), "buy")
    assert placed.order_id is not None
    fake.gone = True

    refused = await client.cancel_order(placed.order_id)

    assert not refused.success
    assert refused.reject_reason is not None
    assert refused.reject_reason.value == "already_final"
    assert refused.status == "FILLED"
    assert refused.filled_size == Decimal("0.001")


async def test_hyperliquid_fills_of_the_symbol_with_the_total_fee(made: list[Any]) -> None:
    client, transport, _ = hyperliquid(made)

    maker, taker = await client.get_fills(HL_BTC)

    (sent,) = [s for s in transport.calls("POST", "/info") if s.fields["type"] == "userFills"]
    assert sent.fields["user"] == HL_WALLET
    assert (maker.order_id, maker.trade_id) == ("77738308", "907114572239861")
    assert (maker.side.value, maker.price, maker.quantity) == (
        "buy",
        Decimal("64253.0"),
        Decimal("0.0004"),
    )
    assert (maker.fee, maker.liquidity.value) == (Decimal("0.003855"), "maker")
    assert maker.timestamp == at(1754450981204)
    assert (taker.side.value, taker.liquidity.value) == ("sell", "taker")
    # Hyperliquid's fee already includes the builder fee: it is not added twice
    assert taker.fee == Decimal("0.012845")


async def test_hyperliquid_positions_signed_from_szi(made: list[Any]) -> None:
    client, _, _ = hyperliquid(made)

    btc, eth = sorted(await client.get_positions(), key=lambda p: p.symbol)
    same = await client.get_position(HL_BTC)

    assert btc == same
    assert btc.symbol == HL_BTC
    assert btc.quantity == Decimal("-0.02")
    assert (btc.entry_price, btc.mark_price) == (Decimal("64310.0"), Decimal("64253.5"))
    assert btc.liquidation_price == Decimal("98765.4")
    assert (btc.leverage, btc.margin) == (20, Decimal("64.2535"))
    assert btc.unrealized_pnl == Decimal("1.13")
    assert eth.symbol == "ETH/USDC:USDC"
    assert eth.quantity == Decimal("0.5")
    assert eth.liquidation_price is None  # none while the account is far from it
    assert eth.mark_price == Decimal("3433.7")


async def test_hyperliquid_perp_account_balance(made: list[Any]) -> None:
    client, _, _ = hyperliquid(made)

    balance = await client.get_balance()

    assert balance.asset == "USDC"
    assert balance.equity == Decimal("10017.98")  # accountValue: unrealised PnL included
    assert balance.unrealized_pnl == Decimal("17.98")  # 1.13 + 16.85
    assert balance.wallet_balance == Decimal("10000.00")
    assert balance.margin_used == Decimal("235.9385")
    assert balance.maintenance_margin == Decimal("47.1877")
    assert balance.available == Decimal("9782.0415")  # withdrawable


@pytest.mark.parametrize(
    ("price", "side", "sent"),
    [
        # ETH's tick at load (mark 3433.7) is 0.1; above 10,000 only whole prices have at most
        # five significant figures, and ccxt would round 12345.3 to the nearest: down, for a sell
        ("12345.23", "sell", "12346"),
        ("12345.77", "buy", "12345"),
        ("3433.76", "buy", "3433.7"),
        ("3433.71", "sell", "3433.8"),
    ],
)
async def test_hyperliquid_price_keeps_five_significant_figures_on_the_safe_side(
    made: list[Any], price: str, side: str, sent: str
) -> None:
    client, transport, _ = hyperliquid(made)

    result = await client.place_limit_order(
        "ETH/USDC:USDC", Decimal("0.01"), Decimal(price), side, post_only=True
    )

    (order,) = [
        s for s in transport.calls("POST", "/exchange") if s.fields["action"]["type"] == "order"
    ]
    assert order.fields["action"]["orders"][0]["p"] == sent
    assert result.price == Decimal(sent)
