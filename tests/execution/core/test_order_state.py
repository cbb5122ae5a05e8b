"""The order state machine and the fill ledger."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from fundarb.execution.core.gateway import OrderView
from fundarb.execution.core.order_state import FillLedger, OrderKind, OrderState, TrackedOrder
from fundarb.venues.orders import OrderStatus, Side


def _order() -> TrackedOrder:
    return TrackedOrder(
        client_order_id="fa-x-0-1",
        kind=OrderKind.LIMIT,
        side=Side.BUY,
        quantity=D("1"),
        price=D("100"),
        venue="v",
        execution_id="x",
    )


def _view(status: OrderStatus, filled: str) -> OrderView:
    return OrderView("o-1", "fa-x-0-1", status, D("1"), D(filled), D("100"), None)


def test_ledger_only_moves_forward() -> None:
    ledger = FillLedger()

    assert ledger.observe(D("0.3")) == D("0.3")
    assert ledger.observe(D("0.3")) == 0  # duplicate report
    assert ledger.observe(D("0.1")) == 0  # stale report
    assert ledger.observe(D("0.5")) == D("0.2")
    assert ledger.filled == D("0.5")


def test_ledger_counts_each_trade_once() -> None:
    ledger = FillLedger()

    assert ledger.record_trade("t1", D("0.2"), D("100"), D("0.01"))
    assert not ledger.record_trade("t1", D("0.2"), D("100"), D("0.01"))  # duplicate event
    assert ledger.record_trade("t2", D("0.1"), D("101"), D("0.01"))
    assert ledger.filled == D("0.3")


@pytest.mark.parametrize(
    ("reports", "state", "filled"),
    [
        ([(OrderStatus.NEW, "0")], OrderState.ACKNOWLEDGED, "0"),
        ([(OrderStatus.NEW, "0.4")], OrderState.PARTIALLY_FILLED, "0.4"),
        (
            [(OrderStatus.PARTIALLY_FILLED, "0.4"), (OrderStatus.FILLED, "1")],
            OrderState.FILLED,
            "1",
        ),
        # a final state is final: a late "open" report does not reopen it
        ([(OrderStatus.FILLED, "1"), (OrderStatus.NEW, "0")], OrderState.FILLED, "1"),
        (
            [(OrderStatus.CANCELED, "0.2"), (OrderStatus.CANCELED, "0.5")],
            OrderState.CANCELLED,
            "0.5",
        ),  # a fill reported after the cancel still counts
        # a status text we do not know never counts as filled
        ([(OrderStatus.NEW, "0"), (OrderStatus.UNKNOWN, "0")], OrderState.ACKNOWLEDGED, "0"),
    ],
)
def test_reports_drive_the_state_machine(
    reports: list[tuple[OrderStatus, str]], state: OrderState, filled: str
) -> None:
    order = _order()

    for status, cumulative in reports:
        order.apply(_view(status, cumulative))

    assert order.state is state
    assert order.filled == D(filled)


def test_a_cancel_in_flight_is_not_undone_by_an_open_report() -> None:
    order = _order()
    order.apply(_view(OrderStatus.NEW, "0"))
    order.move(OrderState.CANCEL_PENDING)

    order.apply(_view(OrderStatus.NEW, "0"))

    assert order.state is OrderState.CANCEL_PENDING


def test_unknown_resolves_to_anything_but_new() -> None:
    order = _order()
    order.move(OrderState.UNKNOWN)

    order.apply(_view(OrderStatus.PARTIALLY_FILLED, "0.5"))

    assert order.state is OrderState.PARTIALLY_FILLED
    assert not order.state.is_final
