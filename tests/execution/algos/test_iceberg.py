"""Iceberg on a static venue whose takers the test sends: clips, replacement when the touch
moves away, fills racing the cancel, and the native iceberg where the client has one.

The ledger must be exact: the venue's position, the result's filled quantity and the sum of
the clips' fills agree, and never exceed the quantity asked.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from typing import Any

import pytest

from fundarb.errors import ConfigError, InvalidOrderError
from fundarb.execution.algos import Iceberg, IcebergConfig, IcebergResult
from fundarb.venues.sim import Fault, SimulatedExchange
from tests.conftest import BOOK, BTC, static_venue
from tests.execution.algos.venues import position

CLIP = D("0.25")
Q = D("1")
UP = {  # the market moved up 6 ticks: a bid pegged at 49999.9 is left behind
    "bids": [("50000.5", "1"), ("50000.4", "1")],
    "asks": [("50001.0", "1"), ("50001.1", "1")],
}


def _venue() -> SimulatedExchange:
    venue = static_venue(venue="v")
    venue.set_book(BTC, **BOOK)
    return venue


async def _sell_until_done(venue: SimulatedExchange, task: asyncio.Task[IcebergResult]) -> None:
    while not task.done():
        venue.set_book(BTC, **UP)  # the anonymous depth refills (our clip keeps its place)
        venue.trade_from_market(BTC, "sell", D("1.3"))  # 1 ahead of our clip, then ours
        await asyncio.sleep(1)


def _assert_ledger(result: IcebergResult, venue: SimulatedExchange) -> None:
    assert result.filled_quantity == position(venue)
    assert sum(c.filled for c in result.clips) == result.filled_quantity
    assert result.filled_quantity <= result.quantity
    assert not venue.core.open_orders


@pytest.mark.parametrize(
    ("fault", "first_clip"),
    [
        (Fault.fill_after_cancel(D("0.5"), delay_s=3), D("0.175")),  # 0.1 + half of 0.15
        (Fault.cancel_loses_race(), CLIP),  # the rest of the clip fills before the cancel
        (None, D("0.1")),
    ],
    ids=["fill after the cancel's answer", "cancel loses the race", "clean cancel"],
)
async def test_replaced_clips_count_every_fill(fault: Fault | None, first_clip: D) -> None:
    venue = _venue()
    if fault is not None:
        venue.faults.add(fault)
    iceberg = Iceberg(venue, BTC, "buy", Q, IcebergConfig(clip_quantity=CLIP, timeout_s=120))

    async with asyncio.TaskGroup() as group:
        task = group.create_task(iceberg.run())
        await asyncio.sleep(1)
        venue.trade_from_market(BTC, "sell", D("1.1"))  # 1 ahead of us, then 0.1 of our clip
        await asyncio.sleep(1)
        venue.set_book(BTC, **UP)  # the clip is left behind: it is replaced
        await asyncio.sleep(5)  # the cancel, its confirmation, the late fill's report
        group.create_task(_sell_until_done(venue, task))
    result = task.result()

    assert result.filled
    assert position(venue) == Q  # exact: the late fill was counted, nothing over-filled
    _assert_ledger(result, venue)
    first = result.clips[0]
    assert first.filled == first_clip
    assert first.state in ("cancelled", "filled")
    assert all(c.quantity <= CLIP for c in result.clips)
    assert all(c.price is not None and c.price >= D("50000.4") for c in result.clips[1:])
    assert not result.native


async def test_fixed_price_times_out_with_nothing_left_open() -> None:
    venue = _venue()
    config = IcebergConfig(clip_quantity=CLIP, price=D("49999.5"), timeout_s=30)
    iceberg = Iceberg(venue, BTC, "buy", Q, config)

    async with asyncio.TaskGroup() as group:
        task = group.create_task(iceberg.run())
        await asyncio.sleep(1)
        venue.trade_from_market(BTC, "sell", D("3.1"))  # the 3 levels above us, then 0.1
        await asyncio.sleep(1)
    result = task.result()

    assert not result.filled
    assert result.filled_quantity == D("0.1")
    assert [(c.price, c.state) for c in result.clips] == [(D("49999.5"), "cancelled")]
    _assert_ledger(result, venue)


class NativeIcebergVenue(SimulatedExchange):
    """A venue client that takes a native iceberg (``iceberg_quantity``), as ccxt offers
    for some exchanges; the simulated book shows the whole order (the routing is tested)."""

    supported_order_options = SimulatedExchange.supported_order_options | {"iceberg_quantity"}
    displayed: list[D]

    async def place_limit_order(
        self,
        contract_id: str,
        quantity: D,
        price: D,
        side: str,
        reduce_only: bool = False,
        **opts: Any,
    ) -> Any:
        self.displayed.append(opts.pop("iceberg_quantity"))
        return await super().place_limit_order(
            contract_id, quantity, price, side, reduce_only, **opts
        )


async def test_a_native_iceberg_is_one_order_with_the_clip_displayed() -> None:
    venue = NativeIcebergVenue(static_venue(venue="n").config)
    venue.displayed = []
    venue.set_book(BTC, **UP)
    iceberg = Iceberg(venue, BTC, "buy", Q, IcebergConfig(clip_quantity=CLIP, timeout_s=60))

    async with asyncio.TaskGroup() as group:
        task = group.create_task(iceberg.run())
        await asyncio.sleep(1)
        group.create_task(_sell_until_done(venue, task))
    result = task.result()

    assert result.native
    assert venue.displayed == [CLIP]
    assert [c.quantity for c in result.clips] == [Q]
    assert position(venue) == Q
    _assert_ledger(result, venue)


async def test_bad_input_sends_nothing() -> None:
    venue = _venue()
    with pytest.raises(ConfigError):
        IcebergConfig(clip_quantity=D(0))
    with pytest.raises(InvalidOrderError):
        Iceberg(venue, BTC, "buy", D("-1"), IcebergConfig(clip_quantity=CLIP))
    with pytest.raises(InvalidOrderError):  # a clip below the 5 USD minimum notional
        await Iceberg(venue, BTC, "buy", Q, IcebergConfig(clip_quantity=D("0.0001"))).run()
    assert not venue.core.orders
