"""The strategy's pair positions and its equity curve.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fundarb.storage.types import ExactDecimal, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "positions",
        sa.Column("position_id", sa.String(64), primary_key=True),
        sa.Column("strategy_name", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("long_venue", sa.String(64), nullable=False),
        sa.Column("long_symbol", sa.String(64), nullable=False),
        sa.Column("short_venue", sa.String(64), nullable=False),
        sa.Column("short_symbol", sa.String(64), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("notional_usd", ExactDecimal(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("opened_at", UTCDateTime()),
        sa.Column("closed_at", UTCDateTime()),
        sa.Column("exit_reason", sa.String(64)),
        sa.Column("funding_usd", ExactDecimal(), nullable=False),
        sa.Column("basis_usd", ExactDecimal(), nullable=False),
        sa.Column("fees_usd", ExactDecimal(), nullable=False),
        sa.Column("slippage_usd", ExactDecimal(), nullable=False),
        sa.Column("pnl_usd", ExactDecimal(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )
    op.create_index("ix_positions_state", "positions", ["state"])
    op.create_index("ix_positions_symbol", "positions", ["symbol"])
    op.create_table(
        "equity_points",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("strategy_name", sa.String(64), nullable=False),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("funding_usd", ExactDecimal(), nullable=False),
        sa.Column("basis_usd", ExactDecimal(), nullable=False),
        sa.Column("fees_usd", ExactDecimal(), nullable=False),
        sa.Column("slippage_usd", ExactDecimal(), nullable=False),
        sa.Column("pnl_usd", ExactDecimal(), nullable=False),
        sa.Column("equity_usd", ExactDecimal()),
        sa.Column("open_positions", sa.Integer, nullable=False),
    )
    op.create_index("ix_equity_points_time", "equity_points", ["strategy_name", "time"])


def downgrade() -> None:
    op.drop_index("ix_equity_points_time", table_name="equity_points")
    op.drop_table("equity_points")
    op.drop_index("ix_positions_symbol", table_name="positions")
    op.drop_index("ix_positions_state", table_name="positions")
    op.drop_table("positions")
