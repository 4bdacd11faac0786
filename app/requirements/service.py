"""Requirement rules: create, update, close, list; events. Never commits; never imports a router."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.geo import GeoError, resolve_location
from app.kit.db import utcnow
from app.kit.pagination import SortKey, paginate
from app.kit.problems import ProblemError, not_found
from app.requirements.models import (
    Requirement,
    RequirementEvent,
    RequirementStatus,
)
from app.requirements.schemas import RequirementCreate, RequirementSpec, RequirementUpdate

# --- scoped statements ------------------------------------------------------------------------


def requirements_of(organization_id: str) -> Select[Requirement]:
    """The owner's requirements: the one scoped statement every requirement query starts from."""
    return select(Requirement).where(Requirement.organization_id == organization_id)


def events_of(organization_id: str) -> Select[RequirementEvent]:
    return select(RequirementEvent).where(RequirementEvent.organization_id == organization_id)


def get_own_requirement(session: Session, principal: Principal, req_id: str) -> Requirement:
    req = session.scalar(requirements_of(principal.organization_id).where(Requirement.id == req_id))
    if req is None:
        raise not_found("Requirement")
    return req


# --- commands ---------------------------------------------------------------------------------


def _require_buyer(principal: Principal) -> None:
    if not principal.buys:
        raise ProblemError(
            403,
            "forbidden",
            "Only manufacturers (role manufacturer or both) can keep requirements.",
        )


def resolve_spec(spec: RequirementSpec, pointer: str = "/spec") -> dict[str, Any]:
    """The spec as stored: JSON, with the delivery location resolved to coordinates."""
    data = spec.model_dump(mode="json", exclude_none=True)
    loc = spec.delivery_location
    if loc is not None:
        try:
            where = resolve_location(
                loc.country, postcode=loc.postcode, lat=loc.latitude, lon=loc.longitude
            )
        except GeoError as exc:
            field = {"lat": "latitude", "lon": "longitude"}.get(exc.field or "", exc.field or "")
            raise ProblemError(
                422,
                "validation_failed",
                exc.detail,
                errors=[
                    {
                        "pointer": f"{pointer}/delivery_location/{field}".rstrip("/"),
                        "code": exc.code,
                        "detail": exc.detail,
                    }
                ],
            ) from None
        data["delivery_location"].update(
            country=where.country,
            postcode=where.postcode,
            latitude=where.lat,
            longitude=where.lon,
        )
    return data


def create_requirement(
    session: Session, principal: Principal, body: RequirementCreate
) -> Requirement:
    _require_buyer(principal)
    now = utcnow()
    req = Requirement(
        organization_id=principal.organization_id,
        name=body.name,
        status=RequirementStatus.OPEN.value,
        family=body.spec.family,
        saved_search=body.saved_search,
        spec=resolve_spec(body.spec),
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(req)
    session.flush()
    return req


def update_requirement(session: Session, req: Requirement, body: RequirementUpdate) -> Requirement:
    if req.status != RequirementStatus.OPEN:
        raise ProblemError(409, "conflict", "A closed requirement cannot be changed.")
    fields = body.model_fields_set
    if "name" in fields and body.name is not None:
        req.name = body.name
    if "saved_search" in fields and body.saved_search is not None:
        req.saved_search = body.saved_search
    if "spec" in fields and body.spec is not None:
        req.spec = resolve_spec(body.spec)
        req.family = body.spec.family
    req.updated_at = utcnow()
    session.flush()
    return req


def close_requirement(session: Session, req: Requirement) -> Requirement:
    if req.status != RequirementStatus.CLOSED:
        now = utcnow()
        req.status = RequirementStatus.CLOSED.value
        req.saved_search = False
        req.closed_at = now
        req.updated_at = now
        session.flush()
    return req


# --- queries ----------------------------------------------------------------------------------

NEWEST = SortKey("newest", (Requirement.id,), descending=True)
EVENTS_NEWEST = SortKey("events_newest", (RequirementEvent.id,), descending=True)


def list_requirements(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Requirement], str | None]:
    stmt = requirements_of(principal.organization_id)
    if status is not None:
        stmt = stmt.where(Requirement.status == status)
    return paginate(session, stmt, NEWEST, cursor=cursor, limit=limit)


def list_events(
    session: Session, principal: Principal, req: Requirement, *, cursor: str | None, limit: int
) -> tuple[list[RequirementEvent], str | None]:
    stmt = events_of(principal.organization_id).where(RequirementEvent.requirement_id == req.id)
    return paginate(session, stmt, EVENTS_NEWEST, cursor=cursor, limit=limit)


def stored_spec(req: Requirement) -> RequirementSpec:
    """The stored spec, validated again (it was valid when saved)."""
    return RequirementSpec.model_validate(req.spec, strict=False)
