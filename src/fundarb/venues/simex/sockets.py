"""The user data stream's listen keys and the websocket endpoint (see ``streams``)."""

from __future__ import annotations

import asyncio
import json

from aiohttp import WSCloseCode, web

from fundarb.venues.simex.state import STATE, SimexState, ok
from fundarb.venues.simex.streams import DROP, Subscriber
from fundarb.venues.simex.wire import ApiError

__all__ = ["socket_routes"]


def _api_key_only(state: SimexState, request: web.Request) -> None:
    api_key = request.headers.get("X-MBX-APIKEY")
    if not api_key:
        raise ApiError(401, -2014, "API-key format invalid.")
    if api_key != state.credentials.api_key:
        raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")


async def _listen_key(request: web.Request) -> web.Response:
    """POST: a new listen key; PUT: keep it alive; DELETE: close it (key header only)."""
    state = request.app[STATE]
    _api_key_only(state, request)
    if request.method == "POST":
        return ok({"listenKey": state.hub.new_listen_key()})
    body = await request.text() if request.can_read_body else ""
    params = dict(request.query)
    params.update({k: v for k, _, v in (p.partition("=") for p in body.split("&") if p)})
    key = params.get("listenKey")
    if key is not None and key not in state.hub.listen_keys:
        raise ApiError(400, -1125, "This listenKey does not exist.")
    if request.method == "DELETE" and key is not None:
        state.hub.listen_keys.discard(key)
    return ok({})


def _stream_names(raw: str) -> set[str]:
    names = set()
    for name in raw.split("/"):
        if "@" in name:
            symbol, _, rest = name.partition("@")
            names.add(f"{symbol.lower()}@{rest}")
    return names


async def _pump(subscriber: Subscriber, socket: web.WebSocketResponse) -> None:
    try:
        while True:
            message = await subscriber.queue.get()
            if message == DROP:  # the operator's fault: close the connection
                subscriber.dropped = True  # the reader ends; this close must not be cut short
                await socket.close(code=WSCloseCode.GOING_AWAY)
                return
            await socket.send_str(message)
    except ConnectionResetError:
        return  # the client went away; the reader sees the close


async def _websocket(request: web.Request) -> web.WebSocketResponse:
    """One stream connection: streams from the path or ``SUBSCRIBE``, or a listen key."""
    state = request.app[STATE]
    hub = state.hub
    tail = request.match_info.get("tail", "")
    listen_key = request.query.get("listenKey") or (tail if tail in hub.listen_keys else None)
    if listen_key is not None and listen_key not in hub.listen_keys:
        raise ApiError(400, -1125, "This listenKey does not exist.")
    socket = web.WebSocketResponse()
    subscriber = Subscriber(combined="/stream" in request.path, listen_key=listen_key)
    subscriber.streams |= _stream_names(tail) | _stream_names(request.query.get("streams", ""))
    hub.add(subscriber)  # before the handshake completes: nothing after it is missed
    try:
        await socket.prepare(request)
        async with asyncio.TaskGroup() as tasks:
            writer = tasks.create_task(_pump(subscriber, socket))
            async for message in socket:
                _on_ws_message(subscriber, message.data)
            if not subscriber.dropped:
                writer.cancel()
    finally:
        hub.remove(subscriber)
    return socket


def _on_ws_message(subscriber: Subscriber, data: object) -> None:
    try:
        request = json.loads(data) if isinstance(data, str) else None
    except ValueError:
        request = None
    if not isinstance(request, dict):
        subscriber.queue.put_nowait(json.dumps({"error": {"code": 3, "msg": "Invalid JSON"}}))
        return
    method, request_id = request.get("method"), request.get("id")
    names = _stream_names("/".join(str(p) for p in request.get("params") or []))
    result: object = None
    if method == "SUBSCRIBE":
        subscriber.streams |= names
    elif method == "UNSUBSCRIBE":
        subscriber.streams -= names
    elif method == "LIST_SUBSCRIPTIONS":
        result = sorted(subscriber.streams)
    else:
        error = {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}
        subscriber.queue.put_nowait(json.dumps({"error": error, "id": request_id}))
        return
    subscriber.queue.put_nowait(json.dumps({"result": result, "id": request_id}))


def socket_routes() -> list[web.RouteDef]:
    routes = [
        web.post("/fapi/v1/listenKey", _listen_key),
        web.put("/fapi/v1/listenKey", _listen_key),
        web.delete("/fapi/v1/listenKey", _listen_key),
    ]
    for prefix in ("", "/public", "/market", "/private"):
        for kind in ("ws", "stream"):
            routes.append(web.get(f"{prefix}/{kind}", _websocket))
            routes.append(web.get(f"{prefix}/{kind}/{{tail:.+}}", _websocket))
    return routes
