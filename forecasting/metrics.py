"""Accuracy metrics for intermittent series (M5 conventions).

For one series with training values ``x_1..x_T`` (scales use the periods from its first
non-zero value on, as in M5), actuals ``y_1..y_H`` and forecasts ``f_1..f_H``:

* ``RMSSE = sqrt( mean_h (y_h - f_h)^2 / mean_t (x_t - x_{t-1})^2 )``
* ``SPL = mean_q mean_h pinball_q(y_h, f_{q,h}) / mean_t |x_t - x_{t-1}|`` over q in
  {0.1, 0.5, 0.9}, with ``pinball_q(y, f) = max(q (y - f), (q - 1)(y - f))``
* coverage: share of actuals with ``p10 <= y <= p90``; width: mean ``p90 - p10``.

Series whose scale is zero (no change in the training window) are left out of the scaled
metrics (``nan`` per series). Panel values are plain means over series (and origins);
the volume-weighted RMSSE weights each series by its training-window volume.

MAE and MASE are reported for information only: on intermittent data the all-zero forecast
wins them, so they never choose a model.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from forecasting.dataset import FloatArray


def _as2d(a: FloatArray) -> FloatArray:
    arr = np.asarray(a, dtype=np.float64)
    return arr[None, :] if arr.ndim == 1 else arr


def diff_scales(train: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per series mean squared and mean absolute first difference after the first non-zero."""
    x = _as2d(train)
    started = np.maximum.accumulate(x > 0, axis=1)[:, :-1]
    d = np.diff(x, axis=1)
    cnt = started.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        msd = np.where(cnt > 0, (d**2 * started).sum(axis=1) / cnt, np.nan)
        mad = np.where(cnt > 0, (np.abs(d) * started).sum(axis=1) / cnt, np.nan)
    msd = np.where(msd > 0, msd, np.nan)
    mad = np.where(mad > 0, mad, np.nan)
    return msd, mad


def pinball_loss(y_true: FloatArray, y_quantile: FloatArray, tau: float) -> float:
    """Mean pinball (quantile) loss at level ``tau``."""
    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_quantile, dtype=np.float64)
    return float(np.mean(np.maximum(tau * diff, (tau - 1.0) * diff)))


def rmsse_per_series(actual: FloatArray, pred: FloatArray, train: FloatArray) -> FloatArray:
    msd, _ = diff_scales(train)
    mse = np.mean((_as2d(actual) - _as2d(pred)) ** 2, axis=1)
    return np.asarray(np.sqrt(mse / msd), dtype=np.float64)


def rmsse(y_true: FloatArray, y_pred: FloatArray, y_train: FloatArray) -> float:
    """RMSSE of one series (or the mean over rows of 2-D inputs, skipping undefined rows)."""
    return float(np.nanmean(rmsse_per_series(y_true, y_pred, y_train)))


def spl_per_series(
    actual: FloatArray, quantiles: Mapping[float, FloatArray], train: FloatArray
) -> FloatArray:
    _, mad = diff_scales(train)
    y = _as2d(actual)
    losses = []
    for tau, q in quantiles.items():
        diff = y - _as2d(q)
        losses.append(np.mean(np.maximum(tau * diff, (tau - 1.0) * diff), axis=1))
    return np.asarray(np.mean(losses, axis=0) / mad, dtype=np.float64)


def scaled_pinball_loss(
    y_true: FloatArray, quantiles: Mapping[float, FloatArray], y_train: FloatArray
) -> float:
    """Scaled pinball loss averaged over the given quantile levels (and rows)."""
    return float(np.nanmean(spl_per_series(y_true, quantiles, y_train)))


def coverage(y_true: FloatArray, lower: FloatArray, upper: FloatArray) -> float:
    """Share of actuals inside the closed interval ``[lower, upper]``."""
    y = np.asarray(y_true, dtype=np.float64)
    inside = (y >= np.asarray(lower)) & (y <= np.asarray(upper))
    return float(np.mean(inside))


def interval_width(lower: FloatArray, upper: FloatArray) -> float:
    return float(np.mean(np.asarray(upper, dtype=np.float64) - np.asarray(lower)))


def volume_weighted_mean(per_series: FloatArray, weights: FloatArray) -> float:
    ok = np.isfinite(per_series) & (weights > 0)
    if not ok.any():
        return float("nan")
    return float(np.sum(per_series[ok] * weights[ok]) / np.sum(weights[ok]))


def mase_per_series(actual: FloatArray, pred: FloatArray, train: FloatArray) -> FloatArray:
    _, mad = diff_scales(train)
    return np.asarray(np.mean(np.abs(_as2d(actual) - _as2d(pred)), axis=1) / mad, dtype=np.float64)
