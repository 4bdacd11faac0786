"""Matching benchmark: seed N lots, then time a typical requirement (top 50 with explanations)
in-process and over HTTP (uvicorn, 2 workers), on SQLite or PostgreSQL.

    .venv/bin/python -m benchmarks.matching.bench_matching --db sqlite --lots 10000 100000
    .venv/bin/python -m benchmarks.matching.bench_matching --db postgres --lots 10000 100000

Seeding: ``--templates`` lots from ``app.demo.lots.generate_lot_bodies`` are built by the lots
service (validation, DQL, derived columns exactly as for an API post), then replicated to N
rows with new ids, jittered coordinates (+-0.4 deg), random availability and status (about
65 % active) and inserted with a bulk INSERT into a freshly migrated database.
Results go to ``benchmarks/results/matching-<db>-<n>.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from app.auth.service import Principal, create_api_key
from app.demo.lots import generate_lot_bodies
from app.kit.db import Database
from app.kit.ids import _encode
from app.kit.migrations import upgrade
from app.kit.runtime import tune_gc
from app.lots import service as lot_service
from app.lots.models import Lot
from app.lots.schemas import LotCreate
from app.lots.summary import render_static_row
from app.matching import index as matching_index
from app.matching import service
from app.matching.schemas import encode_json, matches_dict, present_match
from app.matching.search import precompile
from app.orgs.models import OrgRole
from app.orgs.service import create_organization
from app.requirements.models import Requirement
from app.requirements.schemas import RequirementSpec
from app.requirements.service import resolve_spec
from app.settings import Settings
from benchmarks._pg import BENCH_SETTINGS, free_port, start_postgres
from benchmarks.lots_bench import _pg, cleanup, log, start_server, stop, wrk

RESULTS = Path(__file__).resolve().parents[1] / "results"

TYPICAL_SPEC: dict[str, Any] = {
    "family": "plastic_recyclate",
    "polymers": {"values": ["PP"], "include_subtypes": True},
    "min_dql": {"min": 2},
    "properties": [
        {
            "property": "Viscosity",
            "unit": "g/10min",
            "min": 4,
            "max": 30,
            "target": 12,
            "conditions": {"temperature_c": 230, "load_kg": 2.16},
            "weight": 3,
        },
        {"property": "Density", "unit": "kg/m3", "max": 960, "hard": False, "if_missing": "zero"},
        {"property": "AshContent", "unit": "%", "max": 5, "hard": False, "if_missing": "zero"},
    ],
    "quantity": {"min": {"value": 5, "unit": "t"}},
    "delivery_location": {"country": "DE", "postcode": "70173", "max_distance_km": 400},
    "max_price": {
        "amount": "900.00",
        "currency": "EUR",
        "basis": "landed",
        "hard": False,
        "weight": 2,
    },
}


# The generator's 156 weeks end here, not today: the same lots on every day (the date moved
# the postings, and with them the lots, by a day at a time: 36 % more candidates for the
# typical spec on 2026-11-23 than on 2026-11-22). The kept SQLite databases were built with it.
TEMPLATES_END = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)


def templates(url: str, n: int, seller: str) -> list[dict[str, Any]]:
    principal = Principal(seller, "recycler", "bench", "api_key", frozenset())
    db = Database(url)
    out: list[dict[str, Any]] = []
    cols = [c.key for c in Lot.__table__.columns]
    with db.transaction(write=False) as s:
        for g in generate_lot_bodies(n, seed=7, end=TEMPLATES_END):
            body = LotCreate.model_validate(g["body"])
            lot = lot_service.build_lot(s, principal, body, now=g["posted_at"])
            lot.warnings = []
            out.append({c: getattr(lot, c) for c in cols})
    db.dispose()
    return out


def _fill_defaults(tmpl: list[dict[str, Any]]) -> None:
    """Column defaults SQLAlchemy would apply at insert (COPY does not)."""
    for col in Lot.__table__.columns:
        default = col.default
        if col.nullable or default is None:
            continue
        arg = getattr(default, "arg", None)
        for row in tmpl:
            if row.get(col.key) is None:
                row[col.key] = arg(None) if callable(arg) else arg


def _rows(n: int, tmpl: list[dict[str, Any]], seller: str, now: dt.datetime) -> Any:
    _fill_defaults(tmpl)
    rng = random.Random(11)
    base_ms = int(now.timestamp() * 1000) - n
    for i in range(n):
        row = dict(tmpl[i % len(tmpl)])
        row["id"] = "lot_" + _encode(((base_ms + i) << 80) | rng.getrandbits(80), 26)
        row["organization_id"] = seller
        row["latitude"] = max(-89.0, min(89.0, row["latitude"] + rng.uniform(-0.4, 0.4)))
        row["longitude"] = row["longitude"] + rng.uniform(-0.4, 0.4)
        r = rng.random()
        row["status"] = "active" if r < 0.65 else ("sold_out" if r < 0.9 else "withdrawn")
        frac = rng.uniform(0.1, 1.0) if row["status"] == "active" else 0.0
        row["available_kg"] = round(row["quantity_kg"] * frac, 1)
        row["version"] = 1
        row["updated_at"] = now - dt.timedelta(hours=1)  # posted earlier, not just now
        row["summary"] = render_static_row(row)  # the stored list item (app/lots/summary.py)
        yield row


def _copy_postgres(url: str, n: int, tmpl: list[dict[str, Any]], seller: str) -> None:
    """COPY ... FROM STDIN: about 10x faster than executemany for wide JSON rows."""
    import psycopg
    from psycopg.types.json import Jsonb

    cols = [c.key for c in Lot.__table__.columns]
    json_cols = {c.key for c in Lot.__table__.columns if "JSON" in type(c.type).__name__.upper()}
    json_cols |= {"grade", "assessment", "recurrence", "certifications", "warnings"}
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        names = ", ".join(f'"{c}"' for c in cols)
        with cur.copy(f"COPY lots ({names}) FROM STDIN") as copy:
            for row in _rows(n, tmpl, seller, now):
                copy.write_row(
                    [
                        Jsonb(row[c]) if c in json_cols and row[c] is not None else row[c]
                        for c in cols
                    ]
                )


# The matching benchmark's cluster: shared buffers that hold the lots' heap and the indexes a
# match reads (about 2 GB at 1M lots), as a production server would be sized; otherwise the
# lots benchmark's settings (fsync off: the seed is disposable).
PG_SETTINGS: tuple[str, ...] = (
    *(s for s in BENCH_SETTINGS if not s.startswith("shared_buffers=")),
    "shared_buffers=4GB",
)
PREWARM = ("lots", "pk_lots", "ix_lots_id_state", "ix_lots_updated_at_id")


def seed(url: str, n: int, tmpl: list[dict[str, Any]], seller: str) -> float:
    start = time.perf_counter()
    if url.startswith("postgresql"):
        _copy_postgres(url, n, tmpl, seller)
        # VACUUM as autovacuum would soon: statistics, and the visibility map that lets the
        # state re-check (ix_lots_id_state) run as an index-only scan
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE lots"))
            # A server that has run a while holds the lots it serves in shared buffers (and
            # autoprewarm restores them after a restart). Without this, the first read of each
            # lot went to the disk: this machine's OS page cache drops file pages within a
            # minute, whatever the free memory (benchmarks/matching/README.md).
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_prewarm"))
            for relation in PREWARM:
                conn.execute(text("SELECT pg_prewarm(:r)"), {"r": relation})
        engine.dispose()
        return time.perf_counter() - start
    engine = create_engine(url)
    table = Lot.__table__
    now = dt.datetime.now(dt.UTC)
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in _rows(n, tmpl, seller, now):
            batch.append(row)
            if len(batch) >= 5000:
                conn.execute(table.insert(), batch)
                batch = []
        if batch:
            conn.execute(table.insert(), batch)
        if url.startswith("sqlite"):
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE lots"))
    engine.dispose()
    return time.perf_counter() - start


def setup_orgs(url: str) -> dict[str, str]:
    db = Database(url)
    with db.transaction() as s:
        seller = create_organization(s, name="Bench seller", role=OrgRole.RECYCLER, country="DE")
        buyer = create_organization(s, name="Bench buyer", role=OrgRole.MANUFACTURER)
        _, key = create_api_key(s, buyer.id, name="bench")
        spec = RequirementSpec.model_validate(TYPICAL_SPEC)
        req = Requirement(
            organization_id=buyer.id,
            name="typical",
            family=spec.family,
            saved_search=False,
            spec=resolve_spec(spec),
        )
        s.add(req)
        s.flush()
        ids = {"seller": seller.id, "buyer": buyer.id, "key": key, "requirement": req.id}
    db.dispose()
    return ids


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def cpu_probe_ms() -> float:
    """A fixed pure-Python loop (3M multiply-adds), best of 3: this machine's speed moves
    by half from one minute to the next (0.145 to 0.228 s in three runs in a row, nothing else
    running), so every in-process result records it before and after."""
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        sum(i * i for i in range(3_000_000))
        best = min(best, time.perf_counter() - t0)
    return round(best * 1000, 1)


# Delivery points for the "new spec each call" rounds (postcodes of German cities).
PLACES = ("70173", "80331", "50667", "60311", "90402", "68159", "10115", "20095")


def _spec_model(i: int | None) -> RequirementSpec:
    body = json.loads(json.dumps(TYPICAL_SPEC))
    if i is not None:  # another spec each round: no memo can help, other lots come first
        body["properties"][0]["target"] = 8 + (i % 1000) * 0.01
        body["delivery_location"]["postcode"] = PLACES[i % len(PLACES)]
        body["delivery_location"]["max_distance_km"] = (300, 400, 500)[i % 3]
    return RequirementSpec.model_validate(
        resolve_spec(RequirementSpec.model_validate(body)), strict=False
    )


WARMUP_OFFSET = 1000  # warm-up specs: _spec_model(1000 + j), never equal to a timed one's


def rss_mb() -> float:
    """This process's resident memory (the snapshot's share: compare with a build that does
    not hold the facts, ``RECYCLATE_MATCH_FACTS_IN_MEMORY=false``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return math.nan


def drop_page_cache() -> bool:
    """Have the kernel drop clean file pages (root only): the database file as a server sees
    it when the OS has evicted it (on this VM, DAMON pages out file pages unused for ~30 s)."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError as exc:
        log(f"could not drop the page cache: {exc}")
        return False
    return True


def in_process(
    url: str,
    rounds: int,
    max_seconds: float,
    *,
    vary: bool,
    warmup: int = 0,
    cold: bool = False,
) -> dict[str, Any]:
    """``service.match`` + response models in one process. The first call builds the snapshot
    (reported as ``first_call_ms``); then ``warmup`` calls that are not timed (a server that
    has been answering for a while: its SQLite page cache and facts cache filled; with
    ``vary`` they use specs none of the timed calls repeats), then the timed calls; with
    ``vary`` every call uses a new spec. ``cold``: the OS page cache is dropped after the
    warm-up (``drop_page_cache``)."""
    db = Database(url)
    times: list[float] = []
    cpu: list[float] = []
    candidates = eligible = 0
    first = 0.0
    dropped = False
    load_before = load()
    probe_before = cpu_probe_ms()
    deadline = time.perf_counter() + max_seconds
    # the timed specs (1..rounds) and the warm-up ones never meet (specs repeat every 3000)
    assert rounds < WARMUP_OFFSET
    assert warmup < 3000 - WARMUP_OFFSET

    def call(spec_model: RequirementSpec) -> tuple[service.MatchOutcome, bytes]:
        with db.transaction(write=False) as s:
            spec = service.build_spec(
                spec_model, transport_eur_per_t_km=0.12, today=dt.date.today()
            )
            outcome = service.match(s, spec, limit=50, include_ineligible=False)
            # the response document, encoded as the router does
            doc = matches_dict(None, outcome.candidates, outcome.results, outcome.proposals, spec)
            return outcome, encode_json(doc)

    for i in range(rounds + 1):
        if i == 1 and warmup:
            for j in range(warmup):
                call(_spec_model(WARMUP_OFFSET + j if vary else None))
            if cold:
                dropped = drop_page_cache()
            deadline = time.perf_counter() + max_seconds
        spec_model = _spec_model(i if vary else None)  # (the request body: not timed)
        t0 = time.perf_counter()
        c0 = time.process_time()
        outcome, payload = call(spec_model)
        ms = (time.perf_counter() - t0) * 1000
        if i == 0:
            first = ms
            # as an API worker's start-up does after its snapshot build (service.warm)
            precompile(db.engine.dialect)
            deadline = time.perf_counter() + max_seconds
            continue
        times.append(ms)
        cpu.append((time.process_time() - c0) * 1000)
        candidates, eligible = outcome.candidates, len(outcome.results)
        assert payload
        if time.perf_counter() > deadline and len(times) >= 5:
            break
    db.dispose()
    return {
        "rounds": len(times),
        "first_call_ms": round(first, 1),
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(pct(times, 0.99), 2),
        # the p99 of each block of 300 consecutive rounds: how much one short run can move
        "p99_by_300_ms": [
            round(pct(times[i : i + 300], 0.99), 2) for i in range(0, len(times) - 299, 300)
        ],
        "cpu_p50_ms": round(statistics.median(cpu), 2),
        "page_cache_dropped": dropped,
        "rss_mb": rss_mb(),
        "candidates": candidates,
        "returned": eligible,
        "load": f"{load_before} -> {load()}",
        "cpu_probe_ms": f"{probe_before} -> {cpu_probe_ms()}",
    }


def check_equal(url: str) -> bool:
    """The fast path returns exactly what the reference path (every candidate scored) does."""
    db = Database(url)
    spec_model = _spec_model(None)
    with db.transaction(write=False) as s:
        spec = service.build_spec(spec_model, transport_eur_per_t_km=0.12, today=dt.date.today())
        fast = service.match(s, spec, limit=50, include_ineligible=False)
        exact = service.match_exact(s, spec, limit=50, include_ineligible=False)
        same = [present_match(r, spec).model_dump() for r in fast.results] == [
            present_match(r, spec).model_dump() for r in exact.results
        ]
    db.dispose()
    return same


def _warm_workers(
    base: str, path: str, headers: dict[str, str], workers: int, build_seconds: float
) -> float:
    """Each worker builds its snapshot on its first match. Call concurrently on new
    connections (spread over the workers) for at least twice the in-process build time, then
    until three rounds in a row are fast. (A worker busy building accepts connections late,
    so fast rounds alone may all have been served by the other worker.)"""
    t0 = time.perf_counter()
    min_wait = 2 * build_seconds + 5

    def one(_: int) -> None:
        httpx.get(base + path, headers=headers, timeout=600).raise_for_status()

    fast_rounds = 0
    with ThreadPoolExecutor(max_workers=4 * workers) as pool:
        while time.perf_counter() - t0 < 900:
            started = time.perf_counter()
            list(pool.map(one, range(4 * workers)))
            fast_rounds = fast_rounds + 1 if time.perf_counter() - started < 1.0 else 0
            if fast_rounds >= 3 and time.perf_counter() - t0 >= min_wait:
                break
            time.sleep(0.2)
    return time.perf_counter() - t0


def over_http(
    url: str,
    ids: dict[str, str],
    rounds: int,
    seconds: int,
    build_seconds: float,
    wrk_runs: int = 1,
) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    prom = tempfile.mkdtemp(prefix="rcy-bench-prom-")
    env = {
        "RECYCLATE_DATABASE_URL": url,
        "RECYCLATE_ACCESS_LOG": "false",
        # a load-test credential's quota: the limiter runs, the benchmark never meets it
        "RECYCLATE_RATE_LIMIT_REQUESTS": "1000000000",
        "RECYCLATE_LOG_LEVEL": "WARNING",
        "RECYCLATE_ENV": "production",
        "RECYCLATE_BACKGROUND_JOBS": "off",  # the API alone
        "PROMETHEUS_MULTIPROC_DIR": prom,
    }
    argv = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1"]
    server = start_server([*argv, "--port", str(port), "--workers", "2"], env, port, listeners=2)
    path = f"/v1/requirements/{ids['requirement']}/matches?limit=50"
    try:
        headers = {"Authorization": f"Bearer {ids['key']}"}
        times: list[float] = []
        with httpx.Client(base_url=base, headers=headers, timeout=600) as c:
            warm = _warm_workers(base, path, headers, 2, build_seconds)
            load_before = load()
            deadline = time.perf_counter() + 60
            for _ in range(rounds):
                t0 = time.perf_counter()
                c.get(path).raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
                if time.perf_counter() > deadline and len(times) >= 5:
                    break
        seq_load = f"{load_before} -> {load()}"
        load_before = load()
        result = wrk(base, [path], ids["key"], seconds, 4)
        result["load"] = f"{load_before} -> {load()}"
        # more wrk runs on the same server: each lands its 4 connections on the workers anew
        more = [wrk(base, [path], ids["key"], seconds, 4) for _ in range(wrk_runs - 1)]
    finally:
        stop(server)
    return {
        "warmup_seconds": round(warm, 1),
        "sequential_p50_ms": round(statistics.median(times), 2),
        "sequential_p99_ms": round(pct(times, 0.99), 2),
        "rounds": len(times),
        "load": seq_load,
        "wrk": result,
        "wrk_more": [
            {
                "rps": m.get("rps"),
                "per_worker_connections": m.get("per_worker_connections"),
                "per_worker_connections_end": m.get("per_worker_connections_end"),
            }
            for m in more
        ],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--lots", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--templates", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--max-seconds", type=float, default=30)
    ap.add_argument(
        "--warmup",
        type=int,
        default=100,
        help="untimed calls after the snapshot build (other specs than the timed ones)",
    )
    ap.add_argument("--wrk-seconds", type=int, default=10)
    ap.add_argument(
        "--wrk-runs",
        type=int,
        default=1,
        help="wrk runs on the same server (req/s and connections per worker of each)",
    )
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument(
        "--drop-page-cache",
        action="store_true",
        help="drop the OS page cache before the timed new-spec rounds (root only)",
    )
    ap.add_argument(
        "--reuse", metavar="DIR", help="SQLite: keep/reuse seeded databases DIR/b<N>.db"
    )
    ap.add_argument(
        "--check-up-to",
        type=int,
        default=1_000_000,
        help="compare with the reference path (slow: scores every candidate) up to this size",
    )
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    # as an API worker does at start-up (app.main lifespan): GC thresholds, gc.freeze()
    settings = Settings()
    gc_threshold = settings.gc_gen0_threshold
    tune_gc(gc_threshold)
    matching_index.configure(facts_in_memory=settings.match_facts_in_memory)
    rows = []
    pg = start_postgres(PG_SETTINGS) if args.db == "postgres" else None
    if pg is not None:
        _pg.append(pg)
    try:
        for n in args.lots:
            if pg is not None:
                name = f"bench_match_{n}"
                admin = create_engine(pg.admin_url, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                admin.dispose()
                url = pg.admin_url.rsplit("/", 1)[0] + f"/{name}"
            elif args.reuse:
                url = f"sqlite:///{args.reuse}/b{n}.db"
            else:
                url = f"sqlite:///{tempfile.mkdtemp(prefix='rcy-match-')}/bench.db"
            saved = Path(f"{args.reuse}/b{n}.json") if args.reuse and pg is None else None
            if saved is not None and saved.exists():
                ids = json.loads(saved.read_text())
                seconds = 0.0
                log(f"reusing {url}")
                upgrade(url)  # migrations added since it was seeded (the server needs head)
            else:
                upgrade(url)
                ids = setup_orgs(url)
                log(f"{args.db} {n} lots: building {args.templates} template lots")
                tmpl = templates(url, args.templates, ids["seller"])
                seconds = seed(url, n, tmpl, ids["seller"])
                log(f"seeded {n} lots in {seconds:.1f} s")
                if saved is not None:
                    saved.write_text(json.dumps(ids))
            res: dict[str, Any] = {
                "db": args.db,
                "lots": n,
                "seed_seconds": round(seconds, 1),
                "gc_gen0_threshold": gc_threshold,
                "match_facts_in_memory": settings.match_facts_in_memory,
            }
            res["in_process"] = in_process(
                url, args.rounds, args.max_seconds, vary=False, warmup=args.warmup
            )
            log(f"in-process (same requirement): {res['in_process']}")
            res["in_process_varied"] = in_process(
                url,
                args.rounds,
                args.max_seconds,
                vary=True,
                warmup=args.warmup,
                cold=args.drop_page_cache,
            )
            log(f"in-process (a new spec each call): {res['in_process_varied']}")
            if n <= args.check_up_to:
                res["equal_to_reference"] = check_equal(url)
                log(f"fast path == reference path: {res['equal_to_reference']}")
            if not args.no_http:
                build = res["in_process"]["first_call_ms"] / 1000
                res["http"] = over_http(
                    url, ids, args.rounds, args.wrk_seconds, build, args.wrk_runs
                )
                log(f"http: {res['http']}")
            (RESULTS / f"matching-{args.db}-{n}.json").write_text(json.dumps(res, indent=2))
            rows.append(res)
    finally:
        cleanup()
    print(
        "| db | lots | candidates | in-process p50 / p99 ms (same req.) "
        "| in-process p50 / p99 ms (new spec each call) | first call s "
        "| HTTP p50 / p99 ms | HTTP req/s (2 workers, 4 conns) [conns per worker] | load "
        "| CPU probe ms (new spec) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ip, iv = r["in_process"], r["in_process_varied"]
        h = r.get("http", {})
        w = h.get("wrk", {})
        print(
            f"| {r['db']} | {r['lots']:,} | {ip['candidates']:,} | "
            f"{ip['p50_ms']} / {ip['p99_ms']} | {iv['p50_ms']} / {iv['p99_ms']} | "
            f"{ip['first_call_ms'] / 1000:.1f} | "
            f"{h.get('sequential_p50_ms', '-')} / {h.get('sequential_p99_ms', '-')} | "
            f"{w.get('rps', '-')} {w.get('per_worker_connections', '')} | {ip['load']} | "
            f"{iv['cpu_probe_ms']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
