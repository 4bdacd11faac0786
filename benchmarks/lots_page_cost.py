"""What one list page costs PostgreSQL itself: the page statement of ``GET /v1/lots`` (the
narrow columns the list-item cache needs, newest first, 51 rows) run as a prepared statement
on one connection, with the backend's CPU read from /proc (database on this host).

    .venv/bin/python -m benchmarks.lots_page_cost postgresql+psycopg://user@127.0.0.1:5432/db
    .venv/bin/python -m benchmarks.lots_page_cost URL --covering-index   # also with a
        # temporary covering index (status, id) INCLUDE (...) after VACUUM; dropped afterwards

Also the cost of the connection handling around a hot read (``Database.raw_read``: pool
checkout, autocommit on and off, return) with no statement, and the list-page cache's snapshot
check (``SELECT pg_current_snapshot()``, app/kit/pagecache.py). Any migrated database with lots
will do, e.g. one kept by ``lots_bench --keep``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import psycopg

from app.kit.db import Database
from app.kit.rawquery import SNAPSHOT_SQL

PAGE = (
    "SELECT id, available_kg, dql, updated_at, status, version FROM lots "
    "WHERE status = %s ORDER BY id DESC LIMIT %s OFFSET %s"
)
WITH_SUMMARY = PAGE.replace("version FROM", "version, summary FROM")
# what the list endpoint reads since the seventh session (the item cache's key)
ID_VERSION = "SELECT id, version FROM lots WHERE status = %s ORDER BY id DESC LIMIT %s OFFSET %s"


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _time(
    con: psycopg.Connection,
    backend: int,
    sql: str,
    n: int,
    args: tuple[object, ...] = ("active", 51, 0),
) -> str:
    for _ in range(200):
        con.execute(sql, args, prepare=True).fetchall()
    cpu0, wall0, me0 = _cpu_seconds(backend), time.perf_counter(), time.process_time()
    for _ in range(n):
        con.execute(sql, args, prepare=True).fetchall()
    wall = (time.perf_counter() - wall0) / n * 1e6
    server = (_cpu_seconds(backend) - cpu0) / n * 1e6
    client = (time.process_time() - me0) / n * 1e6
    return f"wall {wall:.0f} us, backend CPU {server:.0f} us, client CPU {client:.0f} us"


def _per_call_us(fn: Callable[[], None], n: int) -> float:
    for _ in range(200):
        fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("url", help="SQLAlchemy URL of a PostgreSQL database with lots")
    ap.add_argument("--rounds", type=int, default=4000)
    ap.add_argument("--covering-index", action="store_true")
    a = ap.parse_args()
    dsn = a.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as con:
        row = con.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        backend = int(row[0])
        print("page, narrow columns:  ", _time(con, backend, PAGE, a.rounds))
        print("page, with stored JSON:", _time(con, backend, WITH_SUMMARY, a.rounds))
        print("page, id and version:  ", _time(con, backend, ID_VERSION, a.rounds))
        # the page cache's check (app/kit/pagecache.py): what a list request costs on a hit
        print("snapshot check:        ", _time(con, backend, SNAPSHOT_SQL, a.rounds, ()))
        explain = "EXPLAIN (ANALYZE) " + PAGE
        plan = con.execute(explain, ("active", 51, 0)).fetchall()
        print("  " + plan[-1][0])
        if a.covering_index:
            con.execute(
                "CREATE INDEX ix_tmp_page_cover ON lots (status, id) "
                "INCLUDE (available_kg, dql, updated_at, version)"
            )
            try:
                con.execute("VACUUM ANALYZE lots")
                print("page, covering index:  ", _time(con, backend, PAGE, a.rounds))
                plan = con.execute(explain, ("active", 51, 0)).fetchall()
                print("  " + plan[-1][0])
            finally:
                con.execute("DROP INDEX ix_tmp_page_cover")

    db = Database(a.url)

    def empty_read() -> None:
        with db.raw_read(budget_s=0.005):
            pass

    cost = _per_call_us(empty_read, a.rounds)
    print(f"raw_read with no statement (pool, autocommit on/off): {cost:.1f} us")
    db.dispose()


if __name__ == "__main__":
    main()
