"""lots and documents

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 17:33:37.785253
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_documents_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
    )
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.create_index("ix_documents_org_id", ["organization_id", "id"], unique=False)

    op.create_table(
        "lots",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("family", sa.String(length=24), nullable=False),
        sa.Column("polymer", sa.String(length=24), nullable=True),
        sa.Column("form", sa.String(length=32), nullable=True),
        sa.Column("color", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=24), nullable=True),
        sa.Column("dql", sa.Integer(), nullable=False),
        sa.Column("quality_scheme", sa.String(length=40), nullable=False),
        sa.Column("claimed_dql", sa.Integer(), nullable=True),
        sa.Column("mfr_g_10min", sa.Float(), nullable=True),
        sa.Column("mfr_temperature_c", sa.Float(), nullable=True),
        sa.Column("mfr_load_kg", sa.Float(), nullable=True),
        sa.Column("density_g_cm3", sa.Float(), nullable=True),
        sa.Column("ash_pct", sa.Float(), nullable=True),
        sa.Column("moisture_pct", sa.Float(), nullable=True),
        sa.Column("quantity_kg", sa.Float(), nullable=False),
        sa.Column("available_kg", sa.Float(), nullable=False),
        sa.Column("quantity_unit", sa.String(length=8), nullable=False),
        sa.Column("supply_type", sa.String(length=12), nullable=False),
        sa.Column(
            "recurrence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("postcode", sa.String(length=16), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("region_code", sa.String(length=8), nullable=True),
        sa.Column("location_approximate", sa.Boolean(), nullable=False),
        sa.Column("waste_code", sa.String(length=12), nullable=True),
        sa.Column("waste_hazardous", sa.Boolean(), nullable=True),
        sa.Column("basel_code", sa.String(length=12), nullable=True),
        sa.Column("hs_code", sa.String(length=12), nullable=True),
        sa.Column("end_of_waste_status", sa.String(length=16), nullable=True),
        sa.Column("end_of_waste_regulation", sa.String(length=32), nullable=True),
        sa.Column("price_per_t_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("price_floor_per_t_minor", sa.BigInteger(), nullable=True),
        sa.Column("internal_notes", sa.Text(), nullable=True),
        sa.Column("certifications", sa.JSON(), nullable=False),
        sa.Column(
            "grade",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "assessment",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_from", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_lots_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lots")),
    )
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.create_index("ix_lots_org_id", ["organization_id", "id"], unique=False)
        batch_op.create_index(
            "ix_lots_status_available_id", ["status", "available_kg", "id"], unique=False
        )
        batch_op.create_index(
            "ix_lots_status_country_region_id",
            ["status", "country", "region_code", "id"],
            unique=False,
        )
        batch_op.create_index("ix_lots_status_dql_id", ["status", "dql", "id"], unique=False)
        batch_op.create_index(
            "ix_lots_status_family_polymer_id", ["status", "family", "polymer", "id"], unique=False
        )
        batch_op.create_index("ix_lots_status_id", ["status", "id"], unique=False)
        batch_op.create_index("ix_lots_updated_at_id", ["updated_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.drop_index("ix_lots_updated_at_id")
        batch_op.drop_index("ix_lots_status_id")
        batch_op.drop_index("ix_lots_status_family_polymer_id")
        batch_op.drop_index("ix_lots_status_dql_id")
        batch_op.drop_index("ix_lots_status_country_region_id")
        batch_op.drop_index("ix_lots_status_available_id")
        batch_op.drop_index("ix_lots_org_id")

    op.drop_table("lots")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index("ix_documents_org_id")

    op.drop_table("documents")
