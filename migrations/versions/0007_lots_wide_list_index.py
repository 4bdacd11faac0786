"""lots: wide keyset index for filtered newest-first lists

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 18:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [
    "status",
    "id",
    "family",
    "polymer",
    "dql",
    "country",
    "region_code",
    "supply_type",
    "form",
    "color",
]


def upgrade() -> None:
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.drop_index("ix_lots_status_id")
        batch_op.create_index("ix_lots_status_id_filters", COLUMNS, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.drop_index("ix_lots_status_id_filters")
        batch_op.create_index("ix_lots_status_id", ["status", "id"], unique=False)
