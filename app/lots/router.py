from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from app.auth.dependencies import Idempotent, LotsReader, LotsWriter
from app.grades.aas import build_submodel
from app.kit.db import RawConnection
from app.kit.etag import (
    IfMatchHeader,
    check_if_match,
    make_etag,
    not_modified,
    not_modified_response,
)
from app.kit.pagination import (
    Page,
    page_bytes,
    page_of,
    set_link_header,
)
from app.kit.problems import ProblemError, problem_responses
from app.kit.query import query_model
from app.kit.routing import TransactionalRoute, get_session, run_raw_read, run_read
from app.lots import service
from app.lots.models import Lot
from app.lots.schemas import (
    BulkLotsIn,
    BulkLotsOut,
    LotCreate,
    LotListQuery,
    LotOwner,
    LotPublic,
    LotSummary,
    LotUpdate,
    present_lot,
)

router = APIRouter(prefix="/v1/lots", tags=["lots"], route_class=TransactionalRoute)
SessionDep = Annotated[Session, Depends(get_session)]

FamilyQ = Literal[
    "plastic_recyclate",
    "plastic_waste",
    "paper",
    "ferrous_scrap",
    "aluminium_scrap",
    "copper_scrap",
    "glass_cullet",
]
_Short = Query(max_length=32)
_Num = Query(ge=0, le=1e9)


def _etag(lot: Lot, owner: bool) -> str:
    return make_etag("lot", lot.id, lot.version, "owner" if owner else "public")


def _view(lot: Lot, principal_org: str) -> LotPublic:
    return present_lot(lot, owner=lot.organization_id == principal_org)


@router.post(
    "",
    status_code=201,
    response_model=LotOwner,
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422),
    dependencies=[Idempotent],
)
def create_lot(
    body: LotCreate, principal: LotsWriter, session: SessionDep, response: Response
) -> LotPublic:
    """Post a lot. The platform computes its Data Quality Level from the grade and returns,
    with the lot, which fields are missing for the next level and any plausibility warnings
    (they never block the post)."""
    lot = service.create_lot(session, principal, body)
    response.headers["Location"] = f"/v1/lots/{lot.id}"
    response.headers["ETag"] = _etag(lot, True)
    return present_lot(lot, owner=True)


@router.post(
    "/bulk",
    status_code=201,
    response_model=BulkLotsOut,
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422),
    dependencies=[Idempotent],
)
def create_lots_bulk(body: BulkLotsIn, principal: LotsWriter, session: SessionDep) -> BulkLotsOut:
    """Post up to 500 lots in one all-or-nothing request (the bulk ingest path for ERP
    exports). Errors point at the lot: `/lots/3/grade/attributes/Density/unit`."""
    lots = service.create_lots_bulk(session, principal, body.lots)
    return BulkLotsOut(created=len(lots), ids=[lot.id for lot in lots])


_lot_query, _LOT_QUERY_DOCS = query_model(LotListQuery)
LotQueryDep = Annotated[LotListQuery, Depends(_lot_query)]


@router.get(
    "",
    response_model=Page[LotSummary] | Page[LotOwner | LotPublic],
    responses=problem_responses(400, 401, 403, 422),
    openapi_extra=_LOT_QUERY_DOCS,
)
async def list_lots(request: Request, principal: LotsReader, q: LotQueryDep) -> Any:
    """Lots on offer, newest first by default. Filters combine with AND. Items are summaries
    (`view=full` for complete documents: the public view, or the owner view for your own)."""
    if q.status is None:
        status_value: str | None = None if q.mine else "active"
    else:
        status_value = None if q.status == "any" else q.status
    filters = service.LotFilters(
        **q.model_dump(exclude={"status", "sort", "view", "limit", "cursor"}), status=status_value
    )

    def full_page(session: Session) -> tuple[bytes, str | None]:
        lots, next_cursor = service.list_lots(
            session, principal, filters, sort=q.sort, cursor=q.cursor, limit=q.limit
        )
        org = principal.organization_id
        items = [_view(lot, org).model_dump(mode="json") for lot in lots]
        return orjson.dumps(page_of(items, next_cursor), option=orjson.OPT_UTC_Z), next_cursor

    def summary_page(conn: RawConnection) -> tuple[bytes, str | None]:
        # Stored JSON items (app/lots/summary.py): no per-item objects at all. The response
        # model documents the shape; the contract tests check real responses against it.
        items, next_cursor = service.list_lot_items(
            conn,
            principal,
            filters,
            sort=q.sort,
            cursor=q.cursor,
            limit=q.limit,
            cache=request.app.state.item_cache,
            pages=request.app.state.page_cache,
        )
        return page_bytes(items, next_cursor), next_cursor

    if q.view == "full":
        body, next_cursor = await run_read(request, full_page)
    else:
        body, next_cursor = await run_raw_read(request, summary_page)
    out = Response(body, media_type="application/json")
    set_link_header(request, out, next_cursor)
    return out


@router.get(
    "/{lot_id}",
    response_model=LotOwner | LotPublic,
    responses={304: {"description": "Not modified"}, **problem_responses(401, 403, 404)},
)
def get_lot(
    request: Request, lot_id: str, principal: LotsReader, session: SessionDep, response: Response
) -> Any:
    """One lot: the owner view for its seller, the public view for everyone else."""
    lot = service.get_visible_lot(session, lot_id)
    owner = lot.organization_id == principal.organization_id
    etag = _etag(lot, owner)
    if not_modified(request, etag):
        return not_modified_response(etag)
    response.headers["ETag"] = etag
    return present_lot(lot, owner=owner)


@router.patch(
    "/{lot_id}",
    response_model=LotOwner,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 415, 422, 428),
)
def update_lot(
    request: Request,
    lot_id: str,
    body: LotUpdate,
    principal: LotsWriter,
    session: SessionDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> LotPublic:
    """Change your lot (If-Match required). The DQL is recomputed when the grade changes."""
    lot = service.get_own_lot(session, principal, lot_id)
    check_if_match(request, _etag(lot, True), required=True)
    service.update_lot(session, lot, body, principal)
    response.headers["ETag"] = _etag(lot, True)
    return present_lot(lot, owner=True)


@router.delete(
    "/{lot_id}",
    response_model=LotOwner,
    responses=problem_responses(401, 403, 404, 412, 428),
)
def withdraw_lot(
    request: Request,
    lot_id: str,
    principal: LotsWriter,
    session: SessionDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> LotPublic:
    """Withdraw your lot (If-Match required). It stays readable with status `withdrawn` and is
    no longer offered."""
    lot = service.get_own_lot(session, principal, lot_id)
    check_if_match(request, _etag(lot, True), required=True)
    service.withdraw_lot(session, lot, principal)
    response.headers["ETag"] = _etag(lot, True)
    return present_lot(lot, owner=True)


@router.get(
    "/{lot_id}/aas",
    responses={
        200: {
            "description": "IDTA 02080 'Material Data for Plastic Waste' submodel (AAS v3 JSON)",
            "content": {"application/json": {}},
        },
        **problem_responses(401, 403, 404, 409),
    },
)
def export_aas(lot_id: str, principal: LotsReader, session: SessionDep) -> dict[str, Any]:
    """Export the lot's grade as an instance of the IDTA 02080 submodel template
    (CC BY 4.0, Industrial Digital Twin Association), conformant to AAS v3."""
    lot = service.get_visible_lot(session, lot_id)
    if not lot.family.startswith("plastic"):
        raise ProblemError(
            409,
            "aas_not_available",
            "IDTA 02080 covers plastics only; this lot is " + lot.family,
            title="No AAS template for this family",
        )
    grade = lot.grade
    return build_submodel(
        lot.id,
        grade.get("attributes", {}),
        family=lot.family,
        scheme=grade.get("scheme"),
        edition=grade.get("edition"),
    )
