"""Fills and incidents on the real store: a fill lands once; an unresolved residual keeps the
kill switch on across restarts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from fundarb.execution import AtomicMultiOrderExecutor, Incident, IncidentKind, IncidentLeg
from fundarb.storage import Store
from fundarb.storage.tables import fills
from tests.conftest import BOOK, BTC, static_venue

pytestmark = pytest.mark.looptime(False)  # real sockets and files: real time


async def test_a_fill_saved_twice_lands_once(database_url: str) -> None:
    venue = static_venue()
    venue.set_book(BTC, **BOOK)
    await venue.place_market_order(BTC, D("1.5"), "buy")  # two fills
    venue_fills = await venue.get_fills()
    async with Store.open(database_url) as store:
        await store.upgrade()

        first = await store.save_fills(venue_fills, execution_id="x")
        again = await store.save_fills(venue_fills, execution_id="x")
        async with store.engine.connect() as connection:
            stored = (await connection.execute(select(func.count()).select_from(fills))).scalar()
            prices = (
                (await connection.execute(select(fills.c.price).order_by(fills.c.price)))
                .scalars()
                .all()
            )

    assert (first, again, stored) == (2, 0, 2)
    assert prices == [D("50000.0"), D("50000.1")]


def _residual() -> Incident:
    return Incident(
        incident_id="inc-abc-1",
        kind=IncidentKind.RESIDUAL,
        execution_id="abc",
        time=datetime(2024, 8, 8, 12, 0, tzinfo=UTC),
        legs=(IncidentLeg("a", BTC, D("0.5"), D("50000.0")), IncidentLeg("b", BTC, D("0"), None)),
        cost_usd=D("0"),
        actions=("hedge b BTC-PERP sell 0.5", "close a BTC-PERP sell 0.5"),
    )


async def test_an_unresolved_residual_keeps_the_kill_switch_on_after_a_restart(
    database_url: str,
) -> None:
    async with Store.open(database_url) as store:
        await store.upgrade()
        before = AtomicMultiOrderExecutor(incident_store=store)
        before.incident_log.incidents.append(_residual())
        await before.persist_incidents()

        restarted = AtomicMultiOrderExecutor(incident_store=store)
        restored = await restarted.restore_incidents()
        armed = restarted.kill_switch_active
        restarted.resolve_incident("inc-abc-1", "closed by hand")
        await restarted.persist_incidents()
        again = AtomicMultiOrderExecutor(incident_store=store)
        await again.restore_incidents()
        (saved,) = await store.load_incidents()

    assert restored == 1
    assert armed
    assert not again.kill_switch_active
    assert saved == restarted.incidents[0]  # exact, legs and actions included
    assert saved.resolution == "closed by hand"
