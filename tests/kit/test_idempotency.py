from __future__ import annotations

import datetime as dt

from app.auth.models import ApiKey
from app.kit.db import utcnow
from app.kit.idempotency import IdempotencyRecord


def _keys(db, org_id, name):
    with db.transaction() as s:
        return s.query(ApiKey).filter_by(organization_id=org_id, name=name).count()


def test_replay_returns_first_response_and_writes_once(client, recycler, db):
    h = {**recycler.headers, "Idempotency-Key": "k-1"}
    first = client.post("/v1/api-keys", json={"name": "once"}, headers=h)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    second = client.post("/v1/api-keys", json={"name": "once"}, headers=h)
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert second.headers["location"] == first.headers["location"]
    assert _keys(db, recycler.id, "once") == 1


def test_same_key_other_body_is_422(client, recycler, db):
    h = {**recycler.headers, "Idempotency-Key": "k-2"}
    assert client.post("/v1/api-keys", json={"name": "a"}, headers=h).status_code == 201
    r = client.post("/v1/api-keys", json={"name": "b"}, headers=h)
    assert r.status_code == 422
    assert r.json()["code"] == "idempotency_key_reused"
    assert _keys(db, recycler.id, "b") == 0


def test_keys_are_scoped_per_organisation(client, recycler, recycler2, db):
    h1 = {**recycler.headers, "Idempotency-Key": "shared"}
    h2 = {**recycler2.headers, "Idempotency-Key": "shared"}
    a = client.post("/v1/api-keys", json={"name": "s"}, headers=h1)
    b = client.post("/v1/api-keys", json={"name": "s"}, headers=h2)
    assert a.status_code == b.status_code == 201
    assert "idempotent-replayed" not in b.headers
    assert a.json()["id"] != b.json()["id"]


def test_in_flight_duplicate_is_409(client, recycler, db):
    now = utcnow()
    with db.transaction() as s:
        s.add(
            IdempotencyRecord(
                organization_id=recycler.id,
                key="busy",
                request_hash="0" * 64,
                method="POST",
                path="/v1/api-keys",
                created_at=now,
                expires_at=now + dt.timedelta(hours=1),
            )
        )
    import hashlib

    body = b'{"name":"x"}'
    digest = hashlib.sha256(b"POST\n/v1/api-keys\n\n" + body).hexdigest()
    with db.transaction() as s:
        s.query(IdempotencyRecord).filter_by(key="busy").update({"request_hash": digest})
    r = client.post(
        "/v1/api-keys",
        content=body,
        headers={**recycler.headers, "Idempotency-Key": "busy", "content-type": "application/json"},
    )
    assert r.status_code == 409
    assert r.json()["code"] == "idempotency_in_flight"
    assert r.headers["retry-after"]


def test_expired_key_is_forgotten(client, recycler, db):
    h = {**recycler.headers, "Idempotency-Key": "old"}
    client.post("/v1/api-keys", json={"name": "old1"}, headers=h)
    with db.transaction() as s:
        s.query(IdempotencyRecord).filter_by(key="old").update(
            {"expires_at": utcnow() - dt.timedelta(seconds=1)}
        )
    r = client.post("/v1/api-keys", json={"name": "old2"}, headers=h)
    assert r.status_code == 201
    assert "idempotent-replayed" not in r.headers


def test_failed_request_does_not_burn_the_key(client, recycler):
    h = {**recycler.headers, "Idempotency-Key": "retry-me"}
    bad = client.post("/v1/api-keys", json={"name": ""}, headers=h)
    assert bad.status_code == 422
    good = client.post("/v1/api-keys", json={"name": "fixed"}, headers=h)
    assert good.status_code == 201


def test_invalid_key_header(client, recycler):
    r = client.post(
        "/v1/api-keys",
        json={"name": "x"},
        headers={**recycler.headers, "Idempotency-Key": "x" * 300},
    )
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_idempotency_key"


def test_purge_removes_only_expired_keys(client, recycler, db):
    from app.kit.idempotency import purge_expired

    for key in ("keep", "drop"):
        h = {**recycler.headers, "Idempotency-Key": key}
        client.post("/v1/api-keys", json={"name": key}, headers=h)
    with db.transaction() as s:
        s.query(IdempotencyRecord).filter_by(key="drop").update(
            {"expires_at": utcnow() - dt.timedelta(seconds=1)}
        )
    with db.transaction() as s:
        assert purge_expired(s) == 1
    with db.transaction() as s:
        assert [r.key for r in s.query(IdempotencyRecord).all()] == ["keep"]
