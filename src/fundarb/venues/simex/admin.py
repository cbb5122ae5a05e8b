"""The operator's fault-injection endpoints, mounted only when the server is asked to.

``POST /simex/admin/faults`` with a JSON fault (``{"kind": "rate_limit", "on":
["get_balance"], "count": 2, ...}``; the fields of :class:`~fundarb.venues.sim.Fault`)
arms it on the venue; ``GET`` lists the armed faults; ``DELETE`` clears them.
``POST /simex/admin/sockets`` with ``{"action": "drop"}`` closes every open websocket
connection; ``{"action": "mute"}`` keeps connections (old and new) open but sends no stream
data on them until ``{"action": "unmute"}``; the answer is ``{"connections": n}`` (how many
were open). Requests need the
server's API key in ``X-MBX-APIKEY``.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from fundarb.errors import ConfigError
from fundarb.venues.sim import Fault, FaultKind, SimulatedExchange
from fundarb.venues.simex.state import STATE
from fundarb.venues.simex.wire import ApiError

__all__ = ["admin_routes", "fault_from_json", "fault_to_json"]

_FLOATS = ("start_s", "end_s", "delay_s", "retry_after_s")
_INTS = ("count", "skip")
_FIELDS = frozenset({"kind", "on", "symbol", "fraction", "message", *_FLOATS, *_INTS})


def fault_from_json(raw: object) -> Fault:
    """A :class:`Fault` from its JSON form; raises :class:`ApiError` (400) if invalid."""
    if not isinstance(raw, dict):
        raise ApiError(400, -1102, "a fault must be a JSON object")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise ApiError(400, -1104, f"unknown fault fields {sorted(unknown)}")
    on = raw.get("on", [])
    if not isinstance(on, list) or not all(isinstance(m, str) for m in on):
        raise ApiError(400, -1102, "invalid fault: on must be a list of method names")
    try:
        values: dict[str, Any] = {"kind": FaultKind(str(raw.get("kind"))), "on": frozenset(on)}
        for name in _FLOATS:
            if name in raw:
                values[name] = float(raw[name])
        for name in _INTS:
            if name in raw:
                values[name] = None if raw[name] is None else int(raw[name])
        if "fraction" in raw:
            values["fraction"] = Decimal(str(raw["fraction"]))
        for name in ("symbol", "message"):
            if name in raw:
                values[name] = str(raw[name])
        return Fault(**values)
    except (ValueError, TypeError, InvalidOperation, ConfigError) as exc:
        raise ApiError(400, -1102, f"invalid fault: {exc}") from None


def fault_to_json(fault: Fault) -> dict[str, Any]:
    return {
        "kind": fault.kind.value,
        "on": sorted(fault.on),
        "symbol": fault.symbol,
        "count": fault.count,
        "skip": fault.skip,
        "fraction": str(fault.fraction),
        "delay_s": fault.delay_s,
        "retry_after_s": fault.retry_after_s,
        "message": fault.message,
    }


def admin_routes(venue: SimulatedExchange, api_key: str) -> list[web.RouteDef]:
    """The admin routes over ``venue``, guarded by ``api_key``."""

    def check(request: web.Request) -> None:
        if request.headers.get("X-MBX-APIKEY") != api_key:
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")

    async def faults(request: web.Request) -> web.Response:
        check(request)
        if request.method == "POST":
            try:
                raw = json.loads(await request.text())
            except ValueError:
                raise ApiError(400, -1102, "the body must be JSON") from None
            batch = raw if isinstance(raw, list) else [raw]
            venue.faults.add(*(fault_from_json(item) for item in batch))
        elif request.method == "DELETE":
            venue.faults.clear()
        return web.json_response([fault_to_json(f) for f in venue.faults.pending])

    async def sockets(request: web.Request) -> web.Response:
        check(request)
        try:
            raw = json.loads(await request.text())
        except ValueError:
            raise ApiError(400, -1102, "the body must be JSON") from None
        action = raw.get("action") if isinstance(raw, dict) else None
        if action not in ("drop", "mute", "unmute"):
            raise ApiError(400, -1102, "action must be 'drop', 'mute' or 'unmute'")
        return web.json_response({"connections": request.app[STATE].hub.disrupt(action)})

    return [
        web.post("/simex/admin/sockets", sockets),
        web.get("/simex/admin/faults", faults),
        web.post("/simex/admin/faults", faults),
        web.delete("/simex/admin/faults", faults),
    ]
