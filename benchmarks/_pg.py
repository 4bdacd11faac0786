"""A throw-away PostgreSQL cluster on 127.0.0.1 (same approach as scripts/with-postgres.sh):
initdb into a temp dir, start on a free port, run as the postgres user when we are root."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if not path:
        raise SystemExit(f"PostgreSQL binary {name} not found (apt-get install postgresql)")
    return path


@dataclass
class TempPostgres:
    pgdir: str
    port: int
    run_as: list[str]
    version: str

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if not os.path.isdir(self.pgdir):
            return
        subprocess.run(
            [*self.run_as, _bin("pg_ctl"), "-D", f"{self.pgdir}/data", "-m", "fast", "stop"],
            capture_output=True,
            check=False,
            timeout=120,
        )
        shutil.rmtree(self.pgdir, ignore_errors=True)


# A throw-away benchmark cluster: no durability (nothing to protect), 1 GB of shared buffers
# (a production server gives PostgreSQL a quarter of its RAM; the default 128 MB would make
# every 1M-lot benchmark measure the OS cache instead).
BENCH_SETTINGS: tuple[str, ...] = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "shared_buffers=1GB",
    "max_wal_size=4GB",
)


def start_postgres(settings: tuple[str, ...] = ()) -> TempPostgres:
    pgdir = tempfile.mkdtemp(prefix="rcy-bench-pg.")
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = "postgres"
        try:
            subprocess.run(["id", "-u", user], check=True, capture_output=True)
        except subprocess.CalledProcessError:
            user = "nobody"
        shutil.chown(pgdir, user)
        run_as = ["runuser", "-u", user, "--"]
    port = free_port()
    subprocess.run(
        [
            *run_as,
            _bin("initdb"),
            "-D",
            f"{pgdir}/data",
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    opts = [f"-h 127.0.0.1 -p {port} -k {pgdir}", "-c max_connections=200"]
    opts += [f"-c {s}" for s in settings]
    subprocess.run(
        [
            *run_as,
            _bin("pg_ctl"),
            "-D",
            f"{pgdir}/data",
            "-l",
            f"{pgdir}/server.log",
            "-w",
            "-t",
            "60",
            "-o",
            " ".join(opts),
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    version = subprocess.run(
        [_bin("initdb"), "--version"], capture_output=True, text=True, check=False
    ).stdout.split()[2]
    return TempPostgres(pgdir, port, run_as, version)
