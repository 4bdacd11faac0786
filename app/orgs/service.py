from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.kit.db import utcnow
from app.kit.problems import not_found
from app.orgs.models import Organization, OrgRole, VerificationStatus
from app.orgs.schemas import OrganizationUpdate


def create_organization(
    session: Session,
    *,
    name: str,
    role: OrgRole,
    country: str | None = None,
    verification_status: VerificationStatus = VerificationStatus.UNVERIFIED,
) -> Organization:
    now = utcnow()
    org = Organization(
        name=name,
        role=role.value,
        country=country,
        verification_status=verification_status.value,
        created_at=now,
        updated_at=now,
    )
    session.add(org)
    session.flush()
    return org


def get_organization(session: Session, org_id: str) -> Organization:
    org = session.scalar(select(Organization).where(Organization.id == org_id))
    if org is None:
        raise not_found("Organisation")
    return org


def update_organization(
    session: Session, org: Organization, body: OrganizationUpdate
) -> Organization:
    data = body.model_dump(exclude_unset=True)
    if "website" in data and data["website"] is not None:
        data["website"] = str(data["website"])
    for field, value in data.items():
        if field == "name" and value is None:
            continue
        setattr(org, field, value)
    session.flush()
    return org
