from __future__ import annotations

import base64
import datetime as dt

import pytest

from app.auth.models import ApiKey
from app.kit.db import utcnow


def test_missing_credentials_is_401_with_www_authenticate(client):
    r = client.get("/v1/organizations/me")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer")
    body = r.json()
    assert body["code"] == "unauthenticated"
    assert body["status"] == 401
    assert body["request_id"] == r.headers["x-request-id"]


@pytest.mark.parametrize(
    "header",
    ["Bearer rcy_sk_doesnotexist", "Bearer " + "x" * 500, "Basic Zm9vOmJhcg==", "Bearer"],
)
def test_invalid_credentials_are_401(client, header):
    r = client.get("/v1/organizations/me", headers={"Authorization": header})
    assert r.status_code == 401
    assert r.json()["code"] in {"invalid_credentials", "unauthenticated"}


def test_revoked_key_stops_working(client, recycler):
    me = client.get("/v1/api-keys", headers=recycler.headers).json()["data"][0]
    assert client.delete(f"/v1/api-keys/{me['id']}", headers=recycler.headers).status_code == 200
    r = client.get("/v1/organizations/me", headers=recycler.headers)
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_credentials"


def test_expired_key_is_rejected(client, recycler, db):
    with db.transaction() as s:
        key = s.query(ApiKey).filter_by(organization_id=recycler.id).one()
        key.expires_at = utcnow() - dt.timedelta(seconds=1)
    assert client.get("/v1/organizations/me", headers=recycler.headers).status_code == 401


def test_missing_scope_is_403(client, make_org):
    org = make_org("recycler", scopes=["lots:read"])
    r = client.get("/v1/organizations/me", headers=org.headers)
    assert r.status_code == 403
    assert r.json()["code"] == "insufficient_scope"
    assert 'scope="org:read"' in r.headers["www-authenticate"]


def test_created_key_is_shown_once_and_works(client, recycler):
    r = client.post(
        "/v1/api-keys", json={"name": "erp", "scopes": ["org:read"]}, headers=recycler.headers
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"].startswith(created["prefix"])
    assert r.headers["location"] == f"/v1/api-keys/{created['id']}"
    new_headers = {"Authorization": f"Bearer {created['secret']}"}
    assert client.get("/v1/organizations/me", headers=new_headers).json()["id"] == recycler.id
    # never shown again
    listed = client.get(f"/v1/api-keys/{created['id']}", headers=recycler.headers).json()
    assert "secret" not in listed
    # the new key has only org:read
    assert client.get("/v1/api-keys", headers=new_headers).status_code == 403


def test_unknown_scope_is_422(client, recycler):
    r = client.post(
        "/v1/api-keys", json={"name": "x", "scopes": ["root"]}, headers=recycler.headers
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/scopes"


def test_last_used_is_recorded(client, recycler, db):
    client.get("/v1/organizations/me", headers=recycler.headers)
    with db.transaction() as s:
        key = s.query(ApiKey).filter_by(organization_id=recycler.id).one()
        assert key.last_used_at is not None


def test_keys_of_other_org_are_404(client, recycler, recycler2):
    other = client.get("/v1/api-keys", headers=recycler2.headers).json()["data"][0]["id"]
    assert client.get(f"/v1/api-keys/{other}", headers=recycler.headers).status_code == 404
    r = client.delete(f"/v1/api-keys/{other}", headers=recycler.headers)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    # and it still works for its owner
    assert client.get("/v1/organizations/me", headers=recycler2.headers).status_code == 200


def _client_for(client, org, scopes=None):
    r = client.post(
        "/v1/oauth-clients", json={"name": "sap", "scopes": scopes}, headers=org.headers
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_oauth_client_credentials_flow(client, manufacturer):
    cl = _client_for(client, manufacturer, ["org:read", "forecasts:read"])
    r = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": cl["id"],
            "client_secret": cl["client_secret"],
            "scope": "org:read",
        },
    )
    assert r.status_code == 200, r.text
    tok = r.json()
    assert tok["token_type"] == "Bearer"
    assert tok["scope"] == "org:read"
    assert tok["expires_in"] > 0
    h = {"Authorization": f"Bearer {tok['access_token']}"}
    assert client.get("/v1/organizations/me", headers=h).json()["id"] == manufacturer.id
    # token narrowed to org:read cannot manage keys
    assert client.get("/v1/api-keys", headers=h).status_code == 403
    # HTTP Basic works too
    basic = base64.b64encode(f"{cl['id']}:{cl['client_secret']}".encode()).decode()
    r2 = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r2.status_code == 200
    assert set(r2.json()["scope"].split()) == {"org:read", "forecasts:read"}
    # revoking the client kills its tokens
    client.delete(f"/v1/oauth-clients/{cl['id']}", headers=manufacturer.headers)
    assert client.get("/v1/organizations/me", headers=h).status_code == 401


def test_oauth_errors(client, manufacturer):
    cl = _client_for(client, manufacturer, ["org:read"])
    bad = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": cl["id"], "client_secret": "nope"},
    )
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    grant = client.post("/oauth2/token", data={"grant_type": "password"})
    assert grant.status_code == 400
    assert grant.json()["error"] == "unsupported_grant_type"
    scope = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": cl["id"],
            "client_secret": cl["client_secret"],
            "scope": "lots:write",
        },
    )
    assert scope.status_code == 400
    assert scope.json()["error"] == "invalid_scope"


def test_expired_access_token(client, manufacturer, db):
    from app.auth.models import AccessToken

    cl = _client_for(client, manufacturer)
    tok = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": cl["id"],
            "client_secret": cl["client_secret"],
        },
    ).json()["access_token"]
    with db.transaction() as s:
        for row in s.query(AccessToken).all():
            row.expires_at = utcnow() - dt.timedelta(seconds=1)
    r = client.get("/v1/organizations/me", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 401


# --- the per-worker credential cache ---------------------------------------------------------


def _revoke_in_db(db, org_id: str) -> None:
    """Revoke behind the API's back (as another worker would): this worker's cache still
    holds the key until its TTL runs out or the cache is cleared."""
    with db.transaction() as s:
        key = s.query(ApiKey).filter_by(organization_id=org_id).one()
        key.revoked_at = utcnow()


def test_resolved_credentials_are_cached_for_the_ttl(client, app, recycler, db):
    cache = app.state.credential_cache
    assert cache.ttl == 5.0  # the documented default
    assert client.get("/v1/organizations/me", headers=recycler.headers).status_code == 200
    assert len(cache) == 1
    _revoke_in_db(db, recycler.id)
    # another worker revoked it: this one answers from its cache until the TTL runs out ...
    assert client.get("/v1/organizations/me", headers=recycler.headers).status_code == 200
    cache.clear()  # ... which clear() stands in for
    assert client.get("/v1/organizations/me", headers=recycler.headers).status_code == 401


def test_cache_entries_expire_after_the_ttl(client, app, recycler, db, monkeypatch):
    import time

    cache = app.state.credential_cache
    assert client.get("/v1/organizations/me", headers=recycler.headers).status_code == 200
    _revoke_in_db(db, recycler.id)
    later = time.monotonic() + cache.ttl + 0.01
    monkeypatch.setattr("app.auth.cache.time.monotonic", lambda: later)
    assert client.get("/v1/organizations/me", headers=recycler.headers).status_code == 401


def test_revocation_through_the_api_clears_the_cache_at_once(client, app, recycler, make_org):
    other = make_org("recycler")
    assert client.get("/v1/organizations/me", headers=other.headers).status_code == 200
    me = client.get("/v1/api-keys", headers=recycler.headers).json()["data"][0]
    assert client.delete(f"/v1/api-keys/{me['id']}", headers=recycler.headers).status_code == 200
    assert len(app.state.credential_cache) == 0
    assert client.get("/v1/api-keys", headers=recycler.headers).status_code == 401
    assert client.get("/v1/organizations/me", headers=other.headers).status_code == 200


def test_expiry_is_checked_on_every_cache_hit(client, app, recycler, db, monkeypatch):
    with db.transaction() as s:
        key = s.query(ApiKey).filter_by(organization_id=recycler.id).one()
        key.expires_at = utcnow() + dt.timedelta(seconds=2)
    assert client.get("/v1/organizations/me", headers=recycler.headers).status_code == 200
    assert len(app.state.credential_cache) == 1
    soon = utcnow() + dt.timedelta(seconds=3)
    monkeypatch.setattr("app.auth.dependencies.utcnow", lambda: soon)
    assert client.get("/v1/organizations/me", headers=recycler.headers).status_code == 401


def test_unknown_tokens_are_never_cached(client, app):
    for i in range(5):
        h = {"Authorization": f"Bearer rcy_sk_unknown{i}"}
        assert client.get("/v1/organizations/me", headers=h).status_code == 401
    assert len(app.state.credential_cache) == 0


def test_ttl_zero_turns_the_cache_off(recycler, db, database_url):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(database_url, auth_cache_seconds=0), db=db)
    with TestClient(app) as c:
        assert c.get("/v1/organizations/me", headers=recycler.headers).status_code == 200
        assert len(app.state.credential_cache) == 0
        _revoke_in_db(db, recycler.id)
        assert c.get("/v1/organizations/me", headers=recycler.headers).status_code == 401


def test_last_use_is_scheduled_once_per_interval_with_the_cache(client, app, recycler, db):
    import app.auth.dependencies as deps

    calls: list[str] = []
    original = deps._touch
    deps._touch = lambda db_, key_id, interval: calls.append(key_id)  # type: ignore[assignment]
    try:
        for _ in range(5):
            assert client.get("/v1/organizations/me", headers=recycler.headers).status_code == 200
    finally:
        deps._touch = original
    assert len(calls) == 1
