"""A real server process (`recyclate serve`, 2 workers) on a fresh, migrated database, for
tests that need real concurrency and real crashes. Runs on SQLite and on PostgreSQL like every
DB test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from app.kit.db import Database
from app.kit.migrations import upgrade
from tests.conftest import OrgCtx, _make_org, create_test_database


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    database_url: str
    db: Database
    port: int
    env: dict[str, str]
    log_path: str = ""
    proc: subprocess.Popen[bytes] | None = None
    orgs: dict[str, OrgCtx] = field(default_factory=dict)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "2",
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log_path, "ab"),  # noqa: SIM115 (closed with the process)
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("server exited during start-up")
            time.sleep(0.2)
        raise RuntimeError("server did not become ready in 60 s")

    def kill(self) -> None:
        """SIGKILL the whole process group: no graceful shutdown, like a power cut."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None


@contextmanager
def running_server(
    extra_env: dict[str, str] | None = None, setup: Callable[[LiveServer], None] | None = None
) -> Iterator[LiveServer]:
    """A migrated throw-away database and ``recyclate serve --workers 2`` on it; ``setup``
    adds what the tests need (organisations) before the server starts."""
    url, cleanup = create_test_database()
    upgrade(url)
    db = Database(url)
    port = _free_port()
    env = {
        **os.environ,
        "RECYCLATE_DATABASE_URL": url,
        "RECYCLATE_ACCESS_LOG": "false",
        "RECYCLATE_LOG_LEVEL": "WARNING",
        "RECYCLATE_BACKGROUND_JOBS": "off",
        **(extra_env or {}),
    }
    log_path = os.path.join(tempfile.mkdtemp(prefix="rcy-live-"), "server.log")
    server = LiveServer(f"http://127.0.0.1:{port}", url, db, port, env, log_path)
    if setup is not None:
        setup(server)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        with open(log_path, "rb") as fh:
            errors = [ln for ln in fh.read().decode(errors="replace").splitlines() if "rror" in ln]
        if errors:
            print("server log errors:\n" + "\n".join(errors[:50]))
        db.dispose()
        cleanup()  # type: ignore[operator]


def _orgs(server: LiveServer) -> None:
    server.orgs["seller"] = _make_org(server.db, "recycler", "Live Seller")
    for i in range(8):
        server.orgs[f"buyer{i}"] = _make_org(server.db, "manufacturer", f"Live Buyer {i}")


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    with running_server(setup=_orgs) as server:
        yield server
