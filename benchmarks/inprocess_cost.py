"""CPU per request of the whole ASGI app in-process: no socket, no uvicorn, no load generator,
so what one request costs the worker itself. Paths are run in alternating blocks (the
machine's speed moves from one minute to the next) and the median and the minimum of the
blocks' CPU per request are printed per path.

    .venv/bin/python -m benchmarks.inprocess_cost URL API_KEY "/v1/lots?limit=50" /healthz

URL: a migrated database with lots (e.g. one kept by ``lots_bench --keep``); API_KEY: a key of
an organisation in it. The app runs its start-up (matching snapshot) first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import MutableMapping
from typing import Any


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("url")
    ap.add_argument("key")
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--block", type=int, default=400)
    args = ap.parse_args()
    os.environ.update(
        {
            "RECYCLATE_DATABASE_URL": args.url,
            "RECYCLATE_RATE_LIMIT_REQUESTS": "1000000000",
            "RECYCLATE_ACCESS_LOG": "false",
            "RECYCLATE_LOG_LEVEL": "WARNING",
            "RECYCLATE_ENV": "production",
            "RECYCLATE_BACKGROUND_JOBS": "off",
        }
    )
    from app.main import create_app

    app = create_app()

    def scope(path: str) -> dict[str, Any]:
        p, _, q = path.partition("?")
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": p,
            "raw_path": p.encode(),
            "query_string": q.encode(),
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {args.key}".encode())],
            "client": ("127.0.0.1", 5555),
            "server": ("127.0.0.1", 8000),
        }

    scopes = {p: scope(p) for p in args.paths}

    async def one(path: str) -> int:
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app({**scopes[path], "state": {}}, receive, send)
        return status

    async def run() -> None:
        async with app.router.lifespan_context(app):
            for p in args.paths:
                status = await one(p)
                if status != 200:
                    raise SystemExit(f"{p} answered {status}")
                for _ in range(300):
                    await one(p)
            cpu: dict[str, list[float]] = {p: [] for p in args.paths}
            for _ in range(args.rounds):
                for p in args.paths:
                    t0 = time.process_time()
                    for _ in range(args.block):
                        await one(p)
                    cpu[p].append((time.process_time() - t0) / args.block * 1e6)
            for p, xs in cpu.items():
                med, low = statistics.median(xs), min(xs)
                print(f"{p:40s} CPU per request: median {med:5.0f} us, min {low:5.0f} us")

    asyncio.run(run())


if __name__ == "__main__":
    main()
