"""The strategy's control API: see it, and flip the kill switch (``fundarb run --api``).

``GET /strategy`` returns the snapshot (pairs with their PnL split, totals, whether entries
are stopped); ``POST /strategy/stop-entries`` turns the kill switch on (open pairs are still
managed) and ``POST /strategy/resume-entries`` off. Decimals are exact strings. With a token
configured every request needs ``Authorization: Bearer <token>``; without one, bind to
loopback only (``fundarb run`` refuses otherwise).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query

from fundarb import __version__
from fundarb.funding.api import bearer_token, to_json
from fundarb.strategies.funding_arbitrage.engine import FundingArbitrage
from fundarb.strategies.funding_arbitrage.positions import PairPosition

__all__ = ["create_strategy_app"]


def _pair(position: PairPosition) -> dict[str, Any]:
    pnl = position.pnl()
    return {
        "position_id": position.position_id,
        "symbol": position.symbol,
        "state": position.state.value,
        "long": {"venue": position.long.venue, "symbol": position.long.symbol},
        "short": {"venue": position.short.venue, "symbol": position.short.symbol},
        "quantity": str(position.quantity),
        "opened_at": to_json(position.opened_at),
        "closed_at": to_json(position.closed_at),
        "exit_reason": position.exit_reason,
        "pnl": {
            "funding": str(pnl.funding),
            "basis": str(pnl.basis),
            "fees": str(pnl.fees),
            "slippage": str(pnl.slippage),
            "total": str(pnl.total),
        },
    }


def create_strategy_app(strategy: FundingArbitrage, *, token: str | None = None) -> FastAPI:
    """The control API over a running ``strategy``."""

    app = FastAPI(
        title="fundarb strategy",
        version=__version__,
        description="The running funding-arbitrage strategy: its pairs, its PnL, and the "
        "kill switch that stops new entries.",
        dependencies=[Depends(bearer_token(token))],
    )

    @app.get("/strategy")
    async def state() -> dict[str, Any]:
        snapshot = strategy.snapshot()
        pnl = snapshot.pnl
        return {
            "time": to_json(snapshot.time),
            "entries_stopped": snapshot.entries_stopped,
            "pairs": [_pair(p) for p in snapshot.positions],
            "pnl": {
                "funding": str(pnl.funding),
                "basis": str(pnl.basis),
                "fees": str(pnl.fees),
                "slippage": str(pnl.slippage),
                "total": str(pnl.total),
            },
            "equity_usd": to_json(snapshot.equity_usd),
            "executions": snapshot.executions,
            "incidents": snapshot.incidents,
        }

    @app.post("/strategy/stop-entries")
    async def stop(
        reason: Annotated[str, Query(max_length=200)] = "API",
    ) -> dict[str, Any]:
        strategy.stop_entries(f"API: {reason}")
        return {"entries_stopped": strategy.entries_stopped}

    @app.post("/strategy/resume-entries")
    async def resume() -> dict[str, Any]:
        strategy.resume_entries()
        return {"entries_stopped": strategy.entries_stopped}

    return app
