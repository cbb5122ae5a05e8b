"""The simulated account: funding settlement, margin, leverage and liquidation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fundarb.errors import InvalidOrderError, OrderRejectedError
from fundarb.venues import OrderStatus
from fundarb.venues.sim import FundingConfig, SimulatedExchange
from tests.conftest import BOOK, BTC, btc_symbol, static_venue

D = Decimal
MID = D("49999.95")  # the mark of BOOK
HOURLY = 3600


def _funded_venue(name: str, funding: FundingConfig, **overrides: object) -> SimulatedExchange:
    venue = static_venue(venue=name, symbols=(btc_symbol(funding=funding),), **overrides)
    venue.set_book(BTC, **BOOK)
    return venue


# -- funding --------------------------------------------------------------------------------


async def test_positive_funding_is_paid_by_the_long_to_the_short() -> None:
    funding = FundingConfig(rate=D("0.0001"), interval_s=HOURLY)
    long_venue, short_venue = _funded_venue("a", funding), _funded_venue("b", funding)
    await long_venue.place_market_order(BTC, D("0.1"), "buy")
    await short_venue.place_market_order(BTC, D("0.1"), "sell")
    long_before = (await long_venue.get_balance()).wallet_balance
    short_before = (await short_venue.get_balance()).wallet_balance

    await asyncio.sleep(HOURLY + 1)
    long_after = (await long_venue.get_balance()).wallet_balance
    short_after = (await short_venue.get_balance()).wallet_balance

    amount = D("0.1") * MID * D("0.0001")
    assert amount == D("0.4999995")
    (paid,) = long_venue.core.funding_payments
    (received,) = short_venue.core.funding_payments
    assert (paid.amount, paid.position_quantity, paid.mark_price) == (-amount, D("0.1"), MID)
    assert (received.amount, received.position_quantity) == (amount, D("-0.1"))
    assert paid.funding_time == received.funding_time == datetime(2024, 1, 1, 1, tzinfo=UTC)
    assert long_after - long_before == -amount
    assert short_after - short_before == amount


async def test_negative_funding_pays_the_long() -> None:
    venue = _funded_venue("a", FundingConfig(rate=D("-0.0002"), interval_s=HOURLY))
    await venue.place_market_order(BTC, D("0.1"), "buy")

    await asyncio.sleep(HOURLY + 1)
    await venue.get_balance()

    (payment,) = venue.core.funding_payments
    assert payment.rate == D("-0.0002")
    assert payment.amount == D("0.1") * MID * D("0.0002")


async def test_funding_settles_at_every_funding_time() -> None:
    venue = _funded_venue("a", FundingConfig(rate=D("0.0001"), interval_s=HOURLY))
    await venue.place_market_order(BTC, D("0.1"), "sell")

    await asyncio.sleep(3 * HOURLY + 1)
    await venue.get_balance()

    assert [p.funding_time.hour for p in venue.core.funding_payments] == [1, 2, 3]


async def test_rate_series_alternates_the_sign_of_the_payment() -> None:
    series = (D("0.0001"), D("-0.0001"))
    venue = _funded_venue("a", FundingConfig(rate_series=series, interval_s=HOURLY))
    await venue.place_market_order(BTC, D("0.1"), "buy")
    before = (await venue.get_balance()).wallet_balance

    await asyncio.sleep(4 * HOURLY + 1)
    after = (await venue.get_balance()).wallet_balance

    payments = venue.core.funding_payments
    # settlement k (counting hours from the epoch) pays series[k % 2]
    assert [p.rate for p in payments] == [
        series[int(p.funding_time.timestamp()) // HOURLY % 2] for p in payments
    ]
    assert {p.rate for p in payments} == set(series)
    assert [p.amount for p in payments] == [-D("0.1") * MID * p.rate for p in payments]
    assert [p.amount > 0 for p in payments] == [p.rate < 0 for p in payments]
    assert after - before == sum(p.amount for p in payments) == 0


async def test_reported_funding_rate_is_the_rate_that_settles() -> None:
    series = (D("0.0003"), D("-0.0001"))
    venue = _funded_venue("a", FundingConfig(rate_series=series, interval_s=HOURLY))
    await venue.place_market_order(BTC, D("0.1"), "buy")

    announced = await venue.get_funding_rate(BTC)
    await asyncio.sleep(HOURLY + 1)
    await venue.get_balance()

    (payment,) = venue.core.funding_payments
    assert (announced.rate, announced.next_funding_time) == (payment.rate, payment.funding_time)


async def test_no_position_no_funding() -> None:
    venue = _funded_venue("a", FundingConfig(rate=D("0.0001"), interval_s=HOURLY))

    await asyncio.sleep(HOURLY + 1)
    balance = await venue.get_balance()

    assert venue.core.funding_payments == []
    assert balance.wallet_balance == D(100000)


# -- leverage -------------------------------------------------------------------------------


@pytest.mark.parametrize("leverage", [1, 10, 50])
async def test_set_leverage_within_bounds_is_confirmed(leverage: int) -> None:
    venue = static_venue()

    assert await venue.set_leverage(BTC, leverage) == leverage


@pytest.mark.parametrize("leverage", [0, -1, 51, True, 2.5, "10"])
async def test_set_leverage_out_of_bounds_is_refused(leverage: object) -> None:
    venue = static_venue()

    with pytest.raises(InvalidOrderError, match="leverage must be an int from 1 to 50"):
        await venue.set_leverage(BTC, leverage)  # type: ignore[arg-type]


async def test_lowering_leverage_below_what_the_margin_allows_is_refused() -> None:
    venue = static_venue(initial_balance=D(1000))
    venue.set_book(BTC, **BOOK)
    await venue.set_leverage(BTC, 20)
    await venue.place_market_order(BTC, D("0.3"), "buy")  # 15 000 notional, 750 margin

    with pytest.raises(OrderRejectedError, match="insufficient margin for leverage 5"):
        await venue.set_leverage(BTC, 5)

    position = await venue.get_position(BTC)
    assert position is not None
    assert position.leverage == 20


async def test_higher_leverage_lets_a_larger_order_through() -> None:
    venue = static_venue(initial_balance=D(1000))
    venue.set_book(BTC, **BOOK)
    await venue.set_leverage(BTC, 20)

    result = await venue.place_market_order(BTC, D("0.3"), "buy")

    assert result.success
    position = await venue.get_position(BTC)
    assert position is not None
    assert position.margin == D("0.3") * MID / 20


# -- liquidation ----------------------------------------------------------------------------

BALANCE = D(1000)
MMR = D("0.004")


async def _leveraged_long() -> SimulatedExchange:
    """1000 USDT, 50x, long 0.5 BTC bought at 50000.0 (25 000 notional)."""
    venue = static_venue(initial_balance=BALANCE)
    venue.set_book(BTC, **BOOK)
    await venue.set_leverage(BTC, 50)
    await venue.place_market_order(BTC, D("0.5"), "buy")
    return venue


def _liquidation_price(quantity: Decimal, entry: Decimal, wallet: Decimal) -> Decimal:
    """The mark P where wallet + q (P - E) = |q| P mmr."""
    return (quantity * entry - wallet) / (quantity - abs(quantity) * MMR)


async def test_liquidation_price_is_where_maintenance_margin_is_hit() -> None:
    venue = await _leveraged_long()

    position = await venue.get_position(BTC)
    balance = await venue.get_balance()

    assert position is not None
    assert balance.wallet_balance == BALANCE - D("12.5")  # the taker fee
    expected = _liquidation_price(D("0.5"), D("50000.0"), balance.wallet_balance)
    assert position.liquidation_price == expected
    assert D("48217.8") < expected < D("48217.9")


async def test_short_liquidation_price_is_above_the_entry() -> None:
    venue = static_venue(initial_balance=BALANCE)
    venue.set_book(BTC, **BOOK)
    await venue.set_leverage(BTC, 50)
    await venue.place_market_order(BTC, D("0.5"), "sell")  # at 49999.9

    position = await venue.get_position(BTC)
    wallet = (await venue.get_balance()).wallet_balance

    assert position is not None
    assert position.liquidation_price == _liquidation_price(D("-0.5"), D("49999.9"), wallet)
    assert position.liquidation_price > D("49999.9")


async def test_mark_just_above_the_liquidation_price_does_not_liquidate() -> None:
    venue = await _leveraged_long()

    venue.set_book(BTC, bids=[("48217.9", "5")], asks=[("48218.0", "5")])  # mark 48217.95

    assert venue.core.liquidations == []
    assert len(await venue.get_positions()) == 1


async def test_mark_past_the_liquidation_price_closes_the_position_at_the_mark() -> None:
    venue = await _leveraged_long()
    resting = await venue.place_limit_order(BTC, D("0.01"), D("30000.0"), "buy")
    assert resting.order_id is not None

    venue.set_book(BTC, bids=[("48217.7", "5")], asks=[("48217.8", "5")])  # mark 48217.75

    (liquidation,) = venue.core.liquidations
    mark = D("48217.75")
    assert (liquidation.symbol, liquidation.quantity, liquidation.price) == (BTC, D("0.5"), mark)
    assert liquidation.fee == D("0.5") * mark * D("0.005")
    assert await venue.get_positions() == []
    assert await venue.get_open_orders() == []
    info = await venue.get_order_info(resting.order_id)
    assert info is not None
    assert info.status == OrderStatus.CANCELED
    assert info.cancel_reason == "cancelled by liquidation"


async def test_liquidation_leaves_the_wallet_at_what_is_left_never_below_zero() -> None:
    venue = await _leveraged_long()

    venue.set_book(BTC, bids=[("40000.0", "5")], asks=[("40000.1", "5")])  # far past it

    balance = await venue.get_balance()
    assert len(venue.core.liquidations) == 1
    assert balance.wallet_balance == D(0)
    assert balance.margin_used == D(0)


async def test_liquidation_triggered_by_market_taker_flow() -> None:
    venue = await _leveraged_long()
    venue.set_book(BTC, bids=[("48219.0", "1"), ("48000.0", "5")], asks=[("48219.1", "5")])
    assert venue.core.liquidations == []

    venue.trade_from_market(BTC, "sell", D(1))  # takes 48219.0: the mid drops to 48109.55

    assert len(venue.core.liquidations) == 1
    assert await venue.get_positions() == []


async def test_funding_can_liquidate() -> None:
    funding = FundingConfig(rate=D("0.0001"), interval_s=HOURLY)
    venue = _funded_venue("a", funding, initial_balance=BALANCE)
    await venue.set_leverage(BTC, 50)
    await venue.place_market_order(BTC, D("0.5"), "buy")
    position = await venue.get_position(BTC)
    assert position is not None
    assert position.liquidation_price is not None
    # a mark a hair above the liquidation price: the funding payment tips it over
    above = (position.liquidation_price + D("0.05")).quantize(D("0.1"))
    venue.set_book(BTC, bids=[(above, "5")], asks=[(above + D("0.1"), "5")])
    assert venue.core.liquidations == []

    await asyncio.sleep(HOURLY + 1)
    await venue.get_balance()

    assert len(venue.core.funding_payments) == 1
    assert len(venue.core.liquidations) == 1
