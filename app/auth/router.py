from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy.orm import Session

from app.auth import service
from app.auth.cache import CredentialCache
from app.auth.dependencies import (
    Idempotent,
    KeysManager,
    count_failed_authentication,
    refuse_after_failed_authentications,
)
from app.auth.models import ApiKey, OAuthClient
from app.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    OAuthClientCreate,
    OAuthClientCreated,
    OAuthClientOut,
    TokenOut,
)
from app.kit.pagination import (
    CursorQuery,
    LimitQuery,
    Page,
    SortKey,
    page_of,
    paginate,
    set_link_header,
)
from app.kit.problems import ProblemError, problem_responses
from app.kit.routing import TransactionalRoute, get_session

router = APIRouter(route_class=TransactionalRoute)
SessionDep = Annotated[Session, Depends(get_session)]
AUTH_ERRORS = problem_responses(401, 403, 422)

_basic = HTTPBasic(auto_error=False)
KEY_ORDER = SortKey("id_desc", (ApiKey.id,))
CLIENT_ORDER = SortKey("id_desc", (OAuthClient.id,))


@router.post(
    "/oauth2/token",
    tags=["auth"],
    summary="OAuth2 client-credentials token",
    response_model=TokenOut,
    responses=problem_responses(400, 401, 422),
)
def token(
    request: Request,
    session: SessionDep,
    grant_type: Annotated[
        str,
        Form(
            max_length=64,
            examples=["client_credentials"],
            json_schema_extra={"enum": ["client_credentials"]},
        ),
    ],
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    client_id: Annotated[str | None, Form(max_length=100)] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
    scope: Annotated[str | None, Form(max_length=1000)] = None,
) -> TokenOut:
    """Exchange an OAuth client's id and secret (form fields or HTTP Basic) for a bearer token.

    Errors are problem+json and also carry RFC 6749's `error` field.
    """
    if grant_type != "client_credentials":
        raise ProblemError(
            400,
            "unsupported_grant_type",
            "Only grant_type=client_credentials is supported.",
            title="Unsupported grant type",
            extra={"error": "unsupported_grant_type"},
        )
    cid, secret = (basic.username, basic.password) if basic else (client_id, client_secret)
    if not cid or not secret:
        raise ProblemError(
            401,
            "invalid_client",
            "Send client_id and client_secret (form fields or HTTP Basic).",
            headers={"WWW-Authenticate": 'Basic realm="recyclate"'},
            extra={"error": "invalid_client"},
        )
    requested = scope.split() if scope else None
    ttl = request.app.state.settings.oauth_token_ttl_seconds
    refuse_after_failed_authentications(request)
    try:
        raw, row = service.issue_token(
            session,
            client_id=cid,
            client_secret=secret,
            requested_scopes=requested,
            ttl_seconds=ttl,
        )
    except ProblemError as exc:
        if exc.status == 401:  # a wrong client id or secret
            count_failed_authentication(request)
        raise
    return TokenOut(access_token=raw, expires_in=ttl, scope=" ".join(row.scopes))


@router.post(
    "/v1/api-keys",
    tags=["auth"],
    status_code=201,
    response_model=ApiKeyCreated,
    responses=problem_responses(401, 403, 409, 415, 422),
    dependencies=[Idempotent],
)
def create_api_key(
    body: ApiKeyCreate, principal: KeysManager, session: SessionDep, response: Response
) -> ApiKeyCreated:
    """Create an API key for your organisation. The secret is in this response only."""
    key, secret = service.create_api_key(
        session,
        principal.organization_id,
        name=body.name,
        scopes=body.scopes,
        expires_at=body.expires_at,
    )
    response.headers["Location"] = f"/v1/api-keys/{key.id}"
    return ApiKeyCreated.model_validate(
        {**ApiKeyOut.model_validate(key).model_dump(), "secret": secret}
    )


@router.get(
    "/v1/api-keys",
    tags=["auth"],
    response_model=Page[ApiKeyOut],
    responses=problem_responses(400, 401, 403, 422),
)
def list_api_keys(
    request: Request,
    response: Response,
    principal: KeysManager,
    session: SessionDep,
    limit: LimitQuery = 25,
    cursor: CursorQuery = None,
) -> dict[str, object]:
    """Your organisation's API keys, newest first (secrets are never shown again)."""
    rows, next_cursor = paginate(
        session,
        service.api_keys_of(principal.organization_id),
        KEY_ORDER,
        cursor=cursor,
        limit=limit,
    )
    set_link_header(request, response, next_cursor)
    return page_of([ApiKeyOut.model_validate(r) for r in rows], next_cursor)


@router.get(
    "/v1/api-keys/{key_id}",
    tags=["auth"],
    response_model=ApiKeyOut,
    responses=problem_responses(401, 403, 404),
)
def get_api_key(key_id: str, principal: KeysManager, session: SessionDep) -> ApiKey:
    return service.get_api_key(session, principal.organization_id, key_id)


@router.delete(
    "/v1/api-keys/{key_id}",
    tags=["auth"],
    response_model=ApiKeyOut,
    responses=problem_responses(401, 403, 404),
)
def revoke_api_key(
    key_id: str,
    principal: KeysManager,
    session: SessionDep,
    request: Request,
    background: BackgroundTasks,
) -> ApiKey:
    """Revoke a key. The worker that answers refuses it at once; every other API worker within
    `RECYCLATE_AUTH_CACHE_SECONDS` (5 s by default). Revoking twice is harmless."""
    key = service.revoke_api_key(session, principal.organization_id, key_id)
    _forget_credentials(request, background)
    return key


@router.post(
    "/v1/oauth-clients",
    tags=["auth"],
    status_code=201,
    response_model=OAuthClientCreated,
    responses=problem_responses(401, 403, 409, 415, 422),
    dependencies=[Idempotent],
)
def create_oauth_client(
    body: OAuthClientCreate, principal: KeysManager, session: SessionDep, response: Response
) -> OAuthClientCreated:
    """Register an OAuth2 client-credentials client (for ERP systems)."""
    client, secret = service.create_oauth_client(
        session, principal.organization_id, name=body.name, scopes=body.scopes
    )
    response.headers["Location"] = f"/v1/oauth-clients/{client.id}"
    return OAuthClientCreated.model_validate(
        {**OAuthClientOut.model_validate(client).model_dump(), "client_secret": secret}
    )


@router.get(
    "/v1/oauth-clients",
    tags=["auth"],
    response_model=Page[OAuthClientOut],
    responses=problem_responses(400, 401, 403, 422),
)
def list_oauth_clients(
    request: Request,
    response: Response,
    principal: KeysManager,
    session: SessionDep,
    limit: LimitQuery = 25,
    cursor: CursorQuery = None,
) -> dict[str, object]:
    rows, next_cursor = paginate(
        session,
        service.oauth_clients_of(principal.organization_id),
        CLIENT_ORDER,
        cursor=cursor,
        limit=limit,
    )
    set_link_header(request, response, next_cursor)
    return page_of([OAuthClientOut.model_validate(r) for r in rows], next_cursor)


@router.delete(
    "/v1/oauth-clients/{client_id}",
    tags=["auth"],
    response_model=OAuthClientOut,
    responses=problem_responses(401, 403, 404),
)
def revoke_oauth_client(
    client_id: str,
    principal: KeysManager,
    session: SessionDep,
    request: Request,
    background: BackgroundTasks,
) -> OAuthClient:
    """Revoke a client; its tokens stop working at once on the worker that answers, and on every
    other API worker within `RECYCLATE_AUTH_CACHE_SECONDS` (5 s by default)."""
    client = service.revoke_oauth_client(session, principal.organization_id, client_id)
    _forget_credentials(request, background)
    return client


def _forget_credentials(request: Request, background: BackgroundTasks) -> None:
    """Drop this worker's cached credentials now and again after the commit (a request racing
    the revocation cannot keep the old state cached)."""
    cache: CredentialCache = request.app.state.credential_cache
    cache.clear()
    background.add_task(cache.clear)
