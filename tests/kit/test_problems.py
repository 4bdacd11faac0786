"""Bad input never yields a 500 and always yields problem+json."""

from __future__ import annotations

import pytest

from app.auth.models import ApiKey


def _count_keys(db, org_id):
    with db.transaction() as s:
        return s.query(ApiKey).filter_by(organization_id=org_id).count()


def _assert_problem(r, status, code=None):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert {"type", "title", "status", "detail", "instance", "code", "request_id"} <= set(body)
    assert body["status"] == status
    if code:
        assert body["code"] == code
    return body


def test_malformed_json_is_400(client, recycler, db):
    before = _count_keys(db, recycler.id)
    r = client.post(
        "/v1/api-keys",
        content=b'{"name": ',
        headers={**recycler.headers, "content-type": "application/json"},
    )
    _assert_problem(r, 400, "malformed_json")
    assert _count_keys(db, recycler.id) == before


def test_wrong_types_are_422_with_pointers(client, recycler):
    r = client.post("/v1/api-keys", json={"name": 5, "scopes": "x"}, headers=recycler.headers)
    body = _assert_problem(r, 422, "validation_failed")
    pointers = {e["pointer"] for e in body["errors"]}
    assert pointers == {"/name", "/scopes"}
    assert all(e["code"] and e["detail"] for e in body["errors"])


def test_wrong_content_type_is_415(client, recycler):
    r = client.post(
        "/v1/api-keys",
        content=b"name=x",
        headers={**recycler.headers, "content-type": "application/x-www-form-urlencoded"},
    )
    _assert_problem(r, 415, "unsupported_media_type")


def test_oversized_body_is_413(client, recycler, db):
    big = b'{"name": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    r = client.post(
        "/v1/api-keys",
        content=big,
        headers={**recycler.headers, "content-type": "application/json"},
    )
    _assert_problem(r, 413, "payload_too_large")


def test_oversized_chunked_body_is_413(client, recycler):
    def gen():
        yield b'{"name": "'
        for _ in range(40):
            yield b"a" * 65536
        yield b'"}'

    r = client.post(
        "/v1/api-keys",
        content=gen(),
        headers={**recycler.headers, "content-type": "application/json"},
    )
    _assert_problem(r, 413, "payload_too_large")


@pytest.mark.parametrize(
    "payload",
    [b'{"name": "a\\u0000b"}', b'{"name": "a\x00b"}'],
)
def test_nul_bytes_in_body_are_400(client, recycler, db, payload):
    before = _count_keys(db, recycler.id)
    r = client.post(
        "/v1/api-keys",
        content=payload,
        headers={**recycler.headers, "content-type": "application/json"},
    )
    _assert_problem(r, 400, "nul_byte")
    assert _count_keys(db, recycler.id) == before


def test_escaped_backslash_before_u0000_is_not_a_nul(client, recycler):
    # "a\\u0000" is a backslash followed by the text u0000: legal, not a NUL
    r = client.post(
        "/v1/api-keys",
        content=b'{"name": "a\\\\u0000"}',
        headers={**recycler.headers, "content-type": "application/json"},
    )
    assert r.status_code == 201, r.text


def test_nul_in_query_is_400(client, recycler):
    r = client.get("/v1/api-keys?cursor=%00", headers=recycler.headers)
    _assert_problem(r, 400, "nul_byte")


@pytest.mark.parametrize("limit", ["1e400", "99999999999999999999999999", "-1", "abc", "0"])
def test_absurd_numbers_in_query_are_422(client, recycler, limit):
    r = client.get(f"/v1/api-keys?limit={limit}", headers=recycler.headers)
    _assert_problem(r, 422, "validation_failed")


def test_absurd_dates_are_422(client, recycler):
    for value in ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-13-45", "2026-01-01T00:00"]:
        r = client.post(
            "/v1/api-keys", json={"name": "x", "expires_at": value}, headers=recycler.headers
        )
        _assert_problem(r, 422, "validation_failed")


def test_absurd_json_numbers_are_rejected(client, recycler):
    r = client.post(
        "/v1/api-keys",
        content=b'{"name": 1e400}',
        headers={**recycler.headers, "content-type": "application/json"},
    )
    assert r.status_code in (400, 422)
    assert r.headers["content-type"] == "application/problem+json"


def test_unknown_route_and_method(client, recycler):
    _assert_problem(client.get("/v1/nothing", headers=recycler.headers), 404, "not_found")
    _assert_problem(client.put("/v1/api-keys", headers=recycler.headers), 405, "method_not_allowed")


def test_problem_type_is_documented(client):
    r = client.get("/problems/validation_failed")
    assert r.json()["status"] == 422
    assert r.json()["known"] is True
