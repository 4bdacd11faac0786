"""The point forecast for the RMSSE (forecasting/point.py), against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting import metrics as fm
from forecasting.backtest import origin_indices, rolling_origin
from forecasting.dataset import SeriesPanel
from forecasting.known_supply import apply_known_supply
from forecasting.models import TSB
from forecasting.point import rmsse_factors, rmsse_point


def _history(nonzero_weeks: int, weeks: int = 52, size: float = 10.0) -> np.ndarray:
    """One series: ``nonzero_weeks`` weeks of ``size`` spread over ``weeks`` weeks."""
    h = np.zeros(weeks)
    h[np.linspace(0, weeks - 1, nonzero_weeks).round().astype(int)] = size
    return h


def test_supply_every_week_of_one_size_keeps_the_mean() -> None:
    # no uncertainty in the model's distribution: every draw equals the mean, so does the point
    hist = np.full((1, 52), 7.0)
    mean = np.full((1, 4), 7.0)
    np.testing.assert_allclose(rmsse_point(hist, mean), mean)


@pytest.mark.parametrize(("nonzero", "factor"), [(21, 0.0), (31, 1.0)])
def test_over_one_period_the_point_is_the_median(nonzero: int, factor: float) -> None:
    # Horizon 1: the RMSSE of one period is the absolute scaled error, minimised by the
    # median. Supply of one size with probability p = nonzero / 52: E|y - g mu| =
    # mu (1 + g (1 - 2 p)), increasing in g for p = 0.40 (-> 0), decreasing for p = 0.60
    # (-> the grid's top, the mean).
    hist = _history(nonzero)[None, :]
    mean = np.array([[hist.mean()]])
    assert rmsse_factors(hist, mean)[0] == factor


def test_a_lot_a_year_gets_zero() -> None:
    # One lot of 10 in 52 weeks, horizon 4. The window holds no supply with probability
    # (51/52)^4 = 0.92, and then a constant f costs f; otherwise (one lot of 10 in the four
    # weeks) sqrt(((10 - f)^2 + 3 f^2) / 4), whose slope at f = 0 is -0.5. The expected
    # loss rises from f = 0 with slope 0.92 - 0.08 x 0.5 > 0: 0 is the point.
    hist = _history(1)[None, :]
    mean = np.full((1, 4), 1 / 52 * 10.0)
    np.testing.assert_array_equal(rmsse_point(hist, mean), np.zeros((1, 4)))


def test_points_are_between_zero_and_the_mean_and_deterministic() -> None:
    rng = np.random.default_rng(3)
    hist = (rng.random((40, 60)) < rng.random((40, 1))) * rng.integers(1, 30, (40, 60))
    mean = np.repeat(hist[:, -26:].mean(axis=1)[:, None], 6, axis=1) * rng.uniform(0.5, 2, (40, 1))
    a = rmsse_point(hist, mean)
    assert (a >= 0).all()
    assert (a <= mean + 1e-12).all()
    np.testing.assert_array_equal(a, rmsse_point(hist, mean))
    # series with no supply at all, and zero means, keep their mean
    hist[0] = 0
    mean[1] = 0
    b = rmsse_point(hist, mean)
    np.testing.assert_array_equal(b[0], mean[0])
    np.testing.assert_array_equal(b[1], 0.0)


def test_the_chosen_point_has_the_lowest_expected_rmsse_on_its_grid() -> None:
    # Brute force on an independent simulation of the same model: the chosen factor's
    # expected RMSSE is within noise of the best grid factor's.
    hist = _history(12)[None, :]
    mu = np.full((1, 4), hist.mean())
    g = rmsse_factors(hist, mu)[0]
    rng = np.random.default_rng(99)
    p = 12 / 52
    y = (rng.random((20000, 4)) < p) * 10.0  # sizes are all 10 = mu / p

    def loss(factor: float) -> float:
        return float(np.sqrt(((y - factor * mu[0]) ** 2).mean(axis=1)).mean())

    best = min(loss(f) for f in np.linspace(0, 1, 21))
    assert loss(g) <= best * 1.02
    assert 0.0 < g < 1.0  # neither extreme: this case has an interior optimum


def test_backtest_scores_the_point_and_reports_the_mean(panel: SeriesPanel) -> None:
    plain, pointed = TSB(), TSB(point_loss="rmsse")
    pointed.name = "tsb_point"
    rep = rolling_origin(panel, [plain, pointed], 4, 2, keep_forecasts=True)
    m = rep.metrics
    # the mean of both is TSB's: their mean-RMSSE agree, and for plain TSB it is its RMSSE
    assert m["tsb"]["rmsse"] == pytest.approx(m["tsb"]["rmsse_mean"])
    assert m["tsb_point"]["rmsse_mean"] == pytest.approx(m["tsb"]["rmsse_mean"])
    # the pointed one is scored on its point: recompute it by hand
    per = []
    for o, fc in zip(origin_indices(panel, 4, 2), rep.forecasts["tsb_point"], strict=True):
        rows = panel.values[:, :o].sum(axis=1) > 0
        actual, train = panel.values[rows, o : o + 4], panel.values[rows, :o]
        assert not np.allclose(fc.point_forecast, fc.mean)
        per.append(fm.rmsse_per_series(actual, fc.point_forecast, train))
    assert m["tsb_point"]["rmsse"] == pytest.approx(float(np.nanmean(np.concatenate(per))))
    assert m["tsb_point"]["rmsse_mean_rel_naive"] == pytest.approx(
        m["tsb_point"]["rmsse_mean"] / m["naive"]["rmsse"]
    )


def test_known_supply_floors_the_point_too(panel: SeriesPanel) -> None:
    fc = TSB(point_loss="rmsse").fit(panel, horizon=3).predict(3)
    keys = fc.keys.iloc[[0]].reset_index(drop=True)
    known = keys.assign(period_start=fc.periods[0], quantity=1e6)
    out = apply_known_supply(fc, pd.DataFrame(known)).forecast
    assert out.point_forecast[0, 0] == 1e6
    np.testing.assert_array_equal(out.point_forecast[1:], fc.point_forecast[1:])
