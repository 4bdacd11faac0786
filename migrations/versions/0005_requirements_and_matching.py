"""requirements and matching

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 17:50:10.522045
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "requirements",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("family", sa.String(length=24), nullable=False),
        sa.Column("saved_search", sa.Boolean(), nullable=False),
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_requirements_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requirements")),
    )
    with op.batch_alter_table("requirements", schema=None) as batch_op:
        batch_op.create_index("ix_requirements_org_id", ["organization_id", "id"], unique=False)
        batch_op.create_index(
            "ix_requirements_saved_family", ["saved_search", "status", "family"], unique=False
        )
        batch_op.create_index(
            "ix_requirements_status_family_id", ["status", "family", "id"], unique=False
        )

    op.create_table(
        "requirement_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("requirement_id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("lot_id", sa.String(length=40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["lots.id"],
            name=op.f("fk_requirement_events_lot_id_lots"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_requirement_events_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["requirement_id"],
            ["requirements.id"],
            name=op.f("fk_requirement_events_requirement_id_requirements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requirement_events")),
    )
    with op.batch_alter_table("requirement_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_requirement_events_requirement_id", ["requirement_id", "id"], unique=False
        )

    op.create_table(
        "requirement_hits",
        sa.Column("requirement_id", sa.String(length=40), nullable=False),
        sa.Column("lot_id", sa.String(length=40), nullable=False),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["lots.id"],
            name=op.f("fk_requirement_hits_lot_id_lots"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requirement_id"],
            ["requirements.id"],
            name=op.f("fk_requirement_hits_requirement_id_requirements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("requirement_id", "lot_id", name=op.f("pk_requirement_hits")),
    )


def downgrade() -> None:
    op.drop_table("requirement_hits")
    with op.batch_alter_table("requirement_events", schema=None) as batch_op:
        batch_op.drop_index("ix_requirement_events_requirement_id")

    op.drop_table("requirement_events")
    with op.batch_alter_table("requirements", schema=None) as batch_op:
        batch_op.drop_index("ix_requirements_status_family_id")
        batch_op.drop_index("ix_requirements_saved_family")
        batch_op.drop_index("ix_requirements_org_id")

    op.drop_table("requirements")
