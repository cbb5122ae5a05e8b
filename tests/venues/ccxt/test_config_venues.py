"""``kind: ccxt`` venues from a config file trade: ``open_venues`` gives each a
:class:`CcxtExchangeClient`, and ``fundarb recover -c`` reconciles executions on them.

Two simulated venues behind two local simex servers, each with its own key and secret
(read from the environment, as a user's config would); the config points an unmodified
ccxt ``binanceusdm`` at each with ``urls: {simex: URL}``. Symbols are the venues' own ids
(``BTCUSDT``), as the journal and the strategy write them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from fundarb.config import load_config
from fundarb.execution import AtomicMultiOrderExecutor, AtomicOutcome, OrderSpec
from fundarb.funding.service import open_venues
from fundarb.storage import Store
from fundarb.storage.journal import EntryKind, Journal, JournalEntry
from fundarb.venues import OrderStatus
from fundarb.venues.ccxt import CcxtExchangeClient
from fundarb.venues.sim import SimConfig, SimulatedExchange, binance_btcusdt
from fundarb.venues.simex import serve

pytestmark = pytest.mark.looptime(False)  # real sockets, and a real process for the CLI

SYMBOL = "BTCUSDT"
Q = D("0.01")
BOOK = {
    "bids": [("59999.9", "2"), ("59999.0", "5"), ("59998.0", "5")],
    "asks": [("60000.0", "2"), ("60001.0", "5"), ("60002.0", "5")],
}
CREDENTIALS = {
    "a": ("cfg-key-alpha-51d0e2", "cfg-secret-alpha-8c2f47a1"),
    "b": ("cfg-key-bravo-0b7e93", "cfg-secret-bravo-3e91c5d0"),
}
TIMEOUT_S = 120  # a loaded CI machine


def _env() -> dict[str, str]:
    env = {}
    for name, (key, secret) in CREDENTIALS.items():
        env[f"FUNDARB_TEST_{name.upper()}_KEY"] = key
        env[f"FUNDARB_TEST_{name.upper()}_SECRET"] = secret
    return env


@dataclass
class World:
    sims: dict[str, SimulatedExchange]
    config_path: Path


@asynccontextmanager
async def _world(tmp_path: Path) -> AsyncIterator[World]:
    lines = ["venues:"]
    sims: dict[str, SimulatedExchange] = {}
    async with AsyncExitStack() as stack:
        for name, (key, secret) in CREDENTIALS.items():
            config = SimConfig(
                venue=name,
                market="static",
                initial_balance=D("100000"),
                symbols=(binance_btcusdt(initial_price=D("60000.0")),),
                start_time=datetime.now(UTC),  # books are stamped with the venue's clock
            )
            sim = await stack.enter_async_context(SimulatedExchange(config))
            sim.set_book(SYMBOL, **BOOK)
            address = await stack.enter_async_context(serve(sim, api_key=key, api_secret=secret))
            sims[name] = sim
            upper = name.upper()
            lines += [
                "  - kind: ccxt",
                f"    name: {name}",
                "    exchange: binanceusdm",
                f"    api_key_env: FUNDARB_TEST_{upper}_KEY",
                f"    api_secret_env: FUNDARB_TEST_{upper}_SECRET",
                f"    urls: {{simex: '{address.url}'}}",
            ]
        path = tmp_path / "config.yaml"
        path.write_text("\n".join(lines) + "\n")
        yield World(sims, path)


@pytest.fixture
def credentials_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _env().items():
        monkeypatch.setenv(key, value)


async def test_open_venues_gives_each_ccxt_venue_a_trading_client(
    tmp_path: Path, credentials_env: None
) -> None:
    async with _world(tmp_path) as world, asyncio.timeout(TIMEOUT_S):
        config = load_config(world.config_path)
        async with open_venues(config) as feeds:
            clients = {feed.name: feed.client for feed in feeds}
            assert set(clients) == {"a", "b"}
            a = clients["a"]
            assert isinstance(a, CcxtExchangeClient)
            assert a.get_exchange_name() == "a"

            placed = await a.place_limit_order(
                SYMBOL, Q, D("59000"), "buy", post_only=True, client_order_id="cfg-rest-1"
            )
            assert placed.success, placed.error_message
            assert placed.order_id is not None
            resting = await world.sims["a"].get_open_orders(SYMBOL)
            assert [o.client_order_id for o in resting] == ["cfg-rest-1"]

            cancelled = await a.cancel_order(placed.order_id)
            assert cancelled.success
            info = await a.get_order_info(placed.order_id)
            assert info is not None
            assert info.status == OrderStatus.CANCELED.value
            assert await world.sims["a"].get_open_orders(SYMBOL) == []
            # the funding collector shares the exchange and still reads
            book = await feeds[1].market.book(SYMBOL)
            assert book.bids[0].price == D("59999.9")
        # closed on exit: the exchange's session is gone
        assert a._exchange.session is None or a._exchange.session.closed


async def test_atomic_pair_on_venue_ids_through_configured_venues(
    tmp_path: Path, credentials_env: None
) -> None:
    async with (
        _world(tmp_path) as world,
        asyncio.timeout(TIMEOUT_S),
        open_venues(load_config(world.config_path)) as feeds,
    ):
        a, b = (feed.client for feed in feeds)
        book = await a.get_order_book_depth(SYMBOL, 5)
        assert book["symbol"] == SYMBOL  # the name asked for, not ccxt's BTC/USDT:USDT

        result = await AtomicMultiOrderExecutor().execute_atomically(
            [
                OrderSpec(a, SYMBOL, "buy", None, "market_only", 5.0, quantity=Q),
                OrderSpec(b, SYMBOL, "sell", None, "market_only", 5.0, quantity=Q),
            ]
        )

        assert result.outcome is AtomicOutcome.FILLED, result
        assert world.sims["a"].core.account.quantity(SYMBOL) == Q
        assert world.sims["b"].core.account.quantity(SYMBOL) == -Q


async def _crash_mid_execution(world: World, url: str) -> None:
    """What a crashed bot leaves: intents journalled, leg 0 resting on a (nothing filled),
    leg 1 filled on b, no outcome."""
    async with Store.open(url) as store:
        await store.upgrade()
        journal = Journal(store)
        legs = (("a", "buy"), ("b", "sell"))
        for leg, (venue, side) in enumerate(legs):
            await journal.append(
                JournalEntry(
                    execution_id="cccc00000001",
                    kind=EntryKind.INTENT,
                    leg=leg,
                    venue=venue,
                    symbol=SYMBOL,
                    client_order_id=f"cccc00000001-{leg}",
                    side=side,
                    quantity=Q,
                    reduce_only=False,
                )
            )
    async with open_venues(load_config(world.config_path)) as feeds:
        a, b = (feed.client for feed in feeds)
        rest = await a.place_limit_order(
            SYMBOL, Q, D("59000"), "buy", client_order_id="cccc00000001-0"
        )
        fill = await b.place_market_order(SYMBOL, Q, "sell", client_order_id="cccc00000001-1")
    assert rest.success
    assert fill.success
    assert world.sims["b"].core.account.quantity(SYMBOL) == -Q


async def _recover(tmp_path: Path, world: World, url: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fundarb",
        "recover",
        "-c",
        str(world.config_path),
        "--url",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **_env(), "FUNDARB_HOME": str(tmp_path), "FUNDARB_DATABASE_URL": ""},
    )
    async with asyncio.timeout(TIMEOUT_S):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_recover_reconciles_executions_on_ccxt_venues(
    tmp_path: Path, credentials_env: None
) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    async with _world(tmp_path) as world:
        await _crash_mid_execution(world, url)

        code, out, err = await _recover(tmp_path, world, url)

        assert code == 0, out + err
        assert "escalated" not in out
        assert "cccc00000001: 2 orders journalled, 1 found open and cancelled" in out
        assert "flattened" in out
        assert await world.sims["a"].get_open_orders() == []
        assert world.sims["a"].core.account.quantity(SYMBOL) == 0
        assert world.sims["b"].core.account.quantity(SYMBOL) == 0
        for key, secret in CREDENTIALS.values():
            assert key not in out + err
            assert secret not in out + err

        code, out, _ = await _recover(tmp_path, world, url)
        assert code == 0
        assert "nothing to recover" in out
