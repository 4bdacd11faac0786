"""`recyclate serve` with several workers: each worker has its own listening socket
(SO_REUSEPORT) and the kernel spreads connections over the workers. Checked from /proc on the
real server process tree, not from the code's own bookkeeping."""

from __future__ import annotations

import os
import socket
import time

import httpx
import pytest

from app.kit import serving
from tests.factories import lot_body

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.skipif(not serving.reuse_port_supported(), reason="SO_REUSEPORT balancing: Linux"),
]

LISTEN, ESTABLISHED = serving.TCP_LISTEN, serving.TCP_ESTABLISHED


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as fh:
            kids += [int(k) for k in fh.read().split()]
    return kids


def _per_worker(server, state: str) -> dict[int, set[int]]:
    """Sockets on the server's port in ``state``, by the worker process that holds them."""
    assert server.proc is not None
    wanted = {inode for st, inode in serving.tcp_sockets(server.port) if st == state}
    held = {pid: _socket_inodes(pid) & wanted for pid in _children(server.proc.pid)}
    return {pid: inodes for pid, inodes in held.items() if inodes}


def _all_workers_listening(server, workers: int = 2) -> dict[int, set[int]]:
    """A worker listens once its start-up has finished; /readyz answered by the first one
    says nothing about the second."""
    deadline = time.monotonic() + 60
    while len(listening := _per_worker(server, LISTEN)) < workers and time.monotonic() < deadline:
        time.sleep(0.1)
    return listening


def test_each_worker_listens_on_its_own_socket(live_server):
    listening = _all_workers_listening(live_server)
    assert len(listening) == 2, listening  # two workers, each with a listening socket...
    first, second = listening.values()
    assert first.isdisjoint(second)  # ...that is not the other's (a shared socket is one inode)
    # and the supervisor's placeholder never listens: no connection can queue where nobody accepts
    assert live_server.proc is not None
    supervisor = _socket_inodes(live_server.proc.pid)
    assert not supervisor & {i for st, i in serving.tcp_sockets(live_server.port) if st == LISTEN}


def test_connections_are_spread_over_the_workers(live_server):
    # a burst of 16 connections, as a client's pool opens them: with one shared socket the
    # worker that wakes first accepts the whole burst; with per-worker sockets all 16 land
    # on one worker with probability 2 / 2**16
    _all_workers_listening(live_server)
    conns = [socket.create_connection(("127.0.0.1", live_server.port)) for _ in range(16)]
    try:
        request = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
        for c in conns:
            c.sendall(request)
        closed = 0
        for c in conns:  # answered, and the connection stays open (keep-alive)...
            answer = c.recv(4096)
            assert answer.startswith(b"HTTP/1.1 200")
            # ...unless the balancer's check ran meanwhile and found its worker over its share
            closed += b"connection: close" in answer.lower()
        established = _per_worker(live_server, ESTABLISHED)
        assert len(established) == 2, {pid: len(s) for pid, s in established.items()}
        assert sum(len(s) for s in established.values()) == 16 - closed
    finally:
        for c in conns:
            c.close()


def _server_inodes_by_client_port(port: int) -> dict[int, int]:
    """{client port: inode of the server's end} of the established connections to ``port``."""
    found: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                cols = line.split()
                local, remote = (int(c.rsplit(":", 1)[1], 16) for c in cols[1:3])
                if local == port and cols[3] == ESTABLISHED:
                    found[remote] = int(cols[9])
    return found


def _get(conn: socket.socket) -> bool:
    """One keep-alive request; True if the server asked to close the connection."""
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += conn.recv(4096)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    headers = dict(
        line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line
    )
    while len(body) < int(headers[b"content-length"]):
        body += conn.recv(4096)
    return headers.get(b"connection") == b"close"


def test_keep_alive_connections_piled_on_one_worker_are_spread_again(live_server):
    """Four busy keep-alive connections that all landed on one worker (the kernel's hash
    does that in one case in eight) end up on both: the worker over its share closes the
    excess after a response (app/kit/balance.py), the client reconnects, and the kernel
    places the new connection again. Without the balancer they stay where they are."""
    _all_workers_listening(live_server)
    address = ("127.0.0.1", live_server.port)
    opened = [socket.create_connection(address) for _ in range(16)]
    time.sleep(0.2)
    inode_of = _server_inodes_by_client_port(live_server.port)
    worker_of = {
        inode: pid
        for pid, inodes in _per_worker(live_server, ESTABLISHED).items()
        for inode in inodes
    }
    by_worker: dict[int, list[socket.socket]] = {}
    for c in opened:
        by_worker.setdefault(worker_of[inode_of[c.getsockname()[1]]], []).append(c)
    crowded = max(by_worker.values(), key=len)  # at least 8 of 16 on one worker
    conns, spare = crowded[:4], [c for c in opened if c not in crowded[:4]]
    for c in spare:
        c.close()
    try:
        spread: dict[int, int] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for i, c in enumerate(conns):
                if _get(c):
                    c.close()
                    conns[i] = socket.create_connection(address)
            established = _per_worker(live_server, ESTABLISHED)
            spread = {pid: len(s) for pid, s in established.items()}
            if sorted(spread.values()) == [2, 2]:
                break
            time.sleep(0.05)
        assert sorted(spread.values()) == [2, 2], spread
    finally:
        for c in conns:
            c.close()


def test_list_items_cached_by_one_worker_follow_writes_made_through_the_other(live_server):
    """Each worker keeps the list items it rendered, by lot id and version: a reservation on
    one worker must show in the next page from either worker."""
    _all_workers_listening(live_server)
    seller, buyer = live_server.orgs["seller"], live_server.orgs["buyer0"]
    r = httpx.post(
        f"{live_server.url}/v1/lots",
        json=lot_body(quantity={"value": 50, "unit": "t"}),
        headers=seller.headers,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    lot_id = r.json()["id"]

    def items_seen(n: int = 16) -> list[dict]:
        """The lot's list item as n fresh connections see it (spread over both workers)."""
        seen = []
        for _ in range(n):
            with httpx.Client(base_url=live_server.url, timeout=30) as c:
                page = c.get("/v1/lots?mine=true&limit=100", headers=seller.headers).json()
                seen.append(next(x for x in page["data"] if x["id"] == lot_id))
        return seen

    assert {x["available_kg"] for x in items_seen()} == {50_000.0}  # rendered by both workers
    res = httpx.post(
        f"{live_server.url}/v1/lots/{lot_id}/reservations",
        json={"quantity": {"value": 20, "unit": "t"}},
        headers=buyer.headers,
        timeout=30,
    )
    assert res.status_code == 201, res.text
    after = items_seen()
    assert {x["available_kg"] for x in after} == {30_000.0}
    assert len({x["version"] for x in after}) == 1
