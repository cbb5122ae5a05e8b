"""Funding samples and payments on the real store: the migration, exact round trips, a print
stored once however often it is imported, live samples replaced by newer ones, and the two
legs of a pair paid at the same instant kept apart."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select

from fundarb.funding import FundingSample
from fundarb.funding.history import import_csv, stats_from_store
from fundarb.storage import Store
from fundarb.storage.store import head_revision
from fundarb.storage.tables import funding_payments, funding_samples, metadata
from fundarb.venues import FundingPayment
from tests.conftest import SHARED_DATA, needs_shared_data

pytestmark = pytest.mark.looptime(False)  # real sockets and files: real time

BINANCE = (
    SHARED_DATA / "funding_history" / "BTC-USDT_binance_2020-01-01_2024-01-01_funding_history.csv"
)
FUNDING_TABLES = {"funding_samples", "funding_payments"}
H = timedelta(hours=1)
T0 = datetime(2024, 8, 8, 0, tzinfo=UTC)


def sample(
    rate: str = "0.0001",
    *,
    venue: str = "binance",
    symbol: str = "BTC",
    at: datetime = T0,
    collected_at: datetime | None = None,
    hours: int = 8,
) -> FundingSample:
    return FundingSample(
        venue=venue,
        symbol=symbol,
        venue_symbol=f"{symbol}USDT",
        rate=D(rate),
        interval=hours * H,
        funding_time=at,
        collected_at=at if collected_at is None else collected_at,
    )


def payment(quantity: str, amount: str, *, at: datetime = T0) -> FundingPayment:
    return FundingPayment(
        venue="binance",
        symbol="BTCUSDT",
        funding_time=at,
        rate=D("0.0001"),
        position_quantity=D(quantity),
        mark_price=D("61800.20"),
        amount=D(amount),
    )


async def count(store: Store, table: object) -> int:
    async with store.engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


# -- the migration ----------------------------------------------------------------------------


async def test_the_migration_adds_the_funding_tables_and_removes_them(database_url: str) -> None:
    async with Store.open(database_url) as store:
        await store.upgrade()
        assert await store.current_revision() == head_revision()
        async with store.engine.connect() as connection:
            names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            drift = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
        await store.downgrade("0001")
        async with store.engine.connect() as connection:
            after = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert await store.current_revision() == "0001"
        await store.upgrade()

    assert names >= FUNDING_TABLES
    assert not [d for d in drift if FUNDING_TABLES & set(_tables_in(d))]  # tables.py matches
    assert not FUNDING_TABLES & after


def _tables_in(diff: object) -> list[str]:
    """Table names an autogenerate diff entry mentions."""
    entries = diff if isinstance(diff, list) else [diff]
    found = []
    for entry in entries:
        for part in entry if isinstance(entry, tuple) else (entry,):
            name = getattr(part, "name", None)
            table = getattr(part, "table", None)
            found += [n for n in (name, getattr(table, "name", None)) if isinstance(n, str)]
            if isinstance(part, str):
                found.append(part)
    return found


# -- samples ----------------------------------------------------------------------------------


async def test_a_sample_comes_back_exactly(database_url: str) -> None:
    full = FundingSample(
        venue="hyperliquid",
        symbol="PEPE",
        venue_symbol="kPEPE",
        rate=D("0.000658153991747989"),  # 18 places, HTX's kind
        interval=H,
        funding_time=datetime(2024, 8, 8, 9, tzinfo=UTC),
        collected_at=datetime(2024, 8, 8, 8, 59, 59, 123456, tzinfo=UTC),
        multiplier=D(1000),
        predicted_rate=D("-0.0000125"),
        mark_price=D("0.0123456789"),
        index_price=D("0.012345"),
        open_interest_usd=D("12345678901234567890.123456789012345678"),
        volume_24h_usd=D("0"),
    )
    bare = sample("-0.00300000", at=T0 + 8 * H)
    async with Store.open(database_url) as store:
        await store.upgrade()

        inserted = await store.save_samples([full, bare])
        loaded = await store.load_samples()
        async with store.engine.connect() as connection:
            stored = (
                await connection.execute(
                    select(
                        funding_samples.c.rate_per_hour,
                        funding_samples.c.apr,
                        funding_samples.c.source,
                    ).order_by(funding_samples.c.funding_time)
                )
            ).all()

    assert inserted == 2
    assert loaded == [bare, full]  # oldest first; every field equal
    assert loaded[1].rate_per_hour == full.rate_per_hour
    assert [tuple(row) for row in stored] == [
        (D("-0.000375"), D("-3.285"), "collector"),
        (D("0.000658153991747989"), D("5.76542896771238364"), "collector"),
    ]


async def test_saving_the_same_prints_again_inserts_nothing(database_url: str) -> None:
    prints = [
        sample(rate, at=T0 + k * 8 * H) for k, rate in enumerate(["0.0001", "0.0002", "-0.0001"])
    ]
    async with Store.open(database_url) as store:
        await store.upgrade()

        first = await store.save_samples(prints, source="csv:binance")
        again = await store.save_samples(prints, source="csv:binance")
        overlap = await store.save_samples([*prints[1:], sample(at=T0 + 24 * H)])
        stored = await count(store, funding_samples)

    assert (first, again, overlap, stored) == (3, 0, 1, 4)


async def test_a_settled_print_never_changes(database_url: str) -> None:
    settled = sample("0.0001", collected_at=T0 + H)
    async with Store.open(database_url) as store:
        await store.upgrade()
        await store.save_samples([settled])

        again = await store.save_samples(
            [replace(settled, rate=D("0.0005"), collected_at=T0 + 2 * H)]
        )
        (loaded,) = await store.load_samples()

    assert again == 0
    assert loaded == settled


async def test_a_live_sample_is_replaced_by_newer_ones_then_by_the_settled_print(
    database_url: str,
) -> None:
    early = sample("0.0002", collected_at=T0 - 2 * H)
    later = replace(early, rate=D("0.00015"), collected_at=T0 - H, mark_price=D("61000"))
    stale = replace(early, rate=D("0.0009"), collected_at=T0 - 3 * H)
    settled = replace(early, rate=D("0.00014"), collected_at=T0)
    async with Store.open(database_url) as store:
        await store.upgrade()

        counts = [await store.save_samples([s]) for s in (early, later, stale)]
        (live,) = await store.load_samples()
        await store.save_samples([settled], source="csv:binance")
        (final,) = await store.load_samples()
        rows = await count(store, funding_samples)

    assert counts == [1, 0, 0]  # one row for the upcoming funding time
    assert live == later  # the newest estimate; the older one arriving late is ignored
    assert final == replace(settled, mark_price=None)
    assert rows == 1


async def test_samples_are_selected_by_symbol_venue_time_and_limit(database_url: str) -> None:
    btc = [sample(at=T0 + k * 8 * H) for k in range(4)]
    eth = [sample(symbol="ETH", at=T0 + k * 8 * H) for k in range(2)]
    dydx = [sample(venue="dydx", at=T0 + k * H, hours=1) for k in range(3)]
    async with Store.open(database_url) as store:
        await store.upgrade()
        await store.save_samples([*btc, *eth, *dydx])

        window = await store.load_samples(
            symbol="BTC", venue="binance", since=T0 + 8 * H, until=T0 + 16 * H
        )
        newest = await store.load_samples(symbol="BTC", venue="binance", limit=2)
        dydx_only = await store.load_samples(venue="dydx")
        latest = await store.latest_samples()

    assert window == btc[1:3]  # both ends included
    assert newest == btc[2:]  # the newest two, oldest first
    assert dydx_only == dydx
    assert latest == [btc[-1], dydx[-1], eth[-1]]  # by symbol, then venue


async def test_a_value_the_database_would_round_is_refused(database_url: str) -> None:
    async with Store.open(database_url) as store:
        await store.upgrade()

        with pytest.raises(ValueError, match="more than 18 decimal places"):
            await store.save_samples([sample("0.0000000000000000001")])
        with pytest.raises(ValueError, match="timezone-aware"):
            await store.save_samples([sample(at=datetime(2024, 8, 8))])


# -- CSV import -------------------------------------------------------------------------------


async def test_importing_a_file_twice_inserts_nothing_the_second_time(
    database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "BTC-USDT_binance_2020-01-01_2024-01-01_funding_history.csv"
    path.write_text(
        "Symbol,Date,Funding Rate\n"
        "BTC-USDT,2020-01-01 03:00:00.000,-0.00012359\n"
        "BTC-USDT,2020-01-01 11:00:00.000,0.00010000\n"
        "BTC-USDT,2020-01-01 19:00:00.000,0.003\n"
    )
    seen: list[tuple[int, int]] = []
    async with Store.open(database_url) as store:
        await store.upgrade()

        first = await import_csv(
            path, store=store, progress=lambda done, total: seen.append((done, total))
        )
        again = await import_csv(path, store=store)
        loaded = await store.load_samples(symbol="BTC", venue="binance")
        async with store.engine.connect() as connection:
            sources = set((await connection.execute(select(funding_samples.c.source))).scalars())

    assert (first, again) == (3, 0)
    assert seen == [(0, 3), (3, 3)]
    assert [(s.funding_time.hour, s.rate) for s in loaded] == [
        (0, D("-0.00012359")),
        (8, D("0.0001")),
        (16, D("0.003")),
    ]
    assert sources == {"csv:binance"}


@needs_shared_data(BINANCE)
@pytest.mark.shared_data
async def test_the_binance_history_imports_once_with_its_cap_prints_exact(
    database_url: str,
) -> None:
    async with Store.open(database_url) as store:
        await store.upgrade()

        first = await import_csv(BINANCE, store=store)
        again = await import_csv(BINANCE, store=store)
        capped = await store.load_samples(
            symbol="BTC",
            venue="binance",
            since=datetime(2020, 2, 12, tzinfo=UTC),
            until=datetime(2020, 2, 12, tzinfo=UTC),
        )

    assert (first, again) == (4383, 0)
    assert [s.rate for s in capped] == [D("0.003")]


async def test_statistics_come_from_the_store(database_url: str) -> None:
    rates = ["0.0009", "0.0003", "-0.0001", "0.0003", "-0.0001", "0.0001"]  # the first is out
    async with Store.open(database_url) as store:
        await store.upgrade()
        empty = await stats_from_store(store, "BTC", "binance", 40)
        await store.save_samples([sample(rate, at=T0 + k * 8 * H) for k, rate in enumerate(rates)])

        stats = await stats_from_store(store, "BTC", "binance", 40)

    assert empty is None
    assert stats is not None
    assert (stats.count, stats.first_time, stats.last_time) == (5, T0 + 8 * H, T0 + 40 * H)
    assert (stats.mean_apr, stats.volatility_per_hour, stats.autocorrelation) == (
        D("0.1095"),
        D("0.000025"),
        D("-0.75"),
    )


# -- payments ---------------------------------------------------------------------------------


async def test_two_legs_paid_at_the_same_instant_are_two_rows(database_url: str) -> None:
    long_leg = payment("0.5", "-3.0900100")
    short_leg = payment("-0.5", "3.0900100")
    async with Store.open(database_url) as store:
        await store.upgrade()

        first = await store.save_funding_payments([long_leg, short_leg], position_id="pos-1")
        again = await store.save_funding_payments([short_leg, long_leg], position_id="pos-1")
        later = await store.save_funding_payments([payment("0.5", "-3.1", at=T0 + 8 * H)])
        loaded = await store.load_funding_payments(position_id="pos-1")
        async with store.engine.connect() as connection:
            sides = (
                (
                    await connection.execute(
                        select(funding_payments.c.position_side).order_by(funding_payments.c.id)
                    )
                )
                .scalars()
                .all()
            )
        stored = await count(store, funding_payments)

    assert (first, again, later, stored) == (2, 0, 1, 3)
    assert loaded == [long_leg, short_leg]  # exact, ordered by time then side
    assert sides == ["long", "short", "long"]


async def test_a_payment_needs_a_position(database_url: str) -> None:
    async with Store.open(database_url) as store:
        await store.upgrade()

        with pytest.raises(ValueError, match="quantity 0 has no side"):
            await store.save_funding_payments([payment("0", "0")])
