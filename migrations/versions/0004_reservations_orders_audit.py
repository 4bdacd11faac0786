"""reservations orders audit

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-22 17:46:49.073909
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.String(length=40), nullable=False),
        sa.Column("lot_id", sa.String(length=40), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("actor_org_id", sa.String(length=40), nullable=True),
        sa.Column("actor_credential_id", sa.String(length=40), nullable=True),
        sa.Column("seller_org_id", sa.String(length=40), nullable=True),
        sa.Column("buyer_org_id", sa.String(length=40), nullable=True),
        sa.Column(
            "before",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "after",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_events_entity", ["entity_type", "entity_id", "seq"], unique=False
        )
        batch_op.create_index("ix_audit_events_lot_id", ["lot_id", "seq"], unique=False)

    op.create_table(
        "reservations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("lot_id", sa.String(length=40), nullable=False),
        sa.Column("buyer_org_id", sa.String(length=40), nullable=False),
        sa.Column("seller_org_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("quantity_kg", sa.Float(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("price_per_t_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("is_offer", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["buyer_org_id"],
            ["organizations.id"],
            name=op.f("fk_reservations_buyer_org_id_organizations"),
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_reservations_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["seller_org_id"],
            ["organizations.id"],
            name=op.f("fk_reservations_seller_org_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.create_index("ix_reservations_buyer", ["buyer_org_id", "id"], unique=False)
        batch_op.create_index("ix_reservations_lot", ["lot_id", "id"], unique=False)
        batch_op.create_index("ix_reservations_seller", ["seller_org_id", "id"], unique=False)
        batch_op.create_index(
            "ix_reservations_status_expires", ["status", "expires_at"], unique=False
        )

    op.create_table(
        "orders",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("reservation_id", sa.String(length=40), nullable=False),
        sa.Column("lot_id", sa.String(length=40), nullable=False),
        sa.Column("buyer_org_id", sa.String(length=40), nullable=False),
        sa.Column("seller_org_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("quantity_kg", sa.Float(), nullable=False),
        sa.Column("shipped_kg", sa.Float(), nullable=True),
        sa.Column("delivered_kg", sa.Float(), nullable=True),
        sa.Column("price_per_t_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("delivery_index", sa.Integer(), nullable=False),
        sa.Column("delivery_due", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["buyer_org_id"],
            ["organizations.id"],
            name=op.f("fk_orders_buyer_org_id_organizations"),
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_orders_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_orders_reservation_id_reservations"),
        ),
        sa.ForeignKeyConstraint(
            ["seller_org_id"],
            ["organizations.id"],
            name=op.f("fk_orders_seller_org_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_buyer", ["buyer_org_id", "id"], unique=False)
        batch_op.create_index("ix_orders_lot", ["lot_id", "id"], unique=False)
        batch_op.create_index("ix_orders_seller", ["seller_org_id", "id"], unique=False)
        batch_op.create_index(
            "ix_orders_status_delivered_at", ["status", "delivered_at"], unique=False
        )

    _create_append_only_triggers()


def downgrade() -> None:
    _drop_append_only_triggers()
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_status_delivered_at")
        batch_op.drop_index("ix_orders_seller")
        batch_op.drop_index("ix_orders_lot")
        batch_op.drop_index("ix_orders_buyer")

    op.drop_table("orders")
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_index("ix_reservations_status_expires")
        batch_op.drop_index("ix_reservations_seller")
        batch_op.drop_index("ix_reservations_lot")
        batch_op.drop_index("ix_reservations_buyer")

    op.drop_table("reservations")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_lot_id")
        batch_op.drop_index("ix_audit_events_entity")

    op.drop_table("audit_events")


def _create_append_only_triggers() -> None:
    """audit_events is append-only: UPDATE and DELETE fail, on SQLite and PostgreSQL."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_events is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{event.lower()} BEFORE {event} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )


def _drop_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
