"""Rate limits per credential (app/kit/ratelimit.py): the pure limiter with an in-memory store
and a fake clock, the database store on both databases, and the HTTP surface."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.kit.ratelimit import DatabaseCounterStore, RateLimitCounter, RateLimiter
from tests.conftest import BoundDatabase, OrgCtx


class MemoryStore:
    """The database store's contract, in memory, counting its calls."""

    def __init__(self) -> None:
        self.reserved: dict[tuple[str, int], int] = {}
        self.calls = 0
        self.grants: list[int] = []
        self.lock = threading.Lock()

    def reserve(
        self, credential_id: str, window_start: int, want: int, limit: int
    ) -> tuple[int, int]:
        with self.lock:
            self.calls += 1
            current = self.reserved.get((credential_id, window_start), 0)
            grant = min(want, limit - current)
            if grant <= 0:
                return 0, current
            self.reserved[(credential_id, window_start)] = current + grant
            self.grants.append(grant)
            return grant, current + grant


class Clock:
    def __init__(self, now: float = 1_000_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _take(limiter: RateLimiter, cred: str = "key_a"):  # type: ignore[no-untyped-def]
    return limiter.take(cred) or limiter.take_reserving(cred)


def test_allows_exactly_the_limit_then_429_until_the_window_ends() -> None:
    clock = Clock(3600 * 1000 + 10.0)  # 10 s into a window of 60 s
    limiter = RateLimiter(MemoryStore(), limit=5, window_s=60, clock=clock)
    decisions = [_take(limiter) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    denied = decisions[-1]
    assert denied.reset_s == 50
    assert denied.remaining == 0
    assert (b"retry-after", b"50") in denied.headers()
    clock.now += 50  # the next window
    again = _take(limiter)
    assert again.allowed
    assert again.remaining == 4
    assert again.reset_s == 60


def test_headers_follow_the_ratelimit_draft() -> None:
    limiter = RateLimiter(MemoryStore(), limit=100, window_s=60, clock=Clock(6000.0))
    headers = dict(_take(limiter).headers())
    assert headers == {
        b"ratelimit-policy": b'"default";q=100;w=60',
        b"ratelimit": b'"default";r=99;t=60',
    }


def test_credentials_are_counted_apart() -> None:
    limiter = RateLimiter(MemoryStore(), limit=2, window_s=60, clock=Clock())
    assert [_take(limiter, "key_a").allowed for _ in range(3)] == [True, True, False]
    assert _take(limiter, "key_b").allowed


def test_far_from_the_limit_a_worker_touches_the_store_once_per_block() -> None:
    store = MemoryStore()
    limiter = RateLimiter(store, limit=10_000, window_s=60, clock=Clock())
    for _ in range(900):
        assert _take(limiter).allowed
    # blocks of at most 2 % of the limit (200): 900 requests need 5 reservations
    assert store.calls == 5
    assert limiter.take("key_a") is not None  # tokens in hand: no I/O


def test_near_the_limit_every_request_is_counted_in_the_store() -> None:
    store = MemoryStore()
    limiter = RateLimiter(store, limit=400, window_s=60, clock=Clock())
    for _ in range(400):
        assert _take(limiter).allowed
    # blocks of 2 % of the limit (8) while a quarter of what is left is more than that, then
    # smaller and smaller: the last requests of the window are reserved one at a time
    assert store.grants[0] == 8
    assert store.grants[-4:] == [1, 1, 1, 1]
    assert sum(store.grants) == 400
    calls = store.calls
    assert not _take(limiter).allowed
    assert store.calls == calls + 1
    assert not _take(limiter).allowed  # known to be spent: no more I/O this window
    assert store.calls == calls + 1


@pytest.mark.parametrize("seed", range(5))
def test_workers_sharing_one_store_never_serve_more_than_the_limit(seed: int) -> None:
    """Three workers, requests landing on them at random: while clients keep asking, every
    worker spends what it reserved, so exactly the limit is served; never more."""
    rng = random.Random(seed)
    store, clock = MemoryStore(), Clock()
    workers = [RateLimiter(store, limit=500, window_s=60, clock=clock) for _ in range(3)]
    served = 0
    for _ in range(3_000):
        if _take(rng.choice(workers)).allowed:
            served += 1
    assert served == 500
    assert store.reserved[("key_a", int(clock.now // 60) * 60)] == 500


def test_threads_of_one_worker_never_serve_more_than_the_limit() -> None:
    store = MemoryStore()
    limiter = RateLimiter(store, limit=300, window_s=60, clock=Clock())
    allowed: list[bool] = []

    def client() -> None:
        for _ in range(200):
            allowed.append(_take(limiter).allowed)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 300


def test_a_failing_store_lets_requests_through_and_is_asked_once_per_block() -> None:
    class Broken:
        calls = 0

        def reserve(self, *_: object) -> tuple[int, int]:
            self.calls += 1
            raise OperationalError("SELECT", {}, Exception("database down"))

    store = Broken()
    limiter = RateLimiter(store, limit=1_000, window_s=60, clock=Clock())
    assert all(_take(limiter).allowed for _ in range(100))
    assert store.calls == 5  # blocks of 2 % of the limit (20), not one attempt per request


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(MemoryStore(), limit=0, window_s=60)


# --- the database store (SQLite and PostgreSQL) -------------------------------------------


def test_database_store_grants_up_to_the_limit_and_forgets_old_windows(db: BoundDatabase) -> None:
    store = DatabaseCounterStore(lambda: db)
    assert store.reserve("key_x", 600, 4, 10) == (4, 4)
    assert store.reserve("key_x", 600, 4, 10) == (4, 8)
    assert store.reserve("key_x", 600, 4, 10) == (2, 10)
    assert store.reserve("key_x", 600, 1, 10) == (0, 10)
    assert store.reserve("key_y", 600, 3, 10) == (3, 3)  # another credential
    assert store.reserve("key_x", 660, 5, 10) == (5, 5)  # the next window
    with db.transaction() as s:
        rows = s.execute(
            select(RateLimitCounter.credential_id, RateLimitCounter.window_start).order_by(
                RateLimitCounter.credential_id, RateLimitCounter.window_start
            )
        ).all()
    assert [tuple(r) for r in rows] == [("key_x", 660), ("key_y", 600)]


# --- HTTP ------------------------------------------------------------------------------------


@pytest.fixture
def limited(app: FastAPI) -> Iterator[FastAPI]:
    """The app with a limit of 3 requests per hour per credential."""
    original = app.state.rate_limiter
    app.state.rate_limiter = RateLimiter(
        DatabaseCounterStore(lambda: app.state.db), limit=3, window_s=3600
    )
    yield app
    app.state.rate_limiter = original


def test_http_429_problem_with_retry_after_and_ratelimit_headers(
    limited: FastAPI, client: TestClient, recycler: OrgCtx, recycler2: OrgCtx
) -> None:
    for left in (2, 1, 0):
        r = client.get("/v1/lots", headers=recycler.headers)
        assert r.status_code == 200
        assert r.headers["RateLimit-Policy"] == '"default";q=3;w=3600'
        assert r.headers["RateLimit"].startswith(f'"default";r={left};t=')
    r = client.get("/v1/organizations/me", headers=recycler.headers)
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "rate_limited"
    assert body["status"] == 429
    assert body["request_id"]
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 3600
    assert r.headers["RateLimit"] == f'"default";r=0;t={retry}'
    # another organisation's credential has its own budget
    assert client.get("/v1/lots", headers=recycler2.headers).status_code == 200


def test_http_unauthenticated_requests_carry_no_rate_limit_headers(
    limited: FastAPI, client: TestClient
) -> None:
    r = client.get("/v1/lots", headers={"Authorization": "Bearer rcy_sk_nope"})
    assert r.status_code == 401
    assert "RateLimit" not in r.headers
    assert "RateLimit-Policy" not in r.headers


def test_http_default_limit_headers(client: TestClient, recycler: OrgCtx) -> None:
    r = client.get("/v1/organizations/me", headers=recycler.headers)
    assert r.status_code == 200
    assert r.headers["RateLimit-Policy"] == '"default";q=6000;w=60'
    assert r.headers["RateLimit"].startswith('"default";r=5999;t=')


def test_openapi_documents_429_on_authenticated_operations(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    lots = paths["/v1/lots"]["get"]["responses"]
    assert set(lots["429"]["headers"]) == {"RateLimit", "RateLimit-Policy", "Retry-After"}
    assert "429" not in paths["/healthz"]["get"]["responses"]
