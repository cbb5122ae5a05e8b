"""A Binance USD-M venue behind ccxt's own HTTP layer, for tests: no network.

The real ``ccxt.async_support.binanceusdm`` class runs unmodified (request building,
signing, error handling, parsing); only its aiohttp session is replaced by
:class:`FakeSession`, which answers like Binance's REST API, payloads in the shapes of
Binance's documentation (``fixtures/`` and :class:`FakeBinance`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt.async_support as ccxt

FIXTURES = Path(__file__).parent / "fixtures"
API_KEY = "APIKEY-SHOULD-NOT-LEAK-0123456789"
SECRET = "SECRET-SHOULD-NOT-LEAK-9876543210"


@dataclass
class Reply:
    status: int
    body: str
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


def ok(payload: Any) -> Reply:
    return Reply(200, json.dumps(payload))


def binance_error(status: int, code: int, msg: str) -> Reply:
    return Reply(status, json.dumps({"code": code, "msg": msg}))


Handler = Callable[[dict[str, str]], Any]  # a Reply, or an exception to raise


@dataclass
class Request:
    method: str
    path: str
    fields: dict[str, str]
    headers: Mapping[str, str]
    url: str


class _Response:
    def __init__(self, reply: Reply) -> None:
        self.status = reply.status
        self.reason = "OK" if reply.status == 200 else "Error"
        self.headers = dict(reply.headers)
        self._body = reply.body
        self.content = reply.body.encode()

    async def text(self, errors: str = "strict") -> str:
        return self._body


class _Exchange:
    def __init__(self, session: FakeSession, method: str, url: Any, data: Any, headers: Any):
        self._reply = session.answer(method, str(url), data, headers or {})

    async def __aenter__(self) -> _Response:
        if isinstance(self._reply, BaseException):
            raise self._reply
        return _Response(self._reply)

    async def __aexit__(self, *exc: object) -> None:
        return None


class FakeSession:
    """Stands in for ccxt's aiohttp session: routes each request to a handler."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.faults: dict[tuple[str, str], list[Reply | BaseException]] = {}
        self.requests: list[Request] = []
        self.closed = False
        self.headers: dict[str, str] = {}

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def fail_next(self, method: str, path: str, *answers: Reply | BaseException) -> None:
        """The next calls of ``method path`` get these answers (a reply or an exception)."""
        self.faults.setdefault((method, path), []).extend(answers)

    def calls(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def answer(self, method: str, url: str, data: Any, headers: Mapping[str, str]) -> Any:
        parts = urlsplit(url)
        body = data.decode() if isinstance(data, bytes) else (data or "")
        fields = dict(parse_qsl(parts.query)) | dict(parse_qsl(body))
        self.requests.append(Request(method, parts.path, fields, dict(headers), url))
        queued = self.faults.get((method, parts.path))
        if queued:
            return queued.pop(0)
        handler = self.routes.get((method, parts.path))
        if handler is None:
            raise AssertionError(f"no route for {method} {parts.path}")
        return handler(fields)

    def get(self, url: Any, **kw: Any) -> _Exchange:
        return _Exchange(self, "GET", url, kw.get("data"), kw.get("headers"))

    def post(self, url: Any, **kw: Any) -> _Exchange:
        return _Exchange(self, "POST", url, kw.get("data"), kw.get("headers"))

    def delete(self, url: Any, **kw: Any) -> _Exchange:
        return _Exchange(self, "DELETE", url, kw.get("data"), kw.get("headers"))

    def put(self, url: Any, **kw: Any) -> _Exchange:
        return _Exchange(self, "PUT", url, kw.get("data"), kw.get("headers"))

    async def close(self) -> None:
        self.closed = True


class FakeBinance:
    """Binance USD-M's order endpoints, scripted: orders rest until cancelled."""

    def __init__(self, session: FakeSession) -> None:
        self.orders: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(22542179)
        self._drop: BaseException | None = None
        self.book: dict[str, Any] = {
            "lastUpdateId": 1027024,
            "E": 1589436922972,
            "T": 1589436922959,
            "bids": [["50000.10", "1.500"], ["50000.00", "2.000"]],
            "asks": [["50000.20", "0.800"], ["50000.30", "3.000"]],
        }
        session.route(
            "GET", "/fapi/v1/exchangeInfo", lambda f: fixture("binanceusdm_exchange_info")
        )
        session.route("GET", "/fapi/v1/depth", lambda f: ok(self.book))
        session.route("POST", "/fapi/v1/order", self.new_order)
        session.route("GET", "/fapi/v1/order", self.query_order)
        session.route("DELETE", "/fapi/v1/order", self.cancel_order)
        session.route("GET", "/fapi/v1/openOrders", self.open_orders)
        session.route("GET", "/fapi/v1/time", lambda f: ok({"serverTime": 1499827319559}))
        session.route(
            "GET", "/fapi/v1/leverageBracket", lambda f: fixture("binanceusdm_leverage_bracket")
        )
        session.route(
            "GET", "/fapi/v3/positionRisk", lambda f: fixture("binanceusdm_position_risk_v3")
        )
        session.route("GET", "/fapi/v3/account", lambda f: fixture("binanceusdm_account_v3"))
        session.route(
            "GET", "/fapi/v1/premiumIndex", lambda f: fixture("binanceusdm_premium_index_btc")
        )
        session.route("GET", "/fapi/v1/userTrades", lambda f: fixture("binanceusdm_user_trades"))

    def accept_then_drop_next(self, error: BaseException) -> None:
        """The next new order is taken, and its answer lost to ``error``."""
        self._drop = error

    def new_order(self, fields: dict[str, str]) -> Any:
        reply = self._new_order(fields)
        drop, self._drop = self._drop, None
        return drop if drop is not None else reply

    def _new_order(self, fields: dict[str, str]) -> Reply:
        if any(o["clientOrderId"] == fields.get("newClientOrderId") for o in self.orders.values()):
            return binance_error(400, -4116, "ClientOrderId is duplicated.")
        order_id = next(self._ids)
        self.orders[order_id] = {
            "orderId": order_id,
            "symbol": fields["symbol"],
            "status": "NEW",
            "clientOrderId": fields["newClientOrderId"],
            "price": fields.get("price", "0"),
            "avgPrice": "0.00000",
            "origQty": fields["quantity"],
            "executedQty": "0",
            "cumQty": "0",
            "cumQuote": "0",
            "timeInForce": fields.get("timeInForce", "GTC"),
            "type": fields["type"],
            "reduceOnly": fields.get("reduceOnly") == "true",
            "closePosition": False,
            "side": fields["side"],
            "positionSide": "BOTH",
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": fields["type"],
            "priceMatch": "NONE",
            "selfTradePreventionMode": "NONE",
            "goodTillDate": 0,
            "updateTime": 1566818724722,
        }
        return ok(self.orders[order_id])

    def _find(self, fields: dict[str, str]) -> dict[str, Any] | None:
        if "orderId" in fields:
            return self.orders.get(int(fields["orderId"]))
        client_id = fields.get("origClientOrderId")
        return next((o for o in self.orders.values() if o["clientOrderId"] == client_id), None)

    def query_order(self, fields: dict[str, str]) -> Reply:
        order = self._find(fields)
        if order is None:
            return binance_error(400, -2013, "Order does not exist.")
        return ok(order)

    def cancel_order(self, fields: dict[str, str]) -> Reply:
        order = self._find(fields)
        if order is None or order["status"] not in ("NEW", "PARTIALLY_FILLED"):
            return binance_error(400, -2011, "Unknown order sent.")
        order["status"] = "CANCELED"
        return ok(order)

    def open_orders(self, fields: dict[str, str]) -> Reply:
        rows = [o for o in self.orders.values() if o["status"] in ("NEW", "PARTIALLY_FILLED")]
        return ok([o for o in rows if fields.get("symbol") in (None, o["symbol"])])


def fixture(name: str) -> Reply:
    return Reply(200, (FIXTURES / f"{name}.json").read_text())


def binanceusdm(session: FakeSession, **config: Any) -> Any:
    """The real ccxt class on ``session``. ccxt's own throttle counts wall time; the tests
    run on a fast-forwarded loop clock, so it is off (the client's limiter is on)."""
    exchange = ccxt.binanceusdm(
        {
            "apiKey": API_KEY,
            "secret": SECRET,
            "enableRateLimit": False,
            "timeout_on_exit": 0,
            "options": {"fetchCurrencies": False},
            **config,
        }
    )
    exchange.session = session
    return exchange


def timeout_error() -> BaseException:
    return TimeoutError()
