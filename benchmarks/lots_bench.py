"""Lots benchmark: bulk ingest over HTTP, then list/filter latency and list throughput, against
the real server (uvicorn, 2 workers) on SQLite or PostgreSQL, next to a bare FastAPI app.

    .venv/bin/python -m benchmarks.lots_bench --db sqlite --lots 10000
    .venv/bin/python -m benchmarks.lots_bench --db postgres --lots 1000000 --keep

Steps: fresh database (Alembic), seller organisations + API keys through the service layer,
server subprocess on 127.0.0.1, lot bodies from ``app.demo.lots.generate_lot_bodies`` POSTed
to ``/v1/lots/bulk`` by a few concurrent clients (ingest rate), then the generated history is
applied in the database (old lots sold out or withdrawn, recent ones active, as in the demo
data), then EXPLAIN of every list query, sequential latency per query (p50/p99), and list
throughput with ``wrk`` (keep-alive, a few connections) for ``GET /v1/lots?limit=50`` and for
the bare app (``benchmarks/bare_app.py``). Results: ``benchmarks/results/*.json`` + a markdown
table on stdout. ``--reuse DIR`` measures again on a database kept with ``--keep``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from sqlalchemy import Table, bindparam, create_engine, text, update
from sqlalchemy.engine import make_url

from app.auth.service import create_api_key
from app.demo.lots import SELLER_PROFILES, generate_lot_bodies
from app.kit.db import Database
from app.kit.migrations import upgrade
from app.kit.serving import TCP_LISTEN, tcp_sockets
from app.lots import service
from app.lots.models import Lot
from app.orgs.models import OrgRole
from app.orgs.service import create_organization
from benchmarks._pg import BENCH_SETTINGS, TempPostgres, free_port, start_postgres

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
MAX_BODY = 1_000_000  # stay under the server's default 1 MiB body limit
HTTP_TIMEOUT = 120.0
MAX_RETRIES = 20

# The list queries a buyer's screen or an ERP sync sends; each is measured on its own.
QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("newest", {}),
    ("family+polymer", {"family": "plastic_recyclate", "polymer": "PP"}),
    ("polymer+min_dql3", {"polymer": "PET", "min_dql": 3}),
    ("min_dql4", {"min_dql": 4}),
    ("region_prefix", {"region": "DEA"}),
    ("region+family", {"region": "DE2", "family": "plastic_recyclate"}),
    (
        "mfr_window",
        {
            "polymer": "PP",
            "mfr_min": 8,
            "mfr_max": 15,
            "mfr_temperature_c": 230,
            "mfr_load_kg": 2.16,
        },
    ),
    ("density_window", {"density_min": 0.94, "density_max": 0.96}),
    ("min_available", {"min_available_kg": 20000}),
    ("sort_available", {"sort": "available_desc"}),
    ("sort_dql+family", {"sort": "dql_desc", "family": "plastic_recyclate"}),
    ("sort_oldest+polymer", {"sort": "oldest", "polymer": "PA6"}),
    ("rare_combo", {"polymer": "PC", "country": "IT", "min_dql": 3}),
    ("recurring+family", {"supply_type": "recurring", "family": "paper"}),
    ("form+color", {"form": "regranulate", "color": "natural"}),
    ("page2_family+polymer", {"family": "plastic_recyclate", "polymer": "PP", "_page": 2}),
    (
        "page2_mfr_window",
        {
            "polymer": "PP",
            "mfr_min": 8,
            "mfr_max": 15,
            "mfr_temperature_c": 230,
            "mfr_load_kg": 2.16,
            "_page": 2,
        },
    ),
    ("page2_sort_available", {"sort": "available_desc", "_page": 2}),
]
LIMIT = 50

_procs: list[subprocess.Popen[bytes]] = []
_pg: list[TempPostgres] = []
_dirs: list[str] = []


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- processes ----------------------------------------------------------------------------------


def start_server(
    argv: list[str], env: dict[str, str], port: int, listeners: int = 1
) -> subprocess.Popen[bytes]:
    """Start a server and wait until it answers and ``listeners`` sockets listen on ``port``:
    `recyclate serve` gives each worker its own socket once the worker has started, and a
    load test that begins while one worker is still starting puts every connection on the
    other."""
    proc = subprocess.Popen(argv, env={**os.environ, **env}, start_new_session=True)
    _procs.append(proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}: {argv}")
        if listening_sockets(port) >= listeners:
            for probe in ("/healthz", "/items"):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=1).status_code < 500:
                        return proc
                except httpx.HTTPError:
                    pass
        time.sleep(0.3)
    raise SystemExit(f"server did not come up on port {port} with {listeners} listening sockets")


def listening_sockets(port: int) -> int:
    """TCP sockets listening on ``port`` (one per worker with SO_REUSEPORT)."""
    return sum(state == TCP_LISTEN for state, _ in tcp_sockets(port))


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    # uvicorn's workers may outlive the supervisor by a moment: wait for the whole group
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    if proc in _procs:
        _procs.remove(proc)


def cleanup() -> None:
    for p in list(_procs):
        stop(p)
    for pg in list(_pg):
        pg.stop()
        _pg.remove(pg)
    for d in list(_dirs):
        shutil.rmtree(d, ignore_errors=True)
        _dirs.remove(d)


# --- setup --------------------------------------------------------------------------------------


def create_sellers(url: str) -> dict[str, Any]:
    db = Database(url)
    keys: dict[str, Any] = {"sellers": [], "buyer": None}
    with db.transaction() as s:
        for p in SELLER_PROFILES:
            org = create_organization(
                s, name=f"Bench {p.slug}", role=OrgRole.RECYCLER, country=p.country
            )
            _, secret = create_api_key(s, org.id, name="bench")
            keys["sellers"].append({"org": org.id, "key": secret})
        buyer = create_organization(s, name="Bench buyer", role=OrgRole.MANUFACTURER)
        _, secret = create_api_key(s, buyer.id, name="bench")
        keys["buyer"] = {"org": buyer.id, "key": secret}
    db.dispose()
    return keys


def make_batches(
    n: int, batch: int, seed: int, end: dt.datetime
) -> Iterator[tuple[int, bytes, list[tuple[str, float]]]]:
    """(seller index, JSON payload, [(status, available fraction)] per lot), per-seller
    batches in posting order, each under MAX_BODY bytes."""
    buffers: dict[int, list[tuple[bytes, tuple[str, float]]]] = {}
    sizes: dict[int, int] = {}

    def flush(seller: int) -> tuple[int, bytes, list[tuple[str, float]]]:
        items = buffers.pop(seller)
        sizes.pop(seller, None)
        payload = b'{"lots":[' + b",".join(b for b, _ in items) + b"]}"
        return seller, payload, [o for _, o in items]

    for g in generate_lot_bodies(n, seed=seed, end=end):
        raw = orjson.dumps(g["body"])
        seller = g["seller"]
        if sizes.get(seller, 0) + len(raw) + 16 > MAX_BODY:
            yield flush(seller)
        buffers.setdefault(seller, []).append((raw, (g["status"], g["available_fraction"])))
        sizes[seller] = sizes.get(seller, 0) + len(raw) + 1
        if len(buffers[seller]) >= batch:
            yield flush(seller)
    for seller in list(buffers):
        yield flush(seller)


def ingest(
    base: str,
    keys: dict[str, Any],
    n: int,
    batch: int,
    clients: int,
    seed: int,
    max_seconds: float,
) -> tuple[dict[str, Any], list[tuple[str, str, float]]]:
    """POST all batches with ``clients`` concurrent keep-alive clients. Generation runs in a
    producer thread ahead of the clients (bounded queue)."""
    q: queue.Queue[tuple[int, bytes, list[tuple[str, float]]] | None] = queue.Queue(maxsize=64)
    outcomes: list[tuple[str, str, float]] = []
    errors: list[str] = []
    done = [0]
    retries = [0]
    lock = threading.Lock()
    stop_flag = threading.Event()
    end = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def producer() -> None:
        for item in make_batches(n, batch, seed, end):
            while not stop_flag.is_set():
                try:
                    q.put(item, timeout=1)
                    break
                except queue.Full:
                    continue
            if stop_flag.is_set():
                break
        for _ in range(clients):
            q.put(None)

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=HTTP_TIMEOUT) as c:
            while True:
                item = q.get()
                if item is None or stop_flag.is_set():
                    return
                seller, payload, outs = item
                headers = {
                    "Authorization": f"Bearer {keys['sellers'][seller]['key']}",
                    "Content-Type": "application/json",
                }
                # like a well-behaved ERP client: retry 503 (SQLite busy) after Retry-After,
                # at most MAX_RETRIES times per batch
                for attempt in range(MAX_RETRIES + 1):
                    r = c.post("/v1/lots/bulk", content=payload, headers=headers)
                    if r.status_code != 503 or attempt == MAX_RETRIES:
                        break
                    with lock:
                        retries[0] += 1
                    time.sleep(min(10.0, float(r.headers.get("Retry-After", "1"))))
                if r.status_code != 201:
                    errors.append(f"{r.status_code} {r.text[:500]}")
                    stop_flag.set()
                    return
                ids = r.json()["ids"]
                with lock:
                    outcomes.extend((i, s, f) for i, (s, f) in zip(ids, outs, strict=True))
                    done[0] += len(ids)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=producer, daemon=True)]
    threads += [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    last = 0.0
    split: list[int] | None = None
    while any(t.is_alive() for t in threads[1:]):
        time.sleep(1)
        el = time.perf_counter() - t0
        if split is None and el >= 2:  # the clients' keep-alive connections per server process
            split = connections_per_process(int(base.rsplit(":", 1)[1]))
        if el - last >= 15:
            last = el
            rate = done[0] / el
            eta = (n - done[0]) / rate if rate else float("inf")
            log(f"ingest {done[0]:,}/{n:,} lots, {rate:,.0f} lots/s, eta {eta / 60:.1f} min")
        if el > max_seconds:
            stop_flag.set()
            errors.append(f"stopped after {max_seconds:.0f} s")
            break
    stop_flag.set()
    for t in threads[1:]:
        t.join(timeout=HTTP_TIMEOUT)
    elapsed = time.perf_counter() - t0
    if errors:
        log(f"ingest errors: {errors[:3]}")
    return {
        "lots": done[0],
        "seconds": round(elapsed, 1),
        "lots_per_s": round(done[0] / elapsed, 1),
        "batch": batch,
        "clients": clients,
        "retries_503": retries[0],
        "per_worker_connections": split,
        "errors": errors[:5],
    }, outcomes


def apply_history(url: str, outcomes: list[tuple[str, str, float]]) -> float:
    """Old lots sold out or withdrawn, recent ones active (as generated), set in the database
    after the ingest (not part of the ingest rate)."""
    t0 = time.perf_counter()
    eng = create_engine(url)
    table = Lot.__table__
    assert isinstance(table, Table)
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            available_kg=table.c.quantity_kg * bindparam("b_f"),
            version=table.c.version
            + 1,  # every write of a lot moves its version (ETags, ItemCache)
        )
    )
    chunk = 20_000
    with eng.begin() as conn:
        for i in range(0, len(outcomes), chunk):
            part = outcomes[i : i + chunk]
            conn.execute(
                stmt,
                [
                    {"b_id": lot_id, "b_status": st, "b_f": frac}
                    for lot_id, st, frac in part
                    if st != "active" or frac < 1.0
                ],
            )
    eng.dispose()
    return time.perf_counter() - t0


REPLICA_MARK = "u"  # never in generated ids (Crockford base32 has no "u")


def replicate(url: str, target: int) -> dict[str, Any]:
    """Copy the ingested lots (after their history was applied) in SQL until the table holds
    ``target`` rows: same attribute mix, statuses, regions and posting times; new ids that keep
    each copy next to its original in id (= time) order, and the id inside the stored list
    item rewritten. Used to reach 1,000,000 lots without an hour of HTTP ingest; the ingest
    rate is measured on the lots that went through the API."""
    t0 = time.perf_counter()
    table = Lot.__table__
    assert isinstance(table, Table)
    names = [c.name for c in table.columns]
    eng = create_engine(url)
    copied = 0
    with eng.begin() as conn:
        base = int(conn.execute(text("SELECT count(*) FROM lots")).scalar_one())
        rounds = 0
        while base + copied < target:
            suffix = REPLICA_MARK + "0123456789abcdefghjkmnpqrstvwxyz"[rounds]
            new_id = f"substr(id, 1, length(id) - 2) || '{suffix}'"
            exprs = [
                new_id if n == "id" else f"replace(summary, id, {new_id})" if n == "summary" else n
                for n in names
            ]
            n = min(base, target - base - copied)
            conn.execute(
                text(
                    f"INSERT INTO lots ({', '.join(names)}) SELECT {', '.join(exprs)} FROM lots "
                    f"WHERE substr(id, length(id) - 1, 1) <> '{REPLICA_MARK}' "
                    "ORDER BY id LIMIT :n"
                ),
                {"n": n},
            )
            copied += n
            rounds += 1
            log(f"replicated {copied:,} lots ({base + copied:,} in the table)")
    eng.dispose()
    return {"api_lots": base, "copied": copied, "seconds": round(time.perf_counter() - t0, 1)}


def analyze(url: str, is_sqlite: bool) -> float:
    t0 = time.perf_counter()
    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.exec_driver_sql("ANALYZE" if is_sqlite else "VACUUM ANALYZE lots")
    eng.dispose()
    return time.perf_counter() - t0


# --- measurements -------------------------------------------------------------------------------


def _params(q: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in q.items() if not k.startswith("_")} | {"limit": LIMIT}


def explain(url: str, is_sqlite: bool) -> dict[str, Any]:
    """The plan of every list query (first page), built by the service code itself."""
    from sqlalchemy.orm import Session

    eng = create_engine(url)
    out: dict[str, Any] = {}
    with Session(eng) as s:
        for name, q in QUERIES:
            if q.get("_page"):
                continue
            sort = q.get("sort", "newest")
            fields = {k: v for k, v in q.items() if k not in ("sort",) and not k.startswith("_")}
            f = service.LotFilters(**fields)
            key = service.SORTS[sort]
            order = [c.desc() if key.descending else c.asc() for c in key.columns]
            stmt = service.filtered(service.visible_lots(), f).order_by(*order).limit(LIMIT + 1)
            if is_sqlite:
                # bound parameters, as the server runs it: SQLite plans differently for
                # literals (stat4-like estimates) than for ? placeholders
                compiled = stmt.compile(eng)
                params = tuple(compiled.params[k] for k in compiled.positiontup or ())
                conn = s.connection()
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params).all()
                plan = [str(r[-1]) for r in rows]
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    conn.exec_driver_sql(str(compiled), params).all()
                    times.append((time.perf_counter() - t0) * 1000)
                ms = statistics.median(times)
            else:
                # psycopg binds server-side; the first executions get custom (per-value) plans
                sql = str(stmt.compile(eng, compile_kwargs={"literal_binds": True}))
                rows = s.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")).all()
                plan = [str(r[0]) for r in rows]
                ms = next(
                    (float(p.split(":")[1].split()[0]) for p in plan if "Execution Time" in p),
                    -1.0,
                )
            out[name] = {"sql_ms": round(ms, 2), "plan": plan}
    eng.dispose()
    return out


def latency(base: str, key: str, rounds: int, max_seconds: float) -> dict[str, Any]:
    """Sequential requests over one keep-alive connection, each query ``rounds`` times
    (after 3 warm-up requests)."""
    res: dict[str, Any] = {}
    all_ms: list[float] = []
    deadline = time.monotonic() + max_seconds
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, timeout=HTTP_TIMEOUT, headers=headers) as c:
        for name, q in QUERIES:
            params = _params(q)
            if q.get("_page"):
                first = c.get("/v1/lots", params=params).json()
                if not first.get("next_cursor"):
                    res[name] = {"skipped": "no second page"}
                    continue
                params = params | {"cursor": first["next_cursor"]}
            path = "/v1/lots?" + urlencode(params)
            for _ in range(3):
                c.get(path)
            times: list[float] = []
            count = 0
            for _ in range(rounds):
                t0 = time.perf_counter()
                r = c.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    raise SystemExit(f"{path}: {r.status_code} {r.text[:300]}")
                count = len(r.json()["data"])
                if time.monotonic() > deadline:
                    break
            times.sort()
            all_ms.extend(times)
            res[name] = {
                "rows": count,
                "p50_ms": round(statistics.median(times), 2),
                "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
                "max_ms": round(times[-1], 2),
                "n": len(times),
            }
    all_ms.sort()
    res["_all"] = {
        "p50_ms": round(statistics.median(all_ms), 2),
        "p99_ms": round(all_ms[int(len(all_ms) * 0.99)], 2),
        "n": len(all_ms),
    }
    return res


WRK_LUA = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], {["Authorization"] = "Bearer %s"})
end
"""


def wrk(
    url_base: str, paths: list[str], key: str | None, seconds: int, conns: int
) -> dict[str, Any]:
    exe = shutil.which("wrk")
    if exe is None:
        return {"skipped": "wrk not installed (apt-get install wrk)"}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        quoted = ",".join(json.dumps(p) for p in paths)
        if key:
            fh.write(WRK_LUA % (quoted, key))
        else:
            fh.write(
                f"local paths = {{{quoted}}}\nlocal i = 0\nrequest = function()\n"
                "  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
            )
        script = fh.name
    try:
        proc = subprocess.Popen(
            [exe, "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", script, url_base],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        port = int(url_base.rsplit(":", 1)[1].split("/")[0])
        time.sleep(min(1.5, seconds / 2))
        split = connections_per_process(port)
        # again near the end: the workers re-spread piled-up connections (app/kit/balance.py)
        time.sleep(max(0.0, seconds - 1.0 - min(1.5, seconds / 2)))
        split_end = connections_per_process(port)
        out, _ = proc.communicate(timeout=seconds + 60)
    finally:
        os.unlink(script)
    rps = next(
        (float(ln.split()[1]) for ln in out.splitlines() if ln.startswith("Requests/sec")), 0
    )
    lat: dict[str, str] = {}
    for ln in out.splitlines():
        parts = ln.split()
        if len(parts) == 2 and parts[0] in ("50%", "99%"):
            lat[parts[0]] = parts[1]
    non2xx = next((ln.strip() for ln in out.splitlines() if "Non-2xx" in ln), None)
    done = next((int(ln.split()[0]) for ln in out.splitlines() if " requests in " in ln), 0)
    return {
        "rps": rps,
        "requests": done,
        "p50": lat.get("50%"),
        "p99": lat.get("99%"),
        "non_2xx": non2xx,
        "connections": conns,
        # wrk's connections per server process. With uvicorn's one shared listening socket a
        # worker's event loop accepts every pending connection at once (matching, 100k lots:
        # 2/2 -> 477-547 req/s, 4/0 -> 206-216 req/s); `recyclate serve` now gives each worker
        # its own socket (app/kit/serving.py) and the kernel spreads connections by hash.
        "per_worker_connections": split,
        "per_worker_connections_end": split_end,
        "seconds": seconds,
    }


def connections_per_process(port: int) -> list[int]:
    """Established connections to ``port`` per owning process (``ss``), largest first."""
    exe = shutil.which("ss")
    if exe is None:
        return []
    out = subprocess.run(
        [exe, "-tnpH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    counts: dict[str, int] = {}
    for line in out.splitlines():
        for pid in re.findall(r"pid=(\d+)", line)[:1]:
            counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system, including reaped children) of ``root`` and all its
    descendants, from /proc: the server's workers, or a PostgreSQL postmaster's backends."""
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        ticks[int(entry)] = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0)
        todo += [child for child, ppid in parent.items() if ppid == pid]
    return total / tick


def measured_wrk(cpu_roots: dict[str, int], *args: Any) -> dict[str, Any]:
    """``wrk(*args)`` plus the CPU milliseconds per request each process tree spent."""
    before = {name: tree_cpu_seconds(pid) for name, pid in cpu_roots.items()}
    run = wrk(*args)
    for name, pid in cpu_roots.items():
        spent = tree_cpu_seconds(pid) - before[name]
        run[f"{name}_cpu_ms_per_req"] = (
            round(spent * 1000 / run["requests"], 3) if run.get("requests") else None
        )
    return run


_CACHE_LINE = re.compile(
    r'^recyclate_snapshot_cache_lookups_total\{cache="list_pages",outcome="(\w+)"\} ([0-9.e+]+)$',
    re.M,
)


def page_cache_counts(base: str) -> dict[str, int]:
    """The list-page cache's lookups so far, all workers (``/metrics``; app/kit/pagecache.py):
    hit / miss / paused."""
    try:
        body = httpx.get(f"{base}/metrics", timeout=10).text
    except httpx.HTTPError:
        return {}
    return {m[1]: int(float(m[2])) for m in _CACHE_LINE.finditer(body)}


@contextlib.contextmanager
def background_writes(url: str, per_s: float) -> Iterator[dict[str, int]]:
    """Commit ``per_s`` small writes a second on a connection of our own while the block runs:
    each bumps the version of one sold-out lot (never on a list page of active lots, but every
    commit moves the database's snapshot, which invalidates every kept list page)."""
    done = {"writes": 0}
    if per_s <= 0:
        yield done
        return
    stop_event = threading.Event()
    eng = create_engine(url)

    def run() -> None:
        with eng.connect() as conn:
            lot_id = conn.execute(
                text("SELECT id FROM lots WHERE status = 'sold_out' ORDER BY id LIMIT 1")
            ).scalar_one()
            bump = text("UPDATE lots SET version = version + 1 WHERE id = :id")
            interval, next_at = 1.0 / per_s, time.perf_counter()
            while not stop_event.is_set():
                conn.execute(bump, {"id": lot_id})
                conn.commit()
                done["writes"] += 1
                next_at += interval
                stop_event.wait(max(0.0, next_at - time.perf_counter()))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        yield done
    finally:
        stop_event.set()
        worker.join(timeout=30)
        eng.dispose()


def _postmaster_pid(pg: TempPostgres) -> int:
    with open(f"{pg.pgdir}/data/postmaster.pid") as fh:
        return int(fh.readline())


def _local_postmaster(url: str) -> int | None:
    """The postmaster's pid of a PostgreSQL given by ``--pg-url``, if it runs on this host."""
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            data = conn.execute(text("SHOW data_directory")).scalar_one()
        with open(f"{data}/postmaster.pid") as fh:
            return int(fh.readline())
    except (OSError, ValueError):
        return None
    finally:
        eng.dispose()


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = sorted((r for r in runs if r.get("rps")), key=lambda r: r["rps"])
    return ok[len(ok) // 2] if ok else (runs[0] if runs else {})


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--lots", type=int, default=10_000)
    ap.add_argument(
        "--http-lots",
        type=int,
        help="lots posted through the bulk API (ingest rate); the rest up to --lots are SQL "
        "copies of them (see replicate())",
    )
    ap.add_argument("--batch", type=int, default=500, help="lots per bulk request (<= 500)")
    ap.add_argument("--clients", type=int, default=3, help="concurrent ingest clients")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--rounds", type=int, default=200, help="latency samples per query")
    ap.add_argument("--wrk-seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument(
        "--wrk-rounds", type=int, default=3, help="alternating list / bare throughput runs"
    )
    ap.add_argument(
        "--page-cache-size",
        type=int,
        help="RECYCLATE_LIST_PAGE_CACHE_SIZE for the server (PostgreSQL's snapshot-validated "
        "list pages; 0: off; default: the server's default)",
    )
    ap.add_argument(
        "--writes-per-s",
        type=float,
        default=0,
        help="commits per second by another client during the plain list rounds (each one "
        "invalidates the list-page cache)",
    )
    ap.add_argument("--max-ingest-minutes", type=float, default=240)
    ap.add_argument("--keep", action="store_true", help="keep the database (and its keys)")
    ap.add_argument("--reuse", help="directory of a kept run: measure again without ingest")
    ap.add_argument("--pg-url", help="admin URL of an existing PostgreSQL (else a temp cluster)")
    ap.add_argument("--workdir", default=tempfile.gettempdir())
    args = ap.parse_args()

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    RESULTS.mkdir(exist_ok=True)
    result: dict[str, Any] = {
        "db": args.db,
        "lots": args.lots,
        "workers": args.workers,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    try:
        if args.reuse:
            run_dir = Path(args.reuse)
            meta = json.loads((run_dir / "run.json").read_text())
            url, keys = meta["url"], meta["keys"]
            if args.db == "postgres" and not args.pg_url:
                raise SystemExit("--reuse with postgres needs --pg-url of the kept cluster")
            if args.db == "postgres":
                url = (
                    make_url(args.pg_url)
                    .set(database=make_url(url).database)
                    .render_as_string(hide_password=False)
                )
        else:
            run_dir = Path(tempfile.mkdtemp(prefix=f"rcy-bench-{args.db}-", dir=args.workdir))
            if args.db == "sqlite":
                url = f"sqlite:///{run_dir / 'bench.db'}"
            else:
                admin = args.pg_url
                if admin is None:
                    pg = start_postgres(BENCH_SETTINGS)
                    _pg.append(pg)
                    admin = pg.admin_url
                    result["postgres"] = pg.version
                    log(f"PostgreSQL {pg.version} on 127.0.0.1:{pg.port} ({pg.pgdir})")
                name = f"rcy_bench_{int(time.time())}"
                eng = create_engine(admin, isolation_level="AUTOCOMMIT")
                with eng.connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                eng.dispose()
                url = make_url(admin).set(database=name).render_as_string(hide_password=False)
            upgrade(url)
            keys = create_sellers(url)
            (run_dir / "run.json").write_text(json.dumps({"url": url, "keys": keys}))
        is_sqlite = url.startswith("sqlite")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        prom = tempfile.mkdtemp(prefix="rcy-bench-prom-")
        _dirs.append(prom)
        env = {
            "RECYCLATE_DATABASE_URL": url,
            "RECYCLATE_ACCESS_LOG": "false",
            # a load-test credential's quota: the limiter runs, the benchmark never meets it
            "RECYCLATE_RATE_LIMIT_REQUESTS": "1000000000",
            "RECYCLATE_LOG_LEVEL": "WARNING",
            "RECYCLATE_ENV": "production",
            # the API only: no in-process expiry/retraining jobs competing for the two cores
            "RECYCLATE_BACKGROUND_JOBS": "off",
            "PROMETHEUS_MULTIPROC_DIR": prom,
        }
        if args.page_cache_size is not None:
            env["RECYCLATE_LIST_PAGE_CACHE_SIZE"] = str(args.page_cache_size)
        result["page_cache_size"] = args.page_cache_size
        result["writes_per_s"] = args.writes_per_s
        server = start_server(
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            env,
            port,
            listeners=args.workers,
        )
        shown = make_url(url).render_as_string()
        log(f"server on {base} ({args.workers} workers), database {shown}")
        if not args.reuse:
            ing, outcomes = ingest(
                base,
                keys,
                min(args.lots, args.http_lots or args.lots),
                args.batch,
                args.clients,
                args.seed,
                args.max_ingest_minutes * 60,
            )
            result["ingest"] = ing
            log(
                f"ingest: {ing['lots']:,} lots in {ing['seconds']} s = {ing['lots_per_s']} lots/s"
                f" [connections per worker {ing['per_worker_connections']}]"
            )
            result["history_seconds"] = round(apply_history(url, outcomes), 1)
            del outcomes
            if args.http_lots and args.http_lots < args.lots:
                result["replicated"] = replicate(url, args.lots)
            result["analyze_seconds"] = round(analyze(url, is_sqlite), 1)
            log(f"history applied ({result['history_seconds']} s), analyzed")
        eng = create_engine(url)
        with eng.connect() as conn:
            result["counts"] = {
                str(s): int(c)
                for s, c in conn.execute(text("SELECT status, count(*) FROM lots GROUP BY status"))
            }
        eng.dispose()
        log(f"lots by status: {result['counts']}")
        result["explain"] = explain(url, is_sqlite)
        buyer = keys["buyer"]["key"]
        result["latency"] = latency(base, buyer, args.rounds, max_seconds=900)
        lat = result["latency"]
        log(f"latency all queries: p50 {lat['_all']['p50_ms']} ms, p99 {lat['_all']['p99_ms']} ms")
        paths = ["/v1/lots?" + urlencode(_params(q)) for _, q in QUERIES if not q.get("_page")]
        result["throughput_lots_mix"] = wrk(base, paths, buyer, args.wrk_seconds, args.connections)
        bport = free_port()
        bare = start_server(
            [
                sys.executable,
                "-m",
                "benchmarks.bare_app",
                "--port",
                str(bport),
                "--workers",
                str(args.workers),
            ],
            {},
            bport,
            listeners=args.workers,
        )
        # Alternate the two (both servers up, the idle one costs nothing) so that load from
        # other jobs on the machine hits both alike; the ratio is of the medians.
        # Server CPU per request is measured from /proc for both servers' process trees (and
        # the temporary PostgreSQL's, which shares the two cores).
        db_pid = _postmaster_pid(_pg[0]) if _pg else (None if is_sqlite else _local_postmaster(url))
        lots_roots = {"server": server.pid} | ({"db": db_pid} if db_pid else {})
        plain: list[dict[str, Any]] = []
        bare_runs: list[dict[str, Any]] = []
        for i in range(args.wrk_rounds):
            log(f"throughput round {i + 1}/{args.wrk_rounds}")
            counts0 = page_cache_counts(base)
            with background_writes(url, args.writes_per_s) as writes:
                run = measured_wrk(
                    lots_roots,
                    base,
                    [f"/v1/lots?limit={LIMIT}"],
                    buyer,
                    args.wrk_seconds,
                    args.connections,
                )
            counts1 = page_cache_counts(base)
            run["page_cache"] = {k: v - counts0.get(k, 0) for k, v in counts1.items()}
            run["background_writes"] = writes["writes"]
            plain.append(run)
            bare_runs.append(
                measured_wrk(
                    {"server": bare.pid},
                    f"http://127.0.0.1:{bport}",
                    ["/items"],
                    None,
                    args.wrk_seconds,
                    args.connections,
                )
            )
        stop(bare)
        stop(server)
        result["throughput_lots_plain"] = _median_run(plain)
        result["throughput_bare"] = _median_run(bare_runs)
        result["throughput_rounds"] = {
            "lots_rps": [r.get("rps") for r in plain],
            "bare_rps": [r.get("rps") for r in bare_runs],
            "lots_server_cpu_ms_per_req": [r.get("server_cpu_ms_per_req") for r in plain],
            "lots_db_cpu_ms_per_req": [r.get("db_cpu_ms_per_req") for r in plain],
            "bare_server_cpu_ms_per_req": [r.get("server_cpu_ms_per_req") for r in bare_runs],
            "lots_page_cache": [r.get("page_cache") for r in plain],
            "lots_background_writes": [r.get("background_writes") for r in plain],
        }
        bare_rps = result["throughput_bare"].get("rps") or 0
        lots_rps = result["throughput_lots_plain"].get("rps") or 0
        result["throughput_ratio"] = round(lots_rps / bare_rps, 3) if bare_rps else None
        if is_sqlite:
            result["db_bytes"] = os.path.getsize(url.removeprefix("sqlite:///"))
    except KeyboardInterrupt:
        log("interrupted")
        cleanup()
        return 130
    finally:
        cleanup()
        if not args.keep and not args.reuse and "run_dir" in locals():
            shutil.rmtree(run_dir, ignore_errors=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"lots-{args.db}-{args.lots}-{stamp}.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    print(markdown(result))
    log(f"results in {out}" + (f"; database kept in {run_dir}" if args.keep else ""))
    return 0


def markdown(r: dict[str, Any]) -> str:
    lines = [f"### {r['db']}, {r['lots']:,} lots, {r['workers']} workers", ""]
    if "ingest" in r:
        i = r["ingest"]
        lines.append(
            f"Ingest (POST /v1/lots/bulk, {i['batch']}/request, {i['clients']} clients): "
            f"**{i['lots_per_s']:,} lots/s** ({i['lots']:,} lots in {i['seconds']} s, "
            f"{i.get('retries_503', 0)} retried 503s)"
        )
    lines.append(f"Lots by status after history: {r.get('counts')}")
    lines += [
        "",
        "| query | rows | p50 ms | p99 ms | SQL ms |",
        "|---|---|---|---|---|",
    ]
    for name, v in r["latency"].items():
        if name == "_all" or "p50_ms" not in v:
            continue
        sql = r["explain"].get(name, {}).get("sql_ms", "")
        lines.append(f"| {name} | {v['rows']} | {v['p50_ms']} | {v['p99_ms']} | {sql} |")
    a = r["latency"]["_all"]
    lines.append(f"| **all** | | **{a['p50_ms']}** | **{a['p99_ms']}** | |")
    lines.append("")
    tm, tp, tb = r["throughput_lots_mix"], r["throughput_lots_plain"], r["throughput_bare"]
    lines.append(
        f"Throughput (wrk, {tp.get('connections')} connections, keep-alive): "
        f"GET /v1/lots?limit=50 **{tp.get('rps')} req/s** (p99 {tp.get('p99')}), "
        f"filter mix {tm.get('rps')} req/s (p99 {tm.get('p99')}), bare FastAPI 50 models "
        f"**{tb.get('rps')} req/s**; ratio **{r.get('throughput_ratio')}** (target >= 0.25)"
    )
    rounds = r.get("throughput_rounds", {})
    lines.append(
        f"Server CPU per request (ms, per round): lots {rounds.get('lots_server_cpu_ms_per_req')}"
        f", its database {rounds.get('lots_db_cpu_ms_per_req')}, bare "
        f"{rounds.get('bare_server_cpu_ms_per_req')}"
        f"\nList-page cache (lookups per plain round; cache size {r.get('page_cache_size')}, "
        f"{r.get('writes_per_s')} background writes/s): {rounds.get('lots_page_cache')}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
