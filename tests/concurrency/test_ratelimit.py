"""Rate limits on the real 2-worker server: the workers share one budget per credential
through the database, so together they serve exactly the limit, however the connections are
spread over them (a per-worker limit would serve up to twice as much)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from app.kit import serving
from tests.concurrency.conftest import LiveServer, running_server
from tests.concurrency.test_serving import _all_workers_listening, _per_worker
from tests.conftest import _make_org

pytestmark = [pytest.mark.concurrency]

LIMIT, WINDOW = 60, 3600
CONNECTIONS = 16


def _orgs(server: LiveServer) -> None:
    server.orgs["buyer"] = _make_org(server.db, "manufacturer", "Rate Limited Buyer")
    server.orgs["other"] = _make_org(server.db, "manufacturer", "Other Buyer")


@pytest.fixture(scope="module")
def limited_server() -> Iterator[LiveServer]:
    limits = {
        "RECYCLATE_RATE_LIMIT_REQUESTS": str(LIMIT),
        "RECYCLATE_RATE_LIMIT_WINDOW_SECONDS": str(WINDOW),
    }
    with running_server(limits, setup=_orgs) as server:
        yield server


def test_two_workers_together_serve_exactly_the_limit(limited_server: LiveServer) -> None:
    server = limited_server
    if serving.reuse_port_supported():
        assert len(_all_workers_listening(server)) == 2
    to_boundary = WINDOW - time.time() % WINDOW
    if to_boundary < 30:  # keep the whole test inside one window
        time.sleep(to_boundary + 1)
    headers = server.orgs["buyer"].headers
    clients = [httpx.Client(base_url=server.url, timeout=30) for _ in range(CONNECTIONS)]
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CONNECTIONS)

    def run(client: httpx.Client) -> None:
        client.get("/healthz")  # open the keep-alive connection first
        barrier.wait()
        denied = 0
        while denied < 3:  # until this connection's worker has nothing left
            status = client.get("/v1/organizations/me", headers=headers).status_code
            with lock:
                statuses.append(status)
            denied += status == 429

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert set(statuses) <= {200, 429}
        assert statuses.count(200) == LIMIT
        if serving.reuse_port_supported():
            # both workers served (the 16 open connections all on one worker: 1 in 32,768)
            spread = _per_worker(server, serving.TCP_ESTABLISHED)
            assert len(spread) == 2, {pid: len(s) for pid, s in spread.items()}
        last = clients[0].get("/v1/organizations/me", headers=headers)
        assert last.status_code == 429
        assert last.headers["RateLimit-Policy"] == f'"default";q={LIMIT};w={WINDOW}'
        assert 0 < int(last.headers["Retry-After"]) <= WINDOW
        # another credential is not affected
        other = clients[1].get("/v1/organizations/me", headers=server.orgs["other"].headers)
        assert other.status_code == 200
    finally:
        for c in clients:
            c.close()
