"""Serving with several API workers: one listening socket per worker on Linux (SO_REUSEPORT).

uvicorn's supervisor binds one socket and every worker inherits it, so all workers wait on one
accept queue, and the event loop that wakes first accepts every pending connection at once. A
few long-lived keep-alive connections (a proxy's upstream pool, an ERP client, a load generator)
then often all land on one worker while the other idles: measured with 4 wrk connections on
the matching endpoint, 206-216 req/s when all four were on one worker against 477-547 req/s
with two on each.

With ``SO_REUSEPORT`` each worker has its own socket bound to the same address and the kernel
spreads new connections over the workers' queues by a hash of the connection's addresses (the
approach of nginx's ``reuse_port`` and of uvicorn's open pull request #2472). The supervisor
itself stays uvicorn's (health checks, restarts, signals): it is handed a placeholder socket
that holds the address (bound, never listening, so the kernel never queues a connection on
it), and uvicorn passes sockets to its spawned workers by pickling them. Unpickling the
placeholder in a worker binds that worker's own socket; the worker starts listening on it only
once its application start-up (the matching snapshot) has finished, so no connection waits in
the queue of a worker that cannot answer yet.

Known cost: connections still waiting in a worker's accept queue when that worker dies are
reset (with a shared socket another worker would take them).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import Any, TypeVar

logger = logging.getLogger("uvicorn.error")

SocketT = TypeVar("SocketT", bound=socket.socket)


def reuse_port_supported() -> bool:
    """Linux balances connections over SO_REUSEPORT sockets; other systems may accept the
    option but hand every connection to one socket."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


TCP_LISTEN, TCP_ESTABLISHED = "0A", "01"  # socket states as /proc/net/tcp writes them
# "<workers>:<port>" in the workers' environment: the connection balancer (app/kit/balance.py)
SERVING_ENV = "RECYCLATE_SERVING"


def tcp_sockets(port: int) -> list[tuple[str, int]]:
    """(state, inode) of every IPv4 / IPv6 TCP socket on this host whose local port is
    ``port``, from /proc (Linux): how many workers listen, and who holds which connection."""
    found: list[tuple[str, int]] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                lines = fh.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port:
                found.append((cols[3], int(cols[9])))
    return found


def _reuse_port_bound(sock: SocketT, address: tuple[Any, ...]) -> SocketT:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def worker_socket(family: int, address: tuple[Any, ...]) -> socket.socket:
    """A worker's own socket in the address's SO_REUSEPORT group: bound, not yet listening
    (asyncio / uvloop call ``listen`` when the server starts)."""
    return _reuse_port_bound(socket.socket(family, socket.SOCK_STREAM), address)


class PerWorkerListener(socket.socket):
    """The supervisor's placeholder: holds the address; pickled for a worker, it becomes
    that worker's own ``worker_socket`` on the same address."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (worker_socket, (self.family, self.getsockname()))


def per_worker_listener(host: str, port: int) -> PerWorkerListener:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return _reuse_port_bound(PerWorkerListener(family, socket.SOCK_STREAM), (host, port))


def serve(app: str, *, host: str, port: int, workers: int, reuse_port: bool, **options: Any) -> int:
    """Serve the ASGI app ``app`` (an import string) with uvicorn; with several workers and
    ``reuse_port`` on Linux, each worker gets its own listening socket. Returns the exit
    status."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    if workers <= 1 or not reuse_port or not reuse_port_supported():
        uvicorn.run(app, host=host, port=port, workers=workers, **options)
        return 0
    config = uvicorn.Config(app, host=host, port=port, workers=workers, **options)
    try:
        sock = per_worker_listener(host, port)
    except OSError as exc:
        logger.error("cannot bind %s:%d: %s", host, port, exc)
        return STARTUP_FAILURE
    bound = sock.getsockname()
    logger.info(
        "serving on http://%s:%d with %d workers, one SO_REUSEPORT socket each",
        bound[0],
        bound[1],
        workers,
    )
    os.environ[SERVING_ENV] = f"{workers}:{bound[1]}"  # inherited by the spawned workers
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:  # pragma: no cover - the supervisor handles SIGINT itself
        pass
    finally:
        sock.close()
    return 0
