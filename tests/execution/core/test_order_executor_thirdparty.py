"""Every mode with a third party's client: odd status spellings, floats, list books, no
capabilities (no spec, no lookup, no positions, no order options)."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

from fundarb.execution import ExecutionMode, ExecutionResult, OrderExecutor
from fundarb.venues.sim import SimulatedExchange
from tests.conftest import BTC, static_venue
from tests.execution.thirdparty import LooseClient

# sizes with three decimals, so the lot the executor infers from the book is 0.001
LOOSE_BOOK = {
    "bids": [("49999.9", "1.234"), ("49999.8", "1.5"), ("49999.7", "2")],
    "asks": [("50000.0", "1.234"), ("50000.1", "1.5"), ("50000.2", "2")],
}


def _client() -> tuple[LooseClient, SimulatedExchange]:
    venue = static_venue()
    venue.set_book(BTC, **LOOSE_BOOK)
    return LooseClient(venue), venue


async def _run(
    client: LooseClient, venue: SimulatedExchange, mode: ExecutionMode, flow: str | None
) -> ExecutionResult:
    run = OrderExecutor().execute_order(
        client, BTC, "buy", quantity=D("0.5"), mode=mode, timeout_seconds=8
    )
    if flow is None:
        return await run

    async def market() -> None:
        await asyncio.sleep(1)
        venue.trade_from_market(BTC, "sell", D(flow))

    async with asyncio.TaskGroup() as group:
        task = group.create_task(run)
        group.create_task(market())
    return task.result()


@pytest.mark.parametrize(
    ("mode", "flow", "filled"),
    [
        (ExecutionMode.MARKET_ONLY, None, D("0.5")),
        (ExecutionMode.LIMIT_ONLY, "1.434", D("0.2")),  # 1.234 queued ahead of us
        (ExecutionMode.LIMIT_WITH_FALLBACK, "1.434", D("0.5")),
        (ExecutionMode.AGGRESSIVE_LIMIT, None, D("0.5")),
        (ExecutionMode.ADAPTIVE, None, D("0.5")),
    ],
)
async def test_every_mode_runs_on_a_third_party_client(
    mode: ExecutionMode, flow: str | None, filled: D
) -> None:
    client, venue = _client()

    result = await _run(client, venue, mode, flow)

    assert result.filled_quantity == filled
    assert result.venue == "loose-static"
    assert await venue.get_open_orders() == []
    position = await venue.get_position(BTC)
    assert position is not None
    assert position.quantity == filled
    assert result.fees_estimated  # this client cannot list fills or fee rates


async def test_post_only_is_refused_when_the_client_cannot_send_it() -> None:
    client, _ = _client()

    result = await OrderExecutor().execute_order(
        client, BTC, "buy", quantity=D("0.5"), mode="post_only"
    )

    assert not result.filled
    assert result.error_message is not None
    assert "post-only" in result.error_message
    assert client.sent == []


async def test_a_third_party_market_order_is_sent_without_options() -> None:
    client, venue = _client()

    await OrderExecutor().execute_order(client, BTC, "sell", quantity=D("0.3"), mode="market_only")

    assert client.sent == ["place_market_order"]
    orders = list(venue.core.orders.values())
    assert orders[0].client_order_id.startswith("static-auto")  # the client chose no id
