"""Forecast query latency over HTTP (issue #6 target: p99 under 20 ms).

Seeds one precomputed model run (10,000 series x 12 weeks by default) into a fresh, migrated
SQLite or PostgreSQL database, starts the real server (uvicorn, 2 workers) on 127.0.0.1 and
times typical ERP queries: filtered JSON pages, CSV, second pages and 304 revalidation.

    .venv/bin/python -m benchmarks.forecast_api_bench --db sqlite
    .venv/bin/python -m benchmarks.forecast_api_bench --db postgres
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import insert

from app.auth.service import create_api_key
from app.forecasts.models import ForecastRun, ForecastValue
from app.kit.db import Database, utcnow
from app.kit.migrations import upgrade
from app.orgs.models import OrgRole
from app.orgs.service import create_organization

POLYMERS = ["PP", "PE-HD", "PE-LD", "PET", "PS", "ABS", "PA6", "PC", "PVC", "PE-LLD"]
FAMILIES = ["plastic_recyclate", "paper", "ferrous_scrap", "glass_cullet"]
BANDS = ["0-1", "2", "3-4"]


def seed(db: Database, series: int, horizon: int) -> None:
    rng = random.Random(7)
    run = ForecastRun(
        id="fcr_bench",
        version="v0001-bench",
        freq="W",
        horizon=horizon,
        keys=["family", "polymer", "dql_band", "region"],
        method="default",
        series_count=series,
        training_start=dt.date(2023, 11, 20),
        training_end=dt.date(2026, 11, 16),
        metadata_={
            "backtest": {
                "metrics": {
                    "default": {"coverage_80": 0.8, "rmsse_rel_naive": 0.9, "spl_rel_naive": 0.7}
                }
            }
        },
        created_at=utcnow(),
    )
    monday = dt.date(2026, 11, 23)
    rows = []
    keys = set()
    while len(keys) < series:
        keys.add(
            (
                rng.choice(FAMILIES),
                rng.choice(POLYMERS),
                rng.choice(BANDS),
                f"D{rng.choice('EFG')}{rng.randint(1, 99):02d}",
            )
        )
    for fam, pol, band, reg in sorted(keys):
        for h in range(horizon):
            mean = rng.random() * 50_000
            rows.append(
                {
                    "run_id": run.id,
                    "series_key": f"{fam}|{pol}|{band}|{reg}",
                    "family": fam,
                    "polymer": pol,
                    "form": None,
                    "dql_band": band,
                    "region": reg,
                    "period_start": monday + dt.timedelta(weeks=h),
                    "mean": mean,
                    "p10": mean * 0.3,
                    "p50": mean * 0.9,
                    "p90": mean * 2,
                    "point": mean * 0.8,
                }
            )
    with db.transaction() as s:
        s.add(run)
        s.flush()
        for i in range(0, len(rows), 10_000):
            s.execute(insert(ForecastValue), rows[i : i + 10_000])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(url: str, key: str, rounds: int) -> dict[str, dict[str, float]]:
    h = {"Authorization": f"Bearer {key}"}
    queries = {
        "page of 25 series": "/v1/forecasts?family=plastic_recyclate&polymer=PP&limit=25",
        "one series": "/v1/forecasts?family=plastic_recyclate&polymer=PET&dql_band=2&region=DE11",
        "first page 100": "/v1/forecasts?limit=100",
        "csv page 100": "/v1/forecasts?limit=100&polymer=PE-HD",
    }
    out: dict[str, dict[str, float]] = {}
    with httpx.Client(base_url=url, timeout=30) as c:
        for name, q in queries.items():
            headers = {**h, "Accept": "text/csv"} if name.startswith("csv") else h
            for _ in range(5):
                c.get(q, headers=headers)
            times = []
            for _ in range(rounds):
                t = time.perf_counter()
                r = c.get(q, headers=headers)
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text[:200]
            times.sort()
            out[name] = {
                "p50_ms": round(statistics.median(times), 2),
                "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
            }
        etag = c.get(queries["page of 25 series"], headers=h).headers["etag"]
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            r = c.get(queries["page of 25 series"], headers={**h, "If-None-Match": etag})
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 304
        times.sort()
        out["304 revalidation"] = {
            "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--horizon", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=300)
    args = ap.parse_args()
    cluster = None
    if args.db == "postgres":
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        from benchmarks._pg import start_postgres

        cluster = start_postgres()
        admin = create_engine(cluster.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE rcy_fc_bench"))
        admin.dispose()
        url = make_url(cluster.admin_url).set(database="rcy_fc_bench").render_as_string(False)
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='rcy-fc-')) / 'bench.db'}"
    upgrade(url)
    db = Database(url)
    t0 = time.perf_counter()
    seed(db, args.series, args.horizon)
    print(
        f"seeded {args.series} series x {args.horizon} weeks in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    with db.transaction() as s:
        org = create_organization(s, name="ERP", role=OrgRole.MANUFACTURER)
        _, key = create_api_key(s, org.id, name="bench")
    db.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "RECYCLATE_DATABASE_URL": url,
        "RECYCLATE_ACCESS_LOG": "false",
        # a load-test credential's quota: the limiter runs, the benchmark never meets it
        "RECYCLATE_RATE_LIMIT_REQUESTS": "1000000000",
        "RECYCLATE_BACKGROUND_JOBS": "off",
        "RECYCLATE_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        load = os.getloadavg()
        results = measure(base, key, args.rounds)
        report = {
            "db": args.db,
            "series": args.series,
            "horizon": args.horizon,
            "load": [round(x, 1) for x in load],
            "queries": results,
        }
        print(json.dumps(report, indent=2))
        print("\n| query | p50 ms | p99 ms |\n|---|---|---|")
        for name, r in results.items():
            print(f"| {name} | {r['p50_ms']} | {r['p99_ms']} |")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        if cluster is not None:
            cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
