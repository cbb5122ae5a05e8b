"""``CcxtExchangeClient`` over an unmodified ccxt ``binanceusdm`` against simex servers.

Two simulated venues, each behind its own local simex server with its own API key and
secret; a :class:`CcxtExchangeClient` over a ``binanceusdm_client`` of each. The atomic
executor runs through them over real local sockets (HTTP, signing, Binance's error codes,
ccxt's error table and parsing), and the outcome is read back twice: through the clients
and from the venues' own records.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest

from fundarb.errors import OrderRejectedError
from fundarb.execution import (
    AtomicConfig,
    AtomicExecutionResult,
    AtomicMultiOrderExecutor,
    AtomicOutcome,
    OrderSpec,
)
from fundarb.venues import OrderStatus, RejectReason
from fundarb.venues.ccxt import CcxtExchangeClient
from fundarb.venues.ccxt.limiter import AccountRateLimiter
from fundarb.venues.sim import Fault, SimConfig, SimulatedExchange, binance_btcusdt
from fundarb.venues.simex import binanceusdm_client, serve

pytestmark = pytest.mark.looptime(False)

SYMBOL = "BTCUSDT"  # the venue's id; ccxt's unified symbol is BTC/USDT:USDT
UNIFIED = "BTC/USDT:USDT"
Q = D("0.01")  # 600 USDT at 60000: above Binance's 100 USDT minimum notional
BOOK = {
    "bids": [("59999.9", "2"), ("59999.0", "5"), ("59998.0", "5")],
    "asks": [("60000.0", "2"), ("60001.0", "5"), ("60002.0", "5")],
}
CREDENTIALS = {
    "a": ("simex-key-alpha-7f3c9d", "simex-secret-alpha-1b8e4a6f0c"),
    "b": ("simex-key-bravo-2a6e1f", "simex-secret-bravo-9d3c7e5b21"),
}


@dataclass
class Venue:
    """One simulated venue, its server, and our client over ccxt against it."""

    name: str
    sim: SimulatedExchange
    url: str
    exchange: Any  # the ccxt binanceusdm instance
    client: CcxtExchangeClient

    def position(self) -> D:
        """The venue's own record of the position (no HTTP)."""
        return self.sim.core.account.quantity(SYMBOL)


@asynccontextmanager
async def _venue(name: str, initial_balance: D = D("100000")) -> AsyncIterator[Venue]:
    api_key, secret = CREDENTIALS[name]
    config = SimConfig(
        venue=name,
        market="static",
        initial_balance=initial_balance,
        symbols=(binance_btcusdt(initial_price=D("60000.0")),),
        # simex answers /time with the wall clock and stamps books with the venue's: start
        # the venue's clock now, so a book's age reads as on a live venue
        start_time=datetime.now(UTC),
    )
    async with SimulatedExchange(config) as sim:
        sim.set_book(SYMBOL, **BOOK)
        async with serve(sim, api_key=api_key, api_secret=secret) as address:
            exchange = binanceusdm_client(
                address.url,
                api_key=api_key,
                secret=secret,
                config={"enableRateLimit": False},  # simex has no limit to respect
            )
            client = CcxtExchangeClient(
                exchange,
                venue=name,
                limiter=AccountRateLimiter(rate_per_s=1000, burst=1000),
            )
            try:
                yield Venue(name, sim, address.url, exchange, client)
            finally:
                await exchange.close()


@pytest.fixture
def balances() -> dict[str, D]:
    return {"a": D("100000"), "b": D("100000")}


@pytest.fixture
def caplog_all(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG, ccxt's included, from before the venues start."""
    caplog.set_level(logging.DEBUG)
    for name in ("ccxt", "ccxt.base.exchange", "aiohttp", "fundarb"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture
async def pair(
    balances: dict[str, D], caplog_all: pytest.LogCaptureFixture
) -> AsyncIterator[tuple[Venue, Venue]]:
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(_venue("a", balances["a"]))
        b = await stack.enter_async_context(_venue("b", balances["b"]))
        yield a, b
    _assert_no_secret_logged(caplog_all)


def _assert_no_secret_logged(caplog: pytest.LogCaptureFixture) -> None:
    secrets = [s for pair in CREDENTIALS.values() for s in pair]
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    assert records, "nothing was logged: the check would be vacuous"
    for record in records:
        line = record.getMessage() + repr(record.args) + repr(record.__dict__)
        for secret in secrets:
            assert secret not in line, f"{record.name} logged a credential: {line[:200]}"


def _specs(a: Venue, b: Venue, mode: str = "market_only") -> list[OrderSpec]:
    return [
        OrderSpec(a.client, UNIFIED, "buy", None, mode, 5.0, quantity=Q),
        OrderSpec(b.client, UNIFIED, "sell", None, mode, 5.0, quantity=Q),
    ]


async def _assert_ends(a: Venue, b: Venue, expected: tuple[D, D]) -> None:
    """Positions as expected through the clients (HTTP) and the venues; nothing open."""
    assert (a.position(), b.position()) == expected
    for venue, quantity in zip((a, b), expected, strict=True):
        position = await venue.client.get_position(SYMBOL)
        if quantity == 0:
            assert position is None
        else:
            assert position is not None
            assert position.symbol == UNIFIED
            assert position.quantity == quantity
        assert await venue.client.get_open_orders() == []
        assert not venue.sim.core.open_orders
        assert await venue.sim.get_open_orders() == []


def _assert_legs_match_venues(result: AtomicExecutionResult, a: Venue, b: Venue) -> None:
    assert [leg.net for leg in result.legs] == [a.position(), b.position()]
    assert result.residual_exposure == {}
    assert result.orders_left_open == ()


# -- 1. the atomic execution through ccxt and simex ------------------------------------------


@pytest.mark.parametrize("mode", ["market_only", "aggressive_limit"])
async def test_both_legs_fill(pair: tuple[Venue, Venue], mode: str) -> None:
    a, b = pair

    result = await AtomicMultiOrderExecutor().execute_atomically(_specs(a, b, mode))

    assert result.outcome is AtomicOutcome.FILLED, result.error_message
    assert result.all_filled
    assert result.incidents == ()
    await _assert_ends(a, b, (Q, -Q))
    _assert_legs_match_venues(result, a, b)
    for leg, venue in zip(result.legs, (a, b), strict=True):
        assert leg.entry is not None
        assert leg.entry.filled_quantity == Q
        [fill] = await venue.client.get_fills(SYMBOL)
        assert fill.quantity == Q
        assert fill.client_order_id in leg.entry.client_order_ids


async def test_a_rejected_leg_is_hedged(pair: tuple[Venue, Venue]) -> None:
    a, b = pair
    b.sim.faults.add(Fault.reject(count=1))  # b's entry refused (-2010), its hedge passes

    result = await AtomicMultiOrderExecutor().execute_atomically(_specs(a, b))

    assert [kind for _, _, kind in b.sim.faults.fired] == ["reject"]
    entry = result.legs[1].entry
    assert entry is not None
    assert entry.filled_quantity == 0
    assert result.outcome is AtomicOutcome.FILLED, result.error_message  # completed by a hedge
    assert len(result.legs[1].adjustments) >= 1
    await _assert_ends(a, b, (Q, -Q))
    _assert_legs_match_venues(result, a, b)


async def test_a_leg_rejected_every_time_is_rolled_back_to_flat(
    pair: tuple[Venue, Venue],
) -> None:
    a, b = pair
    b.sim.faults.add(Fault.reject(count=None))  # entry and every hedge refused

    result = await AtomicMultiOrderExecutor(
        config=AtomicConfig(hedge_attempts=1)
    ).execute_atomically(_specs(a, b))

    assert result.outcome is AtomicOutcome.ROLLED_BACK, result.error_message
    assert result.rollback_performed
    await _assert_ends(a, b, (D(0), D(0)))
    _assert_legs_match_venues(result, a, b)
    rollback = [o for o in a.sim.core.orders.values() if o.side.value == "sell"]
    assert rollback
    assert all(o.reduce_only for o in rollback)


async def test_a_partial_fill_is_completed(pair: tuple[Venue, Venue]) -> None:
    a, b = pair
    b.sim.faults.add(Fault.partial_fill(D("0.5"), count=1))  # b's entry: half, rest expires

    result = await AtomicMultiOrderExecutor().execute_atomically(_specs(a, b))

    entry = result.legs[1].entry
    assert entry is not None
    assert entry.filled_quantity == Q / 2
    # the policy (hedge, then roll back): the missing half is sent again on b
    assert result.outcome is AtomicOutcome.FILLED, result.error_message
    assert sum((adj.filled_quantity for adj in result.legs[1].adjustments), D(0)) == Q / 2
    await _assert_ends(a, b, (Q, -Q))
    _assert_legs_match_venues(result, a, b)


async def test_a_partial_fill_not_completed_is_balanced_by_trimming(
    pair: tuple[Venue, Venue],
) -> None:
    a, b = pair
    b.sim.faults.add(Fault.partial_fill(D("0.5"), count=1), Fault.reject(count=None))

    result = await AtomicMultiOrderExecutor(
        config=AtomicConfig(hedge_attempts=1)
    ).execute_atomically(_specs(a, b), rollback_on_partial=False)

    # b got half and no more; a's excess half went back reduce-only: balanced at Q/2
    assert result.outcome is AtomicOutcome.HEDGED, result.error_message
    assert result.hedged_quantity == Q / 2
    await _assert_ends(a, b, (Q / 2, -Q / 2))
    _assert_legs_match_venues(result, a, b)


# -- 2. -2019: a definitive reject, no retry, no look-up -------------------------------------


@pytest.mark.parametrize("balances", [{"a": D("100000"), "b": D("20")}])
async def test_insufficient_margin_is_a_definitive_reject(pair: tuple[Venue, Venue]) -> None:
    _, b = pair
    await b.client.get_market_spec(SYMBOL)  # markets loaded: count the order's calls only
    calls: list[str] = []
    for method in ("create_order", "fetch_order", "fetch_open_orders", "fetch_orders"):
        _count_calls(b.exchange, method, calls)

    result = await b.client.place_limit_order(SYMBOL, D("0.1"), D("59000"), "buy")

    assert not result.success
    assert result.status == OrderStatus.REJECTED.value
    assert result.reject_reason is RejectReason.INSUFFICIENT_MARGIN
    assert "-2019" in (result.error_message or "")
    assert calls == ["create_order"]  # one send; no retry, no look-up by client order id
    assert await b.sim.get_open_orders() == []
    assert b.position() == 0


def _count_calls(exchange: Any, method: str, calls: list[str]) -> None:
    original: Callable[..., Any] = getattr(exchange, method)

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(method)
        return await original(*args, **kwargs)

    setattr(exchange, method, counted)


# -- 3. no credential in any log line --------------------------------------------------------


async def test_no_credential_is_logged_even_on_errors(
    pair: tuple[Venue, Venue], caplog_all: pytest.LogCaptureFixture
) -> None:
    a, b = pair
    b.sim.faults.add(Fault.reject(count=None))
    # a refused order, an unknown cancel, and an authentication failure, all logged
    await AtomicMultiOrderExecutor(config=AtomicConfig(hedge_attempts=1)).execute_atomically(
        _specs(a, b)
    )
    refused = await a.client.cancel_order("987654", SYMBOL)
    assert not refused.success
    wrong = binanceusdm_client(
        a.url, api_key=CREDENTIALS["a"][0], secret=CREDENTIALS["b"][1], config={}
    )
    bad = CcxtExchangeClient(wrong, venue="a-wrong")
    try:
        with pytest.raises(OrderRejectedError, match="-1022"):
            await bad.get_balance()
    finally:
        await wrong.close()

    assert caplog_all.records, "nothing was logged: the check would be vacuous"
    assert any(r.name.startswith("fundarb") for r in caplog_all.records)
    _assert_no_secret_logged(caplog_all)
