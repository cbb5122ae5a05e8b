"""Funding samples (rates per venue, symbol and funding time) and funding payments.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fundarb.storage.types import ExactDecimal, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "funding_samples",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("venue", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("venue_symbol", sa.String(64), nullable=False),
        sa.Column("funding_time", UTCDateTime(), nullable=False),
        sa.Column("collected_at", UTCDateTime(), nullable=False),
        sa.Column("rate", ExactDecimal(), nullable=False),
        sa.Column("interval_seconds", sa.Integer, nullable=False),
        sa.Column("rate_per_hour", ExactDecimal(), nullable=False),
        sa.Column("apr", ExactDecimal(), nullable=False),
        sa.Column("multiplier", ExactDecimal(), nullable=False),
        sa.Column("predicted_rate", ExactDecimal()),
        sa.Column("mark_price", ExactDecimal()),
        sa.Column("index_price", ExactDecimal()),
        sa.Column("open_interest_usd", ExactDecimal()),
        sa.Column("volume_24h_usd", ExactDecimal()),
        sa.Column("source", sa.String(64), nullable=False),
        sa.UniqueConstraint(
            "venue", "symbol", "funding_time", name="uq_funding_samples_venue_symbol_time"
        ),
    )
    op.create_index(
        "ix_funding_samples_symbol_venue_time",
        "funding_samples",
        ["symbol", "venue", "funding_time"],
    )
    op.create_table(
        "funding_payments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("venue", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("funding_time", UTCDateTime(), nullable=False),
        sa.Column("position_side", sa.String(5), nullable=False),
        sa.Column("rate", ExactDecimal(), nullable=False),
        sa.Column("position_quantity", ExactDecimal(), nullable=False),
        sa.Column("mark_price", ExactDecimal(), nullable=False),
        sa.Column("amount", ExactDecimal(), nullable=False),
        sa.Column("position_id", sa.String(64)),
        sa.Column("execution_id", sa.String(64)),
        sa.UniqueConstraint(
            "venue",
            "symbol",
            "funding_time",
            "position_side",
            name="uq_funding_payments_venue_symbol_time_side",
        ),
    )
    op.create_index("ix_funding_payments_position_id", "funding_payments", ["position_id"])
    op.create_index("ix_funding_payments_execution_id", "funding_payments", ["execution_id"])


def downgrade() -> None:
    for index, table in (
        ("ix_funding_payments_execution_id", "funding_payments"),
        ("ix_funding_payments_position_id", "funding_payments"),
        ("ix_funding_samples_symbol_venue_time", "funding_samples"),
    ):
        op.drop_index(index, table_name=table)
    for table in ("funding_payments", "funding_samples"):
        op.drop_table(table)
