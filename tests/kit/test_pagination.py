from __future__ import annotations

import base64

import pytest


def test_cursor_pagination_walks_every_item_once(client, recycler):
    created = {client.get("/v1/api-keys", headers=recycler.headers).json()["data"][0]["id"]}
    for i in range(11):
        r = client.post("/v1/api-keys", json={"name": f"k{i}"}, headers=recycler.headers)
        created.add(r.json()["id"])
    seen: list[str] = []
    url = "/v1/api-keys?limit=5"
    pages = 0
    while True:
        r = client.get(url, headers=recycler.headers)
        assert r.status_code == 200
        page = r.json()
        seen.extend(item["id"] for item in page["data"])
        pages += 1
        if not page["has_more"]:
            assert page["next_cursor"] is None
            assert "link" not in r.headers
            break
        assert len(page["data"]) == 5
        link = r.headers["link"]
        assert link.endswith('rel="next"')
        assert page["next_cursor"] in link
        url = f"/v1/api-keys?limit=5&cursor={page['next_cursor']}"
    assert pages == 3
    assert len(seen) == len(set(seen)) == 12
    assert set(seen) == created
    assert seen == sorted(seen, reverse=True)  # newest first


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        base64.urlsafe_b64encode(b'{"o":"other","k":["x"]}').decode(),
        base64.urlsafe_b64encode(b'{"o":"id_desc","k":[1,2,3]}').decode(),
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        "A" * 500,
    ],
)
def test_malformed_cursor_is_400(client, recycler, cursor):
    r = client.get(f"/v1/api-keys?cursor={cursor}", headers=recycler.headers)
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_cursor"


def test_cursor_too_long_is_422(client, recycler):
    r = client.get("/v1/api-keys?cursor=" + "A" * 600, headers=recycler.headers)
    assert r.status_code == 422
