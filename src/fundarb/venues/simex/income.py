"""SIGNED account history: ``GET /fapi/v1/income`` and ``GET /fapi/v1/commissionRate``.

The income history is built from the venue's own records: a ``FUNDING_FEE`` row per funding
payment (the engine's amount, received positive), a ``COMMISSION`` row per fill (the fee,
paid negative), and a ``REALIZED_PNL`` row per fill that closed part of a position. The
simulated venue keeps no realised PnL per fill, so it is worked out by replaying our fills
per symbol with the account's own rule (average entry price; a flip opens the rest at the
fill's price); a liquidation, which closes a position without a fill, is not listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from aiohttp import web

from fundarb.venues.orders import Fill, Side
from fundarb.venues.simex.state import STATE, SimexState, ok, param_int
from fundarb.venues.simex.wire import JSON, ApiError, decimal_str, mandatory, millis

__all__ = ["income_routes"]

_TYPES = frozenset({"FUNDING_FEE", "COMMISSION", "REALIZED_PNL"})
_ZERO = Decimal(0)


def _realized(fills: list[Fill]) -> Iterator[tuple[Fill, Decimal]]:
    """Each fill with the PnL it realised (the account's rule), per symbol, in order."""
    positions: dict[str, tuple[Decimal, Decimal]] = {}  # symbol: (signed quantity, entry)
    for fill in fills:
        old, entry = positions.get(fill.symbol, (_ZERO, _ZERO))
        signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
        new = old + signed
        realized = _ZERO
        if old == 0 or (old > 0) == (signed > 0):
            entry = (abs(old) * entry + abs(signed) * fill.price) / abs(new)
        else:
            closed = min(abs(old), abs(signed))
            realized = (fill.price - entry) * closed * (1 if old > 0 else -1)
            if new == 0:
                entry = _ZERO
            elif (new > 0) != (old > 0):
                entry = fill.price
        positions[fill.symbol] = (new, entry)
        yield fill, realized


async def _rows(state: SimexState, symbol: str | None) -> list[tuple[int, str, JSON]]:
    venue = state.venue
    asset = venue.core.config.quote_asset
    rows: list[tuple[int, str, JSON]] = []

    def row(kind: str, key: str, sym: str, amount: Decimal, when_ms: int, info: str) -> None:
        trade_id = key.rsplit("/", 1)[-1] if kind != "FUNDING_FEE" else ""
        rows.append(
            (
                when_ms,
                kind,
                {
                    "symbol": sym,
                    "incomeType": kind,
                    "income": decimal_str(amount),
                    "asset": asset,
                    "info": info,
                    "time": when_ms,
                    "tranId": state.income_ids.wire(f"{kind}/{key}"),
                    "tradeId": trade_id,
                },
            )
        )

    for payment in await venue.get_funding_payments(symbol):
        when = millis(payment.funding_time)
        row(
            "FUNDING_FEE",
            f"{payment.symbol}/{when}/{payment.position_quantity > 0}",
            payment.symbol,
            payment.amount,
            when,
            "FUNDING_FEE",
        )
    for fill, realized in _realized(list(await venue.get_fills())):
        if symbol is not None and fill.symbol != symbol:
            continue
        when = millis(fill.timestamp)
        wire_trade = str(state.trade_ids.wire(f"{fill.symbol}/{fill.trade_id}"))
        key = f"{fill.symbol}/{wire_trade}"
        if fill.fee:
            row("COMMISSION", key, fill.symbol, -fill.fee, when, "COMMISSION")
        if realized:
            row("REALIZED_PNL", key, fill.symbol, realized, when, "REALIZED_PNL")
    rows.sort(key=lambda r: (r[0], r[2]["tranId"]))
    return rows


async def _income(request: web.Request) -> web.Response:
    """Income rows oldest first; ``incomeType``, ``startTime``, ``endTime``, ``limit``
    (default 100, at most 1000: the newest ``limit`` within the window)."""
    state = request.app[STATE]
    params = await state.signed(request)
    symbol = state.symbol(params, required=False)
    kind = params.get("incomeType")
    if kind is not None and kind not in _TYPES:
        raise ApiError(400, -1130, "Data sent for parameter 'incomeType' is not valid.")
    limit = min(param_int(params.get("limit", "100"), "limit"), 1000)
    start_ms = param_int(params["startTime"], "startTime") if "startTime" in params else None
    end_ms = param_int(params["endTime"], "endTime") if "endTime" in params else None
    answers = [
        body
        for when, row_kind, body in await _rows(state, symbol)
        if (kind is None or row_kind == kind)
        and (start_ms is None or when >= start_ms)
        and (end_ms is None or when <= end_ms)
    ]
    return ok(answers[:limit] if start_ms is not None else answers[-limit:])


async def _commission_rate(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = await state.signed(request)
    symbol = state.symbol(params)
    if symbol is None:
        raise mandatory("symbol")
    fees = await state.venue.get_fee_schedule(symbol)
    return ok(
        {
            "symbol": symbol,
            "makerCommissionRate": decimal_str(fees.maker_rate),
            "takerCommissionRate": decimal_str(fees.taker_rate),
        }
    )


def income_routes() -> list[web.RouteDef]:
    return [
        web.get("/fapi/v1/income", _income),
        web.get("/fapi/v1/commissionRate", _commission_rate),
    ]
