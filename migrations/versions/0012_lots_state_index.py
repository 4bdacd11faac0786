"""lots: a covering index for a lot's current state (id -> status, available quantity)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 01:00:00

Every match ends by re-reading the status and available quantity of its final top lots by id
(``app.matching.search.current_state``: a lot withdrawn or reserved a moment ago is never
offered). By primary key that is one random read of a wide row per lot; this index answers
it from the index alone (PostgreSQL: an index-only scan; SQLite: a covering index, named in
the statement). Measured for 50 random lots at 1M (benchmarks/matching/micro.py): SQLite
2.6 -> 0.4 ms p50; PostgreSQL 1.9 -> 0.9 ms while the table's pages were not cached, no
difference once they were (benchmarks/matching/README.md).

On PostgreSQL the index is built CONCURRENTLY (outside a transaction), so writes to lots are
not blocked while it builds.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_lots_id_state"
COLUMNS = ["id", "status", "available_kg"]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(NAME, "lots", COLUMNS, postgresql_concurrently=True)
    else:
        op.create_index(NAME, "lots", COLUMNS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(NAME, table_name="lots", postgresql_concurrently=True)
    else:
        op.drop_index(NAME, table_name="lots")
