"""Liveness, readiness (database reachable and migrations at head) and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from app.kit.problems import problem_response, problem_responses

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _db_revision(request: Request) -> str | None:
    with request.app.state.db.engine.connect() as conn:
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


@router.get(
    "/readyz",
    summary="Readiness: database reachable and migrations at head",
    responses=problem_responses(503),
)
async def readyz(request: Request) -> Any:
    head: str = request.app.state.migration_head
    try:
        current = await run_in_threadpool(_db_revision, request)
    except SQLAlchemyError:
        return problem_response(
            request,
            503,
            "database_unavailable",
            "The database is not reachable.",
            headers={"Retry-After": "5"},
        )
    if current != head:
        return problem_response(
            request,
            503,
            "migrations_pending",
            f"Database at migration {current!r}, code expects {head!r}: "
            "run `recyclate db upgrade`.",
            title="Migrations pending",
            headers={"Retry-After": "30"},
        )
    return {
        "status": "ready",
        "database": request.app.state.db.engine.dialect.name,
        "migration": current,
    }


def _registry() -> CollectorRegistry:
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics() -> Response:
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)
