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
