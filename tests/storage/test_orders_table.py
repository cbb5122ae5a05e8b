"""The ``orders`` table, kept from the journal in the journal's own transaction: hand-written
entry sequences land exactly; a real two-leg execution leaves one row per order the venues
saw, agreeing with them; a batch spooled while the database was down lands when written
back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fundarb.execution import AtomicMultiOrderExecutor, OrderExecutor, OrderSpec
from fundarb.execution.core.order_state import OrderState
from fundarb.execution.patterns.atomic_multi_order import AtomicOutcome
from fundarb.storage import Store
from fundarb.storage import orders as orders_module
from fundarb.storage.journal import EntryKind, Journal, JournalEntry
from fundarb.storage.orders import ORDER_STATES, OrderRow
from fundarb.storage.tables import journal as journal_table
from fundarb.venues.orders import OrderStatus, normalize_status
from fundarb.venues.sim import Fault, SimulatedExchange
from tests.conftest import BOOK, BTC, static_venue
from tests.storage.outages import Outage
from tests.storage.test_database_down import OutageVenue

pytestmark = pytest.mark.looptime(False)  # real sockets and files: real time

T0 = datetime(2024, 8, 8, 12, 0, tzinfo=UTC)
Q = D("0.5")
COID = "fa-x1-0-1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def entry(kind: EntryKind, seconds: float, **fields: object) -> JournalEntry:
    """An entry of order ``COID`` (leg 0 of execution x1, buying on venue a)."""
    values: dict[str, object] = {
        "execution_id": "x1",
        "leg": 0,
        "venue": "a",
        "symbol": BTC,
        "client_order_id": COID,
        "side": "buy",
    }
    values.update(fields)
    return JournalEntry(kind=kind, time=at(seconds), **values)  # type: ignore[arg-type]


def intent(seconds: float = 0, **fields: object) -> JournalEntry:
    values: dict[str, object] = {
        "quantity": D("1"),
        "price": D("50000.0"),
        "reduce_only": False,
        "detail": "limit",
    }
    values.update(fields)
    return entry(EntryKind.INTENT, seconds, **values)


def order(**fields: object) -> OrderRow:
    """The row of ``COID`` as its intent made it, with ``fields`` changed."""
    values: dict[str, object] = {
        "venue": "a",
        "client_order_id": COID,
        "execution_id": "x1",
        "leg": 0,
        "order_id": None,
        "symbol": BTC,
        "side": "buy",
        "kind": "limit",
        "quantity": D("1"),
        "price": D("50000.0"),
        "reduce_only": False,
        "state": "intent",
        "filled": D("0"),
        "created": T0,
        "updated": T0,
    }
    values.update(fields)
    return OrderRow(**values)  # type: ignore[arg-type]


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    async with Store.open(database_url) as opened:
        await opened.upgrade()
        yield opened


async def write(journal: Journal, *batches: Sequence[JournalEntry]) -> None:
    """Commit each batch in one transaction (as a flush does), in the order given."""
    for batch in batches:
        for e in batch:
            journal._pending.append(e)  # appended without the commit an intent would force
        await journal.flush()


def one_batch_each(entries: Sequence[JournalEntry]) -> list[list[JournalEntry]]:
    return [[e] for e in entries]


async def journal_rows(store: Store) -> int:
    async with store.engine.connect() as connection:
        query = select(func.count()).select_from(journal_table)
        return int((await connection.execute(query)).scalar_one())


async def journal_intents(store: Store) -> set[tuple[str | None, str | None]]:
    """The (venue, client order id) of every intent in the journal."""
    async with store.engine.connect() as connection:
        query = select(journal_table.c.venue, journal_table.c.client_order_id).where(
            journal_table.c.kind == EntryKind.INTENT.value
        )
        return {(v, c) for v, c in (await connection.execute(query)).all()}


# -- hand-written sequences ---------------------------------------------------------------------


LIFE = [
    intent(0),
    entry(EntryKind.ACK, 1, order_id="o-1", quantity=D("0"), detail="acknowledged: accepted"),
    entry(EntryKind.FILL, 2, order_id="o-1", quantity=D("0.3")),
    entry(EntryKind.FILL, 3, order_id="o-1", quantity=D("0.65")),
    entry(EntryKind.CANCEL, 4, order_id="o-1", quantity=D("0.65"), detail="cancelled"),
]


@pytest.mark.parametrize("batches", ["one batch", "a batch each"])
async def test_intent_ack_fills_and_cancel_make_one_exact_row(
    store: Store, tmp_path: Path, batches: str
) -> None:
    journal = Journal(store, spool_path=tmp_path / "spool.jsonl")

    if batches == "one batch":
        await write(journal, LIFE)
    else:
        await write(journal, *one_batch_each(LIFE[:3]))
        partly = await store.load_orders()
        await write(journal, *one_batch_each(LIFE[3:]))
        assert partly == [
            order(order_id="o-1", state="partially_filled", filled=D("0.3"), updated=at(2))
        ]

    assert await store.load_orders() == [
        order(order_id="o-1", state="cancelled", filled=D("0.65"), updated=at(4))
    ]
    assert await store.load_orders("x1") == await store.load_orders()
    assert await store.load_orders("another") == []
    assert await journal_rows(store) == len(LIFE)
    assert not journal.spool_path.exists()


async def test_a_market_order_filled_at_once(store: Store, tmp_path: Path) -> None:
    journal = Journal(store, spool_path=tmp_path / "spool.jsonl")

    await write(
        journal,
        [intent(0, price=None, quantity=D("0.123456789012345678"), reduce_only=True)],
        [entry(EntryKind.ACK, 1, order_id="o-9", quantity=D("0.123456789012345678"))],
    )

    assert await store.load_orders() == [
        order(
            kind="market",
            price=None,
            quantity=D("0.123456789012345678"),
            reduce_only=True,
            order_id="o-9",
            state="filled",  # the ack's detail names no state: the fill speaks for it
            filled=D("0.123456789012345678"),
            updated=at(1),
        )
    ]


async def test_states_are_read_from_the_ack_detail_or_left_as_acked(
    store: Store, tmp_path: Path
) -> None:
    journal = Journal(store, spool_path=tmp_path / "spool.jsonl")
    ids = {"refused": "c-1", "resting": "c-2", "garbled": "c-3", "filled": "c-4"}
    details = {
        "refused": "rejected: insufficient margin: needs 10.00 USDT",
        "resting": "acknowledged",
        "garbled": "Order accepted: ok",
        "filled": "filled: done",
    }

    await write(
        journal,
        [intent(0, client_order_id=c) for c in ids.values()],
        [
            entry(EntryKind.ACK, 1, client_order_id=ids[name], quantity=D("0"), detail=detail)
            for name, detail in details.items()
        ],
    )

    states = {row.client_order_id: row.state for row in await store.load_orders()}
    # "filled" with nothing filled is what the venue said: the state is taken as reported
    assert states == {"c-1": "rejected", "c-2": "acknowledged", "c-3": "acked", "c-4": "filled"}


async def test_fills_arriving_out_of_order_never_lower_what_was_filled(
    store: Store, tmp_path: Path
) -> None:
    journal = Journal(store, spool_path=tmp_path / "spool.jsonl")
    ack = entry(EntryKind.ACK, 1, order_id="o-1", quantity=D("0"), detail="acknowledged")
    fills = [
        entry(EntryKind.FILL, s, order_id="o-1", quantity=D(q)) for s, q in [(2, "0.3"), (3, "0.6")]
    ]

    await write(journal, [intent(0), ack], [fills[1]], [fills[0]])  # the older fill lands last

    assert await store.load_orders() == [
        order(order_id="o-1", state="partially_filled", filled=D("0.6"), updated=at(3))
    ]
    await write(journal, [fills[0], fills[1], fills[0]])  # stale and duplicate, in one batch
    assert (await store.load_orders())[0].filled == D("0.6")


async def test_a_state_never_goes_back_when_older_entries_land_later(
    store: Store, tmp_path: Path
) -> None:
    journal = Journal(store, spool_path=tmp_path / "spool.jsonl")
    ack = entry(EntryKind.ACK, 1, order_id="o-1", quantity=D("0"), detail="acknowledged: ok")
    fill = entry(EntryKind.FILL, 2, order_id="o-1", quantity=D("0.2"))
    pending = entry(EntryKind.CANCEL, 3, order_id="o-1", quantity=D("0.2"), detail="cancel_pending")
    cancel = entry(EntryKind.CANCEL, 4, order_id="o-1", quantity=D("0.4"), detail="cancelled")

    # the acknowledgement and the first fill were spooled; the cancels committed before them
    await write(journal, [intent(0)], [pending], [cancel], [ack, fill])

    assert await store.load_orders() == [
        order(order_id="o-1", state="cancelled", filled=D("0.4"), updated=at(4))
    ]


async def test_a_fill_seen_before_its_acknowledgement_keeps_the_order_id_it_brings(
    store: Store, tmp_path: Path
) -> None:
    journal = Journal(store, spool_path=tmp_path / "spool.jsonl")
    ack = entry(EntryKind.ACK, 1, order_id="o-1", quantity=D("0"), detail="acknowledged")
    fill = entry(EntryKind.FILL, 2, quantity=D("0.4"))  # the fill entry knew no order id

    await write(journal, [intent(0)], [fill], [ack])

    assert await store.load_orders() == [
        order(order_id="o-1", state="partially_filled", filled=D("0.4"), updated=at(2))
    ]


async def test_an_unknown_order_resolved_takes_the_order_id_and_state_it_was_found_in(
    store: Store, tmp_path: Path
) -> None:
    journal = Journal(store, spool_path=tmp_path / "spool.jsonl")
    found = entry(EntryKind.RESOLVED, 5, order_id="o-7", quantity=D("1"), detail="filled")
    missing = entry(
        EntryKind.RESOLVED, 5, client_order_id="c-2", quantity=D("0"), detail="rejected"
    )

    await write(journal, [intent(0), intent(0, client_order_id="c-2")], [found, missing])

    rows = {row.client_order_id: row for row in await store.load_orders()}
    assert rows[COID] == order(order_id="o-7", state="filled", filled=D("1"), updated=at(5))
    assert rows["c-2"] == order(client_order_id="c-2", state="rejected", updated=at(5))


async def test_an_intent_seen_again_neither_fails_nor_duplicates(
    store: Store, tmp_path: Path
) -> None:
    journal = Journal(store, spool_path=tmp_path / "spool.jsonl")
    ack = entry(EntryKind.ACK, 2, order_id="o-1", quantity=D("1"), detail="filled")

    await write(journal, [intent(0), intent(1)])  # a resend under the same id, one batch
    await write(journal, [ack])
    await write(journal, [intent(3, quantity=D("2"))])  # and once more, after it filled

    assert await store.load_orders() == [
        order(order_id="o-1", state="filled", filled=D("1"), updated=at(2))
    ]
    assert await journal_rows(store) == 4  # the journal keeps every line
    assert not journal.spool_path.exists()  # nothing failed


async def test_entries_of_an_order_never_intended_are_ignored(store: Store, tmp_path: Path) -> None:
    journal = Journal(store, spool_path=tmp_path / "spool.jsonl")
    stray = entry(EntryKind.ACK, 1, client_order_id="nobody", order_id="o-5", detail="filled")
    incomplete = intent(0, client_order_id="c-2", quantity=None)  # cannot make a row
    outcome = JournalEntry(execution_id="x1", kind=EntryKind.OUTCOME, time=at(9), detail="filled")

    await write(journal, [incomplete, stray], [outcome])

    assert await store.load_orders() == []
    assert await journal_rows(store) == 3
    assert not journal.spool_path.exists()


async def test_a_long_batch_touches_only_its_own_rows(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orders_module, "_CHUNK", 2)  # the select split, as for a long spool
    journal = Journal(store, spool_path=tmp_path / "spool.jsonl")
    keys = [("a", "c-1"), ("b", "c-1"), ("b", "c-2"), ("a", "c-3"), ("b", "c-4"), ("a", "c-5")]
    asked = [("a", "c-1"), ("b", "c-2"), ("a", "c-3"), ("b", "c-4"), ("a", "c-5")]

    await write(
        journal,
        [intent(0, venue=v, client_order_id=c) for v, c in keys]
        + [
            entry(EntryKind.ACK, 1, venue=v, client_order_id=c, quantity=D("1"), detail="filled")
            for v, c in asked
        ],
    )

    states = {(r.venue, r.client_order_id): r.state for r in await store.load_orders()}
    # ("b", "c-1") is in the select (venue b, client c-1 both asked for) but was not touched
    assert states == {key: "filled" if key in asked else "intent" for key in keys}


def test_the_states_known_are_the_execution_layer_s() -> None:
    assert {s.value for s in OrderState} == ORDER_STATES


# -- a real execution ---------------------------------------------------------------------------


_VENUE_STATE = {
    OrderStatus.NEW: "acknowledged",
    OrderStatus.PARTIALLY_FILLED: "partially_filled",
    OrderStatus.PENDING_CANCEL: "cancel_pending",
    OrderStatus.FILLED: "filled",
    OrderStatus.CANCELED: "cancelled",
    OrderStatus.EXPIRED: "expired",
    OrderStatus.REJECTED: "rejected",
}


async def assert_orders_agree_with_venues(
    store: Store, venues: Sequence[SimulatedExchange]
) -> None:
    """One row per order the venues saw (hedges and rollbacks included: execution ids of their
    own), with their order id, state and filled quantity; any other row is an order refused
    before it rested (rejected, nothing filled)."""
    rows = await store.load_orders()
    by_key = {(row.venue, row.client_order_id): row for row in rows}
    assert len(by_key) == len(rows)
    seen = 0
    for venue in venues:
        name = venue.get_exchange_name()
        for client_order_id in venue.core.by_client_id:
            info = await venue.get_order_by_client_id(client_order_id)
            assert info is not None
            row = by_key.pop((name, client_order_id), None)
            assert row is not None, f"no row for {name} {client_order_id}"
            assert client_order_id.startswith(f"fa-{row.execution_id}-{row.leg}-")
            assert row.order_id == info.order_id
            assert row.state == _VENUE_STATE[normalize_status(info.status)], row
            assert row.filled == info.filled_size
            assert row.quantity == info.size
            assert row.side == info.side
            seen += 1
    assert seen > 0
    for row in by_key.values():  # never reached a venue's book
        assert (row.state, row.filled, row.order_id) == ("rejected", D("0"), None), row


def _pair() -> tuple[SimulatedExchange, SimulatedExchange]:
    a, b = static_venue(venue="a"), static_venue(venue="b")
    for venue in (a, b):
        venue.set_book(BTC, **BOOK)
    return a, b


SCENARIOS = {
    "market legs": ("market_only", []),
    "limit legs, fallback": ("limit_with_fallback", []),
    "b partly filled, then topped up": ("market_only", [Fault.partial_fill()]),
    "b refused: hedged, then rolled back": ("market_only", [Fault.reject(count=None)]),
    "limit legs, b partly filled, cancelled": ("limit_with_fallback", [Fault.partial_fill()]),
    "limit legs, b's cancel loses the race": ("limit_with_fallback", [Fault.cancel_loses_race()]),
    "b accepted, answer lost: resolved": ("market_only", [Fault.accept_then_timeout(delay_s=0.05)]),
    "b's request lost: resolved, hedged": ("market_only", [Fault.drop_request(delay_s=0.05)]),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_a_two_leg_execution_leaves_the_venues_orders_in_the_table(
    store: Store, tmp_path: Path, scenario: str
) -> None:
    mode, faults = SCENARIOS[scenario]
    a, b = _pair()
    b.faults.add(*faults)
    journal = Journal(store, spool_path=tmp_path / "spool.jsonl")
    executor = AtomicMultiOrderExecutor(executor=OrderExecutor(journal=journal))

    result = await executor.execute_atomically(
        [
            OrderSpec(a, BTC, "buy", None, mode, 0.5, quantity=Q),
            OrderSpec(b, BTC, "sell", None, mode, 0.5, quantity=Q),
        ]
    )
    await journal.flush()

    assert not result.orders_left_open, result.error_message
    assert not journal.spool_path.exists()
    await assert_orders_agree_with_venues(store, (a, b))
    intents = {
        (e.venue, e.client_order_id)
        for e in await journal.entries(result.execution_id)
        if e.kind is EntryKind.INTENT
    }
    rows = await store.load_orders(result.execution_id)
    assert {(r.venue, r.client_order_id) for r in rows} == intents
    assert len(await store.load_orders()) == len(await journal_intents(store))
    if scenario == "market legs":
        assert result.outcome is AtomicOutcome.FILLED
        assert [(r.venue, r.state, r.filled) for r in rows] == [
            ("a", "filled", Q),
            ("b", "filled", Q),
        ]
    for row in rows:  # "market" mode sends IOC orders bounded by a price: limit orders
        assert row.kind == ("market" if row.price is None else "limit")


# -- the database down ----------------------------------------------------------------------------


def spooled(journal: Journal) -> list[JournalEntry]:
    text = journal.spool_path.read_text() if journal.spool_path.exists() else ""
    return [JournalEntry.from_json(line) for line in text.splitlines() if line.strip()]


async def test_a_batch_spooled_while_down_lands_in_orders_when_written_back(
    outage: Outage, tmp_path: Path
) -> None:
    ack = entry(EntryKind.ACK, 1, order_id="o-1", quantity=D("0"), detail="acknowledged: ok")
    fill = entry(EntryKind.FILL, 2, order_id="o-1", quantity=D("0.4"))
    other = intent(2, client_order_id="c-2", price=None)  # intended while down: spooled too
    cancel = entry(EntryKind.CANCEL, 3, order_id="o-1", quantity=D("0.4"), detail="cancelled")
    async with Store.open(outage.url) as store:
        journal = Journal(store, spool_path=tmp_path / "spool.jsonl")
        await journal.append(intent(0))  # committed
        await outage.begin()
        await journal.append(ack)
        await journal.append(fill)
        await journal.append(other)  # an intent: the batch is committed now, or spooled
        await journal.append(cancel)
        await journal.flush()
        assert [replace(e, seq=None) for e in spooled(journal)] == [ack, fill, other, cancel]
        await outage.end()
        before = await store.load_orders()

        assert await journal.flush_spool() == 4

        after = await store.load_orders()
        assert await journal.flush_spool() == 0
        again = await store.load_orders()
    assert before == []  # an intent's commit leaves the orders table to the next commit
    assert after == [
        order(order_id="o-1", state="cancelled", filled=D("0.4"), updated=at(3)),
        order(client_order_id="c-2", kind="market", price=None, created=at(2), updated=at(2)),
    ]
    assert again == after


async def test_an_execution_spooled_while_down_lands_in_orders_when_written_back(
    outage: Outage, tmp_path: Path
) -> None:
    a, b = OutageVenue("a", outage), OutageVenue("b", None)
    async with Store.open(outage.url) as store:
        journal = Journal(store, spool_path=tmp_path / "spool.jsonl")
        executor = AtomicMultiOrderExecutor(executor=OrderExecutor(journal=journal))
        specs = [
            OrderSpec(a, BTC, "buy", None, "market_only", quantity=Q),
            OrderSpec(b, BTC, "sell", None, "market_only", quantity=Q),
        ]
        first = await executor.execute_atomically(specs)  # down as a's order arrives
        second = await executor.execute_atomically(specs)  # all of it while down
        kinds = {e.kind for e in spooled(journal)}
        await outage.end()
        committed = await store.load_orders()

        await asyncio.gather(journal.flush_spool(), journal.flush_spool())  # written once

        await assert_orders_agree_with_venues(store, (a, b))
        rows = await store.load_orders()
    for result in (first, second):
        assert result.outcome is AtomicOutcome.FILLED, result.error_message
    assert EntryKind.INTENT in kinds  # the second execution's intents were spooled
    # before the write-back: nothing yet (an intent's commit leaves the orders table to the
    # next commit, and every later commit went to the spool)
    assert committed == []
    assert len(rows) == 4
    assert {r.state for r in rows} == {"filled"}
    assert not spooled(journal)
