from __future__ import annotations


def test_me_etag_304_and_if_match(client, recycler):
    r = client.get("/v1/organizations/me", headers=recycler.headers)
    assert r.status_code == 200
    etag = r.headers["etag"]
    r304 = client.get("/v1/organizations/me", headers={**recycler.headers, "If-None-Match": etag})
    assert r304.status_code == 304
    assert r304.content == b""
    # PATCH without If-Match: 428
    r428 = client.patch("/v1/organizations/me", json={"name": "New"}, headers=recycler.headers)
    assert r428.status_code == 428
    assert r428.json()["code"] == "precondition_required"
    # stale If-Match: 412, nothing changed
    r412 = client.patch(
        "/v1/organizations/me",
        json={"name": "New"},
        headers={**recycler.headers, "If-Match": '"stale"'},
    )
    assert r412.status_code == 412
    assert client.get("/v1/organizations/me", headers=recycler.headers).json()["name"] != "New"
    # right If-Match: 200 and a new ETag; the old one no longer matches
    ok = client.patch(
        "/v1/organizations/me",
        json={"name": "New", "country": "AT"},
        headers={**recycler.headers, "If-Match": etag},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["name"] == "New"
    assert ok.headers["etag"] != etag
    again = client.get("/v1/organizations/me", headers={**recycler.headers, "If-None-Match": etag})
    assert again.status_code == 200
    assert again.json()["version"] == 2


def test_public_profile_and_unknown_org(client, recycler, manufacturer):
    r = client.get(f"/v1/organizations/{recycler.id}", headers=manufacturer.headers)
    assert r.status_code == 200
    assert set(r.json()) == {"id", "name", "role", "verification_status", "country"}
    missing = client.get("/v1/organizations/org_nope", headers=manufacturer.headers)
    assert missing.status_code == 404


def test_patch_validation(client, recycler):
    etag = client.get("/v1/organizations/me", headers=recycler.headers).headers["etag"]
    h = {**recycler.headers, "If-Match": etag}
    r = client.patch("/v1/organizations/me", json={"country": "germany"}, headers=h)
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/country"
    r = client.patch("/v1/organizations/me", json={"unknown": 1}, headers=h)
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "extra_forbidden"
