"""Funding samples and funding payments in the database.

**Samples** are unique per (venue, canonical symbol, funding time). Which write wins:

- A *settled* row — one collected at or after its funding time (every history print; a
  live sample taken once the period had settled) — is immutable: saving it again, from a
  CSV import or the collector, changes nothing.
- A *live* row — collected before its funding time, the venue's current estimate for the
  upcoming settlement — is replaced by a later sample for the same key (newer
  ``collected_at``), all fields taken from the newer sample. So the collector keeps one row
  per upcoming funding time holding its latest values, and a settled print of that time
  replaces the last estimate.

``rate`` is stored exactly and is the truth; ``rate_per_hour`` and ``apr`` are stored too
(rounded half-even to 18 decimal places, the precision of PostgreSQL's column) for queries
and reports. Samples read back are rebuilt from ``rate`` and the interval, so their
normalised values are exact again.

**Payments** are unique per (venue, symbol, funding time, position side): the same payment
reported twice lands once; a long and a short paid at the same instant are two rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fundarb.funding.rates import FundingSample
from fundarb.storage.tables import funding_payments, funding_samples
from fundarb.venues.accounts import FundingPayment

if TYPE_CHECKING:
    from fundarb.storage.store import Store

__all__ = [
    "MAX_PLACES",
    "latest_samples",
    "load_funding_payments",
    "load_samples",
    "position_side",
    "save_funding_payments",
    "save_samples",
]

MAX_PLACES = 18  # decimal places a stored value keeps on every database (NUMERIC(38, 18))
_QUANTUM = Decimal(1).scaleb(-MAX_PLACES)

_Key = tuple[str, str, datetime]


def position_side(quantity: Decimal) -> str:
    """``"long"`` for a positive signed quantity, ``"short"`` for a negative one.

    Raises :class:`ValueError` for zero: no position, no funding payment.
    """
    if quantity > 0:
        return "long"
    if quantity < 0:
        return "short"
    raise ValueError("a funding payment is on a position: quantity 0 has no side")


# -- samples ----------------------------------------------------------------------------------


async def save_samples(
    store: Store, samples: Sequence[FundingSample], *, source: str = "collector"
) -> int:
    """Store ``samples`` (one transaction); returns how many rows were new.

    ``source`` says where they came from (``"collector"``, ``"csv:binance"``). A sample whose
    key is already stored as a live row replaces it when newer; one whose key is settled is
    ignored (see the module docstring). Raises :class:`ValueError` for a value the database
    would round (more than 18 decimal places) or a naive time.
    """
    if not samples:
        return 0
    latest: dict[_Key, dict[str, Any]] = {}
    for sample in samples:
        row = _sample_row(sample, source)
        key = (row["venue"], row["symbol"], row["funding_time"])
        held = latest.get(key)
        if held is None or row["collected_at"] > held["collected_at"]:
            latest[key] = row
    dialect = postgresql if store.dialect == "postgresql" else sqlite
    async with store.engine.begin() as connection:
        stored = await _stored_keys(connection, latest)
        fresh = [row for key, row in latest.items() if key not in stored]
        newer = [
            row
            for key, row in latest.items()
            if key in stored and _is_live(*stored[key]) and row["collected_at"] > stored[key][0]
        ]
        inserted = 0
        if fresh:
            statement = (
                dialect.insert(funding_samples)
                .on_conflict_do_nothing(index_elements=["venue", "symbol", "funding_time"])
                .returning(funding_samples.c.id)  # only the rows really inserted come back
            )
            inserted = len((await connection.execute(statement, fresh)).all())
        for row in newer:
            table = funding_samples.c
            await connection.execute(
                update(funding_samples)
                .where(
                    table.venue == row["venue"],
                    table.symbol == row["symbol"],
                    table.funding_time == row["funding_time"],
                    table.collected_at < table.funding_time,  # still live: not settled meanwhile
                    table.collected_at < row["collected_at"],
                )
                .values(row)
            )
    return inserted


async def load_samples(
    store: Store,
    *,
    symbol: str | None = None,
    venue: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> list[FundingSample]:
    """Samples with ``since <= funding_time <= until``, oldest first.

    ``symbol`` is canonical (``BTC``). With ``limit``, the newest ``limit`` of them (still
    returned oldest first).
    """
    table = funding_samples.c
    query = select(funding_samples)
    if symbol is not None:
        query = query.where(table.symbol == symbol)
    if venue is not None:
        query = query.where(table.venue == venue)
    if since is not None:
        query = query.where(table.funding_time >= _utc(since, "since"))
    if until is not None:
        query = query.where(table.funding_time <= _utc(until, "until"))
    if limit is not None:
        if limit < 0:
            raise ValueError(f"limit is a count of samples, at least 0, got {limit}")
        query = query.order_by(table.funding_time.desc(), table.venue, table.symbol).limit(limit)
    else:
        query = query.order_by(table.funding_time, table.venue, table.symbol)
    async with store.engine.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()
    loaded = [_sample(row) for row in rows]
    return loaded[::-1] if limit is not None else loaded


async def latest_samples(store: Store) -> list[FundingSample]:
    """The sample with the latest funding time of each (venue, symbol), by symbol then venue."""
    newest = (
        select(
            funding_samples.c.venue,
            funding_samples.c.symbol,
            func.max(funding_samples.c.funding_time).label("funding_time"),
        )
        .group_by(funding_samples.c.venue, funding_samples.c.symbol)
        .subquery()
    )
    query = (
        select(funding_samples)
        .join(
            newest,
            and_(
                funding_samples.c.venue == newest.c.venue,
                funding_samples.c.symbol == newest.c.symbol,
                funding_samples.c.funding_time == newest.c.funding_time,
            ),
        )
        .order_by(funding_samples.c.symbol, funding_samples.c.venue)
    )
    async with store.engine.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()
    return [_sample(row) for row in rows]


async def _stored_keys(
    connection: AsyncConnection, rows: dict[_Key, dict[str, Any]]
) -> dict[_Key, tuple[datetime, datetime]]:
    """(collected_at, funding_time) of the keys of ``rows`` already stored."""
    spans: dict[tuple[str, str], tuple[datetime, datetime]] = {}
    for venue, symbol, when in rows:
        low, high = spans.get((venue, symbol), (when, when))
        spans[venue, symbol] = (min(low, when), max(high, when))
    table = funding_samples.c
    stored: dict[_Key, tuple[datetime, datetime]] = {}
    for (venue, symbol), (low, high) in spans.items():
        query = select(table.funding_time, table.collected_at).where(
            table.venue == venue, table.symbol == symbol, table.funding_time.between(low, high)
        )
        for funding_time, collected_at in (await connection.execute(query)).all():
            stored[venue, symbol, funding_time] = (collected_at, funding_time)
    return stored


def _is_live(collected_at: datetime, funding_time: datetime) -> bool:
    return collected_at < funding_time


def _sample_row(sample: FundingSample, source: str) -> dict[str, Any]:
    where = f"{sample.venue} {sample.symbol} at {sample.funding_time}"
    return {
        "venue": sample.venue,
        "symbol": sample.symbol,
        "venue_symbol": sample.venue_symbol,
        "funding_time": _utc(sample.funding_time, f"funding_time of {where}"),
        "collected_at": _utc(sample.collected_at, f"collected_at of {where}"),
        "rate": _exact(sample.rate, "rate", where),
        "interval_seconds": int(sample.interval.total_seconds()),
        "rate_per_hour": sample.rate_per_hour.quantize(_QUANTUM, ROUND_HALF_EVEN),
        "apr": sample.apr.quantize(_QUANTUM, ROUND_HALF_EVEN),
        "multiplier": _exact(sample.multiplier, "multiplier", where),
        "predicted_rate": _exact(sample.predicted_rate, "predicted_rate", where),
        "mark_price": _exact(sample.mark_price, "mark_price", where),
        "index_price": _exact(sample.index_price, "index_price", where),
        "open_interest_usd": _exact(sample.open_interest_usd, "open_interest_usd", where),
        "volume_24h_usd": _exact(sample.volume_24h_usd, "volume_24h_usd", where),
        "source": source,
    }


def _sample(row: RowMapping) -> FundingSample:
    return FundingSample(
        venue=row["venue"],
        symbol=row["symbol"],
        venue_symbol=row["venue_symbol"],
        rate=row["rate"],
        interval=timedelta(seconds=row["interval_seconds"]),
        funding_time=row["funding_time"],
        collected_at=row["collected_at"],
        multiplier=row["multiplier"],
        predicted_rate=row["predicted_rate"],
        mark_price=row["mark_price"],
        index_price=row["index_price"],
        open_interest_usd=row["open_interest_usd"],
        volume_24h_usd=row["volume_24h_usd"],
    )


# -- payments ---------------------------------------------------------------------------------


async def save_funding_payments(
    store: Store,
    payments: Sequence[FundingPayment],
    *,
    position_id: str | None = None,
    execution_id: str | None = None,
) -> int:
    """Store ``payments`` (a payment already stored is skipped); returns how many were new.

    ``position_id`` / ``execution_id`` tie them to the strategy's position or execution.
    Raises :class:`ValueError` for a zero position quantity, a naive time or a value with
    more than 18 decimal places.
    """
    if not payments:
        return 0
    rows = []
    for p in payments:
        where = f"{p.venue} {p.symbol} at {p.funding_time}"
        rows.append(
            {
                "venue": p.venue,
                "symbol": p.symbol,
                "funding_time": _utc(p.funding_time, f"funding_time of {where}"),
                "position_side": position_side(p.position_quantity),
                "rate": _exact(p.rate, "rate", where),
                "position_quantity": _exact(p.position_quantity, "position_quantity", where),
                "mark_price": _exact(p.mark_price, "mark_price", where),
                "amount": _exact(p.amount, "amount", where),
                "position_id": position_id,
                "execution_id": execution_id,
            }
        )
    dialect = postgresql if store.dialect == "postgresql" else sqlite
    statement = (
        dialect.insert(funding_payments)
        .on_conflict_do_nothing(index_elements=["venue", "symbol", "funding_time", "position_side"])
        .returning(funding_payments.c.id)  # only the rows really inserted come back
    )
    async with store.engine.begin() as connection:
        inserted = (await connection.execute(statement, rows)).all()
    return len(inserted)


async def load_funding_payments(
    store: Store,
    *,
    venue: str | None = None,
    symbol: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    position_id: str | None = None,
    execution_id: str | None = None,
) -> list[FundingPayment]:
    """Payments with ``since <= funding_time <= until``, oldest first, exactly as saved."""
    table = funding_payments.c
    query = select(funding_payments).order_by(
        table.funding_time, table.venue, table.symbol, table.position_side
    )
    if venue is not None:
        query = query.where(table.venue == venue)
    if symbol is not None:
        query = query.where(table.symbol == symbol)
    if since is not None:
        query = query.where(table.funding_time >= _utc(since, "since"))
    if until is not None:
        query = query.where(table.funding_time <= _utc(until, "until"))
    if position_id is not None:
        query = query.where(table.position_id == position_id)
    if execution_id is not None:
        query = query.where(table.execution_id == execution_id)
    async with store.engine.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()
    return [
        FundingPayment(
            venue=row["venue"],
            symbol=row["symbol"],
            funding_time=row["funding_time"],
            rate=row["rate"],
            position_quantity=row["position_quantity"],
            mark_price=row["mark_price"],
            amount=row["amount"],
        )
        for row in rows
    ]


# -- values -----------------------------------------------------------------------------------


def _utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {moment}")
    return moment.astimezone(UTC)


def _exact(value: Decimal | None, field: str, where: str) -> Decimal | None:
    """``value`` if every database stores it exactly; NUMERIC(38, 18) would round the rest."""
    if value is None:
        return None
    if not value.is_finite():
        raise ValueError(f"{field} of {where} is not a finite number: {value}")
    if _places(value) > MAX_PLACES:
        raise ValueError(
            f"{field} of {where} has more than {MAX_PLACES} decimal places ({value}): "
            "the database would round it"
        )
    return value


def _places(value: Decimal) -> int:
    """Decimal places ``value`` needs (trailing zeros do not count): 0.00010000 needs 4."""
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # NaN or infinity: refused by the caller
        return 0
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + trailing)) if any(digits) else 0
