"""Binance USDⓈ-M futures JSON shapes, built from the simulated venue's domain objects.

Amounts and prices go out as decimal strings, times as integer milliseconds, as Binance
sends them. Order and trade ids are integers on Binance's wire; :class:`WireIds` numbers
the simulated venue's string ids in the order they are first seen.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from fundarb.venues.accounts import Balance, Position
from fundarb.venues.markets import FundingRate, MarketSpec
from fundarb.venues.orders import Fill, Liquidity, OrderInfo, RejectReason, Side, TimeInForce
from fundarb.venues.sim.matching import SimOrder

__all__ = ["ApiError", "WireIds", "decimal_str", "millis", "reject_error"]

JSON = dict[str, Any]


class ApiError(Exception):
    """An answer in Binance's error shape: ``{"code": -XXXX, "msg": "..."}`` with a status."""

    def __init__(self, status: int, code: int, msg: str, *, retry_after_s: float | None = None):
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.retry_after_s = retry_after_s

    def body(self) -> JSON:
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> ApiError:
    return ApiError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def reject_error(reason: RejectReason | None, message: str | None, spec: MarketSpec) -> ApiError:
    """The error Binance gives for a refused new order, by the simulated venue's reason."""
    match reason:
        case RejectReason.INVALID_PRICE:
            return ApiError(400, -1013, "Filter failure: PRICE_FILTER")
        case RejectReason.INVALID_QUANTITY:
            return ApiError(400, -1013, "Filter failure: LOT_SIZE")
        case RejectReason.MIN_NOTIONAL:
            return ApiError(
                400,
                -4164,
                f"Order's notional must be no smaller than {decimal_str(spec.min_notional)} "
                "(unless you choose reduce only).",
            )
        case RejectReason.POST_ONLY_WOULD_CROSS:
            return ApiError(
                400,
                -5022,
                "Due to the order could not be executed as maker, the Post Only order will be "
                "rejected. The order will not be recorded in the order history",
            )
        case RejectReason.REDUCE_ONLY:
            return ApiError(400, -2022, "ReduceOnly Order is rejected.")
        case RejectReason.INSUFFICIENT_MARGIN:
            return ApiError(400, -2019, "Margin is insufficient.")
        case RejectReason.DUPLICATE_CLIENT_ORDER_ID:
            return ApiError(400, -4116, "ClientOrderId is duplicated.")
        case RejectReason.NO_LIQUIDITY:
            return ApiError(400, -2020, "Unable to fill.")
        case _:
            return ApiError(400, -2010, message or "NEW_ORDER_REJECTED")


def decimal_str(value: Decimal) -> str:
    """``Decimal('0.0010')`` -> ``'0.001'``; never scientific notation."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def millis(when: datetime) -> int:
    return int(when.timestamp() * 1000)


class WireIds:
    """Integer ids for the simulated venue's string ids, both ways."""

    def __init__(self) -> None:
        self._to_wire: dict[str, int] = {}
        self._from_wire: dict[int, str] = {}

    def wire(self, venue_id: str) -> int:
        number = self._to_wire.get(venue_id)
        if number is None:
            number = len(self._to_wire) + 1
            self._to_wire[venue_id] = number
            self._from_wire[number] = venue_id
        return number

    def venue(self, number: int) -> str | None:
        return self._from_wire.get(number)


_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.POST_ONLY: "GTX"}


def order_json(
    info: OrderInfo,
    order: SimOrder | None,
    *,
    order_id: int,
    created: datetime,
    updated: datetime,
) -> JSON:
    """An order as ``GET /fapi/v1/order`` answers it."""
    is_market = order.is_market if order is not None else False
    filled = info.filled_size
    average = info.average_fill_price or Decimal(0)
    status = info.status if info.status != "PENDING_CANCEL" else "NEW"
    return {
        "orderId": order_id,
        "symbol": info.symbol,
        "status": status,
        "clientOrderId": info.client_order_id,
        "price": "0" if is_market else decimal_str(info.price),
        "avgPrice": decimal_str(average),
        "origQty": decimal_str(info.size),
        "executedQty": decimal_str(filled),
        "cumQty": decimal_str(filled),
        "cumQuote": decimal_str(filled * average),
        "timeInForce": _TIF[order.tif] if order is not None else "GTC",
        "type": "MARKET" if is_market else "LIMIT",
        "origType": "MARKET" if is_market else "LIMIT",
        "reduceOnly": order.reduce_only if order is not None else False,
        "closePosition": False,
        "side": info.side.upper(),
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE",
        "goodTillDate": 0,
        "time": millis(created),
        "updateTime": millis(updated),
    }


def trade_json(fill: Fill, *, trade_id: int, order_id: int) -> JSON:
    """One of our fills as ``GET /fapi/v1/userTrades`` answers it."""
    return {
        "symbol": fill.symbol,
        "id": trade_id,
        "orderId": order_id,
        "side": fill.side.value.upper(),
        "price": decimal_str(fill.price),
        "qty": decimal_str(fill.quantity),
        "realizedPnl": "0",
        "quoteQty": decimal_str(fill.price * fill.quantity),
        "commission": decimal_str(fill.fee),
        "commissionAsset": "USDT",
        "time": millis(fill.timestamp),
        "positionSide": "BOTH",
        "buyer": fill.side is Side.BUY,
        "maker": fill.liquidity is Liquidity.MAKER,
    }


def symbol_json(spec: MarketSpec, *, max_leverage: int, onboard: datetime) -> JSON:
    """One entry of ``exchangeInfo``'s ``symbols``."""
    quote = spec.quote_asset
    return {
        "symbol": spec.symbol,
        "pair": spec.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": millis(onboard),
        "status": "TRADING",
        "baseAsset": base_asset(spec),
        "quoteAsset": quote,
        "marginAsset": quote,
        "pricePrecision": _places(spec.tick_size),
        "quantityPrecision": _places(spec.lot_size),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": decimal_str(Decimal(100) / max_leverage),
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "tickSize": decimal_str(spec.tick_size),
                "minPrice": decimal_str(spec.tick_size),
                "maxPrice": "10000000",
            },
            {
                "filterType": "LOT_SIZE",
                "stepSize": decimal_str(spec.lot_size),
                "minQty": decimal_str(spec.min_quantity),
                "maxQty": decimal_str(spec.max_quantity or Decimal(10**9)),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "stepSize": decimal_str(spec.lot_size),
                "minQty": decimal_str(spec.min_quantity),
                "maxQty": decimal_str(spec.max_quantity or Decimal(10**9)),
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": decimal_str(spec.min_notional)},
        ],
        "orderTypes": ["LIMIT", "MARKET"],
        "timeInForce": ["GTC", "IOC", "GTX"],
    }


def base_asset(spec: MarketSpec) -> str:
    if spec.base_asset:
        return spec.base_asset
    quote = spec.quote_asset
    if spec.symbol.endswith(quote) and len(spec.symbol) > len(quote):
        return spec.symbol[: -len(quote)]
    return spec.symbol.split("-", 1)[0]


def _places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def premium_json(rate: FundingRate, *, now_ms: int) -> JSON:
    return {
        "symbol": rate.symbol,
        "markPrice": decimal_str(rate.mark_price),
        "indexPrice": decimal_str(rate.index_price),
        "estimatedSettlePrice": decimal_str(rate.index_price),
        "lastFundingRate": decimal_str(rate.rate),
        "interestRate": "0.00010000",
        "nextFundingTime": millis(rate.next_funding_time),
        "time": now_ms,
    }


def position_json(
    symbol: str, position: Position | None, *, mark: Decimal, leverage: int, now_ms: int
) -> JSON:
    """A ``positionRisk`` entry (the fields of v2 and v3 together)."""
    quantity = position.quantity if position is not None else Decimal(0)
    entry = position.entry_price if position is not None else Decimal(0)
    margin = position.margin if position is not None else Decimal(0)
    pnl = position.unrealized_pnl if position is not None else Decimal(0)
    liquidation = position.liquidation_price if position is not None else None
    notional = quantity * mark
    return {
        "symbol": symbol,
        "positionSide": "BOTH",
        "positionAmt": decimal_str(quantity),
        "entryPrice": decimal_str(entry),
        "breakEvenPrice": decimal_str(entry),
        "markPrice": decimal_str(mark),
        "unRealizedProfit": decimal_str(pnl),
        "liquidationPrice": decimal_str(liquidation or Decimal(0)),
        "leverage": str(leverage),
        "maxNotionalValue": "1000000000",
        "marginType": "cross",
        "isolatedMargin": "0",
        "isAutoAddMargin": "false",
        "notional": decimal_str(notional),
        "marginAsset": "USDT",
        "isolatedWallet": "0",
        "initialMargin": decimal_str(margin),
        "maintMargin": "0",
        "positionInitialMargin": decimal_str(margin),
        "openOrderInitialMargin": "0",
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": now_ms,
    }


def asset_json(balance: Balance, *, now_ms: int) -> JSON:
    """The quote asset's entry of ``account``'s ``assets`` (and of ``/fapi/v2/balance``)."""
    return {
        "asset": balance.asset,
        "walletBalance": decimal_str(balance.wallet_balance),
        "unrealizedProfit": decimal_str(balance.unrealized_pnl),
        "marginBalance": decimal_str(balance.equity),
        "maintMargin": decimal_str(balance.maintenance_margin),
        "initialMargin": decimal_str(balance.margin_used),
        "positionInitialMargin": decimal_str(balance.margin_used),
        "openOrderInitialMargin": "0",
        "crossWalletBalance": decimal_str(balance.wallet_balance),
        "crossUnPnl": decimal_str(balance.unrealized_pnl),
        "availableBalance": decimal_str(balance.available),
        "maxWithdrawAmount": decimal_str(balance.available),
        "marginAvailable": True,
        "updateTime": now_ms,
    }


def account_json(balance: Balance, positions: list[JSON], *, now_ms: int) -> JSON:
    """``GET /fapi/v2/account`` and ``/fapi/v3/account``: totals, assets and positions."""
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "updateTime": 0,
        "multiAssetsMargin": False,
        "totalInitialMargin": decimal_str(balance.margin_used),
        "totalMaintMargin": decimal_str(balance.maintenance_margin),
        "totalWalletBalance": decimal_str(balance.wallet_balance),
        "totalUnrealizedProfit": decimal_str(balance.unrealized_pnl),
        "totalMarginBalance": decimal_str(balance.equity),
        "totalPositionInitialMargin": decimal_str(balance.margin_used),
        "totalOpenOrderInitialMargin": "0",
        "totalCrossWalletBalance": decimal_str(balance.wallet_balance),
        "totalCrossUnPnl": decimal_str(balance.unrealized_pnl),
        "availableBalance": decimal_str(balance.available),
        "maxWithdrawAmount": decimal_str(balance.available),
        "assets": [asset_json(balance, now_ms=now_ms)],
        "positions": positions,
    }
