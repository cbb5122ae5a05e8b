"""Websocket books over ccxt.pro against a real local simex server: they match REST, a
silent stream is found stale within its bound, REST serves meanwhile, and it recovers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from fundarb.errors import ConfigError
from fundarb.logs import KeyValueFormatter
from fundarb.venues.ccxt import AccountRateLimiter, CcxtExchangeClient
from fundarb.venues.ccxt.streams import BookStream, BookStreams, OrderStream
from fundarb.venues.sim import SimConfig, SimulatedExchange, binance_btcusdt
from fundarb.venues.simex import ServerAddress, binanceusdm_client, serve

pytestmark = pytest.mark.looptime(False)

BTC = "BTC/USDT:USDT"
API_KEY = "streams-test-key-3f9a"
API_SECRET = "streams-test-secret-b71c"
BOUND = 0.5
LIMIT = 50  # ccxt's snapshot of 50 levels weighs 2 in its limiter (1000: 20, about 1 s)
SLACK = 1.0  # the event loop's scheduling and a REST round trip on a loaded CI machine


@dataclass
class Server:
    venue: SimulatedExchange
    address: ServerAddress
    pro: Any  # a ccxt.pro binanceusdm pointed at the server
    mover: Mover

    async def admin(self, action: str) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{self.address.url}/simex/admin/sockets",
                json={"action": action},
                headers={"X-MBX-APIKEY": API_KEY},
            ) as response,
        ):
            assert response.status == 200, await response.text()


class Mover:
    """Keeps the book changing (as a live market does), so the depth stream is never idle."""

    def __init__(self, venue: SimulatedExchange) -> None:
        self.venue = venue
        self.running = asyncio.Event()
        self.running.set()
        self.step = 0

    def levels(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        size = str(2 + self.step % 5)
        return [("59999.9", size), ("59999.0", "5")], [("60000.0", "2"), ("60001.0", size)]

    async def run(self) -> None:
        while True:
            await self.running.wait()
            self.step += 1
            bids, asks = self.levels()
            self.venue.set_book("BTCUSDT", bids=bids, asks=asks)
            await asyncio.sleep(0.05)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    config = SimConfig(
        venue="simex",
        market="static",
        initial_balance=Decimal("100000"),
        symbols=(binance_btcusdt(initial_price=Decimal("60000.0")),),
    )
    async with SimulatedExchange(config) as venue:
        mover = Mover(venue)
        bids, asks = mover.levels()
        venue.set_book("BTCUSDT", bids=bids, asks=asks)
        async with serve(venue, api_key=API_KEY, api_secret=API_SECRET, admin=True) as address:
            pro = binanceusdm_client(address.url, api_key=API_KEY, secret=API_SECRET, pro=True)
            moving = asyncio.create_task(mover.run())
            try:
                yield Server(venue, address, pro, mover)
            finally:
                moving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await moving
                await pro.close()


@pytest.fixture
def captured() -> Iterator[list[str]]:
    """Every fundarb and ccxt log line, formatted as in production."""
    lines: list[str] = []
    formatter = KeyValueFormatter()

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    handler = Capture(level=logging.DEBUG)
    loggers = [logging.getLogger("fundarb"), logging.getLogger("ccxt")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


async def _until(condition: Callable[[], bool], within_s: float) -> float:
    """Wait for ``condition``; the loop time it became true."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - polling plain attributes of the stream
            await asyncio.sleep(0.01)
    return loop.time()


def _client(server: Server, streams: BookStreams | None = None) -> CcxtExchangeClient:
    return CcxtExchangeClient(
        server.pro, limiter=AccountRateLimiter(rate_per_s=1000, burst=1000), streams=streams
    )


def _count_rest_depth(server: Server, limit: int) -> list[int]:
    """Count the REST book reads with this ``limit`` (the client's; ccxt's snapshots and the
    watchdog's cross-check use others)."""
    calls: list[int] = []
    original = server.pro.fetch_order_book

    async def counting(symbol: str, lim: int | None = None, params: Any = None) -> Any:
        if lim == limit:
            calls.append(lim)
        return await original(symbol, lim, params or {})

    server.pro.fetch_order_book = counting
    return calls


async def test_stream_books_match_rest(server: Server) -> None:
    server.mover.running.clear()  # hold the book still to compare
    await asyncio.sleep(0.1)
    server.venue.set_book(
        "BTCUSDT", bids=[("59999.8", "3"), ("59999.1", "4")], asks=[("60000.1", "1.5")]
    )
    rest_client = _client(server)
    async with BookStream(server.pro, BTC, stale_after_s=5.0, limit=LIMIT) as stream:
        raw = await stream.wait_fresh(5)
        await _until(lambda: stream.book(5) is not None and _best(stream) == "59999.8", 5)
        assert raw["nonce"] is not None
        streamed = stream.book(20)
        rest = await rest_client.get_order_book_depth(BTC, 20)

    assert streamed is not None
    assert streamed["bids"] == rest["bids"]
    assert streamed["asks"] == rest["asks"]
    assert streamed["bids"][0] == {"price": Decimal("59999.8"), "size": Decimal("3")}
    assert streamed["asks"] == [{"price": Decimal("60000.1"), "size": Decimal("1.5")}]
    assert not stream.running


def _best(stream: BookStream) -> str | None:
    book = stream.book(1)
    return str(book["bids"][0]["price"]) if book and book["bids"] else None


async def test_a_silent_stream_is_stale_within_its_bound_rest_serves_and_it_recovers(
    server: Server, captured: list[str]
) -> None:
    loop = asyncio.get_running_loop()
    async with BookStreams(server.pro, stale_after_s=BOUND, limit=LIMIT) as streams:
        client = _client(server, streams)
        assert await client.get_order_book_depth(BTC, 5)  # REST: watching starts now
        stream = streams.stream(BTC)
        await stream.wait_fresh(5)
        await _until(lambda: stream.updates >= 3, 5)  # the diffs flow
        assert stream.fresh
        assert not stream.stale_events
        rest_reads = _count_rest_depth(server, 20)
        served = await client.get_order_book_depth(BTC, 20)  # fresh: from the stream
        assert rest_reads == []
        assert served["bids"]

        await server.admin("mute")  # the connection stays up, nothing arrives
        muted_at = loop.time()
        last_update = loop.time() if stream.age_s is None else loop.time() - stream.age_s
        found_at = await _until(lambda: stream.stale, 3)

        assert found_at - muted_at <= BOUND + SLACK
        assert stream.stale_events[0] - last_update >= BOUND - 0.02
        assert stream.stale_events[0] - last_update <= BOUND + SLACK
        assert streams.book(BTC, 20) is None
        # meanwhile the client reads the book over REST, and it is the venue's
        served = await client.get_order_book_depth(BTC, 20)
        assert rest_reads == [20]
        bids, asks = server.mover.levels()
        assert served["bids"][0]["price"] == Decimal(bids[0][0])
        assert served["asks"][0]["price"] == Decimal(asks[0][0])
        await _until(lambda: stream.rest_book is not None, 2)  # the watchdog's cross-check
        await _until(lambda: stream.resubscriptions >= 1, 2)

        await server.admin("unmute")
        recovered_at = await _until(lambda: stream.fresh, BOUND + 3)
        assert stream.recovered_events
        assert recovered_at - found_at <= 2 * BOUND + 2 * SLACK
        rest_reads.clear()
        served = await client.get_order_book_depth(BTC, 20)  # from the stream again
        assert rest_reads == []
        assert served["bids"]
    assert not stream.running

    stale = [line for line in captured if " ccxt.stream.stale " in line]
    recovered = [line for line in captured if " ccxt.stream.recovered " in line]
    assert stale
    assert recovered
    for line in stale + recovered:
        assert "venue=binanceusdm" in line
        assert f"symbol={BTC}" in line
    text = "\n".join(captured)
    assert API_SECRET not in text
    assert API_KEY not in text


async def test_a_dropped_connection_is_reconnected_within_the_bound(
    server: Server, captured: list[str]
) -> None:
    async with BookStream(server.pro, BTC, stale_after_s=BOUND, limit=LIMIT) as stream:
        await stream.wait_fresh(5)
        await _until(lambda: stream.updates >= 3, 5)
        loop = asyncio.get_running_loop()

        await server.admin("drop")
        dropped_at = loop.time()
        before = stream.updates
        await _until(lambda: stream.updates > before + 2, BOUND + SLACK + 2)

        # ccxt sees the close at once: the stream reconnects and resyncs within its bound
        assert loop.time() - dropped_at <= BOUND + SLACK
        assert stream.fresh  # (on a loaded machine the reconnect may outlast the bound once)
        disconnected = [line for line in captured if " ccxt.stream.disconnected " in line]
        assert disconnected
        assert f"symbol={BTC}" in disconnected[0]
    text = "\n".join(captured)
    assert API_SECRET not in text
    assert API_KEY not in text


async def test_a_quiet_server_after_drop_keeps_renewing_until_it_speaks(server: Server) -> None:
    async with BookStream(server.pro, BTC, stale_after_s=BOUND, limit=LIMIT) as stream:
        await stream.wait_fresh(5)
        await server.admin("mute")
        await server.admin("drop")
        await _until(lambda: stream.resubscriptions >= 2, 2 * BOUND + 2 * SLACK + 1)
        assert stream.stale
        assert stream.latest() is None
        await server.admin("unmute")
        await _until(lambda: stream.fresh, BOUND + 3)
        assert len(stream.stale_events) >= 2


async def test_client_create_with_websockets_owns_and_stops_its_streams() -> None:
    client = CcxtExchangeClient.create(
        "binanceusdm", api_key="k", secret="s", use_websockets=True, stale_after_s=1.0
    )
    streams = client._streams
    assert isinstance(streams, BookStreams)
    assert streams.book(BTC, 5) is None  # not running: nothing watched, nothing started
    assert streams.get(BTC) is None
    async with client:  # starts the streams (no symbol is watched until a book is asked)
        assert streams._running
    assert not streams._running


async def test_bad_configuration_is_refused(server: Server) -> None:
    with pytest.raises(ConfigError):
        BookStream(server.pro, BTC, stale_after_s=0)
    with pytest.raises(ConfigError):
        BookStream(object(), BTC)
    with pytest.raises(ConfigError):
        BookStreams(server.pro, stale_after_s=-1)
    assert "secret" not in repr(BookStream(server.pro, BTC)).lower()


async def _user_stream_connected(pro: Any) -> None:
    while True:
        for url, client in list(pro.clients.items()):
            if "listenKey=" in url:
                await client.connected
                return
        await asyncio.sleep(0.01)


async def test_order_stream_sees_our_market_order_fill(server: Server) -> None:
    async with OrderStream(server.pro, symbol=BTC) as stream, stream.events() as updates:
        await asyncio.wait_for(_user_stream_connected(server.pro), 5)
        placed = await server.pro.create_order(BTC, "market", "buy", 0.01)

        async with asyncio.timeout(5):
            async for update in updates:
                if update.info.order_id == placed["id"] and update.info.status == "FILLED":
                    break

    assert update.venue == "binanceusdm"
    assert update.info.filled_size == Decimal("0.01")
    assert update.info.side == "buy"
    assert update.info.symbol == BTC
    assert "secret" not in repr(stream).lower()
