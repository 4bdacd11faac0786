"""What the snapshot refresh and the final state re-check cost on PostgreSQL, as two statements,
as one ``UNION ALL`` statement, and as two statements pipelined (psycopg's pipeline mode: one
round trip), on a database the matching benchmark seeded:

    .venv/bin/python -m benchmarks.matching.refresh_statements <postgresql url>

One connection (autocommit, statements prepared after psycopg's five uses, as the API's),
64 random lot ids per re-check, 6 blocks of 300 runs of each form in turn. Prints the wall
time per run of each block, its median, and the server backend's CPU per run (from
/proc/<backend pid>/stat: run it on the database's host, as root or as the server's user).
``--force-generic`` makes PostgreSQL use generic plans (use fewer ``--runs``: the refresh read
is then a sequential scan). The tenth session's figures (benchmarks/matching/README.md) come
from this script.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

IDS = 64
REFRESH = (
    "SELECT lots.id, lots.version, lots.status, lots.available_kg FROM lots "
    "WHERE lots.updated_at >= %s::TIMESTAMP WITH TIME ZONE"
)
STATE = f"SELECT id, status, available_kg FROM lots WHERE id IN ({', '.join(['%s'] * IDS)})"
UNION = (
    "SELECT lots.id, lots.version, lots.status, lots.available_kg, 0 AS kind FROM lots "
    "WHERE lots.updated_at >= %s::TIMESTAMP WITH TIME ZONE UNION ALL "
    "SELECT lots.id, lots.version, lots.status, lots.available_kg, 1 FROM lots "
    f"WHERE lots.id IN ({', '.join(['%s'] * IDS)})"
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("url", help="PostgreSQL URL of a seeded benchmark database")
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument(
        "--force-generic",
        action="store_true",
        help="plan_cache_mode = force_generic_plan on the connection (why the union is re-planned)",
    )
    args = ap.parse_args()
    conn = psycopg.connect(args.url.replace("+psycopg", ""), autocommit=True)
    if args.force_generic:
        conn.execute("SET plan_cache_mode = force_generic_plan")
    ids = [r[0] for r in conn.execute("SELECT id FROM lots WHERE status = 'active' LIMIT 200000")]
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    rng = random.Random(7)

    def two() -> None:
        state = rng.sample(ids, IDS)
        conn.execute(REFRESH, (since,)).fetchall()
        conn.execute(STATE, state).fetchall()

    def union() -> None:
        conn.execute(UNION, (since, *rng.sample(ids, IDS))).fetchall()

    def pipelined() -> None:
        state = rng.sample(ids, IDS)
        with conn.pipeline():
            first = conn.execute(REFRESH, (since,))
            second = conn.execute(STATE, state)
        first.fetchall()
        second.fetchall()

    stat = Path(f"/proc/{conn.info.backend_pid}/stat")

    def server_cpu_ms() -> float:
        fields = stat.read_text().split()
        return (int(fields[13]) + int(fields[14])) * 1000.0 / 100  # clock ticks of 10 ms

    forms: dict[str, Callable[[], None]] = {"two": two, "union": union, "pipelined": pipelined}
    wall: dict[str, list[float]] = {name: [] for name in forms}
    cpu = dict.fromkeys(forms, 0.0)
    for _ in range(args.blocks):
        for name, run in forms.items():
            c0, t0 = server_cpu_ms(), time.perf_counter()
            for _ in range(args.runs):
                run()
            wall[name].append((time.perf_counter() - t0) / args.runs * 1e6)
            cpu[name] += server_cpu_ms() - c0
    total = args.blocks * args.runs
    for name, xs in wall.items():
        print(
            f"{name:10s} wall us per run by block {[round(x) for x in xs]}, median "
            f"{statistics.median(xs):.0f}; server CPU {cpu[name] / total * 1000:.0f} us per run"
        )
    conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
