"""A bare FastAPI app: one endpoint returning 50 small pydantic models (no database, no
middleware). The yardstick for what the framework itself costs on this machine:

    .venv/bin/uvicorn benchmarks.bare_app:app --workers 2 --no-access-log --log-level warning
"""

from __future__ import annotations

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
