"""Keep-alive connections spread evenly over the API workers.

With one ``SO_REUSEPORT`` socket per worker (app/kit/serving.py) the kernel places each new
connection by a hash of its addresses. For many short connections that evens out; for a few
long-lived keep-alive connections (a proxy's upstream pool, an ERP client, a load generator)
it often does not: with 4 connections and 2 workers, all four land on one worker in one case
in eight, and that worker serves alone while the other idles (matching: 167-190 req/s against
300-590 with two on each).

Each worker therefore checks about once a second how many of the established connections on
the serving port are its own (``/proc/net/tcp`` for the port's connections, ``/proc/self/fd``
for its own sockets). A worker that holds more than its fair share, ``ceil(total / workers)``,
answers its next requests with ``Connection: close`` (after the complete response, which
HTTP/1.1 clients handle by reconnecting), one per connection too many; the client's new
connection is placed by the kernel again. A check costs well under a millisecond and runs on
a thread; answering a request costs one integer test. Linux only (elsewhere: off).

``recyclate serve`` tells its workers the port and their number through the environment
(``SERVING_ENV``); ``RECYCLATE_BALANCE_CONNECTIONS=false`` turns this off.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from collections.abc import Callable, Iterable

from app.kit.serving import SERVING_ENV, TCP_ESTABLISHED, tcp_sockets

CHECK_INTERVAL_S = 1.0


def own_socket_inodes(fd_dir: str = "/proc/self/fd") -> set[int]:
    """Inodes of this process's sockets."""
    found: set[int] = set()
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return found
    for name in names:
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def excess_connections(mine: int, total: int, workers: int) -> int:
    """How many connections this worker holds above its fair share."""
    if workers <= 1 or total <= 0:
        return 0
    return max(0, mine - math.ceil(total / workers))


class ConnectionBalancer:
    def __init__(
        self,
        port: int,
        workers: int,
        *,
        connections: Callable[[int], Iterable[tuple[str, int]]] = tcp_sockets,
        own_sockets: Callable[[], set[int]] = own_socket_inodes,
    ) -> None:
        self.port = port
        self.workers = workers
        self._connections = connections
        self._own_sockets = own_sockets
        self._excess = 0
        self._lock = threading.Lock()
        self.closed = 0  # connections asked to close so far

    def check(self) -> int:
        """Count the port's established connections and this worker's share of them;
        returns how many of its connections this worker will close."""
        established = {
            inode for state, inode in self._connections(self.port) if state == TCP_ESTABLISHED
        }
        mine = len(established & self._own_sockets())
        excess = excess_connections(mine, len(established), self.workers)
        with self._lock:
            self._excess = excess
        return excess

    def should_close(self) -> bool:
        """Called once per response: True for as many responses as connections are in
        excess (``Connection: close``)."""
        if self._excess <= 0:  # the common case: no lock
            return False
        with self._lock:
            if self._excess <= 0:
                return False
            self._excess -= 1
            self.closed += 1
            return True

    async def run(self, interval_s: float = CHECK_INTERVAL_S) -> None:
        """Check every ``interval_s`` until cancelled (the reads run on a thread)."""
        while True:
            await asyncio.sleep(interval_s)
            with contextlib.suppress(OSError):  # /proc unreadable: keep serving
                await asyncio.to_thread(self.check)


def from_environment(enabled: bool = True) -> ConnectionBalancer | None:
    """The balancer of a worker started by ``recyclate serve`` with several workers (Linux);
    None otherwise."""
    spec = os.environ.get(SERVING_ENV, "")
    if not enabled or not spec or not os.path.exists("/proc/net/tcp"):
        return None
    try:
        workers, port = (int(x) for x in spec.split(":", 1))
    except ValueError:
        return None
    return ConnectionBalancer(port, workers) if workers > 1 else None
