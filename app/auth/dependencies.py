"""FastAPI dependencies: the calling principal and scope checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated

import structlog
from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.auth.scopes import Scope
from app.auth.service import Principal, authenticate, touch_api_key
from app.kit.db import Database, utcnow
from app.kit.idempotency import make_idempotency_dependency
from app.kit.problems import ProblemError
from app.kit.routing import get_session

log = structlog.get_logger("app.auth")

bearer = HTTPBearer(
    auto_error=False,
    description="An API key (`rcy_sk_...`) or an OAuth2 access token (`rcy_at_...`).",
)

_WWW = 'Bearer realm="recyclate"'


def get_principal(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    background: BackgroundTasks,
) -> Principal:
    if credentials is None:
        raise ProblemError(
            401,
            "unauthenticated",
            "Send an API key or access token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": _WWW},
        )
    token = credentials.credentials
    result = authenticate(session, token) if 0 < len(token) <= 200 else None
    if result is None:
        raise ProblemError(
            401,
            "invalid_credentials",
            "The credential is unknown, expired or revoked.",
            headers={"WWW-Authenticate": _WWW + ', error="invalid_token"'},
        )
    principal, key = result
    interval = request.app.state.settings.api_key_touch_interval_seconds
    if key is not None and (
        key.last_used_at is None or utcnow() - key.last_used_at > dt.timedelta(seconds=interval)
    ):
        # After the response, in its own short transaction: a read never becomes a write.
        background.add_task(_touch, request.app.state.db, key.id, interval)
    structlog.contextvars.bind_contextvars(org=principal.organization_id)
    request.state.principal = principal
    return principal


def _touch(db: Database, key_id: str, interval: int) -> None:
    try:
        with db.transaction(write=True) as s:
            touch_api_key(s, key_id, interval)
    except SQLAlchemyError as exc:  # best effort: never fail anything for this
        log.warning("api_key_touch_failed", error=str(exc)[:200])


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_scope(scope: Scope) -> Callable[[Principal], Principal]:
    def dependency(principal: CurrentPrincipal) -> Principal:
        if scope.value not in principal.scopes:
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

    dependency.__name__ = f"require_{scope.name.lower()}"
    return dependency


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


idempotency = make_idempotency_dependency(get_principal, get_session)
Idempotent = Depends(idempotency)
