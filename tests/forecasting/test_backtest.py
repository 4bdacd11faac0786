from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.backtest import origin_indices, rolling_origin
from forecasting.dataset import SeriesPanel
from forecasting.errors import InsufficientHistoryError
from forecasting.models import IMAPA, TSB, Combination, CrostonSBA, GlobalGBM, Naive, Zero


def small_default() -> Combination:
    return Combination(
        [GlobalGBM(max_iter=15, quantile_iter=8), TSB(), IMAPA()],
        name="default_small",
        quantile_source="global_gbm",
        source_interval=False,
    )


def corrupt_after(panel: SeriesPanel, origin: int, seed: int = 7) -> SeriesPanel:
    """Replace every value at/after ``origin`` and add a series born after it."""
    rng = np.random.default_rng(seed)
    values = panel.values.copy()
    values[:, origin:] = rng.integers(0, 500, size=values[:, origin:].shape)
    newborn = np.zeros((1, panel.n_periods))
    newborn[0, origin:] = 99.0
    keys = pd.concat(
        [panel.keys, pd.DataFrame({c: ["NEW"] for c in panel.keys.columns})], ignore_index=True
    )
    return SeriesPanel(
        values=np.vstack([values, newborn]), keys=keys, periods=panel.periods, freq=panel.freq
    )


def small_inner_default() -> Combination:
    """Like the default model: inner-validated weights, grouped conformal intervals."""
    return Combination(
        [GlobalGBM(max_iter=15, quantile_iter=8, quantile_levels=(0.5,)), TSB(), IMAPA()],
        name="inner_small",
        quantile_source="global_gbm",
        source_interval=False,
        weighting="inner",
        conformal_groups=True,
        calibration_origins=4,
    )


def test_no_future_data_leaks_into_any_method(panel: SeriesPanel) -> None:
    origin = panel.n_periods - 8
    methods = [
        Naive(),
        Zero(),
        CrostonSBA(),
        TSB(),
        IMAPA(),
        small_default(),
        small_inner_default(),
    ]
    clean = rolling_origin(panel, methods, 4, [origin], keep_forecasts=True)
    dirty = rolling_origin(corrupt_after(panel, origin), methods, 4, [origin], keep_forecasts=True)
    for name, fcs in clean.forecasts.items():
        a, b = fcs[0], dirty.forecasts[name][0]
        pd.testing.assert_frame_equal(a.keys, b.keys)  # the newborn series is not selected
        for attr in ("mean", "p10", "p50", "p90", "point_forecast"):
            np.testing.assert_array_equal(
                getattr(a, attr), getattr(b, attr), err_msg=f"{name}.{attr}"
            )
    # ...while the evaluation does see the corrupted actuals
    assert clean.metrics["naive"]["mae"] != dirty.metrics["naive"]["mae"]


def test_corruption_before_origin_does_change_forecasts(panel: SeriesPanel) -> None:
    # guards the leakage test against passing trivially
    origin = panel.n_periods - 8
    values = panel.values.copy()
    values[:, origin - 3 : origin] += 50.0
    bumped = SeriesPanel(values=values, keys=panel.keys, periods=panel.periods, freq=panel.freq)
    a = rolling_origin(panel, [TSB()], 4, [origin], keep_forecasts=True).forecasts["tsb"][0]
    b = rolling_origin(bumped, [TSB()], 4, [origin], keep_forecasts=True).forecasts["tsb"][0]
    assert not np.allclose(a.mean, b.mean)


def test_report_metrics_match_forecasts(panel: SeriesPanel) -> None:
    rep = rolling_origin(panel, [TSB(), Zero()], 4, 2, keep_forecasts=True)
    idx = origin_indices(panel, 4, 2)
    inside = total = 0
    abs_err = 0.0
    for o, fc in zip(idx, rep.forecasts["tsb"], strict=True):
        rows = panel.values[:, :o].sum(axis=1) > 0
        actual = panel.values[rows, o : o + 4]
        inside += int(((actual >= fc.p10) & (actual <= fc.p90)).sum())
        total += actual.size
        abs_err += float(np.abs(actual - fc.mean).sum())
        assert fc.periods[0] == panel.periods[o]
    assert rep.metrics["tsb"]["coverage_80"] == pytest.approx(inside / total)
    assert rep.metrics["tsb"]["mae"] == pytest.approx(abs_err / total)
    assert rep.metrics["naive"]["rmsse_rel_naive"] == pytest.approx(1.0)
    assert rep.metrics["zero"]["width_80"] == pytest.approx(
        np.mean(np.concatenate([(f.p90 - f.p10).ravel() for f in rep.forecasts["zero"]]))
    )
    ratio = rep.metrics["tsb"]["rmsse"] / rep.metrics["naive"]["rmsse"]
    assert rep.metrics["tsb"]["rmsse_rel_naive"] == pytest.approx(ratio)
    assert "tsb" in rep.to_table()


def test_origins_are_last_windows_and_validated(panel: SeriesPanel) -> None:
    t = panel.n_periods
    assert origin_indices(panel, 4, 3) == [t - 12, t - 8, t - 4]
    with pytest.raises(InsufficientHistoryError, match="too few"):
        origin_indices(panel, 20, 3)
