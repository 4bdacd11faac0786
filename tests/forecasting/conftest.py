from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.dataset import SeriesPanel, build_series


def make_events(n_series: int = 6, n_weeks: int = 40, seed: int = 0) -> pd.DataFrame:
    """Small intermittent weekly events panel (grade x region)."""
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2024-01-01")  # a Monday
    for i in range(n_series):
        p = 0.15 + 0.1 * (i % 4)
        for w in range(n_weeks):
            if rng.random() < p:
                day = start + pd.Timedelta(weeks=w, days=int(rng.integers(0, 7)))
                rows.append(
                    {
                        "posted_at": day.isoformat(),
                        "tonnes": float(rng.integers(1, 20)),
                        "grade": f"G{i % 3}",
                        "region": f"R{i // 3}",
                    }
                )
    # make sure every series has its first event in week 0 so the panel spans all weeks
    for i in range(n_series):
        rows.append(
            {
                "posted_at": start.isoformat(),
                "tonnes": 1.0,
                "grade": f"G{i % 3}",
                "region": f"R{i // 3}",
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture
def events() -> pd.DataFrame:
    return make_events()


@pytest.fixture
def panel(events: pd.DataFrame) -> SeriesPanel:
    return build_series(
        events, time_col="posted_at", qty_col="tonnes", keys=["grade", "region"], freq="W"
    )
