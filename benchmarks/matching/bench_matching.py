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
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from app.auth.service import Principal, create_api_key
from app.demo.lots import generate_lot_bodies
from app.kit.db import Database
from app.kit.ids import _encode
from app.kit.migrations import upgrade
from app.lots import service as lot_service
from app.lots.models import Lot
from app.lots.schemas import LotCreate
from app.matching import service
from app.matching.schemas import present_match
from app.orgs.models import OrgRole
from app.orgs.service import create_organization
from app.requirements.models import Requirement
from app.requirements.schemas import RequirementSpec
from app.requirements.service import resolve_spec
from benchmarks._pg import free_port, start_postgres
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


def templates(url: str, n: int, seller: str) -> list[dict[str, Any]]:
    principal = Principal(seller, "recycler", "bench", "api_key", frozenset())
    db = Database(url)
    out: list[dict[str, Any]] = []
    cols = [c.key for c in Lot.__table__.columns]
    with db.transaction(write=False) as s:
        for g in generate_lot_bodies(n, seed=7):
            body = LotCreate.model_validate(g["body"])
            lot = lot_service.build_lot(s, principal, body, now=g["posted_at"])
            lot.warnings = []
            out.append({c: getattr(lot, c) for c in cols})
    db.dispose()
    return out


def seed(url: str, n: int, tmpl: list[dict[str, Any]], seller: str) -> float:
    rng = random.Random(11)
    engine = create_engine(url)
    table = Lot.__table__
    now = dt.datetime.now(dt.UTC)
    start = time.perf_counter()
    batch: list[dict[str, Any]] = []
    base_ms = int(now.timestamp() * 1000) - n
    with engine.begin() as conn:
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
            row["updated_at"] = now
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


def in_process(url: str, rounds: int, max_seconds: float) -> dict[str, Any]:
    db = Database(url)
    spec_model = RequirementSpec.model_validate(
        resolve_spec(RequirementSpec.model_validate(TYPICAL_SPEC)), strict=False
    )
    times: list[float] = []
    cpu: list[float] = []
    candidates = eligible = 0
    deadline = time.perf_counter() + max_seconds
    for _ in range(rounds):
        t0 = time.perf_counter()
        c0 = time.process_time()
        with db.transaction(write=False) as s:
            spec = service.build_spec(
                spec_model, transport_eur_per_t_km=0.12, today=dt.date.today()
            )
            outcome = service.match(s, spec, limit=50, include_ineligible=False)
            body = [present_match(r, spec).model_dump() for r in outcome.results]
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        candidates, eligible = outcome.candidates, len(body)
        if time.perf_counter() > deadline and len(times) >= 5:
            break
    db.dispose()
    return {
        "rounds": len(times),
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(pct(times, 0.99), 2),
        "cpu_p50_ms": round(statistics.median(cpu), 2),
        "candidates_scored": candidates,
        "returned": eligible,
    }


def over_http(url: str, ids: dict[str, str], rounds: int, seconds: int) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    prom = tempfile.mkdtemp(prefix="rcy-bench-prom-")
    env = {
        "RECYCLATE_DATABASE_URL": url,
        "RECYCLATE_ACCESS_LOG": "false",
        "RECYCLATE_LOG_LEVEL": "WARNING",
        "RECYCLATE_ENV": "production",
        "PROMETHEUS_MULTIPROC_DIR": prom,
    }
    argv = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1"]
    server = start_server([*argv, "--port", str(port), "--workers", "2"], env, port)
    path = f"/v1/requirements/{ids['requirement']}/matches?limit=50"
    try:
        headers = {"Authorization": f"Bearer {ids['key']}"}
        times: list[float] = []
        with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            for _ in range(3):
                c.get(path).raise_for_status()
            deadline = time.perf_counter() + 60
            for _ in range(rounds):
                t0 = time.perf_counter()
                c.get(path).raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
                if time.perf_counter() > deadline and len(times) >= 5:
                    break
        load = wrk(base, [path], ids["key"], seconds, 4)
    finally:
        stop(server)
    return {
        "sequential_p50_ms": round(statistics.median(times), 2),
        "sequential_p99_ms": round(pct(times, 0.99), 2),
        "rounds": len(times),
        "wrk": load,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--lots", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--templates", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--max-seconds", type=float, default=30)
    ap.add_argument("--wrk-seconds", type=int, default=10)
    ap.add_argument("--no-http", action="store_true")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    rows = []
    pg = start_postgres() if args.db == "postgres" else None
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
            else:
                url = f"sqlite:///{tempfile.mkdtemp(prefix='rcy-match-')}/bench.db"
            upgrade(url)
            ids = setup_orgs(url)
            log(f"{args.db} {n} lots: building {args.templates} template lots")
            tmpl = templates(url, args.templates, ids["seller"])
            seconds = seed(url, n, tmpl, ids["seller"])
            log(f"seeded {n} lots in {seconds:.1f} s")
            res: dict[str, Any] = {"db": args.db, "lots": n, "seed_seconds": round(seconds, 1)}
            res["in_process"] = in_process(url, args.rounds, args.max_seconds)
            log(f"in-process: {res['in_process']}")
            if not args.no_http:
                res["http"] = over_http(url, ids, args.rounds, args.wrk_seconds)
                log(f"http: {res['http']}")
            (RESULTS / f"matching-{args.db}-{n}.json").write_text(json.dumps(res, indent=2))
            rows.append(res)
    finally:
        cleanup()
    print(
        "| db | lots | scored | in-process p50 / p99 ms | HTTP p50 / p99 ms "
        "| HTTP req/s (2 workers) |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        ip = r["in_process"]
        h = r.get("http", {})
        w = h.get("wrk", {})
        print(
            f"| {r['db']} | {r['lots']:,} | {ip['candidates_scored']:,} | "
            f"{ip['p50_ms']} / {ip['p99_ms']} | "
            f"{h.get('sequential_p50_ms', '-')} / {h.get('sequential_p99_ms', '-')} | "
            f"{w.get('rps', '-')} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
