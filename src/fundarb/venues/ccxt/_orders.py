"""Orders of :class:`~fundarb.venues.ccxt.CcxtExchangeClient`: placed with a client
order id (quantities in contracts on ccxt's side, prices rounded side-aware), cancelled,
and looked up by id or client order id; an ambiguous placement is resolved by a lookup
before anything is re-sent."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from fundarb.errors import AmbiguousError, FundarbError, InvalidOrderError, OrderRejectedError
from fundarb.logs import log_event
from fundarb.numbers import to_positive_decimal
from fundarb.venues.ccxt._core import CcxtFailure, Core, logger
from fundarb.venues.ccxt._errors import BadPayloadError, ccxt_module, reject_reason
from fundarb.venues.ccxt._parse import as_mapping, parse_order
from fundarb.venues.ccxt.limiter import Priority
from fundarb.venues.markets import MarketSpec
from fundarb.venues.orders import (
    OrderInfo,
    OrderResult,
    OrderStatus,
    RejectReason,
    Side,
    parse_side,
)

__all__ = ["Orders"]

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,36}$")
_LIMIT_OPTS = frozenset({"post_only", "time_in_force", "client_order_id", "priority"})
_MARKET_OPTS = frozenset({"client_order_id", "priority"})
_TIF = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "GTX": "PO", "POST_ONLY": "PO", "PO": "PO"}


class Orders(Core):
    """Placing, cancelling and finding the client's orders."""

    async def place_limit_order(
        self,
        contract_id: str,
        quantity: Decimal,
        price: Decimal,
        side: str,
        reduce_only: bool = False,
        **opts: Any,
    ) -> OrderResult:
        """Place a limit order. ``opts``: ``post_only``, ``time_in_force`` (GTC, IOC, FOK,
        GTX/POST_ONLY), ``client_order_id``, ``priority`` ('hedge' to go first)."""
        return await self._place(contract_id, quantity, price, side, reduce_only, opts, limit=True)

    async def place_market_order(
        self,
        contract_id: str,
        quantity: Decimal,
        side: str,
        reduce_only: bool = False,
        **opts: Any,
    ) -> OrderResult:
        """Place a market order. ``opts``: ``client_order_id``, ``priority``."""
        return await self._place(contract_id, quantity, None, side, reduce_only, opts, limit=False)

    async def cancel_order(self, order_id: str, symbol: str | None = None) -> OrderResult:
        """Cancel; ``filled_size`` is what the venue reported filled at the cancel.

        Refused (the order is unknown, or already final): a failed result whose status and
        ``filled_size`` are the order's as the venue then reports it, when it can.
        """
        self._check_id(order_id, "order_id")
        market, spec = await self._order_market(order_id, symbol)
        client_order_id = self._client_id_of_order.get(order_id)
        try:
            raw = await self._call(
                lambda: self._exchange.cancel_order(order_id, market),
                priority=Priority.CANCEL,
                symbol=spec.symbol,
                client_order_id=client_order_id,
                sends=True,
                keep_ccxt=True,
            )
        except CcxtFailure as failure:
            error = failure.error
            if not isinstance(error, OrderRejectedError):
                raise error from None
            known = await self._find(lambda: self._fetch_order(order_id, market), spec)
            reason = RejectReason.UNKNOWN_ORDER if known is None else RejectReason.ALREADY_FINAL
            if known is not None and not OrderStatus(known.status).is_final:
                reason = RejectReason.CANCEL_REJECTED
            self._log_order("ccxt.cancel.refused", spec.symbol, client_order_id, order_id, error)
            return OrderResult(
                success=False,
                order_id=order_id,
                side=known.side if known else None,
                size=known.size if known else None,
                price=known.price if known else None,
                status=known.status if known else None,
                error_message=str(error),
                filled_size=known.filled_size if known else None,
                reject_reason=reason,
                client_order_id=client_order_id,
            )
        if isinstance(raw, Mapping) and raw.get("amount") is None:
            # Bybit and OKX acknowledge a cancel with the ids only, Hyperliquid with a status:
            # read the order back for its state and what it filled
            known = await self._find(lambda: self._fetch_order(order_id, market), spec)
            if known is None:
                return OrderResult(
                    success=True,
                    order_id=order_id,
                    status=OrderStatus.PENDING_CANCEL.value,
                    client_order_id=client_order_id,
                )
            info = known
        else:
            info = parse_order(raw, spec.contract_size)
        status = OrderStatus(info.status)
        if status in (OrderStatus.NEW, OrderStatus.UNKNOWN):
            status = OrderStatus.PENDING_CANCEL  # answered, not yet confirmed final
        return OrderResult(
            success=True,
            order_id=info.order_id,
            side=info.side,
            size=info.size,
            price=info.price,
            status=status.value,
            filled_size=info.filled_size,
            client_order_id=info.client_order_id or client_order_id,
        )

    async def get_order_info(self, order_id: str, symbol: str | None = None) -> OrderInfo | None:
        """The order as the venue reports it, or None if the venue does not know the id."""
        self._check_id(order_id, "order_id")
        market, spec = await self._order_market(order_id, symbol)
        return await self._find(lambda: self._fetch_order(order_id, market), spec)

    async def get_order_by_client_id(
        self, client_order_id: str, symbol: str | None = None
    ) -> OrderInfo | None:
        """The order with this client order id, or None if the venue has none.

        The symbol is the one it was placed on by this client, else ``symbol``; with
        neither, the open orders are searched, and a closed order cannot be found
        (:class:`AmbiguousError`: we cannot know).
        """
        self._check_id(client_order_id, "client_order_id")
        return await self._lookup(client_order_id, symbol)

    def remember_order(
        self, client_order_id: str, symbol: str, order_id: str | None = None
    ) -> None:
        """Note the symbol an order of ours was placed on by an earlier process (recovery
        reads it from the journal), so it can be looked up by its client order id after it
        closed: Binance-like venues find an order only within its symbol."""
        self._check_id(client_order_id, "client_order_id")
        self._check_id(symbol, "symbol")
        self._symbol_of_client_id.setdefault(client_order_id, symbol)
        if order_id:
            self._symbol_of_order.setdefault(order_id, symbol)
            self._client_id_of_order.setdefault(order_id, client_order_id)

    async def get_open_orders(self, symbol: str | None = None) -> Sequence[OrderInfo]:
        market = (await self._market(symbol))[0] if symbol is not None else None
        if market is None:
            await self._ensure_markets()
            self._exchange.options["warnOnFetchOpenOrdersWithoutSymbol"] = False
        raw = await self._call(
            lambda: self._exchange.fetch_open_orders(market), priority=Priority.POLL, symbol=market
        )
        if not isinstance(raw, list):
            raise BadPayloadError("open orders: expected a list", venue=self._venue)
        orders = []
        for row in raw:
            row_symbol = as_mapping(row, "order").get("symbol")
            _, spec = await self._market(row_symbol)
            orders.append(self._remember(parse_order(row, spec.contract_size)))
        return orders

    async def _place(
        self,
        symbol: object,
        quantity: object,
        price: object | None,
        side: object,
        reduce_only: object,
        opts: dict[str, Any],
        *,
        limit: bool,
    ) -> OrderResult:
        given = opts.get("client_order_id")
        where: dict[str, str | None] = {
            "venue": self._venue,
            "symbol": str(symbol),
            "client_order_id": given if isinstance(given, str) else None,
        }
        unknown = set(opts) - (_LIMIT_OPTS if limit else _MARKET_OPTS)
        if unknown:
            raise InvalidOrderError(f"unsupported order options {sorted(unknown)}", **where)
        try:
            parsed_side = parse_side(side)
            qty = to_positive_decimal(quantity, name="quantity")
            limit_price = to_positive_decimal(price, name="price") if limit else None
        except ValueError as exc:
            raise InvalidOrderError(str(exc), **where) from None
        if not isinstance(reduce_only, bool):
            raise InvalidOrderError(f"reduce_only must be a bool, got {reduce_only!r}", **where)
        params: dict[str, Any] = {}
        if limit:
            params.update(self._time_in_force(opts, where))
        if reduce_only:
            params["reduceOnly"] = True
        if given is None:
            client_order_id = self._new_client_id()
        elif isinstance(given, str) and _CLIENT_ID.match(given):
            client_order_id = given
        else:
            raise InvalidOrderError(
                f"client_order_id must be 1-36 letters, digits or ._:-, got {given!r}", **where
            )
        where["client_order_id"] = client_order_id
        params["clientOrderId"] = client_order_id
        priority = (
            Priority.HEDGE if reduce_only or opts.get("priority") == "hedge" else Priority.ORDER
        )
        if not isinstance(symbol, str):
            raise InvalidOrderError(f"symbol must be a str, got {symbol!r}", **where)
        market, spec = await self._market(symbol)
        if limit_price is not None:
            limit_price = spec.round_price(limit_price, parsed_side)
            if getattr(self._exchange, "id", None) == "hyperliquid":
                limit_price = _five_figures(limit_price, parsed_side, spec)
            if limit_price <= 0:
                raise InvalidOrderError("price rounds to zero on the tick", **where)
        check = spec.check_order(qty, limit_price, reduce_only=reduce_only)
        if check is not None:
            raise InvalidOrderError(check.message, **where)
        contracts = qty / spec.contract_size
        self._symbol_of_client_id[client_order_id] = market
        log_event(
            logger,
            logging.INFO,
            "ccxt.order.send",
            venue=self._venue,
            client_order_id=client_order_id,
            symbol=market,
            side=parsed_side.value,
            quantity=qty,
            price=limit_price,
        )
        try:
            raw = await self._call(
                lambda: self._exchange.create_order(
                    market,
                    "limit" if limit else "market",
                    parsed_side.value,
                    float(contracts),
                    float(limit_price) if limit_price is not None else None,
                    params,
                ),
                priority=priority,
                symbol=market,
                client_order_id=client_order_id,
                sends=True,
                keep_ccxt=True,
            )
            info = parse_order(
                _acknowledged(raw, parsed_side.value, contracts, limit_price), spec.contract_size
            )
        except CcxtFailure as failure:
            return await self._placement_failed(failure, spec, client_order_id, qty, limit_price)
        except BadPayloadError as exc:
            return await self._placement_failed(
                CcxtFailure(_with_where(exc, market, client_order_id), None),
                spec,
                client_order_id,
                qty,
                limit_price,
            )
        self._remember(info, market)
        return _result(info, client_order_id)

    async def _placement_failed(
        self,
        failure: CcxtFailure,
        spec: MarketSpec,
        client_order_id: str,
        quantity: Decimal,
        price: Decimal | None,
    ) -> OrderResult:
        error = failure.error
        self._log_order("ccxt.order.failed", spec.symbol, client_order_id, None, error)
        if isinstance(error, OrderRejectedError):
            return OrderResult(
                success=False,
                size=quantity,
                price=price,
                status=OrderStatus.REJECTED.value,
                error_message=str(error),
                reject_reason=reject_reason(failure.cause) if failure.cause else None,
                client_order_id=client_order_id,
            )
        if not isinstance(error, AmbiguousError):
            raise error from None  # retryable: it never reached the matching engine
        # the order's fate is unknown: find it by its client id before anything is re-sent
        try:
            found = await self._lookup(client_order_id, spec.symbol)
        except FundarbError as lookup_error:
            log_event(
                logger,
                logging.WARNING,
                "ccxt.order.lookup_failed",
                venue=self._venue,
                client_order_id=client_order_id,
                error=str(lookup_error),
            )
            raise error from None
        if found is None:
            raise error from None  # not there yet is not "never": it may still arrive
        log_event(
            logger,
            logging.WARNING,
            "ccxt.order.found_after_error",
            venue=self._venue,
            client_order_id=client_order_id,
            order_id=found.order_id,
            status=found.status,
        )
        return _result(found, client_order_id)

    def _time_in_force(
        self, opts: Mapping[str, Any], where: dict[str, str | None]
    ) -> dict[str, Any]:
        post_only = opts.get("post_only", False)
        if not isinstance(post_only, bool):
            raise InvalidOrderError(f"post_only must be a bool, got {post_only!r}", **where)
        tif: str | None = None
        if "time_in_force" in opts:
            raw = opts["time_in_force"]
            tif = _TIF.get(raw.upper()) if isinstance(raw, str) else None
            if tif is None:
                raise InvalidOrderError(
                    f"time_in_force must be one of {sorted(_TIF)}, got {raw!r}", **where
                )
        if tif == "PO":
            post_only, tif = True, None
        if post_only and tif is not None and tif != "GTC":
            raise InvalidOrderError(f"post_only cannot be combined with {tif}", **where)
        if post_only:
            return {"postOnly": True}
        return {"timeInForce": tif} if tif is not None else {}

    async def _lookup(self, client_order_id: str, symbol: str | None) -> OrderInfo | None:
        market = self._symbol_of_client_id.get(client_order_id)
        if market is None and symbol is not None:
            market = (await self._market(symbol))[0]
        if market is None:
            for info in await self.get_open_orders():
                if info.client_order_id == client_order_id:
                    return info
            raise AmbiguousError(
                "cannot look up a closed order without its symbol",
                venue=self._venue,
                client_order_id=client_order_id,
            )
        market, spec = await self._market(market)
        found = await self._find(
            lambda: self._fetch_order(None, market, client_order_id),
            spec,
            client_order_id=client_order_id,
        )
        return self._remember(found, market) if found is not None else None

    async def _find(
        self,
        fetch: Callable[[], Awaitable[Any]],
        spec: MarketSpec,
        *,
        client_order_id: str | None = None,
    ) -> OrderInfo | None:
        """An order fetched by ``fetch``, or None if the venue says it has no such order."""
        try:
            raw = await self._call(
                fetch,
                priority=Priority.CANCEL,
                symbol=spec.symbol,
                client_order_id=client_order_id,
                keep_ccxt=True,
            )
        except CcxtFailure as failure:
            if failure.cause is not None and isinstance(failure.cause, ccxt_module().OrderNotFound):
                return None
            raise failure.error from None
        return parse_order(raw, spec.contract_size)

    def _new_client_id(self) -> str:
        """A fresh client order id; Hyperliquid's (a cloid) must be 128 bits as 0x and hex."""
        if getattr(self._exchange, "id", None) == "hyperliquid":
            return f"0x{uuid.uuid4().hex}"
        return f"{self._prefix}{uuid.uuid4().hex}"[:32]

    async def _fetch_order(
        self, order_id: str | None, market: str, client_order_id: str | None = None
    ) -> Any:
        """ccxt's order by its id, else by its client order id.

        Bybit: ccxt's ``fetch_order`` refuses unified accounts (without ``acknowledged``),
        sends ``orderId=None`` when looking up by client id, and its realtime endpoint lists
        open orders only unless ``openOnly=1`` (the last 500 closed): that endpoint is read
        directly, open orders first, by ``orderId`` or ``orderLinkId``.
        """
        if getattr(self._exchange, "id", None) != "bybit":
            params = {} if order_id is not None else {"clientOrderId": client_order_id}
            return await self._exchange.fetch_order(order_id, market, params)
        key, value = (
            ("orderId", order_id) if order_id is not None else ("orderLinkId", client_order_id)
        )
        for open_only in (0, 1):
            rows = await self._exchange.fetch_open_orders(
                market, None, None, {key: value, "openOnly": open_only}
            )
            if isinstance(rows, list) and rows:
                return rows[0]
        raise ccxt_module().OrderNotFound(f"bybit: no order with {key} {value}")

    def _remember(self, info: OrderInfo, market: str | None = None) -> OrderInfo:
        market = market or info.symbol
        if market:
            self._symbol_of_order[info.order_id] = market
            if info.client_order_id:
                self._symbol_of_client_id[info.client_order_id] = market
        if info.client_order_id:
            self._client_id_of_order[info.order_id] = info.client_order_id
        return info

    async def _order_market(self, order_id: str, symbol: str | None) -> tuple[str, MarketSpec]:
        market = self._symbol_of_order.get(order_id)
        if market is None and symbol is None:
            for info in await self.get_open_orders():
                if info.order_id == order_id:
                    market = info.symbol
                    break
        if market is None and symbol is None:
            raise AmbiguousError(
                f"order {order_id} is not open and its symbol is unknown: pass symbol",
                venue=self._venue,
            )
        return await self._market(market or symbol)


def _with_where(exc: BadPayloadError, symbol: str, client_order_id: str) -> BadPayloadError:
    exc.symbol = exc.symbol or symbol
    exc.client_order_id = exc.client_order_id or client_order_id
    return exc


def _acknowledged(raw: object, side: str, contracts: Decimal, price: Decimal | None) -> object:
    """Bybit and OKX acknowledge a new order with its ids only (ccxt's amount is None): the
    side, amount and price are what was sent; the status stays the venue's (none: UNKNOWN,
    never assumed resting or filled) until the order is looked up."""
    if not isinstance(raw, Mapping) or raw.get("amount") is not None:
        return raw
    return {
        **raw,
        "side": raw.get("side") or side,
        "amount": contracts,
        "price": raw.get("price") or price,
    }


def _five_figures(price: Decimal, side: Side, spec: MarketSpec) -> Decimal:
    """Hyperliquid's price rule: at most five significant figures, whole prices always
    allowed. The market's tick (ccxt's, from the mark price at load) does not follow the
    price: rounded side-aware here, as ccxt would round to the nearest."""
    step = Decimal(1) if price >= 10_000 else Decimal(1).scaleb(price.adjusted() - 4)
    if step <= spec.tick_size:
        return price
    rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
    return (price / step).to_integral_value(rounding=rounding) * step


def _result(info: OrderInfo, client_order_id: str) -> OrderResult:
    return OrderResult(
        success=True,
        order_id=info.order_id,
        side=info.side,
        size=info.size,
        price=info.average_fill_price or info.price,
        status=info.status,
        filled_size=info.filled_size,
        client_order_id=info.client_order_id or client_order_id,
    )
