"""Failed authentications per client address (app/auth/throttle.py): after the limit, the
address's unknown or uncached tokens get 429 before any database lookup; tokens this worker
has resolved recently still work."""

from __future__ import annotations

import pytest

from app.auth.throttle import FailedAuthThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_refused_after_the_limit_until_its_window_ends() -> None:
    clock = Clock()
    throttle = FailedAuthThrottle(3, 60, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") is None
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 60
    assert throttle.retry_after("10.0.0.2") is None  # per address
    clock.now += 59.5
    assert throttle.retry_after("10.0.0.1") == 1
    clock.now += 0.5
    assert throttle.retry_after("10.0.0.1") is None  # the window is over
    throttle.failed("10.0.0.1")  # a new window: one failure
    assert throttle.retry_after("10.0.0.1") is None


def test_tracking_is_bounded() -> None:
    clock = Clock()
    throttle = FailedAuthThrottle(1, 60, max_tracked=4, clock=clock)
    for i in range(4):
        throttle.failed(f"a{i}")
    clock.now += 61  # all four windows are over: dropped for a new address
    throttle.failed("b")
    assert len(throttle._windows) == 1
    for i in range(10):  # all current: the oldest half goes
        throttle.failed(f"c{i}")
    assert len(throttle._windows) <= 4
    assert throttle.retry_after("c9") is not None


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        FailedAuthThrottle(0)


def _small_limit(app, monkeypatch, limit: int = 3) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(app.state, "auth_throttle", FailedAuthThrottle(limit, 60))


def test_unknown_tokens_beyond_the_limit_get_429_without_a_lookup(
    client, app, recycler, monkeypatch
):  # type: ignore[no-untyped-def]
    _small_limit(app, monkeypatch)
    import app.auth.dependencies as deps

    lookups: list[str] = []
    real = deps._resolve
    monkeypatch.setattr(deps, "_resolve", lambda *a: lookups.append(a[1]) or real(*a))
    for i in range(3):
        r = client.get("/v1/organizations/me", headers={"Authorization": f"Bearer rcy_sk_x{i}"})
        assert r.status_code == 401
    assert len(lookups) == 3
    r = client.get("/v1/organizations/me", headers={"Authorization": "Bearer rcy_sk_guess"})
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "rate_limited"
    assert 0 < int(r.headers["retry-after"]) <= 60
    assert len(lookups) == 3  # refused before the lookup
    # a valid key not resolved by this worker yet waits too ...
    assert client.get("/v1/organizations/me", headers=recycler.headers).status_code == 429


def test_a_recently_resolved_token_still_works_from_a_refused_address(
    client, app, recycler, monkeypatch
):  # type: ignore[no-untyped-def]
    _small_limit(app, monkeypatch)
    assert client.get("/v1/organizations/me", headers=recycler.headers).status_code == 200
    for i in range(4):
        client.get("/v1/organizations/me", headers={"Authorization": f"Bearer rcy_sk_y{i}"})
    assert app.state.auth_throttle.retry_after("testclient") is not None
    assert client.get("/v1/organizations/me", headers=recycler.headers).status_code == 200


def test_missing_credentials_are_not_counted(client, app, monkeypatch):  # type: ignore[no-untyped-def]
    _small_limit(app, monkeypatch)
    for _ in range(5):
        assert client.get("/v1/organizations/me").status_code == 401
    assert app.state.auth_throttle.retry_after("testclient") is None


def test_wrong_client_secrets_count_too(client, app, manufacturer, monkeypatch):  # type: ignore[no-untyped-def]
    _small_limit(app, monkeypatch)
    made = client.post(
        "/v1/oauth-clients",
        json={"name": "erp", "scopes": ["org:read"]},
        headers=manufacturer.headers,
    )
    assert made.status_code == 201, made.text
    cl = made.json()
    form = {"grant_type": "client_credentials", "client_id": cl["id"]}
    for i in range(3):
        bad = client.post("/oauth2/token", data={**form, "client_secret": f"guess{i}"})
        assert bad.status_code == 401
    # now even the right secret waits: the exchange is refused before the lookup
    right = client.post("/oauth2/token", data={**form, "client_secret": cl["client_secret"]})
    assert right.status_code == 429
    assert right.json()["code"] == "rate_limited"
    assert "retry-after" in right.headers
    app.state.auth_throttle.clear()
    ok = client.post("/oauth2/token", data={**form, "client_secret": cl["client_secret"]})
    assert ok.status_code == 200
