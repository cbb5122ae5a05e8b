"""The server's state and the request-parsing helpers its handlers share."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from fundarb.venues.orders import OrderInfo
from fundarb.venues.sim import SimulatedExchange
from fundarb.venues.simex import wire
from fundarb.venues.simex.auth import Credentials, check_signed
from fundarb.venues.simex.streams import StreamHub
from fundarb.venues.simex.wire import JSON, ApiError, mandatory

__all__ = ["STATE", "SimexState", "ok", "param_bool", "param_decimal", "param_int"]

STATE: web.AppKey[SimexState] = web.AppKey("simex")


class SimexState:
    """The server's state: the venue, the credentials, and the wire ids."""

    def __init__(
        self, venue: SimulatedExchange, credentials: Credentials, clock: Callable[[], float]
    ) -> None:
        self.venue = venue
        self.credentials = credentials
        self.clock = clock
        self.order_ids = wire.WireIds()
        self.trade_ids = wire.WireIds()
        self.income_ids = wire.WireIds()  # tranId of /fapi/v1/income rows
        self.hub = StreamHub(venue, self.order_ids, self.trade_ids)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- reading requests -------------------------------------------------------------------

    async def signed(self, request: web.Request) -> dict[str, str]:
        body = await request.text() if request.can_read_body else ""
        return check_signed(
            self.credentials,
            api_key=request.headers.get("X-MBX-APIKEY"),
            raw_query=request.rel_url.raw_query_string,
            raw_body=body,
            now_ms=self.now_ms(),
        )

    def symbol(self, params: dict[str, str], *, required: bool = True) -> str | None:
        symbol = params.get("symbol")
        if not symbol:
            if required:
                raise mandatory("symbol")
            return None
        if symbol not in self.venue.core.specs:
            raise ApiError(400, -1121, "Invalid symbol.")
        return symbol

    # -- rendering --------------------------------------------------------------------------

    def order(self, info: OrderInfo) -> JSON:
        core = self.venue.core
        sim_order = core.orders.get(info.order_id)
        created = core.venue_time(sim_order.created_at) if sim_order is not None else None
        now = core.venue_time()
        return wire.order_json(
            info,
            sim_order,
            order_id=self.order_ids.wire(info.order_id),
            created=created or now,
            updated=now,
        )

    async def find_order(self, params: dict[str, str], *, missing: ApiError) -> OrderInfo:
        symbol = self.symbol(params)
        order_id, client_id = params.get("orderId"), params.get("origClientOrderId")
        info: OrderInfo | None
        if order_id:
            venue_id = self.order_ids.venue(param_int(order_id, "orderId"))
            info = await self.venue.get_order_info(venue_id) if venue_id else None
        elif client_id:
            info = await self.venue.get_order_by_client_id(client_id)
        else:
            raise ApiError(400, -1102, "Either orderId or origClientOrderId must be sent.")
        if info is None or info.symbol != symbol:
            raise missing
        return info


def param_int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise mandatory(name) from None


def param_decimal(value: str | None, name: str) -> Decimal:
    if value is None or value == "":
        raise mandatory(name)
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'.") from None
    if not parsed.is_finite() or parsed <= 0:
        code = -4003 if name == "quantity" else -4001
        raise ApiError(400, code, f"{name} less than or equal to zero.")
    return parsed


def param_bool(value: str | None) -> bool:
    return value is not None and value.lower() == "true"


def ok(payload: Any) -> web.Response:
    return web.json_response(payload)
