"""The test suite's third-party client is as loose as promised, and still normalises right."""

from __future__ import annotations

from decimal import Decimal as D

from fundarb.venues import (
    ClockProvider,
    ExchangeClient,
    FillHistoryProvider,
    MarketSpecProvider,
    OrderLookup,
    OrderStatus,
    PositionProvider,
    normalize_status,
)
from tests.conftest import BOOK, BTC, static_venue
from tests.execution.thirdparty import LooseClient, LooseOrder, LooseResult


def _client() -> LooseClient:
    venue = static_venue()
    venue.set_book(BTC, **BOOK)
    return LooseClient(venue)


async def test_it_offers_only_the_core_methods() -> None:
    client = _client()

    assert isinstance(client, ExchangeClient)
    for capability in (
        MarketSpecProvider,
        ClockProvider,
        OrderLookup,
        PositionProvider,
        FillHistoryProvider,
    ):
        assert not isinstance(client, capability), capability.__name__
    assert not hasattr(client, "supported_order_options")


async def test_books_are_ccxt_lists_of_floats_without_a_timestamp() -> None:
    book = await _client().get_order_book_depth(BTC, 2)

    assert book == {
        "bids": [[49999.9, 1.0], [49999.8, 1.0]],
        "asks": [[50000.0, 1.0], [50000.1, 1.0]],
    }
    assert await _client().fetch_bbo_prices(BTC) == (49999.9, 50000.0)


async def test_orders_answer_in_its_own_types_and_spellings() -> None:
    client = _client()

    resting = await client.place_limit_order(BTC, D("0.5"), D("49990.0"), "buy")
    assert resting.order_id is not None
    info = await client.get_order_info(resting.order_id)
    cancelled = await client.cancel_order(resting.order_id)
    taken = await client.place_market_order(BTC, D("0.5"), "buy")

    assert isinstance(resting, LooseResult)
    assert isinstance(info, LooseOrder)
    assert (resting.status, info.status, cancelled.status, taken.status) == (
        "open",
        "open",
        "CANCELLED",
        "closed",
    )
    assert isinstance(taken.filled_size, float)
    assert [normalize_status(s) for s in ("open", "CANCELLED", "closed", "partially_filled")] == [
        OrderStatus.NEW,
        OrderStatus.CANCELED,
        OrderStatus.FILLED,
        OrderStatus.PARTIALLY_FILLED,
    ]
    assert client.sent == [
        "place_limit_order",
        "cancel_order",
        "place_market_order",
    ]
