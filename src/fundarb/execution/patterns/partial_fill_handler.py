"""``PartialFillHandler``: one leg filled, the other did not — undo the naked part.

The single-leg handler of the original design, kept call-compatible::

    handler = PartialFillHandler()
    outcome = await handler.handle_one_sided_fill(
        filled_order={"symbol": "BTC-PERP", "side": "buy", "quantity": Decimal("0.5"),
                      "price": Decimal("50000")},
        unfilled_order_id="...", exchange_client=client)
    outcome["rollback_successful"], outcome["final_loss_usd"]; handler.incidents

Which client does what was ambiguous in the original; it is explicit here:
``unfilled_client`` (default: ``exchange_client``) cancels ``unfilled_order_id``, and
``filled_client`` (default: ``filled_order["exchange_client"]`` if present, else
``exchange_client``) closes the filled leg. The original call — one client for both — works
unchanged.

What it does: cancel the unfilled order and read back what it filled after all (a late fill
makes that part a balanced pair, which is kept); close the rest of the filled leg reduce-only
with a protected market order; verify; record an incident (ROLLBACK, or RESIDUAL when the
close could not be completed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from fundarb.concurrency import finish_shielded
from fundarb.errors import FundarbError, InvalidOrderError
from fundarb.execution.core.gateway import gateway_for
from fundarb.execution.core.order_executor import ExecutionMode, ExecutionResult, OrderExecutor
from fundarb.execution.patterns.incidents import Incident, IncidentKind, IncidentLeg, IncidentLog
from fundarb.logs import log_event
from fundarb.numbers import to_positive_decimal
from fundarb.venues.orders import OrderStatus, parse_side

__all__ = ["PartialFillHandler"]

logger = logging.getLogger("fundarb.execution")

_ZERO = Decimal(0)


class PartialFillHandler:
    """Undoes the naked part of a pair whose second leg did not fill."""

    def __init__(
        self, *, executor: OrderExecutor | None = None, incidents: IncidentLog | None = None
    ) -> None:
        self.executor = executor if executor is not None else OrderExecutor()
        self.incident_log = incidents if incidents is not None else IncidentLog()

    @property
    def incidents(self) -> list[Incident]:
        return self.incident_log.incidents

    async def handle_one_sided_fill(
        self,
        filled_order: Mapping[str, Any],
        unfilled_order_id: str | None,
        exchange_client: Any,
        *,
        filled_client: Any | None = None,
        unfilled_client: Any | None = None,
    ) -> dict[str, Any]:
        """Cancel the unfilled order, close the filled leg's excess; see the module docstring.

        ``filled_order`` holds ``symbol``, ``side``, ``quantity`` (or ``filled_size``) and
        optionally ``price`` (the entry, for the loss) and ``exchange_client``. Returns
        ``rollback_successful``, ``final_loss_usd``, ``unfilled_filled`` (what the cancelled
        order filled after all), ``closed_quantity``, ``residual_quantity``,
        ``close_result`` and ``incident_id``. Raises :class:`InvalidOrderError` for bad
        input (nothing is sent). The work finishes even if the caller is cancelled.
        """
        symbol = filled_order.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise InvalidOrderError("filled_order needs a 'symbol'")
        side = parse_side(filled_order.get("side"))
        raw_quantity = filled_order.get("quantity", filled_order.get("filled_size"))
        try:
            quantity = to_positive_decimal(raw_quantity, name="filled_order quantity")
            entry = filled_order.get("price")
            entry_price = to_positive_decimal(entry, name="price") if entry is not None else None
        except ValueError as exc:
            raise InvalidOrderError(str(exc), symbol=symbol) from None
        closer = filled_client or filled_order.get("exchange_client") or exchange_client
        canceller = unfilled_client or exchange_client
        return await finish_shielded(
            self._handle(
                symbol, side.value, quantity, entry_price, unfilled_order_id, closer, canceller
            )
        )

    async def _handle(
        self,
        symbol: str,
        side: str,
        quantity: Decimal,
        entry_price: Decimal | None,
        unfilled_order_id: str | None,
        closer: Any,
        canceller: Any,
    ) -> dict[str, Any]:
        execution_id = f"pfh{id(self) % 10_000:04d}{len(self.incidents) + 1}"
        actions: list[str] = []
        hedged = _ZERO
        if unfilled_order_id:
            hedged = await self._cancel(canceller, unfilled_order_id, actions)
        excess = max(quantity - hedged, _ZERO)
        close: ExecutionResult | None = None
        if excess > 0:
            close = await self._close(closer, symbol, side, excess, execution_id, actions)
        closed = close.filled_quantity if close is not None else _ZERO
        residual = excess - closed
        loss = _ZERO
        if close is not None and close.fill_price is not None and entry_price is not None:
            direction = 1 if side == "buy" else -1
            loss = (entry_price - close.fill_price) * closed * direction + close.fees
        elif close is not None:
            loss = close.fees
        venue = gateway_for(closer).name
        incident = self.incident_log.record(
            IncidentKind.ROLLBACK if residual == 0 else IncidentKind.RESIDUAL,
            execution_id=execution_id,
            legs=(
                IncidentLeg(venue, symbol, residual * (1 if side == "buy" else -1), entry_price),
            ),
            cost_usd=loss,
            actions=tuple(actions),
            resolved=residual == 0,
        )
        return {
            "rollback_successful": residual == 0,
            "final_loss_usd": loss,
            "unfilled_filled": hedged,
            "closed_quantity": closed,
            "residual_quantity": residual,
            "close_result": close,
            "incident_id": incident.incident_id,
        }

    async def _cancel(self, client: Any, order_id: str, actions: list[str]) -> Decimal:
        """Cancel the other leg's order; return what it filled (read back, not assumed)."""
        gateway = gateway_for(client)
        actions.append(f"cancel {gateway.name} {order_id}")
        try:
            await gateway.cancel(order_id)
            view = await gateway.order(order_id)
        except FundarbError as exc:
            actions.append(f"cancel failed: {exc}")
            log_event(
                logger,
                logging.ERROR,
                "pfh.cancel.failed",
                venue=gateway.name,
                order_id=order_id,
                error=exc,
            )
            return _ZERO
        if view is None:
            return _ZERO
        if view.status not in (OrderStatus.CANCELED, OrderStatus.FILLED, OrderStatus.EXPIRED):
            actions.append(f"order {order_id} is {view.status.value} after the cancel")
        return view.filled

    async def _close(
        self,
        client: Any,
        symbol: str,
        side: str,
        quantity: Decimal,
        execution_id: str,
        actions: list[str],
    ) -> ExecutionResult | None:
        opposite = "sell" if side == "buy" else "buy"
        actions.append(f"close {gateway_for(client).name} {symbol} {opposite} {quantity}")
        try:
            return await self.executor.execute_order(
                client,
                symbol,
                opposite,
                quantity=quantity,
                mode=ExecutionMode.MARKET_ONLY,
                reduce_only=True,
                execution_id=execution_id,
            )
        except InvalidOrderError as exc:
            actions.append(f"close refused: {exc}")
            return None
