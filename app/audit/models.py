from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, utcnow


class AuditEvent(Base):
    """Append-only trail of every change to lots, reservations and orders.

    Database triggers (migration 0004) reject UPDATE and DELETE on this table, on SQLite and
    PostgreSQL alike: nobody, not even the service, can edit history.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_entity", "entity_type", "entity_id", "seq"),
        Index("ix_audit_events_lot_id", "lot_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    entity_type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[str] = mapped_column(String(40))
    lot_id: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    actor_org_id: Mapped[str | None] = mapped_column(String(40))
    actor_credential_id: Mapped[str | None] = mapped_column(String(40))
    seller_org_id: Mapped[str | None] = mapped_column(String(40))
    buyer_org_id: Mapped[str | None] = mapped_column(String(40))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
