"""Credentials: API keys, OAuth clients and access tokens. Secrets are shown once, stored hashed."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from app.auth.models import AccessToken, ApiKey, OAuthClient
from app.auth.scopes import ALL_SCOPES
from app.kit.db import utcnow
from app.kit.problems import ProblemError, not_found
from app.orgs.models import Organization

API_KEY_PREFIX = "rcy_sk_"
CLIENT_SECRET_PREFIX = "rcy_cs_"  # noqa: S105 (a prefix, not a secret)
ACCESS_TOKEN_PREFIX = "rcy_at_"  # noqa: S105
VISIBLE_CHARS = 8


def hash_secret(secret: str) -> str:
    # Secrets are 256-bit random values, so a fast hash is safe (no brute force possible).
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    """Who is calling: an organisation, through one credential, with scopes."""

    organization_id: str
    organization_role: str
    credential_id: str
    credential_kind: str  # "api_key" | "oauth_token"
    scopes: frozenset[str]

    @property
    def sells(self) -> bool:
        return self.organization_role in ("recycler", "both")

    @property
    def buys(self) -> bool:
        return self.organization_role in ("manufacturer", "both")


@dataclass(frozen=True)
class Credential:
    """What a bearer token resolved to."""

    principal: Principal
    api_key_id: str | None  # set for API keys: their last use is recorded
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None

    def valid_at(self, now: dt.datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


def _scopes(requested: Iterable[str] | None) -> list[str]:
    return sorted(set(requested)) if requested is not None else sorted(ALL_SCOPES)


# --- API keys ---------------------------------------------------------------------------


def api_keys_of(organization_id: str) -> Select[ApiKey]:
    """The one scoped statement every API-key query starts from."""
    return select(ApiKey).where(ApiKey.organization_id == organization_id)


def create_api_key(
    session: Session,
    organization_id: str,
    *,
    name: str,
    scopes: Iterable[str] | None = None,
    expires_at: dt.datetime | None = None,
) -> tuple[ApiKey, str]:
    secret = _new_secret(API_KEY_PREFIX)
    key = ApiKey(
        organization_id=organization_id,
        name=name,
        prefix=secret[: len(API_KEY_PREFIX) + VISIBLE_CHARS],
        secret_hash=hash_secret(secret),
        scopes=_scopes(scopes),
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    return key, secret


def get_api_key(session: Session, organization_id: str, key_id: str) -> ApiKey:
    key = session.scalar(api_keys_of(organization_id).where(ApiKey.id == key_id))
    if key is None:
        raise not_found("API key")
    return key


def revoke_api_key(session: Session, organization_id: str, key_id: str) -> ApiKey:
    key = get_api_key(session, organization_id, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return key


# --- OAuth2 client credentials ---------------------------------------------------------


def oauth_clients_of(organization_id: str) -> Select[OAuthClient]:
    return select(OAuthClient).where(OAuthClient.organization_id == organization_id)


def create_oauth_client(
    session: Session, organization_id: str, *, name: str, scopes: Iterable[str] | None = None
) -> tuple[OAuthClient, str]:
    secret = _new_secret(CLIENT_SECRET_PREFIX)
    client = OAuthClient(
        organization_id=organization_id,
        name=name,
        secret_hash=hash_secret(secret),
        scopes=_scopes(scopes),
        created_at=utcnow(),
    )
    session.add(client)
    session.flush()
    return client, secret


def revoke_oauth_client(session: Session, organization_id: str, client_id: str) -> OAuthClient:
    client = session.scalar(oauth_clients_of(organization_id).where(OAuthClient.id == client_id))
    if client is None:
        raise not_found("OAuth client")
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        session.flush()
    return client


def _invalid_client() -> ProblemError:
    return ProblemError(
        401,
        "invalid_client",
        "Unknown client or wrong secret.",
        headers={"WWW-Authenticate": 'Basic realm="recyclate"'},
        extra={"error": "invalid_client"},
    )


def issue_token(
    session: Session,
    *,
    client_id: str,
    client_secret: str,
    requested_scopes: list[str] | None,
    ttl_seconds: int,
) -> tuple[str, AccessToken]:
    client = session.get(OAuthClient, client_id) if len(client_id) <= 40 else None
    if client is None or client.revoked_at is not None:
        raise _invalid_client()
    if not hmac.compare_digest(client.secret_hash, hash_secret(client_secret)):
        raise _invalid_client()
    granted = set(client.scopes)
    if requested_scopes:
        extra = set(requested_scopes) - granted
        if extra:
            raise ProblemError(
                400,
                "invalid_scope",
                f"Scope(s) not granted to this client: {', '.join(sorted(extra))}",
                title="Invalid scope",
                extra={"error": "invalid_scope"},
            )
        granted = set(requested_scopes)
    now = utcnow()
    token = _new_secret(ACCESS_TOKEN_PREFIX)
    row = AccessToken(
        client_id=client.id,
        organization_id=client.organization_id,
        token_hash=hash_secret(token),
        scopes=sorted(granted),
        created_at=now,
        expires_at=now + dt.timedelta(seconds=ttl_seconds),
    )
    client.last_used_at = now
    session.add(row)
    session.flush()
    return token, row


# --- Authentication --------------------------------------------------------------------


def authenticate(session: Session, token: str) -> Credential | None:
    """Resolve a bearer token, or None when it is unknown, expired or revoked."""
    return resolve_digest(session, token[: len(API_KEY_PREFIX)], hash_secret(token))


def resolve_digest(session: Session, prefix: str, digest: str) -> Credential | None:
    """Resolve a token given its prefix and SHA-256 digest (the form a cache keys it by)."""
    now = utcnow()
    if prefix == API_KEY_PREFIX:
        row = session.execute(
            select(ApiKey, Organization.role)
            .join(Organization, Organization.id == ApiKey.organization_id)
            .where(ApiKey.secret_hash == digest)
        ).first()
        if row is None:
            return None
        key, role = row
        if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
            return None
        principal = Principal(key.organization_id, role, key.id, "api_key", frozenset(key.scopes))
        return Credential(principal, key.id, key.last_used_at, key.expires_at)
    if prefix == ACCESS_TOKEN_PREFIX:
        trow = session.execute(
            select(AccessToken, Organization.role, OAuthClient.revoked_at)
            .join(Organization, Organization.id == AccessToken.organization_id)
            .join(OAuthClient, OAuthClient.id == AccessToken.client_id)
            .where(AccessToken.token_hash == digest)
        ).first()
        if trow is None:
            return None
        tok, role, client_revoked = trow
        if tok.expires_at <= now or client_revoked is not None:
            return None
        principal = Principal(
            tok.organization_id, role, tok.client_id, "oauth_token", frozenset(tok.scopes)
        )
        return Credential(principal, None, None, tok.expires_at)
    return None


def touch_api_key(session: Session, key_id: str, interval_seconds: int) -> None:
    """Record last use, at most once per interval (keeps reads from becoming writes)."""
    now = utcnow()
    threshold = now - dt.timedelta(seconds=interval_seconds)
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < threshold),
        )
        .values(last_used_at=now)
    )
