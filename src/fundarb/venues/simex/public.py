"""Public market-data endpoints: time, exchangeInfo, depth, tickers, funding."""

from __future__ import annotations

from decimal import Decimal

from aiohttp import web

from fundarb.venues.simex import wire
from fundarb.venues.simex.state import STATE, ok, param_int
from fundarb.venues.simex.wire import JSON, ApiError, decimal_str, millis

__all__ = ["public_routes"]

_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)

# -- public endpoints -------------------------------------------------------------------------


async def _ping(request: web.Request) -> web.Response:
    return ok({})


async def _time(request: web.Request) -> web.Response:
    return ok({"serverTime": request.app[STATE].now_ms()})


async def _exchange_info(request: web.Request) -> web.Response:
    state = request.app[STATE]
    core = state.venue.core
    symbols = [
        wire.symbol_json(
            core.specs[cfg.symbol], max_leverage=cfg.max_leverage, onboard=core.start_time
        )
        for cfg in state.venue.config.symbols
    ]
    quote = state.venue.config.quote_asset
    return ok(
        {
            "timezone": "UTC",
            "serverTime": state.now_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 2400,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": quote, "marginAvailable": True, "autoAssetExchange": "0"}],
            "symbols": symbols,
        }
    )


async def _depth(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = dict(request.query)
    symbol = state.symbol(params)
    assert symbol is not None
    limit = param_int(params.get("limit", "500"), "limit")
    if limit not in _DEPTH_LIMITS:
        raise ApiError(400, -4021, "Invalid depth limit.")
    book = await state.venue.get_order_book_depth(symbol, limit)
    # the same update id the depth streams count in, so a client can sync the two
    update_id = state.hub.refresh(symbol)
    return ok(
        {
            "lastUpdateId": update_id,
            "E": book["timestamp"],
            "T": book["timestamp"],
            "bids": [[decimal_str(b["price"]), decimal_str(b["size"])] for b in book["bids"]],
            "asks": [[decimal_str(a["price"]), decimal_str(a["size"])] for a in book["asks"]],
        }
    )


async def _book_ticker(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = dict(request.query)
    symbol = state.symbol(params, required=False)
    symbols = [symbol] if symbol else list(state.venue.core.specs)
    answers = []
    for name in symbols:
        book = await state.venue.get_order_book_depth(name, 1)
        bid = book["bids"][0] if book["bids"] else {"price": Decimal(0), "size": Decimal(0)}
        ask = book["asks"][0] if book["asks"] else {"price": Decimal(0), "size": Decimal(0)}
        answers.append(
            {
                "symbol": name,
                "bidPrice": decimal_str(bid["price"]),
                "bidQty": decimal_str(bid["size"]),
                "askPrice": decimal_str(ask["price"]),
                "askQty": decimal_str(ask["size"]),
                "time": book["timestamp"],
                "lastUpdateId": state.hub.refresh(name),
            }
        )
    return ok(answers[0] if symbol else answers)


async def _ticker_24hr(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = dict(request.query)
    symbol = state.symbol(params, required=False)
    symbols = [symbol] if symbol else list(state.venue.core.specs)
    answers = []
    now_ms = millis(state.venue.core.venue_time())
    for name in symbols:
        tape = state.venue.recent_trades(name, 1000)
        mark = state.venue.core.mark_price(name)
        prices = [price for price, _, _ in tape] or [mark]
        volume = sum((qty for _, qty, _ in tape), Decimal(0))
        quote_volume = sum((price * qty for price, qty, _ in tape), Decimal(0))
        last_qty = tape[-1][1] if tape else Decimal(0)
        answers.append(
            {
                "symbol": name,
                "priceChange": decimal_str(prices[-1] - prices[0]),
                "priceChangePercent": decimal_str(
                    ((prices[-1] - prices[0]) / prices[0] * 100).quantize(Decimal("0.001"))
                ),
                "weightedAvgPrice": decimal_str(
                    (quote_volume / volume).quantize(Decimal("0.01")) if volume else prices[-1]
                ),
                "lastPrice": decimal_str(prices[-1]),
                "lastQty": decimal_str(last_qty),
                "openPrice": decimal_str(prices[0]),
                "highPrice": decimal_str(max(prices)),
                "lowPrice": decimal_str(min(prices)),
                "volume": decimal_str(volume),
                "quoteVolume": decimal_str(quote_volume),
                "openTime": now_ms - 86_400_000,
                "closeTime": now_ms,
                "firstId": 0,
                "lastId": len(tape),
                "count": len(tape),
            }
        )
    return ok(answers[0] if symbol else answers)


async def _premium_index(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = dict(request.query)
    symbol = state.symbol(params, required=False)
    symbols = [symbol] if symbol else list(state.venue.core.specs)
    answers = [
        wire.premium_json(await state.venue.get_funding_rate(name), now_ms=state.now_ms())
        for name in symbols
    ]
    return ok(answers[0] if symbol else answers)


async def _funding_rate_history(request: web.Request) -> web.Response:
    """Settled rates, oldest first, from the venue's funding schedule."""
    state = request.app[STATE]
    params = dict(request.query)
    symbol = state.symbol(params, required=False)
    limit = min(param_int(params.get("limit", "100"), "limit"), 1000)
    start_ms = param_int(params["startTime"], "startTime") if "startTime" in params else None
    end_ms = param_int(params["endTime"], "endTime") if "endTime" in params else None
    answers: list[JSON] = []
    for cfg in state.venue.config.symbols:
        if symbol and cfg.symbol != symbol:
            continue
        current = await state.venue.get_funding_rate(cfg.symbol)
        # the mark a settlement on our position used; others: the current mark
        marks = {
            millis(p.funding_time): p.mark_price
            for p in await state.venue.get_funding_payments(cfg.symbol)
        }
        interval_ms = cfg.funding.interval_s * 1000
        first_ms = millis(state.venue.core.start_time)
        at_ms = millis(current.next_funding_time) - interval_ms
        while at_ms > first_ms and (start_ms is None or at_ms >= start_ms):
            if end_ms is None or at_ms <= end_ms:
                rate = cfg.funding.rate_at(at_ms // interval_ms)
                answers.append(
                    {
                        "symbol": cfg.symbol,
                        "fundingRate": decimal_str(rate),
                        "fundingTime": at_ms,
                        "markPrice": decimal_str(marks.get(at_ms, current.mark_price)),
                    }
                )
            if len(answers) >= limit:
                break
            at_ms -= interval_ms
    answers.sort(key=lambda a: (a["fundingTime"], a["symbol"]))
    return ok(answers[-limit:])


async def _funding_info(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return ok(
        [
            {
                "symbol": cfg.symbol,
                "adjustedFundingRateCap": "0.02000000",
                "adjustedFundingRateFloor": "-0.02000000",
                "fundingIntervalHours": cfg.funding.interval_s // 3600,
                "disclaimer": False,
            }
            for cfg in state.venue.config.symbols
        ]
    )


def public_routes() -> list[web.RouteDef]:
    return [
        web.get("/fapi/v1/ping", _ping),
        web.get("/fapi/v1/time", _time),
        web.get("/fapi/v1/exchangeInfo", _exchange_info),
        web.get("/fapi/v1/depth", _depth),
        web.get("/fapi/v1/ticker/bookTicker", _book_ticker),
        web.get("/fapi/v1/ticker/24hr", _ticker_24hr),
        web.get("/fapi/v1/premiumIndex", _premium_index),
        web.get("/fapi/v1/fundingRate", _funding_rate_history),
        web.get("/fapi/v1/fundingInfo", _funding_info),
    ]
