"""The execution scheduler's queue and the algorithms' checkpoints.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fundarb.storage.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_executions",
        sa.Column("schedule_id", sa.String(64), primary_key=True),
        sa.Column("idempotency_key", sa.String(128), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("run_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_at", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("result", sa.Text),
        sa.Column("error", sa.Text),
    )
    op.create_index(
        "ix_scheduled_executions_state_run_at", "scheduled_executions", ["state", "run_at"]
    )
    op.create_table(
        "algo_checkpoints",
        sa.Column("algo_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("algo_checkpoints")
    op.drop_index("ix_scheduled_executions_state_run_at", table_name="scheduled_executions")
    op.drop_table("scheduled_executions")
