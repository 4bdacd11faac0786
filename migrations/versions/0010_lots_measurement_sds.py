"""lots: standard deviations of the denormalised measurements, filled for existing rows

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 09:00:00

``mfr_sd``, ``density_sd``, ``ash_sd``, ``moisture_sd`` (canonical units, as matching computes
them: the measurement's sd, or the lot's coefficient of variation x the value). The matching
snapshot bounds a window's score with them; without them a lot with a large sd got the bound
of sd = 0, and a new spec had to score hundreds of such lots exactly (benchmarks/matching).
Existing rows are filled in batches by the application's own derivation
(``app.lots.service.derive_sds`` of ``app.matching.facts.measurements_of``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.kit.migrations import json_value, keyset_batches
from app.lots.service import SD_COLUMNS, derive_sds
from app.matching.facts import measurements_of

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000
COLUMNS = [c for c, _ in SD_COLUMNS]


def upgrade() -> None:
    with op.batch_alter_table("lots", schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.add_column(sa.Column(column, sa.Float(), nullable=True))
    fill_sds(op.get_bind())


def fill_sds(conn: sa.Connection) -> int:
    """Derive the columns for every lot that has a denormalised measurement."""
    lots = sa.table(
        "lots",
        *[sa.column(c) for c in ("id", "grade", "assessment", *COLUMNS)],
        *[sa.column(c) for c in ("mfr_g_10min", "density_g_cm3", "ash_pct", "moisture_pct")],
    )
    any_value = sa.or_(
        lots.c.mfr_g_10min.is_not(None),
        lots.c.density_g_cm3.is_not(None),
        lots.c.ash_pct.is_not(None),
        lots.c.moisture_pct.is_not(None),
    )
    done = 0
    stmt = sa.select(lots.c.id, lots.c.grade, lots.c.assessment).where(any_value)
    for rows in keyset_batches(conn, stmt, lots.c.id, BATCH):
        params = []
        for r in rows:
            attrs = json_value(r.grade).get("attributes") or {}
            valid = json_value(r.assessment).get("valid_fields") or ()
            sds = derive_sds(measurements_of(attrs, valid))
            if any(v is not None for v in sds.values()):
                params.append({"lot_id": r.id, **{f"v_{k}": v for k, v in sds.items()}})
        if params:
            conn.execute(
                sa.update(lots)
                .where(lots.c.id == sa.bindparam("lot_id"))
                .values({c: sa.bindparam(f"v_{c}") for c in COLUMNS}),
                params,
            )
        done += len(params)
    return done


def downgrade() -> None:
    with op.batch_alter_table("lots", schema=None) as batch_op:
        for column in reversed(COLUMNS):
            batch_op.drop_column(column)
