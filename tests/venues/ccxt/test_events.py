"""``CcxtExchangeClient.events()``: our order updates and fills, nothing missed across a
dropped or silent websocket, nothing delivered twice.

Against a real local simex server (real sockets, real time) except the last tests, which
drive the stream's outage bookkeeping with a fake exchange on the fast-forwarded loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import aiohttp
import ccxt
import pytest

from fundarb.errors import ConfigError
from fundarb.venues import EventStreamProvider, Fill, OrderInfo, OrderStatus, OrderUpdate
from fundarb.venues.ccxt import AccountRateLimiter, CcxtExchangeClient
from fundarb.venues.ccxt.events import EventSettings, UserEvents
from fundarb.venues.sim import SimConfig, SimulatedExchange, binance_btcusdt
from fundarb.venues.simex import ServerAddress, binanceusdm_client, serve

SYMBOL = "BTCUSDT"
Q = D("0.01")
API_KEY = "events-test-key-6d1f0a"
API_SECRET = "events-test-secret-94be27c3"
WITHIN_S = 15.0  # generous: a loaded CI machine
BOOK = {
    "bids": [("59999.9", "20"), ("59999.0", "50")],
    "asks": [("60000.0", "20"), ("60001.0", "50")],
}

real_time = pytest.mark.looptime(False)


@dataclass
class Server:
    sim: SimulatedExchange
    address: ServerAddress

    async def sockets(self, action: str) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{self.address.url}/simex/admin/sockets",
                json={"action": action},
                headers={"X-MBX-APIKEY": API_KEY},
            ) as response,
        ):
            assert response.status == 200, await response.text()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    config = SimConfig(
        venue="simex",
        market="static",
        initial_balance=D("1000000"),
        symbols=(binance_btcusdt(initial_price=D("60000.0")),),
        start_time=datetime.now(UTC),  # the venue stamps fills on the wall clock, as live
    )
    async with SimulatedExchange(config) as sim:
        sim.set_book(SYMBOL, **BOOK)
        async with serve(sim, api_key=API_KEY, api_secret=API_SECRET, admin=True) as address:
            yield Server(sim, address)


@asynccontextmanager
async def _client(
    server: Server, settings: EventSettings, *, pro: bool = True
) -> AsyncIterator[CcxtExchangeClient]:
    exchange = binanceusdm_client(
        server.address.url,
        api_key=API_KEY,
        secret=API_SECRET,
        config={"enableRateLimit": False},
        pro=pro,
    )
    try:
        async with CcxtExchangeClient(
            exchange,
            venue="simex",
            limiter=AccountRateLimiter(rate_per_s=1000, burst=1000),
            event_settings=settings,
        ) as client:
            yield client
    finally:
        await exchange.close()


async def _until(condition: Any, within_s: float = WITHIN_S) -> None:
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - polling the stream's plain counters
            await asyncio.sleep(0.02)


class Collector:
    """Everything an ``events()`` iterator yields, gathered by a task the test owns."""

    def __init__(self, events: AsyncIterator[OrderUpdate | Fill]) -> None:
        self.events = events
        self.seen: list[OrderUpdate | Fill] = []

    async def run(self) -> None:
        async for event in self.events:
            self.seen.append(event)

    def fills(self) -> list[Fill]:
        return [e for e in self.seen if isinstance(e, Fill)]

    def updates(self, order_id: str) -> list[OrderInfo]:
        return [
            e.info for e in self.seen if isinstance(e, OrderUpdate) and e.info.order_id == order_id
        ]

    def filled(self, order_id: str) -> D:
        return sum((f.quantity for f in self.fills() if f.order_id == order_id), D(0))


@real_time
async def test_events_deliver_our_order_updates_and_fills(server: Server) -> None:
    async with (
        _client(server, EventSettings()) as client,
        client.events() as events,
        asyncio.TaskGroup() as group,
    ):
        assert isinstance(client, EventStreamProvider)
        collector = Collector(events)
        task = group.create_task(collector.run())
        stream = client.user_events
        assert stream is not None
        await _until(lambda: stream.connected)

        placed = await client.place_market_order(SYMBOL, Q, "buy", client_order_id="ev-1")
        assert placed.order_id is not None
        order_id = placed.order_id
        await _until(lambda: collector.filled(order_id) == Q)
        await _until(lambda: any(u.status == "FILLED" for u in collector.updates(order_id)))
        task.cancel()

    fill = collector.fills()[0]
    assert fill.client_order_id == "ev-1"
    assert fill.symbol == "BTC/USDT:USDT"
    assert fill.price == D("60000.0")
    assert collector.updates(order_id)[-1].client_order_id == "ev-1"
    assert client.user_events is None  # stopped with its last subscriber


@real_time
async def test_fills_made_while_the_stream_was_down_are_delivered_once(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="fundarb")
    # no polling or periodic sweep within the test: only the reconnect can find the fill
    settings = EventSettings(poll_s=600, sweep_every_s=600, settle_s=0.3)
    async with (
        _client(server, settings) as client,
        client.events() as events,
        asyncio.TaskGroup() as group,
    ):
        collector = Collector(events)
        task = group.create_task(collector.run())
        stream = client.user_events
        assert stream is not None
        await _until(lambda: stream.connected and stream.sweeps >= 3)  # start, up, settled

        # 1: the connection stays up but says nothing (a silent drop), then it is dropped
        await server.sockets("mute")
        missed = await client.place_market_order(SYMBOL, Q, "buy", client_order_id="ev-m1")
        assert missed.order_id is not None
        await asyncio.sleep(0.3)
        assert collector.filled(missed.order_id) == 0  # the websocket never said
        await server.sockets("drop")
        await _until(lambda: stream.reconnections == 1 and stream.connected)
        await _until(lambda: collector.filled(missed.order_id) == Q)  # found over REST
        await server.sockets("unmute")

        # 2: a fill the websocket does deliver; a second drop's sweep reads it again
        live = await client.place_market_order(SYMBOL, Q, "sell", client_order_id="ev-l1")
        assert live.order_id is not None
        await _until(lambda: collector.filled(live.order_id) == Q)
        sweeps = stream.sweeps
        await server.sockets("drop")
        await _until(lambda: stream.reconnections == 2 and stream.sweeps >= sweeps + 2)

        # 3: after it, the websocket carries on
        after = await client.place_market_order(SYMBOL, Q, "buy", client_order_id="ev-a1")
        assert after.order_id is not None
        await _until(lambda: collector.filled(after.order_id) == Q)
        task.cancel()

    trade_ids = [(f.order_id, f.trade_id) for f in collector.fills()]
    assert len(trade_ids) == len(set(trade_ids)) == 3  # each fill once, none missed
    assert {f.client_order_id for f in collector.fills()} == {"ev-m1", "ev-l1", "ev-a1"}
    final = collector.updates(missed.order_id)[-1]
    assert final.status == OrderStatus.FILLED.value  # its final state came over REST too
    assert final.filled_size == Q
    warnings = [
        r
        for r in caplog.records
        if r.getMessage() == "ccxt.events.disconnected" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 2  # one per outage (both watches failed each time)
    assert sum(r.getMessage() == "ccxt.events.reconnected" for r in caplog.records) == 2
    for record in caplog.records:
        line = record.getMessage() + repr(getattr(record, "fields", {}))
        assert API_SECRET not in line
        assert API_KEY not in line


@real_time
async def test_without_websockets_events_come_from_polling(server: Server) -> None:
    async with (
        _client(server, EventSettings(poll_s=0.2), pro=False) as client,
        client.events() as events,
        asyncio.TaskGroup() as group,
    ):
        collector = Collector(events)
        task = group.create_task(collector.run())
        stream = client.user_events
        assert stream is not None
        assert not stream.websocket
        await _until(lambda: stream.sweeps >= 1)

        resting = await client.place_limit_order(
            SYMBOL, Q, D("59000"), "buy", client_order_id="ev-p1"
        )
        taken = await client.place_market_order(SYMBOL, Q, "sell", client_order_id="ev-p2")
        assert resting.order_id is not None
        assert taken.order_id is not None
        await _until(lambda: collector.filled(taken.order_id) == Q)
        await _until(lambda: bool(collector.updates(resting.order_id)))
        await client.cancel_order(resting.order_id)
        await _until(
            lambda: collector.updates(resting.order_id)[-1].status == OrderStatus.CANCELED.value
        )
        sweeps = stream.sweeps
        await _until(lambda: stream.sweeps >= sweeps + 3)
        task.cancel()

    assert len(collector.fills()) == 1
    statuses = [u.status for u in collector.updates(resting.order_id)]
    assert statuses == [OrderStatus.NEW.value, OrderStatus.CANCELED.value]  # no repeats


# -- the outage bookkeeping, on the fast-forwarded loop ----------------------------------------


class DeadExchange:
    """A ccxt.pro-like exchange whose user stream never connects."""

    def __init__(self) -> None:
        self.id = "dead"
        self.has = {"watchOrders": True, "watchMyTrades": True}
        self.markets: dict[str, Any] = {}
        self.clients: dict[str, Any] = {}

    async def watch_orders(self) -> list[Any]:
        await asyncio.sleep(1)
        raise ccxt.NetworkError("connection refused wss://example.invalid/ws/LISTENKEY-SECRET")

    async def watch_my_trades(self) -> list[Any]:
        return await self.watch_orders()


class Rest:
    """The REST side: answers, and counts what it was asked."""

    def __init__(self) -> None:
        self.sweeps = 0

    async def get_open_orders(self, symbol: str | None = None) -> Sequence[OrderInfo]:
        self.sweeps += 1
        return []

    async def get_order_info(self, order_id: str, symbol: str | None = None) -> OrderInfo | None:
        return None

    async def get_fills(
        self,
        symbol: str | None = None,
        *,
        order_ids: Sequence[str] | None = None,
        since: datetime | None = None,
    ) -> Sequence[Fill]:
        return []

    async def get_server_time(self) -> datetime:
        return datetime.now(UTC)


async def test_a_stream_that_stays_down_warns_at_most_every_warn_every_s_and_polls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="fundarb")
    rest = Rest()
    stream = UserEvents(
        DeadExchange(),
        rest,
        venue="dead",
        symbols=set,
        client_order_id_of=lambda _: "",
        remember=lambda _: None,
        settings=EventSettings(poll_s=2.0, warn_every_s=30.0),
    )
    async with stream:
        await asyncio.sleep(100)
        assert not stream.connected

    records = [r for r in caplog.records if r.getMessage() == "ccxt.events.disconnected"]
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert len(records) > 100  # two watches failing every ~1.2 s
    assert len(warnings) == 4  # at 1 s, 31 s, 61 s, 91 s
    assert 40 <= rest.sweeps <= 55  # polled every 2 s while down
    assert all("LISTENKEY" not in repr(getattr(r, "fields", {})) for r in records)


@pytest.mark.parametrize(
    "settings",
    [{"poll_s": 0}, {"sweep_every_s": -1}, {"skew_s": -1}, {"warn_every_s": float("nan")}],
)
def test_bad_event_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        EventSettings(**settings)
