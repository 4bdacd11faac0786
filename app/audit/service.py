"""Append to and read the audit trail. Parties (seller, buyer) may read; nobody may edit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.auth.service import Principal
from app.kit.db import utcnow


def record(
    session: Session,
    *,
    actor: Principal | None,
    entity_type: str,
    entity_id: str,
    action: str,
    lot_id: str | None,
    seller_org_id: str | None,
    buyer_org_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEvent(
            entity_type=entity_type,
            entity_id=entity_id,
            lot_id=lot_id,
            action=action,
            actor_org_id=actor.organization_id if actor else None,
            actor_credential_id=actor.credential_id if actor else None,
            seller_org_id=seller_org_id,
            buyer_org_id=buyer_org_id,
            before=before,
            after=after,
            created_at=utcnow(),
        )
    )


def events_visible_to(organization_id: str) -> Select[AuditEvent]:
    """The one scoped statement: events where the caller is a party."""
    return select(AuditEvent).where(
        or_(AuditEvent.seller_org_id == organization_id, AuditEvent.buyer_org_id == organization_id)
    )
