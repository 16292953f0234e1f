"""motion search: one row per camera and second with motion; events by time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "motion_seconds",
        sa.Column("camera", sa.String(128), primary_key=True),
        sa.Column("second", sa.BigInteger(), primary_key=True),
        sa.Column("cells", sa.SmallInteger(), nullable=False),
        sa.Column("grid", sa.LargeBinary(18), nullable=False),
    )
    # every camera's events newest first (the admin's events list) without a sort
    op.create_index("ix_events_start", "events", ["start_us", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_start", table_name="events")
    op.drop_table("motion_seconds")
