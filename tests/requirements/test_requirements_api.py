"""Requirements CRUD: owner-only (404 across organisations), buyers only, ETags, idempotency,
pagination, bad specs as problem+json."""

from __future__ import annotations

import pytest

from tests.matching.helpers import post_requirement, spec


def test_create_get_list_and_etag(client, manufacturer):
    r = post_requirement(client, manufacturer, spec(), name="PP crates")
    assert r.status_code == 201, r.text
    req = r.json()
    assert req["id"].startswith("req_")
    assert r.headers["location"] == f"/v1/requirements/{req['id']}"
    assert req["status"] == "open"
    assert req["spec"]["polymers"]["values"] == ["PP"]
    # the delivery location is resolved to coordinates when saved
    assert req["spec"]["delivery_location"]["latitude"] == pytest.approx(51.4, abs=0.5)
    etag = r.headers["etag"]
    got = client.get(f"/v1/requirements/{req['id']}", headers=manufacturer.headers)
    assert got.json()["name"] == "PP crates"
    again = client.get(
        f"/v1/requirements/{req['id']}", headers={**manufacturer.headers, "If-None-Match": etag}
    )
    assert again.status_code == 304
    listed = client.get("/v1/requirements", headers=manufacturer.headers).json()
    assert [x["id"] for x in listed["data"]] == [req["id"]]


def test_list_pagination(client, manufacturer):
    ids = [post_requirement(client, manufacturer, spec()).json()["id"] for _ in range(3)]
    page = client.get("/v1/requirements?limit=2", headers=manufacturer.headers)
    body = page.json()
    assert body["has_more"] is True
    assert 'rel="next"' in page.headers["link"]
    rest = client.get(
        f"/v1/requirements?limit=2&cursor={body['next_cursor']}", headers=manufacturer.headers
    ).json()
    assert [x["id"] for x in body["data"] + rest["data"]] == sorted(ids, reverse=True)
    assert rest["has_more"] is False


def test_other_organisation_gets_404(client, manufacturer, manufacturer2):
    r = post_requirement(client, manufacturer, spec())
    rid, etag = r.json()["id"], r.headers["etag"]
    h = {**manufacturer2.headers, "If-Match": etag}
    assert client.get(f"/v1/requirements/{rid}", headers=h).status_code == 404
    assert client.patch(f"/v1/requirements/{rid}", json={"name": "x"}, headers=h).status_code == 404
    assert client.delete(f"/v1/requirements/{rid}", headers=h).status_code == 404
    assert client.get(f"/v1/requirements/{rid}/matches", headers=h).status_code == 404
    assert client.get(f"/v1/requirements/{rid}/events", headers=h).status_code == 404
    assert client.get("/v1/requirements", headers=h).json()["data"] == []
    nf = client.get(f"/v1/requirements/{rid}", headers=h)
    assert nf.headers["content-type"].startswith("application/problem+json")


def test_only_buyers_create_and_scope_required(client, recycler, make_org):
    r = post_requirement(client, recycler, spec())
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden"
    reader = make_org("manufacturer", scopes=["requirements:read"])
    assert post_requirement(client, reader, spec()).status_code == 403


def test_patch_needs_if_match_and_close(client, manufacturer):
    r = post_requirement(client, manufacturer, spec())
    rid, etag = r.json()["id"], r.headers["etag"]
    url = f"/v1/requirements/{rid}"
    assert client.patch(url, json={"name": "n"}, headers=manufacturer.headers).status_code == 428
    stale = client.patch(
        url, json={"name": "n"}, headers={**manufacturer.headers, "If-Match": '"x"'}
    )
    assert stale.status_code == 412
    new_spec = spec(polymers={"values": ["PE"], "include_subtypes": True})
    ok = client.patch(
        url,
        json={"name": "PE film", "saved_search": True, "spec": new_spec},
        headers={**manufacturer.headers, "If-Match": etag},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["spec"]["polymers"] == {
        "values": ["PE"],
        "include_subtypes": True,
        "hard": True,
        "weight": 1.0,
        "if_missing": "fail",
    }
    assert ok.json()["saved_search"] is True
    closed = client.delete(url, headers={**manufacturer.headers, "If-Match": ok.headers["etag"]})
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"
    assert closed.json()["saved_search"] is False
    again = client.patch(
        url,
        json={"name": "z"},
        headers={**manufacturer.headers, "If-Match": closed.headers["etag"]},
    )
    assert again.status_code == 409


def test_idempotent_create(client, manufacturer):
    h = {**manufacturer.headers, "Idempotency-Key": "req-1"}
    body = {"name": "a", "spec": spec()}
    first = client.post("/v1/requirements", json=body, headers=h)
    second = client.post("/v1/requirements", json=body, headers=h)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] == second.json()["id"]
    other = client.post("/v1/requirements", json={**body, "name": "b"}, headers=h)
    assert other.status_code == 422


def _window(**kw):
    base = {"property": "Density", "unit": "g/cm3", "min": 0.9, "max": 0.95}
    base.update(kw)
    return base


@pytest.mark.parametrize(
    ("bad_spec", "pointer", "code"),
    [
        (spec(properties=[_window(min=0.96)]), "/spec/properties/0", "min_greater_than_max"),
        (spec(properties=[_window(target=1.2)]), "/spec/properties/0", "target_outside_window"),
        (spec(properties=[_window(unit="g/10min")]), "/spec/properties/0", "incompatible_unit"),
        (spec(properties=[_window(unit="furlong")]), "/spec/properties/0", "unknown_unit"),
        (
            spec(properties=[_window(property="Viscosity", unit="g/10min", min=1, max=5)]),
            "/spec/properties/0",
            "missing_conditions",
        ),
        (spec(properties=[_window(colour="red")]), "/spec/properties/0/colour", "extra_forbidden"),
        (spec(bogus=True), "/spec/bogus", "extra_forbidden"),
        (
            spec(quantity={"min": {"value": 30, "unit": "t"}, "max": {"value": 2, "unit": "t"}}),
            "/spec/quantity",
            "min_greater_than_max",
        ),
        (spec(polymers={"values": ["XYZ"]}), "/spec/polymers/values", "unknown_polymer_code"),
        (spec(min_dql={"min": "2"}), "/spec/min_dql/min", "int_type"),
        (
            spec(delivery_window={"start": "2026-12-01", "end": "2026-11-01"}),
            "/spec/delivery_window",
            "end_before_start",
        ),
        (
            spec(delivery_location={"country": "DE", "postcode": "ABCDE"}),
            "/spec/delivery_location/postcode",
            "malformed_postcode",
        ),
    ],
)
def test_bad_specs_are_problems(client, manufacturer, bad_spec, pointer, code):
    r = post_requirement(client, manufacturer, bad_spec)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = r.json()["errors"]
    assert any(e["pointer"] == pointer and e["code"] == code for e in errors), errors
    # the unsaved search answers the same way (pointers relative to its body)
    s = client.post("/v1/matches/search", json=bad_spec, headers=manufacturer.headers)
    assert s.status_code == 422
    assert any(e["pointer"] == pointer.removeprefix("/spec") for e in s.json()["errors"])
