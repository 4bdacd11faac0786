"""forecast_values.point: the point forecast scored by the RMSSE

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 12:00:00

The default model's point forecast (forecasting/point.py: the value that minimises the
expected RMSSE under the model's own predictive distribution) next to the mean. Nullable:
runs trained before this revision have none, and the API answers null for them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("forecast_values") as batch:
        batch.add_column(sa.Column("point", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("forecast_values") as batch:
        batch.drop_column("point")
