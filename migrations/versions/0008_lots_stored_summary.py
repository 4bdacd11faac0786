"""lots: stored list-item JSON (summary), filled for existing rows

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 20:30:00

The rendering is the application's own (``app.lots.summary.render_static_row``): a list item
must look exactly like the ones the application writes. Existing rows are filled in batches.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.kit.migrations import keyset_batches
from app.lots.summary import SOURCE_COLUMNS, render_static_row

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000


def upgrade() -> None:
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("summary", sa.Text(), server_default="", nullable=False))
    fill_summaries(op.get_bind())


def fill_summaries(conn: sa.Connection) -> int:
    lots = sa.table("lots", *[sa.column(c) for c in SOURCE_COLUMNS], sa.column("summary"))
    done = 0
    stmt = sa.select(*[lots.c[c] for c in SOURCE_COLUMNS])
    for rows in keyset_batches(conn, stmt, lots.c.id, BATCH):
        conn.execute(
            sa.update(lots)
            .where(lots.c.id == sa.bindparam("lot_id"))
            .values(summary=sa.bindparam("rendered")),
            [{"lot_id": r.id, "rendered": render_static_row(r._mapping)} for r in rows],
        )
        done += len(rows)
    return done


def downgrade() -> None:
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.drop_column("summary")
