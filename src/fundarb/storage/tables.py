"""The schema. Changes go through a new migration in ``migrations/versions``, never here alone.

- ``executions`` / ``execution_legs``: what each execution did (the tracker's records).
- ``orders``: every order we sent, by client order id (unique per venue).
- ``fills``: every fill, unique per (venue, trade id): a fill reported twice lands once.
- ``incidents``: hedges, rollbacks and residual exposure.
- ``journal``: the write-ahead log of intents, acknowledgements, fills, cancels, outcomes.
- ``funding_samples``: funding rates per (venue, canonical symbol, funding time), raw and
  normalised (per hour, APR); a settled print is stored once and never changes.
- ``funding_payments``: funding settled on our positions, unique per (venue, symbol, funding
  time, position side): the two legs of a pair paid at the same instant are two rows.
- ``positions``: the strategy's pairs (state, legs, PnL split into funding, basis, fees and
  slippage); ``record`` holds the whole position as exact JSON.
- ``equity_points``: the strategy's PnL over time, one row per monitoring snapshot.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from fundarb.storage.types import ExactDecimal, UTCDateTime

__all__ = [
    "algo_checkpoints",
    "equity_points",
    "execution_legs",
    "executions",
    "fills",
    "funding_payments",
    "funding_samples",
    "incidents",
    "journal",
    "metadata",
    "orders",
    "positions",
    "scheduled_executions",
]

metadata = MetaData()

executions = Table(
    "executions",
    metadata,
    Column("execution_id", String(64), primary_key=True),
    Column("time", UTCDateTime(), nullable=False, index=True),
    Column("strategy_name", String(64), nullable=False, index=True),
    Column("symbol", String(64), nullable=False),
    Column("venue", String(64), nullable=False),
    Column("mode", String(32), nullable=False),
    Column("filled", Boolean, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("slippage_pct", ExactDecimal()),
    Column("rollback_cost_usd", ExactDecimal()),
    Column("leg_skew_ms", ExactDecimal()),
    Column("record", Text, nullable=False),  # the full record as exact JSON (Decimals as text)
)

execution_legs = Table(
    "execution_legs",
    metadata,
    Column(
        "execution_id",
        String(64),
        ForeignKey("executions.execution_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("leg", Integer, primary_key=True),
    Column("venue", String(64), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("side", String(4), nullable=False),
    Column("mode", String(32), nullable=False),
    Column("quantity_asked", ExactDecimal(), nullable=False),
    Column("quantity_filled", ExactDecimal(), nullable=False),
    Column("fill_vwap", ExactDecimal()),
    Column("fees", ExactDecimal(), nullable=False),
    Column("slippage_bps", ExactDecimal()),
)

orders = Table(
    "orders",
    metadata,
    Column("venue", String(64), primary_key=True),
    Column("client_order_id", String(64), primary_key=True),
    Column("execution_id", String(64), nullable=False, index=True),
    Column("leg", Integer, nullable=False),
    Column("order_id", String(128)),
    Column("symbol", String(64), nullable=False),
    Column("side", String(4), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("quantity", ExactDecimal(), nullable=False),
    Column("price", ExactDecimal()),
    Column("reduce_only", Boolean, nullable=False),
    Column("state", String(24), nullable=False),
    Column("filled", ExactDecimal(), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    Column("updated", UTCDateTime(), nullable=False),
)

fills = Table(
    "fills",
    metadata,
    Column("venue", String(64), primary_key=True),
    Column("trade_id", String(128), primary_key=True),
    Column("execution_id", String(64), index=True),
    Column("symbol", String(64), nullable=False),
    Column("order_id", String(128), nullable=False),
    Column("client_order_id", String(64), nullable=False),
    Column("side", String(4), nullable=False),
    Column("price", ExactDecimal(), nullable=False),
    Column("quantity", ExactDecimal(), nullable=False),
    Column("fee", ExactDecimal(), nullable=False),
    Column("liquidity", String(8), nullable=False),
    Column("time", UTCDateTime(), nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("incident_id", String(96), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("execution_id", String(64), nullable=False, index=True),
    Column("time", UTCDateTime(), nullable=False),
    Column("cost_usd", ExactDecimal(), nullable=False),
    Column("resolved", Boolean, nullable=False),
    Column("resolution", Text, nullable=False),
    Column("legs", Text, nullable=False),  # JSON: venue, symbol, quantity, price
    Column("actions", Text, nullable=False),  # JSON list
)

journal = Table(
    "journal",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("time", UTCDateTime(), nullable=False),
    Column("execution_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # intent | ack | fill | cancel | outcome | ...
    Column("leg", Integer),
    Column("venue", String(64)),
    Column("symbol", String(64)),
    Column("client_order_id", String(64)),
    Column("order_id", String(128)),
    Column("side", String(4)),
    Column("quantity", ExactDecimal()),
    Column("price", ExactDecimal()),
    Column("reduce_only", Boolean),
    Column("detail", Text, nullable=False, default=""),
    Index("ix_journal_execution", "execution_id", "seq"),
    UniqueConstraint("execution_id", "seq", name="uq_journal_execution_seq"),
)

funding_samples = Table(
    "funding_samples",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("venue", String(64), nullable=False),
    Column("symbol", String(64), nullable=False),  # canonical: BTC, PEPE
    Column("venue_symbol", String(64), nullable=False),
    Column("funding_time", UTCDateTime(), nullable=False),
    Column("collected_at", UTCDateTime(), nullable=False),
    Column("rate", ExactDecimal(), nullable=False),  # raw, per interval; positive: longs pay
    Column("interval_seconds", Integer, nullable=False),
    Column("rate_per_hour", ExactDecimal(), nullable=False),  # derived, to 18 places
    Column("apr", ExactDecimal(), nullable=False),  # derived, to 18 places
    Column("multiplier", ExactDecimal(), nullable=False),
    Column("predicted_rate", ExactDecimal()),
    Column("mark_price", ExactDecimal()),
    Column("index_price", ExactDecimal()),
    Column("open_interest_usd", ExactDecimal()),
    Column("volume_24h_usd", ExactDecimal()),
    Column("source", String(64), nullable=False),  # collector | csv:<venue> | ...
    UniqueConstraint(
        "venue", "symbol", "funding_time", name="uq_funding_samples_venue_symbol_time"
    ),
    Index("ix_funding_samples_symbol_venue_time", "symbol", "venue", "funding_time"),
)

funding_payments = Table(
    "funding_payments",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("venue", String(64), nullable=False),
    Column("symbol", String(64), nullable=False),  # as the venue reported it
    Column("funding_time", UTCDateTime(), nullable=False),
    Column("position_side", String(5), nullable=False),  # long | short
    Column("rate", ExactDecimal(), nullable=False),
    Column("position_quantity", ExactDecimal(), nullable=False),  # signed: < 0 short
    Column("mark_price", ExactDecimal(), nullable=False),
    Column("amount", ExactDecimal(), nullable=False),  # > 0 received, < 0 paid
    Column("position_id", String(64), index=True),
    Column("execution_id", String(64), index=True),
    UniqueConstraint(
        "venue",
        "symbol",
        "funding_time",
        "position_side",
        name="uq_funding_payments_venue_symbol_time_side",
    ),
)

positions = Table(
    "positions",
    metadata,
    Column("position_id", String(64), primary_key=True),
    Column("strategy_name", String(64), nullable=False),
    Column("symbol", String(64), nullable=False, index=True),  # canonical: BTC
    Column("state", String(16), nullable=False, index=True),
    Column("long_venue", String(64), nullable=False),
    Column("long_symbol", String(64), nullable=False),
    Column("short_venue", String(64), nullable=False),
    Column("short_symbol", String(64), nullable=False),
    Column("quantity", ExactDecimal(), nullable=False),  # per leg, base units
    Column("notional_usd", ExactDecimal(), nullable=False),  # planned, per leg
    Column("created_at", UTCDateTime(), nullable=False),  # venue time
    Column("opened_at", UTCDateTime()),
    Column("closed_at", UTCDateTime()),
    Column("exit_reason", String(64)),
    Column("funding_usd", ExactDecimal(), nullable=False),  # received (> 0) or paid
    Column("basis_usd", ExactDecimal(), nullable=False),  # price PnL at the arrival mids
    Column("fees_usd", ExactDecimal(), nullable=False),  # cost (> 0)
    Column("slippage_usd", ExactDecimal(), nullable=False),  # cost against the arrival mid
    Column("pnl_usd", ExactDecimal(), nullable=False),  # funding + basis - fees - slippage
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("record", Text, nullable=False),
)

equity_points = Table(
    "equity_points",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("strategy_name", String(64), nullable=False),
    Column("time", UTCDateTime(), nullable=False),
    Column("funding_usd", ExactDecimal(), nullable=False),
    Column("basis_usd", ExactDecimal(), nullable=False),
    Column("fees_usd", ExactDecimal(), nullable=False),
    Column("slippage_usd", ExactDecimal(), nullable=False),
    Column("pnl_usd", ExactDecimal(), nullable=False),
    Column("equity_usd", ExactDecimal()),  # across the venues, when they report it
    Column("open_positions", Integer, nullable=False),
    Index("ix_equity_points_time", "strategy_name", "time"),
)

# -- the execution scheduler (migration 0004) ----------------------------------------------
# ``scheduled_executions``: executions queued for a time; ``state`` moves by compare-and-set
# (pending -> claimed before anything is sent -> done | failed; pending -> cancelled), and
# ``idempotency_key`` is unique: the same request queued twice is one row.
# ``algo_checkpoints``: what a running algorithm (a pair TWAP) needs to resume after a restart.

scheduled_executions = Table(
    "scheduled_executions",
    metadata,
    Column("schedule_id", String(64), primary_key=True),
    Column("idempotency_key", String(128), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("run_at", UTCDateTime(), nullable=False),
    Column("state", String(16), nullable=False),
    Column("payload", Text, nullable=False),  # JSON
    Column("created_at", UTCDateTime(), nullable=False),
    Column("claimed_at", UTCDateTime()),
    Column("finished_at", UTCDateTime()),
    Column("result", Text),  # JSON
    Column("error", Text),
    Index("ix_scheduled_executions_state_run_at", "state", "run_at"),
)

algo_checkpoints = Table(
    "algo_checkpoints",
    metadata,
    Column("algo_id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("data", Text, nullable=False),  # JSON, decimals as strings
    Column("updated_at", UTCDateTime(), nullable=False),
)
