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
* ``encode``: the 50-result response document encoded by orjson (``schemas.encode_json``, what
  the router sends) against ``pydantic_core.to_json``.
* ``scan``: the vectorised scan alone (``LotIndex.scan``, memo cleared) for 300 new specs, three
  times: run it from two checkouts to compare scan code. First it prints how many rows the
  first cut reads for the first spec against the rows of its polymer groups, and its candidates.
* ``statecache``: the 50-lot state re-check (``search.current_state``), one read session per
  call as a request has, in 4 blocks of 1,500; with ``--sqlite-cache-mb`` to compare SQLite
  page cache sizes (run once per size).
* ``compiles``: how many of 900 new specs compile a facts-read statement shape during the
  request (or the refresh's, once) when the worker did not compile them at start-up
  (``search.precompile``), and how long those compiles took.
* ``factsab``: ``newspec`` with the exact facts held in the snapshot
  (``match_facts_in_memory``) and read from the database, alternately (``--blocks`` times
  each, a new snapshot per block), on the same data in one process; with ``--drop-page-cache``
  the OS page cache is dropped after each block's warm-up (root only).
* ``build``: a snapshot build in the main thread while another thread sleeps 50 ms at a
  time: the longest it waited past its wake-up (how long the interpreter lock was held; a
  worker whose health-check thread waits more than uvicorn's timeout is killed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic_core import to_json
from sqlalchemy import select, text

from app.kit import rawquery
from app.kit.db import Database
from app.kit.runtime import tune_gc
from app.lots.models import Lot
from app.matching import index, scoring, search, service
from app.matching.schemas import encode_json, matches_dict
from app.settings import Settings
from benchmarks.matching.bench_matching import _spec_model, in_process, pct


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


def _new_specs(n: int, start: int = 1) -> list[scoring.Spec]:
    return [
        service.build_spec(_spec_model(i), transport_eur_per_t_km=0.12, today=dt.date.today())
        for i in range(start, start + n)
    ]


def encode(db: Database, rounds: int) -> None:
    spec = _new_specs(1)[0]
    with db.transaction(write=False) as s:
        out = service.match(s, spec, limit=50, include_ineligible=False)
    doc = matches_dict(None, out.candidates, out.results, out.proposals, spec)
    print(f"response document, {len(doc['data'])} results")
    print("  orjson (encode_json):", _timed(lambda: encode_json(doc), rounds))
    print("  pydantic_core.to_json:", _timed(lambda: to_json(doc), rounds))


def scan(db: Database) -> None:
    specs = _new_specs(300)
    with db.transaction(write=False) as s:
        ix = index.index_for(s)
        ix.refreshed_generation(s)  # the build

        def one(spec: scoring.Spec) -> None:
            ix._scans.clear()  # a new spec: no memoised scan
            ix.scan(s, spec, eligible_only=True, skip_quantity=False, refresh=False)

        # what the first cut reads for the first spec, against the rows of its polymer groups
        # (all DQL levels: the cut before the groups had a DQL), and its candidates
        spec = specs[0]
        parts = ix._first_cut(spec, eligible_only=True)
        read = sum(p.stop - p.start if isinstance(p, slice) else len(p) for p in parts)
        fam, polymers = ix._cut(spec, eligible_only=True)
        groups = sum(
            b - a
            for (f, p, _), (a, b) in ix._groups.items()
            if f == fam and (polymers is None or p in polymers)
        )
        cands = ix.scan(s, spec, eligible_only=True, skip_quantity=False, refresh=False)
        print(
            f"first cut: {read:,} rows read of the {groups:,} rows of the spec's polymer groups; "
            f"{len(cands.ids):,} candidates"
        )
        for _ in range(3):
            xs = []
            for spec in specs:
                t0 = time.perf_counter()
                one(spec)
                xs.append((time.perf_counter() - t0) * 1000)
            p50, p90 = statistics.median(xs), pct(xs, 0.9)
            print(f"scan of a new spec: p50 {p50:.3f} ms, p90 {p90:.3f} ms")


def statecache(db: Database, ids: list[str], cache_mb: int | None) -> None:
    rng = random.Random(5)
    print(f"state re-check of 50 lots, SQLite page cache {cache_mb or 'default'} MiB")
    for block in range(4):
        xs = []
        for _ in range(1500):
            with db.transaction(write=False) as s:
                sample = rng.sample(ids, 50)
                t0 = time.perf_counter()
                search.current_state(s, sample)
                xs.append((time.perf_counter() - t0) * 1000)
        print(f"  block {block}: p50 {statistics.median(xs):.2f} ms, p99 {pct(xs, 0.99):.2f} ms")


def compiles(db: Database) -> None:
    seen: list[float] = []
    compile_ = rawquery.CompiledQueries._compile

    def counted(self: rawquery.CompiledQueries, *args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return compile_(self, *args)
        finally:
            seen.append((time.perf_counter() - t0) * 1000)

    rawquery.CompiledQueries._compile = counted  # type: ignore[method-assign]
    try:
        rounds_with = 0
        for i, spec in enumerate(_new_specs(901, start=0)):
            before = len(seen)
            with db.transaction(write=False) as s:
                service.match(s, spec, limit=50, include_ineligible=False)
            rounds_with += bool(i) and len(seen) > before  # round 0 builds the snapshot
    finally:
        rawquery.CompiledQueries._compile = compile_  # type: ignore[method-assign]
    print(
        f"900 new specs without start-up compiles: {rounds_with} compiled a shape; "
        f"{len(seen)} compiles, {min(seen, default=0):.1f}-{max(seen, default=0):.1f} ms each"
    )


def roundtrip(db: Database, rounds: int) -> None:
    with db.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        print("SELECT 1:", _timed(lambda: cursor.execute("SELECT 1").fetchall(), rounds))
        cursor.close()


def newspec(url: str) -> None:
    r = in_process(url, 900, 60, vary=True, warmup=100)
    print(f"new spec per call: p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms {r['p99_by_300_ms']}")


def factsab(url: str, blocks: int, cold: bool) -> None:
    for b in range(blocks):
        for held in (True, False) if b % 2 == 0 else (False, True):  # order alternates
            index.configure(facts_in_memory=held)
            index.reset()
            in_process(url, 1, 5, vary=False)  # the snapshot build
            r = in_process(url, 900, 60, vary=True, warmup=100, cold=cold)
            print(
                f"block {b + 1} facts {'in memory' if held else 'from the database'}: "
                f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms {r['p99_by_300_ms']}, "
                f"CPU p50 {r['cpu_p50_ms']} ms, RSS {r['rss_mb']} MB, "
                f"page cache dropped: {r['page_cache_dropped']}",
                flush=True,
            )
    index.configure(facts_in_memory=True)


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
    ap.add_argument("--sqlite-cache-mb", type=int, default=None)
    ap.add_argument("--blocks", type=int, default=2, help="factsab: blocks per setting")
    ap.add_argument("--drop-page-cache", action="store_true", help="factsab: cold OS cache")
    args = ap.parse_args()
    only = set(args.only.split(","))
    cache = {} if args.sqlite_cache_mb is None else {"sqlite_cache_mb": args.sqlite_cache_mb}
    db = Database(args.url, **cache)
    try:
        with db.transaction(write=False) as s:
            ids = list(s.scalars(text("SELECT id FROM lots WHERE status = 'active'")))
        if "recheck" in only:
            recheck(db, ids, args.rounds)
        if "facts" in only:
            facts(db, ids, args.rounds)
        if "roundtrip" in only:
            roundtrip(db, args.rounds)
        if "encode" in only:
            encode(db, args.rounds)
        if "scan" in only:
            scan(db)
        if "statecache" in only:
            statecache(db, ids, args.sqlite_cache_mb)
        if "compiles" in only:
            compiles(db)
        if "build" in only:
            build(db)
        if "factsab" in only:
            tune_gc(Settings().gc_gen0_threshold)  # as an API worker
            factsab(args.url, args.blocks, args.drop_page_cache)
        if "newspec" in only:
            tune_gc(Settings().gc_gen0_threshold)  # as an API worker
            newspec(args.url)
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
