from __future__ import annotations

import math

import numpy as np
import pytest

from forecasting import metrics as fm


def test_rmsse_hand_computed() -> None:
    train = np.array([0.0, 2.0, 0.0, 4.0])  # diffs after first non-zero: -2, 4 -> msd 10
    actual = np.array([1.0, 3.0])
    pred = np.array([2.0, 1.0])  # errors -1, 2 -> mse 2.5
    assert fm.rmsse(actual, pred, train) == pytest.approx(math.sqrt(2.5 / 10))


def test_rmsse_scale_starts_at_first_nonzero() -> None:
    # leading zeros are not part of the scale: only the diff 3 -> 0 counts (msd 9)
    train = np.array([0.0, 0.0, 3.0, 0.0])
    assert fm.rmsse(np.array([3.0]), np.array([0.0]), train) == pytest.approx(math.sqrt(9 / 9))


def test_rmsse_undefined_for_flat_history() -> None:
    assert np.isnan(fm.rmsse_per_series(np.ones((1, 2)), np.ones((1, 2)), np.zeros((1, 5)))[0])


def test_pinball_loss_hand_computed() -> None:
    y = np.array([10.0, 0.0])
    q = np.array([4.0, 2.0])
    # tau 0.9: (0.9*6 + 0.1*2)/2 = 2.8
    assert fm.pinball_loss(y, q, 0.9) == pytest.approx(2.8)
    # tau 0.1: (0.1*6 + 0.9*2)/2 = 1.2
    assert fm.pinball_loss(y, q, 0.1) == pytest.approx(1.2)


def test_scaled_pinball_loss_hand_computed() -> None:
    train = np.array([1.0, 3.0, 0.0])  # |diffs| 2, 3 -> mad 2.5
    y = np.array([2.0])
    quantiles = {0.1: np.array([0.0]), 0.5: np.array([1.0]), 0.9: np.array([4.0])}
    # pinball: 0.1*2=0.2 ; 0.5*1=0.5 ; 0.1*2=0.2 (y below q90: (0.9-1)*(2-4)=0.2)
    expected = (0.2 + 0.5 + 0.2) / 3 / 2.5
    assert fm.scaled_pinball_loss(y, quantiles, train) == pytest.approx(expected)


def test_coverage_and_width() -> None:
    y = np.array([0.0, 5.0, 10.0, 3.0])
    lo = np.array([0.0, 1.0, 1.0, 4.0])
    hi = np.array([1.0, 5.0, 9.0, 6.0])
    assert fm.coverage(y, lo, hi) == pytest.approx(0.5)  # bounds inclusive: 0 and 5 inside
    assert fm.interval_width(lo, hi) == pytest.approx((1 + 4 + 8 + 2) / 4)


def test_volume_weighted_mean_skips_undefined() -> None:
    vals = np.array([1.0, np.nan, 3.0])
    w = np.array([1.0, 5.0, 3.0])
    assert fm.volume_weighted_mean(vals, w) == pytest.approx((1 + 9) / 4)


def test_zero_forecast_wins_mase_but_not_rmsse_on_spiky_series() -> None:
    # an intermittent series: zero wins MAE/MASE, the mean forecast wins RMSSE
    train = np.array([0, 0, 6, 0, 0, 0, 6, 0, 0, 6, 0, 0], dtype=float)
    actual = np.array([0, 0, 6, 0, 0, 0], dtype=float)
    zero = np.zeros(6)
    mean = np.full(6, train.mean())
    assert fm.mase_per_series(actual, zero, train)[0] < fm.mase_per_series(actual, mean, train)[0]
    assert fm.rmsse(actual, mean, train) < fm.rmsse(actual, zero, train)
