"""ccxt's unified structures read into fundarb's value types, shape checked.

ccxt's numbers are floats; each becomes a ``Decimal`` through ``str()`` (exact: a float
round-trips through its repr), and where the venue's own payload (``info``) holds the same
number its original digits are kept. Anything not in the documented shape raises
:class:`BadPayloadError`: garbage is never read as data. Quantities on ccxt's side are in
contracts; here they become base units (times ``contractSize``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fundarb.numbers import to_decimal
from fundarb.venues.accounts import Balance
from fundarb.venues.ccxt._errors import BadPayloadError
from fundarb.venues.markets import MarketSpec
from fundarb.venues.orders import (
    Fill,
    Liquidity,
    OrderInfo,
    OrderStatus,
    Side,
    normalize_status,
)

__all__ = [
    "as_mapping",
    "exact",
    "number",
    "parse_balance",
    "parse_book",
    "parse_fill",
    "parse_order",
    "parse_spec",
    "timestamp",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO = Decimal(0)


def as_mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadPayloadError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def number(value: object) -> Decimal | None:
    """``value`` as a finite Decimal, or None when absent or not a number."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return to_decimal(value)
    except ValueError:
        return None


def exact(unified: object, info: Mapping[str, Any], *keys: str) -> Decimal | None:
    """ccxt's float as a Decimal, in the venue's digits where ``info`` holds the same number."""
    value = number(unified)
    for key in keys:
        raw = number(info.get(key))
        if raw is not None and (value is None or float(raw) == float(value)):
            return raw
    return value


def timestamp(milliseconds: object) -> datetime | None:
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int | float):
        return None
    return _EPOCH + timedelta(milliseconds=int(milliseconds)) if milliseconds > 0 else None


def info_of(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    info = payload.get("info")
    return info if isinstance(info, Mapping) else {}


# -- markets --------------------------------------------------------------------------------


def _binance_filter(info: Mapping[str, Any], kind: str, key: str) -> object:
    filters = info.get("filters")
    if isinstance(filters, list):
        for entry in filters:
            if isinstance(entry, Mapping) and entry.get("filterType") == kind:
                return entry.get(key)
    return None


def _tidy(value: Decimal) -> Decimal:
    """``value`` without trailing zeros, and without an exponent for whole numbers."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _sub(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, Mapping) else {}


def _step(value: object, precision_mode: object) -> Decimal | None:
    """A precision as a step: ccxt's TICK_SIZE mode (4) gives the step, DECIMAL_PLACES (2)
    a number of decimals."""
    found = number(value)
    if found is None:
        return None
    if precision_mode == 2:
        return Decimal(1).scaleb(-int(found))
    return found


def parse_spec(symbol: str, market: Mapping[str, Any], precision_mode: object) -> MarketSpec:
    """A ccxt market as a :class:`MarketSpec` in base units."""
    info = info_of(market)
    precision = as_mapping(market.get("precision"), f"{symbol} precision")
    limits = market.get("limits")
    limits = limits if isinstance(limits, Mapping) else {}
    amount_limits = _sub(limits, "amount")
    cost_limits = _sub(limits, "cost")
    contract_size = number(market.get("contractSize")) if market.get("contract") else None
    contract_size = contract_size if contract_size is not None and contract_size > 0 else Decimal(1)
    tick = _step(precision.get("price"), precision_mode)
    lot = _step(precision.get("amount"), precision_mode)
    if tick is None or lot is None or tick <= 0 or lot <= 0:
        raise BadPayloadError(f"{symbol}: the market states no price or amount step")
    tick = exact(tick, {"v": _binance_filter(info, "PRICE_FILTER", "tickSize")}, "v") or tick
    lot = exact(lot, {"v": _binance_filter(info, "LOT_SIZE", "stepSize")}, "v") or lot
    min_amount = exact(
        amount_limits.get("min"), {"v": _binance_filter(info, "LOT_SIZE", "minQty")}, "v"
    )
    max_amount = exact(
        amount_limits.get("max"), {"v": _binance_filter(info, "LOT_SIZE", "maxQty")}, "v"
    )
    min_cost = exact(
        cost_limits.get("min"), {"v": _binance_filter(info, "MIN_NOTIONAL", "notional")}, "v"
    )
    return MarketSpec(
        symbol=symbol,
        tick_size=_tidy(tick),
        lot_size=_tidy(lot * contract_size),
        min_quantity=_tidy((min_amount or lot) * contract_size),
        max_quantity=_tidy(max_amount * contract_size) if max_amount else None,
        min_notional=_tidy(min_cost or _ZERO),
        contract_size=_tidy(contract_size),
        base_asset=str(market.get("base") or ""),
        quote_asset=str(market.get("quote") or market.get("settle") or ""),
    )


# -- books ----------------------------------------------------------------------------------


def _levels(raw: object, side: str, contract_size: Decimal) -> list[dict[str, Decimal]]:
    if not isinstance(raw, list):
        raise BadPayloadError(f"book {side}: expected a list, got {type(raw).__name__}")
    levels = []
    for entry in raw:
        if not isinstance(entry, Sequence) or isinstance(entry, str) or len(entry) < 2:
            raise BadPayloadError(f"book {side}: a level is not [price, size]")
        price, size = number(entry[0]), number(entry[1])
        if price is None or size is None or price <= 0 or size < 0:
            raise BadPayloadError(f"book {side}: level {entry[:2]!r} is not a price and size")
        levels.append({"price": price, "size": size * contract_size})
    return levels


def parse_book(symbol: str, raw: object, levels: int, contract_size: Decimal) -> dict[str, Any]:
    """``{'symbol', 'bids': [{'price', 'size'}], 'asks': [...], 'timestamp' (ms)}``, best first."""
    book = as_mapping(raw, f"{symbol} book")
    stamp, nonce = book.get("timestamp"), book.get("nonce")
    if stamp is None and nonce is None:
        # ccxt reads an HTML page or an unexpected object as an empty book with neither:
        # every venue we trade stamps its books (Binance: lastUpdateId and T)
        raise BadPayloadError(f"{symbol} book: no timestamp or sequence number in the answer")
    bids = _levels(book.get("bids"), "bids", contract_size)
    asks = _levels(book.get("asks"), "asks", contract_size)
    result: dict[str, Any] = {
        "symbol": symbol,
        "bids": sorted(bids, key=lambda lv: lv["price"], reverse=True)[:levels],
        "asks": sorted(asks, key=lambda lv: lv["price"])[:levels],
    }
    if isinstance(stamp, int) and not isinstance(stamp, bool) and stamp > 0:
        result["timestamp"] = stamp
    return result


# -- orders and fills -----------------------------------------------------------------------


def _status(order: Mapping[str, Any], info: Mapping[str, Any], filled: Decimal) -> OrderStatus:
    status = normalize_status(info.get("status"))
    if status is OrderStatus.UNKNOWN:
        status = normalize_status(order.get("status"))
    if status is OrderStatus.NEW and filled > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def parse_order(raw: object, contract_size: Decimal) -> OrderInfo:
    """A ccxt order structure as :class:`OrderInfo`, quantities in base units."""
    order = as_mapping(raw, "order")
    info = info_of(order)
    order_id = order.get("id")
    if isinstance(order_id, int) and not isinstance(order_id, bool):
        order_id = str(order_id)
    if not isinstance(order_id, str) or not order_id:
        raise BadPayloadError("order: no order id in the answer")
    side = order.get("side")
    if side not in ("buy", "sell"):
        raise BadPayloadError(f"order {order_id}: side {side!r} is not buy or sell")
    amount = exact(order.get("amount"), info, "origQty")
    filled = exact(order.get("filled"), info, "executedQty") or _ZERO
    if amount is None:
        raise BadPayloadError(f"order {order_id}: no amount in the answer")
    remaining = number(order.get("remaining"))
    remaining = amount - filled if remaining is None else remaining
    price = exact(order.get("price"), info, "price") or _ZERO
    average = exact(order.get("average"), info, "avgPrice")
    client_order_id = order.get("clientOrderId")
    return OrderInfo(
        order_id=order_id,
        side=side,
        size=amount * contract_size,
        price=price,
        status=_status(order, info, filled).value,
        filled_size=filled * contract_size,
        remaining_size=remaining * contract_size,
        client_order_id=client_order_id if isinstance(client_order_id, str) else "",
        symbol=str(order.get("symbol") or ""),
        average_fill_price=average if average else None,
    )


def parse_fill(venue: str, raw: object, contract_size: Decimal, client_order_id: str = "") -> Fill:
    """A ccxt trade (ours) as a :class:`Fill`, quantity in base units."""
    trade = as_mapping(raw, "trade")
    info = info_of(trade)
    trade_id, order_id = trade.get("id"), trade.get("order")
    side = trade.get("side")
    price = exact(trade.get("price"), info, "price")
    amount = exact(trade.get("amount"), info, "qty")
    when = timestamp(trade.get("timestamp"))
    if (
        trade_id in (None, "")
        or order_id in (None, "")
        or side not in ("buy", "sell")
        or price is None
        or amount is None
        or when is None
    ):
        raise BadPayloadError("trade: missing id, order, side, price, amount or time")
    fee = trade.get("fee")
    fee_cost = exact(fee.get("cost"), info, "commission") if isinstance(fee, Mapping) else None
    if info.get("builderFee") is not None and number(info.get("fee")) is not None:
        # Hyperliquid's fee already includes its builder fee: ccxt adds that in again
        fee_cost = number(info.get("fee"))
    maker = trade.get("takerOrMaker") == "maker"
    return Fill(
        venue=venue,
        symbol=str(trade.get("symbol") or ""),
        order_id=str(order_id),
        client_order_id=client_order_id,
        trade_id=str(trade_id),
        side=Side(side),
        price=price,
        quantity=amount * contract_size,
        fee=fee_cost or _ZERO,
        liquidity=Liquidity.MAKER if maker else Liquidity.TAKER,
        timestamp=when,
    )


# -- balances -------------------------------------------------------------------------------

_SETTLEMENT = ("USDT", "USDC", "USD")


def parse_balance(raw: Mapping[str, Any]) -> Balance | None:
    """ccxt's balance as the account in its settlement asset, read from the venue's own
    payload (``info``) where ccxt's unified fields lose it (unrealised PnL, margins); None
    if it holds no USDT, USDC or USD."""
    info = info_of(raw)
    for read in (_binance_or_bybit, _okx, _hyperliquid):
        balance = read(info)
        if balance is not None:
            return balance
    for asset in _SETTLEMENT:
        row = raw.get(asset)
        if isinstance(row, Mapping) and number(row.get("total")) is not None:
            total = number(row.get("total")) or _ZERO
            return Balance(
                asset=asset,
                wallet_balance=total,
                unrealized_pnl=_ZERO,
                equity=total,
                margin_used=number(row.get("used")) or _ZERO,
                maintenance_margin=_ZERO,
                available=max(_ZERO, number(row.get("free")) or _ZERO),
            )
    return None


def _binance_or_bybit(info: Mapping[str, Any]) -> Balance | None:
    """Binance USD-M's account, or Bybit's unified account (its totals are in USD)."""
    bybit_accounts = _sub(info, "result").get("list")
    if isinstance(bybit_accounts, list) and bybit_accounts:
        account = as_mapping(bybit_accounts[0], "balance")
        keys = ("totalPerpUPL", "totalEquity", "totalMaintenanceMargin", "totalAvailableBalance")
    else:
        account = info
        keys = (
            "totalUnrealizedProfit",
            "totalMarginBalance",
            "totalMaintMargin",
            "availableBalance",
        )
    wallet = number(account.get("totalWalletBalance"))
    if wallet is None:
        return None
    unrealized = number(account.get(keys[0])) or _ZERO
    return Balance(
        asset="USDT",
        wallet_balance=wallet,
        unrealized_pnl=unrealized,
        equity=number(account.get(keys[1])) or wallet + unrealized,
        margin_used=number(account.get("totalInitialMargin")) or _ZERO,
        maintenance_margin=number(account.get(keys[2])) or _ZERO,
        available=max(_ZERO, number(account.get(keys[3])) or _ZERO),
    )


def _okx(info: Mapping[str, Any]) -> Balance | None:
    """OKX's trading account: the settlement currency's detail (``cashBal``, ``eq``,
    ``upl``; ``imr`` and ``mmr`` in single-currency margin, else the frozen balance)."""
    data = info.get("data")
    first = data[0] if isinstance(data, list) and data else None
    details = first.get("details") if isinstance(first, Mapping) else None
    if not isinstance(details, list):
        return None
    by_ccy = {d.get("ccy"): d for d in details if isinstance(d, Mapping)}
    for asset in _SETTLEMENT:
        detail = by_ccy.get(asset)
        if detail is None or number(detail.get("cashBal")) is None:
            continue
        wallet = number(detail.get("cashBal")) or _ZERO
        unrealized = number(detail.get("upl")) or _ZERO
        available = number(detail.get("availEq"))
        return Balance(
            asset=asset,
            wallet_balance=wallet,
            unrealized_pnl=unrealized,
            equity=number(detail.get("eq")) or wallet + unrealized,
            margin_used=number(detail.get("imr")) or number(detail.get("frozenBal")) or _ZERO,
            maintenance_margin=number(detail.get("mmr")) or _ZERO,
            available=max(
                _ZERO,
                available if available is not None else number(detail.get("availBal")) or _ZERO,
            ),
        )
    return None


def _hyperliquid(info: Mapping[str, Any]) -> Balance | None:
    """Hyperliquid's perp account (``clearinghouseState``): ``accountValue`` includes the
    positions' unrealised PnL; ``withdrawable`` is what is free."""
    summary = info.get("marginSummary")
    positions = info.get("assetPositions")
    if not isinstance(summary, Mapping) or not isinstance(positions, list):
        return None
    equity = number(summary.get("accountValue"))
    if equity is None:
        return None
    unrealized = sum(
        (number(_sub(p, "position").get("unrealizedPnl")) or _ZERO)
        for p in positions
        if isinstance(p, Mapping)
    )
    return Balance(
        asset="USDC",
        wallet_balance=equity - unrealized,
        unrealized_pnl=Decimal(unrealized),
        equity=equity,
        margin_used=number(summary.get("totalMarginUsed")) or _ZERO,
        maintenance_margin=number(info.get("crossMaintenanceMarginUsed")) or _ZERO,
        available=max(_ZERO, number(info.get("withdrawable")) or _ZERO),
    )
