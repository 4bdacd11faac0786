"""lots: the wide list index also carries available quantity, MFR and density

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 21:00:00

Range filters on these columns (``min_available_kg``, the MFR and density windows) are then
tested on the index entry while walking the active lots newest first, on SQLite and on
PostgreSQL (an index condition on a non-leading column), instead of reading each wide row
(SQLite) or taking a range scan plus a sort over thousands of rows (PostgreSQL, 240 ms at 1M
lots for ``min_available_kg=20000``; benchmarks/README.md).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = [
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
AFTER = [*BEFORE, "available_kg", "mfr_g_10min", "density_g_cm3"]


def upgrade() -> None:
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.drop_index("ix_lots_status_id_filters")
        batch_op.create_index("ix_lots_status_id_filters", AFTER, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.drop_index("ix_lots_status_id_filters")
        batch_op.create_index("ix_lots_status_id_filters", BEFORE, unique=False)
