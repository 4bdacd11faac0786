"""A bare FastAPI app: one endpoint returning 50 small pydantic models (no database, no
middleware). The yardstick for what the framework itself costs on this machine, served the
way `recyclate serve` serves the API (uvicorn, one SO_REUSEPORT socket per worker):

    .venv/bin/python -m benchmarks.bare_app --port 8001 --workers 2
"""

from __future__ import annotations

import argparse

from fastapi import FastAPI
from pydantic import BaseModel


class Item(BaseModel):
    id: str
    title: str
    family: str
    polymer: str | None
    dql: int
    available_kg: float
    price: str | None


ITEMS = [
    Item(
        id=f"lot_{i:026d}",
        title=f"PP regrind natural, post-industrial, {i} t",
        family="plastic_recyclate",
        polymer="PP",
        dql=i % 5,
        available_kg=1000.0 * i,
        price="420.00",
    )
    for i in range(50)
]

app = FastAPI()


@app.get("/items", response_model=list[Item])
async def items() -> list[Item]:
    return ITEMS


if __name__ == "__main__":
    from app.kit.serving import serve

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    raise SystemExit(
        serve(
            "benchmarks.bare_app:app",
            host=a.host,
            port=a.port,
            workers=a.workers,
            reuse_port=True,
            log_level="warning",
            access_log=False,
        )
    )
