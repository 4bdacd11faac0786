"""The connection balancer (app/kit/balance.py): its arithmetic, its /proc reading and the
``Connection: close`` it puts on responses. The real two-worker server is in
tests/concurrency/test_serving.py."""

from __future__ import annotations

import os
import socket

import pytest

from app.kit.balance import ConnectionBalancer, excess_connections, own_socket_inodes
from app.kit.serving import TCP_ESTABLISHED, TCP_LISTEN


@pytest.mark.parametrize(
    ("mine", "total", "workers", "excess"),
    [
        (4, 4, 2, 2),  # all four on this worker: two too many
        (3, 4, 2, 1),
        (2, 4, 2, 0),
        (0, 4, 2, 0),
        (3, 5, 2, 0),  # ceil(5 / 2) = 3 is a fair share
        (4, 5, 2, 1),
        (2, 3, 4, 1),  # four workers, three connections: one each at most
        (5, 5, 1, 0),  # one worker: nothing to balance
        (0, 0, 2, 0),
    ],
)
def test_excess_is_what_a_worker_holds_above_its_fair_share(mine, total, workers, excess):
    assert excess_connections(mine, total, workers) == excess


def test_a_worker_with_too_many_connections_closes_exactly_the_excess():
    table = [(TCP_ESTABLISHED, i) for i in range(1, 6)] + [(TCP_LISTEN, 99)]
    own = {1, 2, 3, 4, 99}  # four of the five connections, and its listening socket
    balancer = ConnectionBalancer(8000, 2, connections=lambda _p: table, own_sockets=lambda: own)
    assert not balancer.should_close()  # nothing known before the first check
    assert balancer.check() == 1  # fair share ceil(5 / 2) = 3
    assert [balancer.should_close() for _ in range(3)] == [True, False, False]
    assert balancer.closed == 1
    own.clear()  # the next check finds this worker holding none: it closes nothing
    assert balancer.check() == 0
    assert not balancer.should_close()


def test_own_socket_inodes_are_this_process_sockets():
    with socket.socket() as s:
        inode = os.fstat(s.fileno()).st_ino
        assert inode in own_socket_inodes()
    assert inode not in own_socket_inodes()  # closed


class _CloseOnce:
    def __init__(self) -> None:
        self.left = 1

    def should_close(self) -> bool:
        self.left -= 1
        return self.left >= 0


def test_the_response_after_a_check_found_an_excess_says_connection_close(client, app):
    app.state.connection_balancer = _CloseOnce()
    try:
        first = client.get("/healthz")
        second = client.get("/healthz")
    finally:
        app.state.connection_balancer = None
    assert first.status_code == second.status_code == 200
    assert first.headers.get("connection") == "close"
    assert "connection" not in second.headers
