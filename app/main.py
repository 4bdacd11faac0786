"""Application factory: ``create_app()`` builds the FastAPI app; ``app`` is the ASGI entry point."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi

from app import __version__
from app.auth.cache import CredentialCache
from app.auth.router import router as auth_router
from app.auth.throttle import FailedAuthThrottle
from app.documents.router import router as documents_router
from app.forecasts.router import router as forecasts_router
from app.grades.router import router as grades_router
from app.kit.balance import from_environment
from app.kit.db import Database
from app.kit.health import router as health_router
from app.kit.idempotency import IdempotentReplay, replay_response
from app.kit.logging import configure_logging
from app.kit.middleware import BodyLimitMiddleware, RequestContextMiddleware
from app.kit.migrations import head_revision
from app.kit.pagecache import SnapshotCache
from app.kit.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPES, Problem, install_problem_handlers
from app.kit.ratelimit import RATE_LIMIT_HEADERS, DatabaseCounterStore, RateLimiter
from app.kit.runtime import tune_gc
from app.lots.router import router as lots_router
from app.lots.summary import ItemCache
from app.matching import index as matching_index
from app.matching.router import router as matching_router
from app.orders.router import router as orders_router
from app.orgs.router import router as orgs_router
from app.requirements.router import router as requirements_router
from app.settings import Settings, get_settings
from app.worker import BackgroundJobs

DESCRIPTION = """
Trade secondary raw materials by **data quality**. Recyclers post lots with measured grades; the
platform computes each lot's Data Quality Level (EN 18065 / DIN SPEC 91446), manufacturers match
lots against their procurement specs, and ERP systems pull availability forecasts.

**Authentication**: `Authorization: Bearer <API key or OAuth2 access token>`. API keys come from
`recyclate org create` / `POST /v1/api-keys`; ERP systems use `POST /oauth2/token`
(client credentials).

**Errors** are RFC 9457 `application/problem+json` with a stable `code` and the `request_id`.
**Lists** use cursor pagination (`limit`, `cursor`, `Link: rel="next"`). Creating POSTs accept
`Idempotency-Key`. Mutable resources carry an `ETag`; send `If-Match` to change them.
"""


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    database = db or Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        sqlite_cache_mb=settings.sqlite_cache_mb,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.thread_pool_size
        jobs = None
        if db is None:  # a real worker (tests pass their database and keep Python's GC)
            tune_gc(settings.gc_gen0_threshold)
            # Build this worker's matching snapshot now, not on the first match request.
            from app.matching.service import warm

            warm(database)
        balancing = None
        if db is None:
            balancer = from_environment(settings.balance_connections)
            app.state.connection_balancer = balancer
            if balancer is not None:
                balancing = asyncio.create_task(balancer.run())
        if settings.run_background_jobs and db is None:
            jobs = BackgroundJobs(
                database, interval=settings.expiry_interval_seconds, settings=settings
            )
            jobs.start()
        yield
        if balancing is not None:
            balancing.cancel()
        if jobs is not None:
            jobs.stop()
        if db is None:
            database.dispose()

    app = FastAPI(
        title="recyclate-marketplace API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "auth", "description": "API keys, OAuth2 clients and tokens"},
            {"name": "organizations", "description": "Your organisation and public profiles"},
            {"name": "lots", "description": "Lots of recyclate with computed Data Quality Levels"},
            {"name": "grades", "description": "The DQL classifier (EN 18065 / DIN SPEC 91446)"},
            {"name": "documents", "description": "Evidence uploads (lab reports, certificates)"},
            {"name": "requirements", "description": "Procurement specs and saved searches"},
            {"name": "matching", "description": "Ranked, explained matches and seller demand"},
            {"name": "orders", "description": "Reservations and orders that never oversell"},
            {"name": "audit", "description": "Append-only trail of changes"},
            {"name": "forecasts", "description": "Availability forecasts for ERP systems"},
            {"name": "operations", "description": "Health, readiness, metrics, problem types"},
        ],
    )
    matching_index.configure(facts_in_memory=settings.match_facts_in_memory)
    app.state.settings = settings
    app.state.db = database
    app.state.credential_cache = CredentialCache(settings.auth_cache_seconds)
    failures = settings.auth_failures_per_minute
    app.state.auth_throttle = FailedAuthThrottle(failures, 60.0) if failures else None
    cache_size = settings.list_item_cache_size
    app.state.item_cache = ItemCache(cache_size) if cache_size else None
    pages = settings.list_page_cache_size
    app.state.page_cache = SnapshotCache[Any](pages, "list_pages") if pages else None
    app.state.rate_limiter = (
        RateLimiter(
            DatabaseCounterStore(lambda: app.state.db),
            limit=settings.rate_limit_requests,
            window_s=settings.rate_limit_window_seconds,
        )
        if settings.rate_limit_requests
        else None
    )
    app.state.migration_head = head_revision()
    app.state.connection_balancer = None  # set per worker by the lifespan (app/kit/balance.py)

    install_problem_handlers(app)

    async def _replay(_request: Request, exc: Exception) -> Any:
        assert isinstance(exc, IdempotentReplay)
        return replay_response(exc)

    app.add_exception_handler(IdempotentReplay, _replay)

    app.add_middleware(
        BodyLimitMiddleware,
        max_body=settings.max_body_bytes,
        max_upload=settings.max_upload_bytes,
    )
    app.add_middleware(RequestContextMiddleware, access_log=settings.access_log)

    # Routes are tried in this order: the hottest first (no two routers share a path).
    app.include_router(lots_router)
    app.include_router(matching_router)
    app.include_router(forecasts_router)
    app.include_router(orders_router)
    app.include_router(requirements_router)
    app.include_router(grades_router)
    app.include_router(documents_router)
    app.include_router(orgs_router)
    app.include_router(auth_router)
    app.include_router(health_router)

    @app.get("/problems/{code}", tags=["operations"], summary="Describe a problem type")
    def problem_type(code: str) -> dict[str, Any]:
        status, title = PROBLEM_TYPES.get(code, (0, ""))
        return {
            "type": f"/problems/{code}",
            "title": title or None,
            "status": status or None,
            "known": bool(title),
        }

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in problem_schema.pop("$defs", {}).items():
        components[name] = sub
    components["Problem"] = problem_schema
    ref = {"$ref": "#/components/schemas/Problem"}
    for path_item in schema.get("paths", {}).values():
        for op in path_item.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            if (
                "422" in responses
                or any(p for p in op.get("parameters", []))
                or "requestBody" in op
            ):
                responses["422"] = {
                    "description": "Validation failed",
                    "content": {PROBLEM_MEDIA_TYPE: {"schema": ref}},
                }
            if "requestBody" in op or op.get("parameters"):
                responses.setdefault(
                    "400",
                    {
                        "description": "Malformed request",
                        "content": {PROBLEM_MEDIA_TYPE: {"schema": ref}},
                    },
                )
            if "401" in responses:  # authenticated: counted against the credential's limit
                responses.setdefault(
                    "429",
                    {
                        "description": "Rate limit of the credential reached (RateLimit, "
                        "RateLimit-Policy and Retry-After headers say when to retry), or too "
                        "many failed authentications from the client's address (Retry-After)",
                        "headers": RATE_LIMIT_HEADERS,
                        "content": {PROBLEM_MEDIA_TYPE: {"schema": ref}},
                    },
                )
            responses.setdefault(
                "500",
                {
                    "description": "Internal server error",
                    "content": {PROBLEM_MEDIA_TYPE: {"schema": ref}},
                },
            )
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    app.openapi_schema = schema
    return schema


app_factory = create_app
