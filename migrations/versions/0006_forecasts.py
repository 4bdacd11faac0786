"""forecasts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 18:05:07.813255
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=80), nullable=True),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )
    op.create_table(
        "forecast_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("freq", sa.String(length=1), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("keys", sa.JSON(), nullable=False),
        sa.Column("method", sa.String(length=100), nullable=False),
        sa.Column("series_count", sa.Integer(), nullable=False),
        sa.Column("training_start", sa.Date(), nullable=False),
        sa.Column("training_end", sa.Date(), nullable=False),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_runs")),
        sa.UniqueConstraint("version", name=op.f("uq_forecast_runs_version")),
    )
    with op.batch_alter_table("forecast_runs", schema=None) as batch_op:
        batch_op.create_index("ix_forecast_runs_freq_created", ["freq", "created_at"], unique=False)

    op.create_table(
        "supply_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quantity_kg", sa.Float(), nullable=False),
        sa.Column("family", sa.String(length=24), nullable=True),
        sa.Column("polymer", sa.String(length=32), nullable=True),
        sa.Column("form", sa.String(length=32), nullable=True),
        sa.Column("dql_band", sa.String(length=8), nullable=True),
        sa.Column("region", sa.String(length=8), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supply_history")),
    )
    with op.batch_alter_table("supply_history", schema=None) as batch_op:
        batch_op.create_index("ix_supply_history_occurred_at", ["occurred_at"], unique=False)

    op.create_table(
        "forecast_values",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("series_key", sa.String(length=200), nullable=False),
        sa.Column("family", sa.String(length=24), nullable=True),
        sa.Column("polymer", sa.String(length=32), nullable=True),
        sa.Column("form", sa.String(length=32), nullable=True),
        sa.Column("dql_band", sa.String(length=8), nullable=True),
        sa.Column("region", sa.String(length=8), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("mean", sa.Float(), nullable=False),
        sa.Column("p10", sa.Float(), nullable=False),
        sa.Column("p50", sa.Float(), nullable=False),
        sa.Column("p90", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["forecast_runs.id"],
            name=op.f("fk_forecast_values_run_id_forecast_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_values")),
    )
    with op.batch_alter_table("forecast_values", schema=None) as batch_op:
        batch_op.create_index(
            "ix_forecast_values_run_series", ["run_id", "series_key", "period_start"], unique=True
        )
        batch_op.create_index(
            "ix_forecast_values_series_filter",
            [
                "run_id",
                "period_start",
                "series_key",
                "family",
                "polymer",
                "dql_band",
                "region",
                "form",
            ],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("job_leases")
    with op.batch_alter_table("forecast_values", schema=None) as batch_op:
        batch_op.drop_index("ix_forecast_values_series_filter")
        batch_op.drop_index("ix_forecast_values_run_series")

    op.drop_table("forecast_values")
    with op.batch_alter_table("supply_history", schema=None) as batch_op:
        batch_op.drop_index("ix_supply_history_occurred_at")

    op.drop_table("supply_history")
    with op.batch_alter_table("forecast_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_forecast_runs_freq_created")

    op.drop_table("forecast_runs")
