"""lots: compact match facts (canonical measurements, food contact, REACH), filled for all rows

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 10:00:00

A match used to read each candidate's whole grade and assessment (JSON of several kB, often
on overflow or TOAST pages) and normalise its units again: about 100 us per lot not yet in
the worker's cache, most of a new spec's time at 1M lots. ``match_facts`` holds the result
(``app.matching.facts.encode_match_facts``, the application's own encoding); existing rows
are filled in batches.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.kit.migrations import json_value, keyset_batches
from app.matching.facts import encode_match_facts, grade_facts

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000


def upgrade() -> None:
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("match_facts", sa.Text(), nullable=True))
    fill_match_facts(op.get_bind())


def fill_match_facts(conn: sa.Connection) -> int:
    lots = sa.table(
        "lots",
        sa.column("id"),
        sa.column("grade"),
        sa.column("assessment"),
        sa.column("match_facts"),
    )
    done = 0
    stmt = sa.select(lots.c.id, lots.c.grade, lots.c.assessment)
    for rows in keyset_batches(conn, stmt, lots.c.id, BATCH):
        params = [
            {
                "lot_id": r.id,
                "facts": encode_match_facts(
                    *grade_facts(
                        json_value(r.grade).get("attributes") or {},
                        json_value(r.assessment).get("valid_fields") or (),
                    )
                ),
            }
            for r in rows
        ]
        conn.execute(
            sa.update(lots)
            .where(lots.c.id == sa.bindparam("lot_id"))
            .values(match_facts=sa.bindparam("facts")),
            params,
        )
        done += len(params)
    return done


def downgrade() -> None:
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.drop_column("match_facts")
