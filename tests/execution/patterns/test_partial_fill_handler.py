"""PartialFillHandler: the original call shape, explicit clients, late fills, failures."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from fundarb.errors import InvalidOrderError
from fundarb.execution import IncidentKind, PartialFillHandler
from fundarb.venues.sim import Fault, SimulatedExchange
from tests.conftest import BOOK, BTC, static_venue


def _venue(name: str) -> SimulatedExchange:
    venue = static_venue(venue=name)
    venue.set_book(BTC, **BOOK)
    return venue


async def test_original_call_closes_the_filled_leg_and_cancels_the_other() -> None:
    venue = _venue("a")
    filled = await venue.place_market_order(BTC, D("0.5"), "buy")
    resting = await venue.place_limit_order(BTC, D("0.5"), D("50100.0"), "sell")
    handler = PartialFillHandler()

    outcome = await handler.handle_one_sided_fill(
        filled_order={"symbol": BTC, "side": "buy", "quantity": D("0.5"), "price": filled.price},
        unfilled_order_id=resting.order_id,
        exchange_client=venue,
    )

    assert outcome["rollback_successful"]
    # bought at the ask 50000.0, sold back at the bid 49999.9, plus the closing fee
    close_fee = D("49999.9") * D("0.5") * D("0.0005")
    assert outcome["final_loss_usd"] == D("0.1") * D("0.5") + close_fee
    assert venue.core.account.quantity(BTC) == 0
    assert not venue.core.open_orders
    assert [i.kind for i in handler.incidents] == [IncidentKind.ROLLBACK]


async def test_explicit_clients_when_the_legs_are_on_two_venues() -> None:
    a, b = _venue("a"), _venue("b")
    await a.place_market_order(BTC, D("0.5"), "buy")
    resting = await b.place_limit_order(BTC, D("0.5"), D("50100.0"), "sell")

    outcome = await PartialFillHandler().handle_one_sided_fill(
        filled_order={"symbol": BTC, "side": "buy", "quantity": D("0.5")},
        unfilled_order_id=resting.order_id,
        exchange_client=None,
        filled_client=a,
        unfilled_client=b,
    )

    assert outcome["rollback_successful"]
    assert a.core.account.quantity(BTC) == 0
    assert not b.core.open_orders


async def test_a_late_fill_of_the_other_leg_is_kept_as_a_balanced_pair() -> None:
    a, b = _venue("a"), _venue("b")
    await a.place_market_order(BTC, D("0.5"), "buy")
    resting = await b.place_limit_order(BTC, D("0.5"), D("50100.0"), "sell")
    b.faults.add(Fault.cancel_loses_race())  # b's order fills as the cancel arrives

    outcome = await PartialFillHandler().handle_one_sided_fill(
        filled_order={"symbol": BTC, "side": "buy", "quantity": D("0.5")},
        unfilled_order_id=resting.order_id,
        exchange_client=None,
        filled_client=a,
        unfilled_client=b,
    )

    assert outcome["unfilled_filled"] == D("0.5")
    assert outcome["closed_quantity"] == 0
    assert a.core.account.quantity(BTC) == D("0.5")
    assert b.core.account.quantity(BTC) == D("-0.5")


async def test_a_close_that_cannot_be_done_is_a_residual_incident() -> None:
    venue = _venue("a")
    await venue.place_market_order(BTC, D("0.5"), "buy")
    venue.faults.add(Fault.reject(count=None))
    handler = PartialFillHandler()

    outcome = await handler.handle_one_sided_fill(
        filled_order={"symbol": BTC, "side": "buy", "quantity": D("0.5")},
        unfilled_order_id=None,
        exchange_client=venue,
    )

    assert not outcome["rollback_successful"]
    assert outcome["residual_quantity"] == D("0.5")
    assert handler.incidents[0].kind is IncidentKind.RESIDUAL
    assert not handler.incidents[0].resolved


@pytest.mark.parametrize(
    "order",
    [
        {},
        {"symbol": BTC, "side": "up", "quantity": D(1)},
        {"symbol": BTC, "side": "buy", "quantity": D(0)},
        {"symbol": BTC, "side": "buy", "quantity": D("NaN")},
    ],
)
async def test_bad_input_sends_nothing(order: dict[str, object]) -> None:
    venue = _venue("a")

    with pytest.raises(InvalidOrderError):
        await PartialFillHandler().handle_one_sided_fill(order, None, venue)

    assert venue.core.orders == {}
