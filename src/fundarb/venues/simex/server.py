"""``simex``: a local HTTP server that speaks Binance USDⓈ-M futures REST, backed by one
:class:`~fundarb.venues.sim.SimulatedExchange`.

An unmodified ccxt ``binanceusdm`` client whose ``urls['api']`` point here can load
markets, read books, tickers and funding, place, query and cancel orders, and read trades,
positions and balances. Errors come back in Binance's ``{"code", "msg"}`` shape with
Binance's codes and HTTP statuses, so the client raises what it would raise live.

The server's clock (``/fapi/v1/time`` and the recvWindow check) is the wall clock, so a
client's own clock passes; times inside orders, trades and funding are the venue's.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from fundarb.errors import (
    InvalidOrderError,
    RateLimitedError,
    RequestTimeoutError,
    UnknownSymbolError,
    VenueUnavailableError,
)
from fundarb.venues.sim import SimulatedExchange
from fundarb.venues.simex.admin import admin_routes
from fundarb.venues.simex.auth import Credentials
from fundarb.venues.simex.income import income_routes
from fundarb.venues.simex.public import public_routes
from fundarb.venues.simex.sockets import socket_routes
from fundarb.venues.simex.state import STATE, SimexState
from fundarb.venues.simex.trading import trading_routes
from fundarb.venues.simex.wire import ApiError

__all__ = ["ServerAddress", "create_app", "serve"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """Where a running server listens. ``url`` is the base for ccxt (``{url}/fapi/v1``)."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn API errors and the venue's refusals into Binance's error answers."""
    try:
        return await handler(request)
    except ApiError as exc:
        headers = {"Retry-After": str(int(exc.retry_after_s))} if exc.retry_after_s else None
        return web.json_response(exc.body(), status=exc.status, headers=headers)
    except RateLimitedError as exc:
        return web.json_response(
            {
                "code": -1003,
                "msg": "Too many requests; current limit of IP is 2400 requests per minute. "
                "Please use the websocket for live updates to avoid polling the API.",
            },
            status=429,
            headers={"Retry-After": str(max(1, round(exc.retry_after_s)))},
        )
    except VenueUnavailableError:
        return web.Response(status=503, text="Service Unavailable")
    except RequestTimeoutError:
        return web.json_response(
            {
                "code": -1007,
                "msg": "Timeout waiting for response from backend server. Send status unknown; "
                "execution status unknown.",
            },
            status=503,
        )
    except UnknownSymbolError:
        return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
    except InvalidOrderError as exc:
        return web.json_response({"code": -1102, "msg": str(exc)}, status=400)


def create_app(
    venue: SimulatedExchange,
    *,
    api_key: str,
    api_secret: str,
    clock: Callable[[], float] = time.time,
    admin: bool = False,
) -> web.Application:
    """The Binance USDⓈ-M REST and websocket app over ``venue``.

    ``clock``: wall-clock seconds for ``/time`` and recvWindow. ``admin``: mount the
    fault-injection endpoints (``/simex/admin/faults``); off by default.
    """
    app = web.Application(middlewares=[_errors])
    app[STATE] = SimexState(venue, Credentials(api_key, api_secret), clock)
    routes = [*public_routes(), *trading_routes(), *income_routes(), *socket_routes()]
    if admin:
        routes += admin_routes(venue, api_key)
    app.add_routes(routes)

    async def streams(app: web.Application) -> AsyncIterator[None]:
        async with app[STATE].hub.running():
            yield

    app.cleanup_ctx.append(streams)
    return app


@asynccontextmanager
async def serve(
    venue: SimulatedExchange,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str,
    api_secret: str,
    admin: bool = False,
) -> AsyncIterator[ServerAddress]:
    """Serve ``venue`` on ``host:port`` (0: a free port) until the block exits.

    The venue's own lifecycle (``async with venue``) stays with the caller.
    """
    app = create_app(venue, api_key=api_key, api_secret=api_secret, admin=admin)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        yield ServerAddress(host, int(bound))
    finally:
        await runner.cleanup()
