"""simex's batch orders, income history and commission rates, through an unmodified ccxt
``binanceusdm``; and the funding our position received, read back by ``CcxtExchangeClient``.

Funding settles every second here (``interval_s=1``) so a test sees several payments in
real time; the venue's clock starts at the wall clock's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest

from fundarb.venues.ccxt import AccountRateLimiter, CcxtExchangeClient
from fundarb.venues.sim import FundingConfig, SimConfig, SimulatedExchange, binance_btcusdt
from fundarb.venues.simex import binanceusdm_client, serve

pytestmark = pytest.mark.looptime(False)

SYMBOL = "BTCUSDT"
BTC = "BTC/USDT:USDT"
API_KEY = "income-test-key-2c81"
API_SECRET = "income-test-secret-f04d9e"
RATES = (D("0.0001"), D("-0.00025"), D("0.0003"))


@dataclass
class Venue:
    sim: SimulatedExchange
    exchange: Any
    client: CcxtExchangeClient


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    config = SimConfig(
        venue="simex",
        market="static",
        initial_balance=D("100000"),
        symbols=(
            binance_btcusdt(
                initial_price=D("60000.0"),
                funding=FundingConfig(interval_s=1, rate_series=RATES),
            ),
        ),
        start_time=datetime.now(UTC),
    )
    async with SimulatedExchange(config) as sim:
        sim.set_book(SYMBOL, bids=[("59999.9", "5")], asks=[("60000.0", "5")])
        async with serve(sim, api_key=API_KEY, api_secret=API_SECRET) as address:
            exchange = binanceusdm_client(
                address.url, api_key=API_KEY, secret=API_SECRET, config={"enableRateLimit": False}
            )
            client = CcxtExchangeClient(
                exchange, venue="simex", limiter=AccountRateLimiter(rate_per_s=1000, burst=1000)
            )
            try:
                yield Venue(sim, exchange, client)
            finally:
                await exchange.close()


async def _payments(sim: SimulatedExchange, at_least: int) -> None:
    async with asyncio.timeout(30):
        while len(sim.core.funding_payments) < at_least:  # noqa: ASYNC110 - the venue's record
            await asyncio.sleep(0.05)


async def test_income_lists_funding_commission_and_realised_pnl(venue: Venue) -> None:
    await venue.client.place_market_order(SYMBOL, D("0.01"), "buy")  # at 60000.0
    await _payments(venue.sim, 3)
    venue.sim.set_book(SYMBOL, bids=[("60100.0", "5")], asks=[("60100.1", "5")])
    await venue.client.place_market_order(SYMBOL, D("0.004"), "sell")  # closes 0.004 at 60100

    rows = await venue.exchange.fapiPrivateGetIncome({"symbol": SYMBOL, "limit": 1000})
    funding_only = await venue.exchange.fapiPrivateGetIncome({"incomeType": "FUNDING_FEE"})

    by_type: dict[str, list[D]] = {}
    for row in rows:
        by_type.setdefault(row["incomeType"], []).append(D(row["income"]))
        assert row["symbol"] == SYMBOL
        assert row["asset"] == "USDT"
    payments = list(venue.sim.core.funding_payments)
    fills = list(venue.sim.core.fills)
    assert by_type["FUNDING_FEE"][: len(payments)] == [p.amount for p in payments]
    assert by_type["COMMISSION"] == [-f.fee for f in fills]
    assert by_type["REALIZED_PNL"] == [D("0.4")]  # (60100 - 60000) x 0.004
    assert {r["incomeType"] for r in funding_only} == {"FUNDING_FEE"}
    assert len({r["tranId"] for r in rows}) == len(rows)
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)


async def test_client_reads_the_funding_our_position_received(venue: Venue) -> None:
    await venue.client.place_market_order(SYMBOL, D("0.01"), "sell")
    await _payments(venue.sim, 3)

    payments = await venue.client.get_funding_payments(SYMBOL)

    expected = list(venue.sim.core.funding_payments)[: len(payments)]
    assert len(payments) >= 3
    assert [(p.funding_time, p.rate, p.mark_price, p.amount) for p in payments] == [
        (e.funding_time, e.rate, e.mark_price, e.amount) for e in expected
    ]
    assert all(p.position_quantity == D("-0.01") for p in payments)
    assert all(p.symbol == BTC and p.venue == "simex" for p in payments)
    assert {p.rate for p in payments} <= set(RATES)
    # a short received a positive rate's funding and paid a negative one's
    assert all((p.amount > 0) == (p.rate > 0) for p in payments)

    later = await venue.client.get_funding_payments(since=payments[1].funding_time)
    assert [p.funding_time for p in later][:1] == [payments[2].funding_time]  # after since


async def test_commission_rate_is_the_venues_fee_schedule(venue: Venue) -> None:
    fee = await venue.exchange.fetch_trading_fee(BTC)
    schedule = await venue.sim.get_fee_schedule(SYMBOL)

    assert D(str(fee["maker"])) == schedule.maker_rate
    assert D(str(fee["taker"])) == schedule.taker_rate


async def test_batch_orders_answer_each_order_or_its_error_in_turn(venue: Venue) -> None:
    orders = await venue.exchange.create_orders(
        [
            {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.01, "price": 59000},
            {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.001, "price": 59000},
            {
                "symbol": BTC,
                "type": "limit",
                "side": "sell",
                "amount": 0.01,
                "price": 61000,
                "params": {"clientOrderId": "batch-3"},
            },
        ]
    )

    # simex answers in the batch's order; ccxt sorts its parsed list by time (errors first)
    assert len(orders) == 3
    errors = [o["info"] for o in orders if "code" in o["info"]]
    placed = [o for o in orders if "code" not in o["info"]]
    assert errors == [
        {
            "code": -4164,  # 59 USDT is below the minimum notional
            "msg": "Order's notional must be no smaller than 100 (unless you choose reduce only).",
        }
    ]
    assert [o["status"] for o in placed] == ["open", "open"]
    assert placed[1]["clientOrderId"] == "batch-3"
    assert int(placed[0]["id"]) < int(placed[1]["id"])  # placed in turn
    open_orders = await venue.sim.get_open_orders(SYMBOL)
    assert sorted(o.price for o in open_orders) == [D("59000"), D("61000")]
