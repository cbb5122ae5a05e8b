"""PositionSizer: USD to a lot-rounded quantity at the touch, minimums refused, nothing sent."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from typing import Any

import pytest

from fundarb.errors import (
    ConfigError,
    InvalidOrderError,
    MarketDataError,
    StaleMarketDataError,
)
from fundarb.execution import PositionSizer
from fundarb.venues import MarketSpec
from fundarb.venues.sim import Fault, SimulatedExchange
from tests.conftest import BOOK, BTC, btc_symbol, static_venue
from tests.execution.thirdparty import LooseClient

SIZER = PositionSizer()
# A 10,000-tick spread makes it plain which side of the book priced the size.
WIDE = {"bids": [("40000.0", "1")], "asks": [("50000.0", "1")]}
SPEC = MarketSpec(
    symbol="X",
    tick_size=D("0.1"),
    lot_size=D("0.001"),
    min_quantity=D("0.001"),
    max_quantity=D("1"),
    min_notional=D("5"),
)


def _venue(book: dict[str, Any] | None = None, **symbol: Any) -> SimulatedExchange:
    venue = static_venue(symbols=(btc_symbol(**symbol),))
    venue.set_book(BTC, **(book or BOOK))
    return venue


@pytest.mark.parametrize(
    ("size_usd", "side", "quantity"),
    [
        ("1000", "buy", "0.020"),  # 1000 / 50000.0 (the ask)
        ("1000", "sell", "0.025"),  # 1000 / 40000.0 (the bid)
        ("1234.56", "buy", "0.024"),  # 0.0246912 rounds down, never up
        ("999.99", "buy", "0.019"),  # 0.0199998 rounds down
        ("50", "buy", "0.001"),  # exactly one lot
        ("50000", "sell", "1.25"),
    ],
)
async def test_usd_to_quantity_divides_by_the_touch_and_rounds_down_to_the_lot(
    size_usd: str, side: str, quantity: str
) -> None:
    venue = _venue(WIDE)

    result = await SIZER.usd_to_quantity(
        exchange_client=venue, symbol=BTC, size_usd=D(size_usd), side=side
    )

    assert result == D(quantity)
    assert venue.core.orders == {}  # the sizer never sends


@pytest.mark.parametrize(
    ("symbol", "size_usd", "message"),
    [
        ({}, "40", "minimum quantity 0.001"),  # 0.0008 rounds to nothing
        ({"min_quantity": D("0.01")}, "400", "below the minimum 0.01"),
        ({"min_notional": D("100")}, "80", "minimum notional 100"),  # 0.001 is 50 USD
    ],
)
async def test_a_size_below_the_venue_minimum_is_refused(
    symbol: dict[str, Any], size_usd: str, message: str
) -> None:
    venue = _venue(**symbol)

    with pytest.raises(InvalidOrderError, match=message) as caught:
        await SIZER.usd_to_quantity(
            exchange_client=venue, symbol=BTC, size_usd=D(size_usd), side="buy"
        )
    assert caught.value.venue == "static"
    assert "static BTC-PERP" in str(caught.value)
    assert venue.core.orders == {}


async def test_quantity_to_usd_values_at_the_mid() -> None:
    venue = _venue(WIDE)

    usd = await SIZER.quantity_to_usd(exchange_client=venue, symbol=BTC, quantity=D("0.02"))

    assert usd == D("900.000")  # 0.02 x (40000.0 + 50000.0) / 2


async def test_a_loose_client_with_floats_and_an_inferred_spec() -> None:
    # No market spec from this client: the lot is inferred from the sizes its book shows.
    venue = _venue({"bids": [("49999.9", "0.512")], "asks": [("50000.0", "1.003")]})
    client = LooseClient(venue)

    quantity = await SIZER.usd_to_quantity(
        exchange_client=client, symbol=BTC, size_usd=D("1234.56"), side="buy"
    )
    usd = await SIZER.quantity_to_usd(exchange_client=client, symbol=BTC, quantity=quantity)

    assert quantity == D("0.024")
    assert usd == D("0.024") * D("49999.95")
    assert client.sent == []


async def test_an_inferred_lot_is_only_as_fine_as_the_book_shows() -> None:
    # Whole-BTC sizes (BOOK) let the loose client's lot be inferred as 1: 1000 USD is too little.
    client = LooseClient(_venue())

    with pytest.raises(InvalidOrderError, match="lot step 1"):
        await SIZER.usd_to_quantity(
            exchange_client=client, symbol=BTC, size_usd=D("1000"), side="buy"
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size_usd": D(0), "side": "buy"},
        {"size_usd": D(-1), "side": "buy"},
        {"size_usd": D("NaN"), "side": "buy"},
        {"size_usd": float("inf"), "side": "buy"},
        {"size_usd": None, "side": "buy"},
        {"size_usd": D(1000), "side": "short"},
    ],
)
async def test_bad_input_is_refused_before_the_venue_is_asked(kwargs: dict[str, Any]) -> None:
    client = LooseClient(_venue())

    with pytest.raises(InvalidOrderError):
        await SIZER.usd_to_quantity(exchange_client=client, symbol=BTC, **kwargs)
    assert client.calls == []


@pytest.mark.parametrize("quantity", [D(0), D(-1), D("NaN")])
async def test_quantity_to_usd_refuses_bad_quantities(quantity: D) -> None:
    with pytest.raises(InvalidOrderError):
        await SIZER.quantity_to_usd(exchange_client=_venue(), symbol=BTC, quantity=quantity)


async def test_prices_from_a_stale_book_are_refused() -> None:
    venue = _venue()
    await SIZER.quantity_to_usd(exchange_client=venue, symbol=BTC, quantity=D(1))
    await asyncio.sleep(10)  # past the 5 s allowed
    venue.faults.add(Fault.stale_book())

    with pytest.raises(StaleMarketDataError):
        await SIZER.usd_to_quantity(exchange_client=venue, symbol=BTC, size_usd=D(1000), side="buy")


@pytest.mark.parametrize(("side", "book"), [("sell", {"bids": []}), ("buy", {"asks": []})])
async def test_an_empty_side_cannot_price_a_size(side: str, book: dict[str, Any]) -> None:
    venue = _venue({**BOOK, **book})

    with pytest.raises(MarketDataError, match=r"no (bids|asks) to price"):
        await SIZER.usd_to_quantity(exchange_client=venue, symbol=BTC, size_usd=D(1000), side=side)
    with pytest.raises(MarketDataError, match="no mid"):
        await SIZER.quantity_to_usd(exchange_client=venue, symbol=BTC, quantity=D(1))


# -- quantity_for: the pure rounding and minimum check ----------------------------------------


@pytest.mark.parametrize(
    ("size_usd", "price", "quantity"),
    [
        ("1000", "50000", "0.020"),
        ("1234.56", "50000", "0.024"),
        ("1000", "49999.95", "0.020"),  # a mid between ticks is fine: only the size is checked
        ("50000", "50000", "1"),  # exactly the maximum
        ("5", "5000", "0.001"),  # exactly the minimum notional
    ],
)
def test_quantity_for(size_usd: str, price: str, quantity: str) -> None:
    assert SIZER.quantity_for(SPEC, D(size_usd), D(price)) == D(quantity)


@pytest.mark.parametrize(
    ("size_usd", "price", "message"),
    [
        ("40", "50000", "nothing to trade, below okx X's minimum quantity 0.001"),
        ("50050", "50000", "above the maximum 1"),
        ("4.5", "4000", "notional 4.000 is below okx X's minimum notional 5"),
        ("0", "50000", "size_usd must be greater than zero"),
        ("1000", "0", "price must be greater than zero"),
        ("NaN", "50000", "finite"),
    ],
)
def test_quantity_for_refuses_what_the_venue_would(size_usd: str, price: str, message: str) -> None:
    with pytest.raises(InvalidOrderError, match=message) as caught:
        SIZER.quantity_for(SPEC, D(size_usd), D(price), venue="okx")
    assert (caught.value.venue, caught.value.symbol) == ("okx", "X")


@pytest.mark.parametrize("age", [0, -1.0, float("nan"), True, "5"])
def test_bad_book_age_is_a_config_error(age: Any) -> None:
    with pytest.raises(ConfigError):
        PositionSizer(max_book_age_s=age)
