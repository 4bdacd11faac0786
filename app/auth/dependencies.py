"""FastAPI dependencies: the calling principal and scope checks."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import structlog
from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from app.auth.cache import CredentialCache
from app.auth.scopes import Scope
from app.auth.service import (
    API_KEY_PREFIX,
    Credential,
    Principal,
    hash_secret,
    resolve_digest,
    touch_api_key,
)
from app.auth.throttle import FailedAuthThrottle
from app.kit.db import Database, utcnow
from app.kit.idempotency import make_idempotency_dependency
from app.kit.problems import ProblemError
from app.kit.ratelimit import RateLimiter
from app.kit.routing import get_session

log = structlog.get_logger("app.auth")

_WWW = 'Bearer realm="recyclate"'
_SCHEME_DESCRIPTION = "An API key (`rcy_sk_...`) or an OAuth2 access token (`rcy_at_...`)."


def _bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (as ``HTTPBearer`` reads it)."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    return token if scheme.lower() == "bearer" and token else None


def _client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def refuse_after_failed_authentications(request: Request) -> None:
    """429 if the client's address has failed to authenticate too often this minute
    (app/auth/throttle.py). Call it before a credential lookup: refusing costs no I/O."""
    throttle: FailedAuthThrottle | None = request.app.state.auth_throttle
    if throttle is None:
        return
    wait = throttle.retry_after(_client_address(request))
    if wait is not None:
        raise ProblemError(
            429,
            "rate_limited",
            f"Too many failed authentications from this address; retry in {wait} s.",
            headers={"Retry-After": str(wait)},
        )


def count_failed_authentication(request: Request) -> None:
    throttle: FailedAuthThrottle | None = request.app.state.auth_throttle
    if throttle is not None:
        throttle.failed(_client_address(request))


async def get_principal(request: Request, background: BackgroundTasks) -> Principal:
    """The calling principal (resolved once per request; cached per worker, app/auth/cache.py).
    A cache hit costs no I/O and no thread hop."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    token = _bearer_token(request)
    if token is None:
        raise ProblemError(
            401,
            "unauthenticated",
            "Send an API key or access token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": _WWW},
        )
    credential = None
    if 0 < len(token) <= 200:
        cache: CredentialCache = request.app.state.credential_cache
        digest = hash_secret(token)
        credential = cache.get(digest)
        if credential is None:
            refuse_after_failed_authentications(request)
            # only a cache miss costs a database round trip (and a thread hop), in a read
            # session of its own: the request's write transaction (on SQLite, the database's
            # write lock) must not start before the rate limiter's reservation, a transaction
            # of its own, or that reservation would wait for the request's own lock
            credential = await run_in_threadpool(
                _resolve, request.app.state.db, token[: len(API_KEY_PREFIX)], digest
            )
            if credential is not None:
                cache.put(digest, credential)
        elif not credential.valid_at(utcnow()):
            credential = None  # expired while cached
    if credential is None:
        count_failed_authentication(request)
        raise ProblemError(
            401,
            "invalid_credentials",
            "The credential is unknown, expired or revoked.",
            headers={"WWW-Authenticate": _WWW + ', error="invalid_token"'},
        )
    principal = credential.principal
    limiter: RateLimiter | None = request.app.state.rate_limiter
    if limiter is not None:
        decision = limiter.take(principal.credential_id)
        if decision is None:  # this worker holds no tokens: reserve some (database I/O)
            decision = await run_in_threadpool(limiter.take_reserving, principal.credential_id)
        request.state.rate_limit = decision  # headers added by RequestContextMiddleware
        if not decision.allowed:
            raise ProblemError(
                429,
                "rate_limited",
                f"This credential may make {decision.limit} requests per "
                f"{decision.window_s} s; retry in {decision.reset_s} s.",
            )
    if credential.api_key_id is not None:
        interval = request.app.state.settings.api_key_touch_interval_seconds
        now = utcnow()
        last = credential.last_used_at
        if last is None or now - last > dt.timedelta(seconds=interval):
            # After the response, in its own short transaction: a read never becomes a write.
            background.add_task(_touch, request.app.state.db, credential.api_key_id, interval)
            cache.mark_used(digest, now)
    structlog.contextvars.bind_contextvars(org=principal.organization_id)
    request.state.principal = principal
    return principal


def _resolve(db: Database, prefix: str, digest: str) -> Credential | None:
    session = db.session(write=False)
    try:
        return resolve_digest(session, prefix, digest)
    finally:
        session.close()


def _touch(db: Database, key_id: str, interval: int) -> None:
    try:
        with db.transaction(write=True) as s:
            touch_api_key(s, key_id, interval)
    except SQLAlchemyError as exc:  # best effort: never fail anything for this
        log.warning("api_key_touch_failed", error=str(exc)[:200])


class BearerAuth(HTTPBearer):
    """The dependency that authenticates a request (and checks a scope, if given), and, being
    an ``HTTPBearer``, what puts the bearer security scheme into the OpenAPI document.

    One dependency that reads the header itself: ``Depends(HTTPBearer())`` under an
    authenticating dependency cost FastAPI a second level of dependency solving and a
    credentials model on every request (benchmarks/README.md, eleventh session)."""

    def __init__(self, scope: Scope | None = None) -> None:
        super().__init__(
            auto_error=False, scheme_name="HTTPBearer", description=_SCHEME_DESCRIPTION
        )
        self.required = scope

    async def __call__(  # type: ignore[override]
        self, request: Request, background: BackgroundTasks
    ) -> Principal:
        principal = await get_principal(request, background)
        scope = self.required
        if scope is not None and scope.value not in principal.scopes:
            raise ProblemError(
                403,
                "insufficient_scope",
                f"This credential lacks the '{scope.value}' scope.",
                headers={
                    "WWW-Authenticate": _WWW
                    + f', error="insufficient_scope", scope="{scope.value}"'
                },
            )
        return principal


authenticated = BearerAuth()
CurrentPrincipal = Annotated[Principal, Depends(authenticated)]


def require_scope(scope: Scope) -> BearerAuth:
    return BearerAuth(scope)


# One alias per scope, for endpoint signatures: ``principal: LotsWriter``.
OrgReader = Annotated[Principal, Depends(require_scope(Scope.ORG_READ))]
OrgWriter = Annotated[Principal, Depends(require_scope(Scope.ORG_WRITE))]
KeysManager = Annotated[Principal, Depends(require_scope(Scope.KEYS_MANAGE))]
LotsReader = Annotated[Principal, Depends(require_scope(Scope.LOTS_READ))]
LotsWriter = Annotated[Principal, Depends(require_scope(Scope.LOTS_WRITE))]
RequirementsReader = Annotated[Principal, Depends(require_scope(Scope.REQUIREMENTS_READ))]
RequirementsWriter = Annotated[Principal, Depends(require_scope(Scope.REQUIREMENTS_WRITE))]
OrdersReader = Annotated[Principal, Depends(require_scope(Scope.ORDERS_READ))]
OrdersWriter = Annotated[Principal, Depends(require_scope(Scope.ORDERS_WRITE))]
ForecastsReader = Annotated[Principal, Depends(require_scope(Scope.FORECASTS_READ))]
WebhooksManager = Annotated[Principal, Depends(require_scope(Scope.WEBHOOKS_MANAGE))]
FeedsReader = Annotated[Principal, Depends(require_scope(Scope.FEEDS_READ))]


idempotency = make_idempotency_dependency(authenticated, get_session)
Idempotent = Depends(idempotency)
