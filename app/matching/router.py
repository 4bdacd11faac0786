from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from app.auth.dependencies import LotsReader, RequirementsReader
from app.kit.db import utcnow
from app.kit.problems import problem_responses
from app.kit.routing import TransactionalRoute, get_session, run_read
from app.lots.service import get_own_lot
from app.matching import scoring, service
from app.matching.schemas import (
    DemandPage,
    MatchesOut,
    encode_json,
    matches_dict,
    present_demand,
)
from app.requirements.schemas import RequirementSpec
from app.requirements.service import get_own_requirement, resolve_spec, stored_spec

router = APIRouter(tags=["matching"], route_class=TransactionalRoute)
SessionDep = Annotated[Session, Depends(get_session)]
TopQuery = Annotated[int, Query(ge=1, le=100, description="How many lots (1-100).")]
IneligibleQuery = Annotated[
    bool,
    Query(description="Also list lots that fail a hard criterion, with the criteria they fail."),
]


def _rate(request: Request) -> float:
    return float(request.app.state.settings.transport_eur_per_t_km)


def _today() -> dt.date:
    return utcnow().date()


def _matches(
    session: Session,
    spec: scoring.Spec,
    requirement_id: str | None,
    *,
    limit: int,
    include_ineligible: bool,
) -> Response:
    outcome = service.match(session, spec, limit=limit, include_ineligible=include_ineligible)
    # The MatchesOut document built as plain data and encoded once: building the models per
    # criterion, then FastAPI validating and encoding them again, cost more than the matching
    # itself (tests/matching/test_fast_path.py checks it equals the models' output).
    body = encode_json(
        matches_dict(requirement_id, outcome.candidates, outcome.results, outcome.proposals, spec)
    )
    return Response(body, media_type="application/json")


@router.get(
    "/v1/requirements/{requirement_id}/matches",
    response_model=MatchesOut,
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def requirement_matches(
    request: Request,
    requirement_id: str,
    principal: RequirementsReader,
    limit: TopQuery = 50,
    include_ineligible: IneligibleQuery = False,
) -> Response:
    """Rank the lots on offer against your requirement, with an explanation per criterion,
    distance and landed cost; multi-lot proposals when no single lot has enough quantity."""
    rate = _rate(request)

    def work(session: Session) -> Response:
        req = get_own_requirement(session, principal, requirement_id)
        spec = service.build_spec(stored_spec(req), transport_eur_per_t_km=rate, today=_today())
        return _matches(session, spec, req.id, limit=limit, include_ineligible=include_ineligible)

    # a read: one thread hop, its own read session (app/kit/routing.py)
    return await run_read(request, work)


@router.post(
    "/v1/matches/search",
    response_model=MatchesOut,
    responses=problem_responses(400, 401, 403, 413, 415, 422),
)
async def search_matches(
    request: Request,
    body: RequirementSpec,
    principal: RequirementsReader,
    limit: TopQuery = 50,
    include_ineligible: IneligibleQuery = False,
) -> Response:
    """Match an unsaved spec (same body as a requirement's `spec`); nothing is stored."""
    spec_model = RequirementSpec.model_validate(resolve_spec(body, ""), strict=False)
    spec = service.build_spec(spec_model, transport_eur_per_t_km=_rate(request), today=_today())

    def work(session: Session) -> Response:
        return _matches(session, spec, None, limit=limit, include_ineligible=include_ineligible)

    # nothing is written: a read session (no write lock on SQLite), one thread hop
    return await run_read(request, work)


@router.get(
    "/v1/lots/{lot_id}/demand",
    response_model=DemandPage,
    responses=problem_responses(400, 401, 403, 404, 422),
)
def lot_demand(
    request: Request,
    lot_id: str,
    principal: LotsReader,
    session: SessionDep,
    limit: TopQuery = 50,
    max_failed: Annotated[
        int, Query(ge=0, le=5, description="Also list requirements missed by this many criteria")
    ] = 2,
) -> DemandPage:
    """For the lot's seller: open requirements (anonymised) the lot meets or nearly meets, and
    which missing data would make it eligible."""
    lot = get_own_lot(session, principal, lot_id)
    found = service.demand_for_lot(
        session, lot, transport_eur_per_t_km=_rate(request), max_blockers=max_failed, limit=limit
    )
    return DemandPage(lot_id=lot.id, data=[present_demand(d.ref, d.result) for d in found])
