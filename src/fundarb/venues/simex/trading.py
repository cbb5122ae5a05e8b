"""SIGNED endpoints: orders (one, or a batch of up to 5), trades, positions, balances,
leverage."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from fundarb.errors import InvalidOrderError, UnknownSymbolError
from fundarb.venues.simex import wire
from fundarb.venues.simex.state import STATE, SimexState, ok, param_bool, param_decimal, param_int
from fundarb.venues.simex.wire import JSON, ApiError, mandatory, millis

__all__ = ["trading_routes"]

_TIF_OPTS = {"GTC": "GTC", "IOC": "IOC", "GTX": "POST_ONLY"}
_MAX_BATCH = 5  # Binance's limit per batchOrders request


# -- signed endpoints: orders -----------------------------------------------------------------


async def _new_order(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return ok(await _place(state, await state.signed(request)))


async def _batch_orders(request: web.Request) -> web.Response:
    """Up to 5 orders, placed in turn; each answer is the order or its error, in order."""
    state = request.app[STATE]
    params = await state.signed(request)
    raw = params.get("batchOrders")
    if not raw:
        raise mandatory("batchOrders")
    try:
        orders = json.loads(raw)
    except ValueError:
        raise ApiError(400, -1130, "Data sent for parameter 'batchOrders' is not valid.") from None
    if not isinstance(orders, list) or not orders or not all(isinstance(o, dict) for o in orders):
        raise ApiError(400, -1130, "Data sent for parameter 'batchOrders' is not valid.")
    if len(orders) > _MAX_BATCH:
        raise ApiError(400, -4080, f"Batch orders are limited to {_MAX_BATCH}.")
    answers: list[JSON] = []
    for order in orders:
        fields = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in order.items()}
        try:
            answers.append(await _place(state, fields))
        except ApiError as exc:
            answers.append(exc.body())
        except UnknownSymbolError:
            answers.append({"code": -1121, "msg": "Invalid symbol."})
        except InvalidOrderError as exc:
            answers.append({"code": -1102, "msg": str(exc)})
    return ok(answers)


async def _place(state: SimexState, params: dict[str, str]) -> JSON:
    symbol = state.symbol(params)
    assert symbol is not None
    side = params.get("side", "")
    if side not in ("BUY", "SELL"):
        raise ApiError(400, -1117, "Invalid side.")
    order_type = params.get("type", "")
    if order_type not in ("LIMIT", "MARKET"):
        raise ApiError(400, -1116, "Invalid orderType.")
    if params.get("positionSide", "BOTH") != "BOTH":
        raise ApiError(400, -4061, "Order's position side does not match user's setting.")
    quantity = param_decimal(params.get("quantity"), "quantity")
    reduce_only = param_bool(params.get("reduceOnly"))
    opts: dict[str, Any] = {}
    client_id = params.get("newClientOrderId")
    if client_id:
        opts["client_order_id"] = client_id
    if order_type == "LIMIT":
        tif = params.get("timeInForce")
        if not tif:
            raise mandatory("timeInForce")
        if tif not in _TIF_OPTS:
            raise ApiError(400, -1115, "Invalid timeInForce.")
        opts["time_in_force"] = _TIF_OPTS[tif]
        price = param_decimal(params.get("price"), "price")
        result = await state.venue.place_limit_order(
            symbol, quantity, price, side.lower(), reduce_only, **opts
        )
    else:
        if "price" in params or "timeInForce" in params:
            raise ApiError(400, -1106, "Parameter 'price' sent when not required.")
        result = await state.venue.place_market_order(
            symbol, quantity, side.lower(), reduce_only, **opts
        )
    if not result.success or result.order_id is None:
        spec = await state.venue.get_market_spec(symbol)
        raise wire.reject_error(result.reject_reason, result.error_message, spec)
    info = await state.venue.get_order_info(result.order_id)
    assert info is not None
    return state.order(info)


async def _query_order(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = await state.signed(request)
    missing = ApiError(400, -2013, "Order does not exist.")
    return ok(state.order(await state.find_order(params, missing=missing)))


async def _cancel_order(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = await state.signed(request)
    unknown = ApiError(400, -2011, "Unknown order sent.")
    info = await state.find_order(params, missing=unknown)
    result = await state.venue.cancel_order(info.order_id)
    if not result.success:
        if result.reject_reason is not None and result.reject_reason.value == "cancel_rejected":
            raise ApiError(400, -1000, result.error_message or "Cancel rejected.")
        raise unknown
    after = await state.venue.get_order_info(info.order_id)
    assert after is not None
    return ok(state.order(after))


async def _open_orders(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = await state.signed(request)
    symbol = state.symbol(params, required=False)
    orders = await state.venue.get_open_orders(symbol)
    return ok([state.order(o) for o in orders])


async def _all_orders(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = await state.signed(request)
    symbol = state.symbol(params)
    core = state.venue.core
    limit = min(param_int(params.get("limit", "500"), "limit"), 1000)
    from_id = param_int(params["orderId"], "orderId") if "orderId" in params else None
    start_ms = param_int(params["startTime"], "startTime") if "startTime" in params else None
    end_ms = param_int(params["endTime"], "endTime") if "endTime" in params else None
    answers = []
    for sim_order in list(core.orders.values()):
        if sim_order.symbol != symbol:
            continue
        info = core.order_info(sim_order)
        rendered = state.order(info)
        if from_id is not None and rendered["orderId"] < from_id:
            continue
        if start_ms is not None and rendered["time"] < start_ms:
            continue
        if end_ms is not None and rendered["time"] > end_ms:
            continue
        answers.append(rendered)
    return ok(answers[:limit] if from_id is not None else answers[-limit:])


async def _user_trades(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = await state.signed(request)
    symbol = state.symbol(params)
    limit = min(param_int(params.get("limit", "500"), "limit"), 1000)
    order_ids: list[str] | None = None
    if "orderId" in params:
        venue_id = state.order_ids.venue(param_int(params["orderId"], "orderId"))
        order_ids = [venue_id] if venue_id else []
    fills = await state.venue.get_fills(symbol, order_ids=order_ids)
    from_id = param_int(params["fromId"], "fromId") if "fromId" in params else None
    start_ms = param_int(params["startTime"], "startTime") if "startTime" in params else None
    end_ms = param_int(params["endTime"], "endTime") if "endTime" in params else None
    answers = []
    for fill in fills:
        trade = wire.trade_json(
            fill,
            trade_id=state.trade_ids.wire(f"{fill.symbol}/{fill.trade_id}"),
            order_id=state.order_ids.wire(fill.order_id),
        )
        if from_id is not None and trade["id"] < from_id:
            continue
        if start_ms is not None and trade["time"] < start_ms:
            continue
        if end_ms is not None and trade["time"] > end_ms:
            continue
        answers.append(trade)
    return ok(answers[:limit] if from_id is not None else answers[-limit:])


# -- signed endpoints: account ----------------------------------------------------------------


async def _positions(state: SimexState, *, all_symbols: bool) -> list[JSON]:
    positions = {p.symbol: p for p in await state.venue.get_positions()}
    core = state.venue.core
    now_ms = millis(core.venue_time())
    return [
        wire.position_json(
            symbol,
            positions.get(symbol),
            mark=core.mark_price(symbol),
            leverage=core.account.positions[symbol].leverage,
            now_ms=now_ms,
        )
        for symbol in core.specs
        if all_symbols or symbol in positions
    ]


async def _position_risk(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = await state.signed(request)
    symbol = state.symbol(params, required=False)
    # v2 lists every symbol; v3 only those with a position
    all_symbols = request.path.startswith("/fapi/v2/")
    rows = await _positions(state, all_symbols=all_symbols)
    return ok([r for r in rows if symbol is None or r["symbol"] == symbol])


async def _account(request: web.Request) -> web.Response:
    state = request.app[STATE]
    await state.signed(request)
    balance = await state.venue.get_balance()
    positions = await _positions(state, all_symbols=request.path.startswith("/fapi/v2/"))
    return ok(wire.account_json(balance, positions, now_ms=millis(state.venue.core.venue_time())))


async def _balance(request: web.Request) -> web.Response:
    state = request.app[STATE]
    await state.signed(request)
    balance = await state.venue.get_balance()
    entry = wire.asset_json(balance, now_ms=millis(state.venue.core.venue_time()))
    return ok([{"accountAlias": "SimEx", "balance": entry["walletBalance"], **entry}])


async def _leverage(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = await state.signed(request)
    symbol = state.symbol(params)
    assert symbol is not None
    leverage = param_int(params.get("leverage", ""), "leverage")
    try:
        confirmed = await state.venue.set_leverage(symbol, leverage)
    except InvalidOrderError:
        raise ApiError(400, -4028, f"Leverage {leverage} is not valid") from None
    return ok({"leverage": confirmed, "maxNotionalValue": "1000000000", "symbol": symbol})


async def _leverage_bracket(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = await state.signed(request)
    symbol = state.symbol(params, required=False)
    rows = [
        {
            "symbol": cfg.symbol,
            "notionalCoef": 1.0,
            "brackets": [
                {
                    "bracket": 1,
                    "initialLeverage": cfg.max_leverage,
                    "notionalCap": 1_000_000_000,
                    "notionalFloor": 0,
                    "maintMarginRatio": float(cfg.maintenance_margin_rate),
                    "cum": 0.0,
                }
            ],
        }
        for cfg in state.venue.config.symbols
        if symbol is None or cfg.symbol == symbol
    ]
    return ok(rows[0] if symbol else rows)


def trading_routes() -> list[web.RouteDef]:
    return [
        web.post("/fapi/v1/order", _new_order),
        web.post("/fapi/v1/batchOrders", _batch_orders),
        web.get("/fapi/v1/order", _query_order),
        web.delete("/fapi/v1/order", _cancel_order),
        web.get("/fapi/v1/openOrders", _open_orders),
        web.get("/fapi/v1/allOrders", _all_orders),
        web.get("/fapi/v1/userTrades", _user_trades),
        web.post("/fapi/v1/leverage", _leverage),
        web.get("/fapi/v1/leverageBracket", _leverage_bracket),
        web.get("/fapi/v2/account", _account),
        web.get("/fapi/v3/account", _account),
        web.get("/fapi/v2/positionRisk", _position_risk),
        web.get("/fapi/v3/positionRisk", _position_risk),
        web.get("/fapi/v2/balance", _balance),
        web.get("/fapi/v3/balance", _balance),
    ]
