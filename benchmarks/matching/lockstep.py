"""Compare two checkouts' new-spec matching on one database, in lock-step:

    git worktree add /tmp/before <commit>
    .venv/bin/python -m benchmarks.matching.lockstep sqlite:////tmp/mb/b1000000.db \\
        /tmp/before /work/main --rounds 900 --step 10

Each checkout runs in its own process (this file, started with ``PYTHONPATH=<checkout>``, so
it imports that checkout's ``app``): it builds its snapshot, runs 30 untimed new specs, then
the two processes take turns of ``--step`` rounds on the same specs (which one goes first
alternates), so both see the same machine. On this machine a whole run's p50 moves by 20-40 %
from one minute to the next; separate runs cannot show a 10 % change, turns of a few hundred
milliseconds can. ``<checkout>@<MiB>`` sets that process's SQLite page cache (checkouts that
have the setting).

Prints p50 / p90 / p99 per checkout and the p99 of each block of 300 rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

START = 100  # the timed specs: _spec_model(START ...), the warm-up ones 1..30


def _worker(url: str) -> None:
    """Runs inside a checkout: reads "a b" lines, answers the times of specs a..b-1."""
    import datetime as dt

    from app.kit.db import Database
    from app.kit.runtime import tune_gc
    from app.matching import service
    from app.settings import Settings
    from benchmarks.matching.bench_matching import _spec_model

    try:
        from app.matching.schemas import encode_json, matches_dict

        def encode(out: Any, spec: Any) -> None:
            encode_json(matches_dict(None, out.candidates, out.results, out.proposals, spec))
    except ImportError:  # checkouts before orjson encoding
        from pydantic_core import to_json

        from app.matching.schemas import matches_dict

        def encode(out: Any, spec: Any) -> None:
            to_json(matches_dict(None, out.candidates, out.results, out.proposals, spec))

    tune_gc(Settings().gc_gen0_threshold)
    cache = os.environ.get("LOCKSTEP_SQLITE_CACHE_MB")
    db = Database(url, **({"sqlite_cache_mb": int(cache)} if cache else {}))

    def one(i: int) -> float:
        t0 = time.perf_counter()
        with db.transaction(write=False) as s:
            spec = service.build_spec(
                _spec_model(i), transport_eur_per_t_km=0.12, today=dt.date.today()
            )
            encode(service.match(s, spec, limit=50, include_ineligible=False), spec)
        return (time.perf_counter() - t0) * 1000

    one(0)  # the snapshot build
    try:
        from app.matching.search import precompile

        precompile(db.engine.dialect)  # as a worker's start-up (checkouts that have it)
    except ImportError:
        pass
    for i in range(1, 31):
        one(i)
    print("ready", flush=True)
    for line in sys.stdin:
        a, b = map(int, line.split())
        print(" ".join(f"{one(i):.3f}" for i in range(a, b)), flush=True)


def _pct(xs: list[float], q: float) -> float:
    ys = sorted(xs)
    return ys[min(len(ys) - 1, int(q * len(ys)))]


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker(sys.argv[2])
        return 0
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("url")
    ap.add_argument("checkouts", nargs=2, help="two directories (checkout[@sqlite cache MiB])")
    ap.add_argument("--rounds", type=int, default=900)
    ap.add_argument("--step", type=int, default=10)
    args = ap.parse_args()
    procs = []
    for spec in args.checkouts:
        path, _, cache = spec.partition("@")
        env = {**os.environ, "PYTHONPATH": path}
        if cache:
            env["LOCKSTEP_SQLITE_CACHE_MB"] = cache
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", args.url],
            cwd=path,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"{spec}: the worker did not start")
        procs.append(proc)
    times: list[list[float]] = [[], []]
    i = START
    while i < START + args.rounds:
        order = [0, 1] if (i // args.step) % 2 == 0 else [1, 0]
        for k in order:
            proc = procs[k]
            assert proc.stdin is not None
            assert proc.stdout is not None
            proc.stdin.write(f"{i} {i + args.step}\n")
            proc.stdin.flush()
            times[k] += [float(x) for x in proc.stdout.readline().split()]
        i += args.step
    for spec, ts in zip(args.checkouts, times, strict=True):
        blocks = [round(_pct(ts[j : j + 300], 0.99), 1) for j in range(0, len(ts) - 299, 300)]
        print(
            f"{spec}: n={len(ts)} p50 {statistics.median(ts):.2f} p90 {_pct(ts, 0.9):.2f} "
            f"p99 {_pct(ts, 0.99):.2f} ms, p99 per 300 rounds {blocks}"
        )
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
