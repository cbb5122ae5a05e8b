"""Executions, legs, orders, fills, incidents and the journal.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fundarb.storage.types import ExactDecimal, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "executions",
        sa.Column("execution_id", sa.String(64), primary_key=True),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("strategy_name", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("venue", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("filled", sa.Boolean, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("slippage_pct", ExactDecimal()),
        sa.Column("rollback_cost_usd", ExactDecimal()),
        sa.Column("leg_skew_ms", ExactDecimal()),
        sa.Column("record", sa.Text, nullable=False),
    )
    op.create_index("ix_executions_time", "executions", ["time"])
    op.create_index("ix_executions_strategy_name", "executions", ["strategy_name"])
    op.create_table(
        "execution_legs",
        sa.Column(
            "execution_id",
            sa.String(64),
            sa.ForeignKey("executions.execution_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("leg", sa.Integer, primary_key=True),
        sa.Column("venue", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("quantity_asked", ExactDecimal(), nullable=False),
        sa.Column("quantity_filled", ExactDecimal(), nullable=False),
        sa.Column("fill_vwap", ExactDecimal()),
        sa.Column("fees", ExactDecimal(), nullable=False),
        sa.Column("slippage_bps", ExactDecimal()),
    )
    op.create_table(
        "orders",
        sa.Column("venue", sa.String(64), primary_key=True),
        sa.Column("client_order_id", sa.String(64), primary_key=True),
        sa.Column("execution_id", sa.String(64), nullable=False),
        sa.Column("leg", sa.Integer, nullable=False),
        sa.Column("order_id", sa.String(128)),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("price", ExactDecimal()),
        sa.Column("reduce_only", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("filled", ExactDecimal(), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_orders_execution_id", "orders", ["execution_id"])
    op.create_table(
        "fills",
        sa.Column("venue", sa.String(64), primary_key=True),
        sa.Column("trade_id", sa.String(128), primary_key=True),
        sa.Column("execution_id", sa.String(64)),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(128), nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("price", ExactDecimal(), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("fee", ExactDecimal(), nullable=False),
        sa.Column("liquidity", sa.String(8), nullable=False),
        sa.Column("time", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_fills_execution_id", "fills", ["execution_id"])
    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.String(96), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("execution_id", sa.String(64), nullable=False),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("cost_usd", ExactDecimal(), nullable=False),
        sa.Column("resolved", sa.Boolean, nullable=False),
        sa.Column("resolution", sa.Text, nullable=False),
        sa.Column("legs", sa.Text, nullable=False),
        sa.Column("actions", sa.Text, nullable=False),
    )
    op.create_index("ix_incidents_execution_id", "incidents", ["execution_id"])
    op.create_table(
        "journal",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("execution_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("leg", sa.Integer),
        sa.Column("venue", sa.String(64)),
        sa.Column("symbol", sa.String(64)),
        sa.Column("client_order_id", sa.String(64)),
        sa.Column("order_id", sa.String(128)),
        sa.Column("side", sa.String(4)),
        sa.Column("quantity", ExactDecimal()),
        sa.Column("price", ExactDecimal()),
        sa.Column("reduce_only", sa.Boolean),
        sa.Column("detail", sa.Text, nullable=False),
        sa.UniqueConstraint("execution_id", "seq", name="uq_journal_execution_seq"),
    )
    op.create_index("ix_journal_execution", "journal", ["execution_id", "seq"])


def downgrade() -> None:
    for index, table in (
        ("ix_journal_execution", "journal"),
        ("ix_incidents_execution_id", "incidents"),
        ("ix_fills_execution_id", "fills"),
        ("ix_orders_execution_id", "orders"),
        ("ix_executions_strategy_name", "executions"),
        ("ix_executions_time", "executions"),
    ):
        op.drop_index(index, table_name=table)
    for table in ("journal", "incidents", "fills", "orders", "execution_legs", "executions"):
        op.drop_table(table)
