"""Where a new spec's time goes: per-phase p50/p99 of ``service.match`` plus the response
document, on a database the matching benchmark seeded (``--reuse`` keeps SQLite ones).

    .venv/bin/python -m benchmarks.matching.profile_phases sqlite:////tmp/mb/b1000000.db

Each round uses a new spec (``bench_matching._spec_model``: MFR target, delivery point and
radius change), with the GC settings of an API worker. The phases are timed by wrapping the
index and search methods in this process only; the five slowest rounds are printed too. After
the first round (the snapshot build) the facts-read shapes are compiled, as a worker does at
start-up (before the seventh session they were not, so first uses showed up as slow reads).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable
from typing import Any

from app.kit.db import Database
from app.kit.runtime import tune_gc
from app.matching import index, search, service
from app.matching.schemas import encode_json, matches_dict
from app.matching.search import precompile
from app.settings import Settings
from benchmarks.matching.bench_matching import _spec_model, pct

PHASES = (
    (index.LotIndex, "refreshed_generation"),
    (index.LotIndex, "scan"),
    (search.TopK, "top"),
    (search.TopK, "_load"),
    (search.TopK, "_evaluate"),
    (search.TopK, "_recheck"),
    (index.LotIndex, "keep_answer"),
)


def _timed(acc: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[name] = acc.get(name, 0.0) + time.perf_counter() - t0

    return wrapper


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("url", help="database URL of a seeded benchmark database")
    ap.add_argument("--rounds", type=int, default=400)
    args = ap.parse_args()
    tune_gc(Settings().gc_gen0_threshold)
    acc: dict[str, float] = {}
    for cls, name in PHASES:
        setattr(cls, name, _timed(acc, name, getattr(cls, name)))
    db = Database(args.url)
    rows: list[dict[str, float]] = []
    for i in range(args.rounds + 1):
        spec_model = _spec_model(i)
        acc.clear()
        t0 = time.perf_counter()
        with db.transaction(write=False) as s:
            spec = service.build_spec(
                spec_model, transport_eur_per_t_km=0.12, today=dt.date.today()
            )
            out = service.match(s, spec, limit=50, include_ineligible=False)
            t1 = time.perf_counter()
            encode_json(matches_dict(None, out.candidates, out.results, out.proposals, spec))
            acc["document"] = time.perf_counter() - t1
        total = time.perf_counter() - t0
        if i:  # the first round builds the snapshot
            rows.append({k: v * 1000 for k, v in acc.items()} | {"total": total * 1000})
        else:  # then the facts-read shapes are compiled, as a worker's start-up does
            precompile(db.engine.dialect)
    db.dispose()
    for name in [*(n for _, n in PHASES), "document", "total"]:
        xs = [r.get(name, 0.0) for r in rows]
        print(f"{name:22s} p50 {statistics.median(xs):6.2f} ms   p99 {pct(xs, 0.99):6.2f} ms")
    print("slowest rounds (ms):")
    for r in sorted(rows, key=lambda r: -r["total"])[:5]:
        print("  " + ", ".join(f"{k} {v:.1f}" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
