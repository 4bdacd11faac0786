"""rate_limit_counters: requests reserved per credential and window by the API workers

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 09:00:00

Rate limits per credential (app/kit/ratelimit.py): the workers share one budget per window
through this table; each row counts the requests they have reserved so far.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_counters",
        sa.Column("credential_id", sa.String(length=40), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("credential_id", "window_start", name="pk_rate_limit_counters"),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_counters")
