"""The HTTP API of the rates service (FastAPI; the OpenAPI spec is at ``/openapi.json``).

Numbers are exact: decimals are JSON strings (``"0.0001"``), times ISO 8601 UTC. Bad
parameters get a 400 or 422 with a message naming the parameter, never a 500. With a token
configured, every request needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query
from fastapi.responses import JSONResponse

from fundarb import __version__
from fundarb.errors import ConfigError, FundarbError
from fundarb.execution import ExecutionMode
from fundarb.funding.opportunities import Opportunity, OpportunityFilters
from fundarb.funding.service import RatesService, check_token, venue_status_dict

__all__ = ["bearer_token", "create_app", "to_json"]

_RATE_SORTS = ("symbol", "venue", "apr", "rate_per_hour", "next_funding_time")


def to_json(value: Any) -> Any:
    """Plain JSON values: decimals as exact strings, times as ISO 8601, enums by value."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, timedelta):
        return str(Decimal(int(value.total_seconds())) / 3600)  # hours
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return [to_json(v) for v in items]
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    return value


def bearer_token(token: str | None) -> Callable[..., None]:
    """A FastAPI dependency: every request carries ``Authorization: Bearer <token>`` (401
    otherwise); with no token, anything passes (the server binds to loopback then)."""

    def authorised(authorization: Annotated[str | None, Header()] = None) -> None:
        given = None
        if authorization and authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        if not check_token(token, given):
            raise HTTPException(401, "a valid bearer token is required")

    return authorised


def opportunity_json(o: Opportunity) -> dict[str, Any]:
    """An opportunity with its inputs (each leg without the raw sample, which repeats)."""
    data: dict[str, Any] = to_json(o)
    for side in ("long_leg", "short_leg"):
        data[side].pop("sample", None)
    return data


def _decimal(name: str, text: str | None, *, minimum: Decimal | None = None) -> Decimal | None:
    if text is None or text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise HTTPException(400, f"{name} must be a number, got {text[:40]!r}") from None
    if not value.is_finite():
        raise HTTPException(400, f"{name} must be a finite number, got {text[:40]!r}")
    if minimum is not None and value < minimum:
        raise HTTPException(400, f"{name} must be at least {minimum}, got {text[:40]!r}")
    return value


def _names(text: str | None) -> frozenset[str] | None:
    if text is None or not text.strip():
        return None
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def _time(name: str, text: str | None) -> datetime | None:
    if text is None or text == "":
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(400, f"{name} must be an ISO 8601 time, got {text[:40]!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def create_app(
    service: RatesService,
    *,
    token: str | None = None,
    collect: bool = True,
) -> FastAPI:
    """The API over ``service``. ``collect``: run the collection schedule inside the app
    (started with it, cancelled and awaited when it stops)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not collect:
            yield
            return
        async with asyncio.TaskGroup() as group:
            task = group.create_task(service.run(), name="funding-collection")
            try:
                yield
            finally:
                task.cancel()

    authorised = bearer_token(token)

    app = FastAPI(
        title="fundarb rates service",
        version=__version__,
        description=(
            "Funding rates across venues, normalised per hour and per year (a positive rate "
            "means longs pay shorts), their history and statistics, and opportunities ranked "
            "net of fees and slippage. Decimals are exact strings."
        ),
        lifespan=lifespan,
        dependencies=[Depends(authorised)],
    )

    @app.exception_handler(ConfigError)
    async def _bad_input(_: Any, exc: ConfigError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.get("/health", summary="Service and per-venue collection state")
    async def health() -> JSONResponse:
        status = service.status()
        degraded = [v for v, s in status.items() if s.state.value != "ok"]
        return JSONResponse(
            to_json(
                {
                    "status": "degraded" if degraded else "ok",
                    "degraded_venues": degraded,
                    "cycles": service.cycles,
                    "venues": venue_status_dict(status),
                }
            )
        )

    def rates_response(venue: str | None, symbol: str | None, sort: str, desc: bool) -> Any:
        if sort not in _RATE_SORTS:
            raise HTTPException(400, f"sort must be one of {', '.join(_RATE_SORTS)}")
        rows = [view.as_dict() for view in service.rates(venue=venue, symbol=symbol)]
        rows.sort(key=_sort_key(sort), reverse=desc)
        return to_json(rows)

    sort_query = Query("symbol", description=f"one of {', '.join(_RATE_SORTS)}")

    @app.get("/rates", summary="Current rates of every venue and symbol")
    async def rates(
        venue: str | None = None,
        symbol: str | None = None,
        sort: str = sort_query,
        desc: bool = False,
    ) -> JSONResponse:
        return JSONResponse(rates_response(venue, symbol, sort, desc))

    @app.get("/venues/{venue}/rates", summary="Current rates of one venue")
    async def venue_rates(venue: str, sort: str = sort_query, desc: bool = False) -> JSONResponse:
        if venue not in service.venues:
            raise HTTPException(404, f"no venue {venue!r}; venues: {', '.join(service.venues)}")
        return JSONResponse(rates_response(venue, None, sort, desc))

    @app.get("/symbols/{symbol}/rates", summary="Current rates of one symbol on every venue")
    async def symbol_rates(symbol: str, sort: str = sort_query, desc: bool = False) -> JSONResponse:
        return JSONResponse(rates_response(None, symbol.upper(), sort, desc))

    @app.get("/history", summary="Stored funding prints and samples, oldest first")
    async def history(
        symbol: str | None = None,
        venue: str | None = None,
        since: str | None = Query(None, description="ISO 8601; UTC if no offset"),
        until: str | None = Query(None, description="ISO 8601; UTC if no offset"),
        limit: int = Query(1000, ge=1, le=100_000),
    ) -> JSONResponse:
        samples = await service.history(
            symbol=symbol.upper() if symbol else None,
            venue=venue,
            since=_time("since", since),
            until=_time("until", until),
            limit=limit,
        )
        return JSONResponse(to_json([_sample_row(s) for s in samples]))

    @app.get("/stats", summary="Mean, volatility, share positive and persistence per venue")
    async def stats(
        symbol: str,
        venue: str | None = None,
        hours: int = Query(24 * 30, ge=1, le=24 * 365 * 10),
    ) -> JSONResponse:
        found = await service.stats(symbol=symbol.upper(), venue=venue, hours=hours)
        return JSONResponse(to_json([asdict(s) for s in found]))

    @app.get("/opportunities", summary="Venue pairs ranked by net APR after every cost")
    async def opportunities(
        notional_usd: str | None = Query(None, description="per leg (default: config)"),
        horizon_hours: str | None = Query(None, description="holding horizon (default 72)"),
        min_net_apr: str | None = Query(None, description="a fraction: 0.1 is 10 %"),
        min_open_interest_usd: str | None = None,
        min_volume_24h_usd: str | None = None,
        max_spread_bps: str | None = None,
        venues: str | None = Query(None, description="allow list, comma-separated"),
        exclude_venues: str | None = Query(None, description="deny list, comma-separated"),
        symbols: str | None = Query(None, description="canonical names, comma-separated"),
        feasible_only: bool = False,
        mode: ExecutionMode = ExecutionMode.MARKET_ONLY,
        limit: int = Query(50, ge=1, le=10_000),
    ) -> JSONResponse:
        filters = OpportunityFilters(
            min_net_apr=_decimal("min_net_apr", min_net_apr),
            min_open_interest_usd=_decimal(
                "min_open_interest_usd", min_open_interest_usd, minimum=Decimal(0)
            ),
            min_volume_24h_usd=_decimal(
                "min_volume_24h_usd", min_volume_24h_usd, minimum=Decimal(0)
            ),
            max_spread_bps=_decimal("max_spread_bps", max_spread_bps, minimum=Decimal(0)),
            allow_venues=_names(venues),
            deny_venues=_names(exclude_venues) or frozenset(),
            symbols=frozenset(s.upper() for s in _names(symbols) or ()) or None,
            feasible_only=feasible_only,
        )
        notional = _decimal("notional_usd", notional_usd)
        horizon = _decimal("horizon_hours", horizon_hours)
        for name, value in (("notional_usd", notional), ("horizon_hours", horizon)):
            if value is not None and value <= 0:
                raise HTTPException(400, f"{name} must be greater than zero")
        try:
            found = await service.opportunities(
                filters=filters, notional_usd=notional, horizon_hours=horizon, mode=mode
            )
        except ConfigError:
            raise
        except FundarbError as exc:
            raise HTTPException(503, f"market data unavailable: {exc}") from None
        return JSONResponse([opportunity_json(o) for o in found[:limit]])

    return app


def _sample_row(sample: Any) -> dict[str, Any]:
    row: dict[str, Any] = to_json(sample)
    row["interval_hours"] = str(sample.interval_hours)
    row["rate_per_hour"] = str(sample.rate_per_hour)
    row["apr"] = str(sample.apr)
    row.pop("interval", None)
    return row


def _sort_key(name: str) -> Callable[[dict[str, Any]], Any]:
    def key(row: dict[str, Any]) -> Any:
        value = row[name]
        return (value is None, value)

    return key
