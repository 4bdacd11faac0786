"""The isolated measurements behind the fourth session's matching figures
(benchmarks/matching/README.md), on a database the matching benchmark seeded:

    .venv/bin/python -m benchmarks.matching.micro sqlite:////tmp/mb/b1000000.db
    .venv/bin/python -m benchmarks.matching.micro <postgresql url> --only recheck,facts

* ``recheck``: the state re-check every match ends with (``search.current_state``) for 50
  random lots, from the covering index ``ix_lots_id_state`` against the primary key's index
  (SQLite: ``INDEXED BY`` the other index; PostgreSQL: index-only scans switched off).
* ``facts``: the facts read of 52 lots, compiled once on the DBAPI connection
  (``search.facts_rows``) against the same SELECT through SQLAlchemy's expression layer.
* ``roundtrip``: ``SELECT 1`` on a pooled connection (what a ping before each use costs).
* ``newspec``: in-process p50 / p99 of a new spec per call (``bench_matching.in_process``, 900
  rounds after the build and 100 warm-up rounds), on an existing database: run it
  alternately from two checkouts (``git worktree add``) to compare code versions on the same data.
* ``build``: a snapshot build in the main thread while another thread sleeps 50 ms at a
  time: the longest it waited past its wake-up (how long the interpreter lock was held; a
  worker whose health-check thread waits more than uvicorn's timeout is killed).
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections.abc import Callable

from sqlalchemy import select, text

from app.kit.db import Database
from app.kit.runtime import tune_gc
from app.lots.models import Lot
from app.matching import index, search
from app.settings import Settings
from benchmarks.matching.bench_matching import in_process, pct


def _timed(fn: Callable[[], object], rounds: int) -> str:
    xs = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t0) * 1000)
    return f"p50 {statistics.median(xs):.3f} ms, p99 {pct(xs, 0.99):.3f} ms"


def recheck(db: Database, ids: list[str], rounds: int) -> None:
    """The same statement shape both ways, on one connection, alternating per round."""
    dialect = db.engine.dialect.name
    covering = search._state_sql(dialect, 50)
    marks = ", ".join(["?" if dialect == "sqlite" else "%s"] * 50)
    pk_table = "lots INDEXED BY sqlite_autoindex_lots_1" if dialect == "sqlite" else "lots"
    by_pk = f"SELECT id, status, available_kg FROM {pk_table} WHERE id IN ({marks})"
    times: dict[str, list[float]] = {"covering index": [], "primary key": []}
    with db.engine.connect() as conn:
        for _ in range(rounds):
            for name, sql in (("covering index", covering), ("primary key", by_pk)):
                if dialect != "sqlite":  # the planner takes the covering index by itself
                    off = "off" if name == "primary key" else "on"
                    conn.exec_driver_sql(f"SET enable_indexonlyscan = {off}")
                args = tuple(random.sample(ids, 50))
                t0 = time.perf_counter()
                conn.exec_driver_sql(sql, args).all()
                times[name].append((time.perf_counter() - t0) * 1000)
        conn.rollback()
    print("state of 50 random lots (the re-check's statement), alternating")
    for name, xs in times.items():
        print(f"  {name:15s} p50 {statistics.median(xs):.3f} ms, p99 {pct(xs, 0.99):.3f} ms")


def facts(db: Database, ids: list[str], rounds: int) -> None:
    some = random.sample(ids, 52)
    cols = (*index.MATCH_COLUMNS, Lot.version, Lot.status)
    with db.transaction(write=False) as s:
        conn = s.connection()
        print("facts of 52 lots (rows cached by the database after the first round)")
        print("  compiled once, DBAPI:", _timed(lambda: search.facts_rows(s, some), rounds))
        stmt = select(*cols).where(Lot.id.in_(some))
        print("  expression layer:    ", _timed(lambda: conn.execute(stmt).all(), rounds))


def roundtrip(db: Database, rounds: int) -> None:
    with db.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        print("SELECT 1:", _timed(lambda: cursor.execute("SELECT 1").fetchall(), rounds))
        cursor.close()


def newspec(url: str) -> None:
    r = in_process(url, 900, 60, vary=True, warmup=100)
    print(f"new spec per call: p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms {r['p99_by_300_ms']}")


def build(db: Database) -> None:
    late = [0.0]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            time.sleep(0.05)
            late[0] = max(late[0], time.perf_counter() - t0 - 0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    index.reset()
    watcher.start()
    t0 = time.perf_counter()
    with db.transaction(write=False) as s:
        index.index_for(s).refreshed_generation(s)
    seconds = time.perf_counter() - t0
    done.set()
    watcher.join()
    print(f"snapshot build: {seconds:.1f} s, longest wait of another thread {late[0]:.2f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("url", help="database URL of a seeded benchmark database")
    ap.add_argument("--only", default="recheck,facts,roundtrip,build")
    ap.add_argument("--rounds", type=int, default=300)
    args = ap.parse_args()
    only = set(args.only.split(","))
    db = Database(args.url)
    try:
        with db.transaction(write=False) as s:
            ids = list(s.scalars(text("SELECT id FROM lots WHERE status = 'active'")))
        if "recheck" in only:
            recheck(db, ids, args.rounds)
        if "facts" in only:
            facts(db, ids, args.rounds)
        if "roundtrip" in only:
            roundtrip(db, args.rounds)
        if "build" in only:
            build(db)
        if "newspec" in only:
            tune_gc(Settings().gc_gen0_threshold)  # as an API worker
            newspec(args.url)
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
