from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting import registry
from forecasting.dataset import SeriesPanel
from forecasting.known_supply import apply_known_supply
from forecasting.models import IMAPA, TSB, Combination, GlobalGBM
from forecasting.train import train_and_forecast


def tiny_model() -> Combination:
    return Combination(
        [GlobalGBM(max_iter=10, quantile_iter=5), TSB(), IMAPA()],
        name="tiny",
        quantile_source="global_gbm",
        source_interval=False,
    )


def test_train_and_forecast_with_progress_and_registry(panel: SeriesPanel, tmp_path: Path) -> None:
    calls: list[tuple[int, int, str]] = []
    artifact, frame = train_and_forecast(
        panel,
        3,
        progress=lambda d, t, m: calls.append((d, t, m)),
        model=tiny_model(),
        backtest_origins=2,
    )
    assert calls[-1][0] == calls[-1][1]
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert list(frame.columns) == [
        *("grade", "region", "period_start"),
        *("mean", "p10", "p50", "p90", "point"),
    ]
    assert len(frame) == panel.n_series * 3
    meta = artifact.metadata
    assert meta["series_count"] == panel.n_series
    assert meta["training_window"]["end"] == str(panel.periods[-1].date())
    assert set(meta["backtest"]["metrics"]) == {"tiny", "naive"}
    assert "scikit-learn" in meta["library_versions"]

    first = registry.save(artifact, tmp_path)
    second = registry.save(artifact, tmp_path)
    assert (first.version, second.version) == ("v0001", "v0002")
    listed = registry.list_versions(tmp_path)
    assert [m["version"] for m in listed] == ["v0001", "v0002"]
    loaded = registry.load(tmp_path)
    assert loaded.version == "v0002"
    again = loaded.model.predict(3).to_frame()
    pd.testing.assert_frame_equal(again, frame)
    on_disk = json.loads((tmp_path / "v0001" / "metadata.json").read_text())
    assert on_disk["created_at"]
    assert on_disk["backtest"]["origins"]
    with pytest.raises(FileNotFoundError):
        registry.load(tmp_path, "v0009")


def test_known_supply_floor_and_add(panel: SeriesPanel) -> None:
    fc = TSB(horizon=2).fit(panel).predict(2)
    key = panel.keys.iloc[0]
    known = pd.DataFrame(
        {
            "grade": [key["grade"], "nope"],
            "region": [key["region"], "x"],
            "period_start": [fc.periods[1], fc.periods[0]],
            "quantity": [500.0, 1.0],
        }
    )
    floored = apply_known_supply(fc, known, "floor")
    assert floored.applied_rows == 1
    assert floored.ignored_rows == 1
    f = floored.forecast
    assert f.mean[0, 1] == 500
    assert f.p10[0, 1] == 500
    assert f.p90[0, 1] == 500
    np.testing.assert_array_equal(f.mean[1:], fc.mean[1:])
    assert f.mean[0, 0] == fc.mean[0, 0]
    added = apply_known_supply(fc, known, "add").forecast
    assert added.p50[0, 1] == pytest.approx(fc.p50[0, 1] + 500)
    assert np.all(added.p10 <= added.p50)
    assert np.all(added.p50 <= added.p90)
