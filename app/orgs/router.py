from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from app.auth.dependencies import CurrentPrincipal, OrgReader, OrgWriter
from app.kit.etag import (
    IfMatchHeader,
    check_if_match,
    make_etag,
    not_modified,
    not_modified_response,
)
from app.kit.problems import problem_responses
from app.kit.routing import TransactionalRoute, get_session
from app.orgs import service
from app.orgs.schemas import OrganizationOut, OrganizationPublic, OrganizationUpdate

router = APIRouter(
    prefix="/v1/organizations", tags=["organizations"], route_class=TransactionalRoute
)
SessionDep = Annotated[Session, Depends(get_session)]


@router.get(
    "/me",
    response_model=OrganizationOut,
    responses={304: {"description": "Not modified"}, **problem_responses(401, 403)},
)
def get_me(
    request: Request, principal: OrgReader, session: SessionDep, response: Response
) -> object:
    """Your organisation. Carries an ETag; send it as If-None-Match to poll for free."""
    org = service.get_organization(session, principal.organization_id)
    etag = make_etag("org", org.id, org.version, "owner")
    if not_modified(request, etag):
        return not_modified_response(etag)
    response.headers["ETag"] = etag
    return OrganizationOut.model_validate(org)


@router.patch(
    "/me",
    response_model=OrganizationOut,
    responses=problem_responses(401, 403, 412, 415, 422, 428),
)
def update_me(
    request: Request,
    body: OrganizationUpdate,
    principal: OrgWriter,
    session: SessionDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> OrganizationOut:
    """Update your organisation. Requires `If-Match` with the current ETag (412 if stale)."""
    org = service.get_organization(session, principal.organization_id)
    check_if_match(request, make_etag("org", org.id, org.version, "owner"), required=True)
    service.update_organization(session, org, body)
    response.headers["ETag"] = make_etag("org", org.id, org.version, "owner")
    return OrganizationOut.model_validate(org)


@router.get(
    "/{org_id}",
    response_model=OrganizationPublic,
    responses=problem_responses(401, 404),
)
def get_public(org_id: str, principal: CurrentPrincipal, session: SessionDep) -> OrganizationPublic:
    """Any organisation's public profile."""
    return OrganizationPublic.model_validate(service.get_organization(session, org_id))
