from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from app.auth.dependencies import Idempotent, RequirementsReader, RequirementsWriter
from app.kit.etag import (
    IfMatchHeader,
    check_if_match,
    make_etag,
    not_modified,
    not_modified_response,
)
from app.kit.pagination import CursorQuery, LimitQuery, Page, page_of, set_link_header
from app.kit.problems import problem_responses
from app.kit.routing import TransactionalRoute, get_session
from app.requirements import service
from app.requirements.models import Requirement
from app.requirements.schemas import (
    RequirementCreate,
    RequirementEventOut,
    RequirementOut,
    RequirementUpdate,
)

router = APIRouter(prefix="/v1/requirements", tags=["requirements"], route_class=TransactionalRoute)
SessionDep = Annotated[Session, Depends(get_session)]


def _etag(req: Requirement) -> str:
    return make_etag("requirement", req.id, req.version)


def _out(req: Requirement) -> RequirementOut:
    return RequirementOut.model_validate(req)


@router.post(
    "",
    status_code=201,
    response_model=RequirementOut,
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422),
    dependencies=[Idempotent],
)
def create_requirement(
    body: RequirementCreate, principal: RequirementsWriter, session: SessionDep, response: Response
) -> RequirementOut:
    """Save a procurement spec (manufacturers only). Mark it `saved_search` to be told, by a
    `requirement.matched` event, when a lot that newly matches is posted or changed."""
    req = service.create_requirement(session, principal, body)
    response.headers["Location"] = f"/v1/requirements/{req.id}"
    response.headers["ETag"] = _etag(req)
    return _out(req)


@router.get(
    "",
    response_model=Page[RequirementOut],
    responses=problem_responses(400, 401, 403, 422),
)
def list_requirements(
    request: Request,
    response: Response,
    principal: RequirementsReader,
    session: SessionDep,
    status: Literal["open", "closed"] | None = None,
    limit: LimitQuery = 25,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """Your requirements, newest first."""
    rows, next_cursor = service.list_requirements(
        session, principal, status=status, cursor=cursor, limit=limit
    )
    set_link_header(request, response, next_cursor)
    return page_of([_out(r) for r in rows], next_cursor)


@router.get(
    "/{requirement_id}",
    response_model=RequirementOut,
    responses={304: {"description": "Not modified"}, **problem_responses(401, 403, 404)},
)
def get_requirement(
    request: Request,
    requirement_id: str,
    principal: RequirementsReader,
    session: SessionDep,
    response: Response,
) -> Any:
    """One of your requirements (404 for anyone else's)."""
    req = service.get_own_requirement(session, principal, requirement_id)
    etag = _etag(req)
    if not_modified(request, etag):
        return not_modified_response(etag)
    response.headers["ETag"] = etag
    return _out(req)


@router.patch(
    "/{requirement_id}",
    response_model=RequirementOut,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 415, 422, 428),
)
def update_requirement(
    request: Request,
    requirement_id: str,
    body: RequirementUpdate,
    principal: RequirementsWriter,
    session: SessionDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> RequirementOut:
    """Rename, toggle the saved search or replace the spec (If-Match required)."""
    req = service.get_own_requirement(session, principal, requirement_id)
    check_if_match(request, _etag(req), required=True)
    service.update_requirement(session, req, body)
    response.headers["ETag"] = _etag(req)
    return _out(req)


@router.delete(
    "/{requirement_id}",
    response_model=RequirementOut,
    responses=problem_responses(401, 403, 404, 412, 428),
)
def close_requirement(
    request: Request,
    requirement_id: str,
    principal: RequirementsWriter,
    session: SessionDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> RequirementOut:
    """Close your requirement (If-Match required): it stays readable with status `closed`,
    stops its saved search and no longer shows in sellers' demand views."""
    req = service.get_own_requirement(session, principal, requirement_id)
    check_if_match(request, _etag(req), required=True)
    service.close_requirement(session, req)
    response.headers["ETag"] = _etag(req)
    return _out(req)


@router.get(
    "/{requirement_id}/events",
    response_model=Page[RequirementEventOut],
    responses=problem_responses(400, 401, 403, 404, 422),
)
def list_events(
    request: Request,
    response: Response,
    requirement_id: str,
    principal: RequirementsReader,
    session: SessionDep,
    limit: LimitQuery = 25,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """`requirement.matched` events of a saved search, newest first."""
    req = service.get_own_requirement(session, principal, requirement_id)
    rows, next_cursor = service.list_events(session, principal, req, cursor=cursor, limit=limit)
    set_link_header(request, response, next_cursor)
    return page_of([RequirementEventOut.model_validate(e) for e in rows], next_cursor)
