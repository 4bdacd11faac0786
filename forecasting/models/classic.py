"""Local benchmark methods, vectorised over all series of a panel.

* :class:`Naive` repeats the last value; :class:`Zero` forecasts nothing; :class:`SeasonalNaive`
  repeats the value one season earlier (52 weeks / 12 months; falls back to Naive when the
  history is shorter than a season).
* :class:`Croston` (classic) and :class:`CrostonSBA` (Syntetos-Boylan bias correction
  ``1 - alpha/2``) smooth non-zero sizes and inter-demand intervals separately.
* :class:`TSB` (Teunter-Syntetos-Babai) smooths the size and the probability of a non-zero
  period, so the forecast decays during long zero runs.
* :class:`ADIDA` aggregates each series into buckets as long as its mean inter-demand interval,
  applies simple exponential smoothing (SES) and spreads the bucket forecast evenly.
* :class:`IMAPA` averages the ADIDA forecasts of every aggregation level from 1 to the mean
  inter-demand interval.
* :class:`SES` is the local-level model (simple exponential smoothing of every period, zeros
  included), the usual benchmark for smooth series.
* :class:`TopDown` forecasts the panel total (mean of its last ``level_window`` periods) and
  splits it by each series' share of the panel over the last ``share_window`` periods: the
  level comes from the whole panel (little noise), the split from a longer window.

Smoothing constants are chosen per series from a small grid by in-sample one-step squared
error on the training window only. Sizes/intervals start from their training-window means.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from forecasting.dataset import FloatArray, SeriesPanel
from forecasting.errors import InvalidParameterError
from forecasting.models.base import Forecaster, PointPrediction

ALPHA_GRID: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3)
SES_GRID: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5)


def _repeat(level: FloatArray, horizon: int) -> FloatArray:
    return np.repeat(level[:, None], horizon, axis=1).astype(np.float64)


def _first_nonzero(values: FloatArray) -> npt.NDArray[np.intp]:
    nz = values > 0
    first = np.argmax(nz, axis=1)
    return np.asarray(np.where(nz.any(axis=1), first, values.shape[1]), dtype=np.intp)


def _demand_stats(values: FloatArray) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
    """Mean non-zero size, mean inter-demand interval (from the first demand), first index."""
    _n, t = values.shape
    first = _first_nonzero(values)
    nz = values > 0
    count = nz.sum(axis=1)
    size = np.where(count > 0, values.sum(axis=1) / np.maximum(count, 1), 0.0)
    interval = np.where(count > 0, (t - first) / np.maximum(count, 1), 1.0)
    return size, np.maximum(interval, 1.0), first


class Naive(Forecaster):
    name = "naive"

    def _fit_point(self, panel: SeriesPanel) -> None:
        self._last = panel.values[:, -1].copy()

    def _predict_point(self, horizon: int) -> PointPrediction:
        return PointPrediction(mean=_repeat(self._last, horizon))


class Zero(Forecaster):
    name = "zero"

    def _fit_point(self, panel: SeriesPanel) -> None:
        self._n = panel.n_series

    def _predict_point(self, horizon: int) -> PointPrediction:
        return PointPrediction(mean=np.zeros((self._n, horizon)))


class SeasonalNaive(Forecaster):
    name = "seasonal_naive"

    def __init__(self, *, season_length: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.season_length = season_length

    def params(self) -> dict[str, Any]:
        return {**super().params(), "season_length": self.season_length}

    def _fit_point(self, panel: SeriesPanel) -> None:
        m = self.season_length or panel.season_length
        self._m = m
        self._values = panel.values[:, -m:].copy() if panel.n_periods >= m else None
        self._last = panel.values[:, -1].copy()

    def _predict_point(self, horizon: int) -> PointPrediction:
        if self._values is None:
            return PointPrediction(mean=_repeat(self._last, horizon))
        cols = np.arange(horizon) % self._m
        return PointPrediction(mean=self._values[:, cols].copy())


def _croston_grid(values: FloatArray, alphas: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Croston for every alpha at once: (in-sample one-step SSE, final level), each (G, n).

    Sizes and intervals start at their training-window means and are updated from the second
    demand on; SSE counts the periods after the first demand.
    """
    n, t = values.shape
    size0, interval0, first = _demand_stats(values)
    g = alphas.size
    a = alphas[:, None]
    z = np.broadcast_to(size0, (g, n)).copy()
    p = np.broadcast_to(interval0, (g, n)).copy()
    q = np.zeros(n)
    sse = np.zeros((g, n))
    for j in range(t):
        y = values[:, j]
        active = j > first
        sse += np.where(active, (z / p - y) ** 2, 0.0)
        q = q + 1.0
        upd = (y > 0) & active
        if upd.any():
            z = np.where(upd, z + a * (y - z), z)
            p = np.where(upd, p + a * (q - p), p)
        q = np.where(y > 0, 0.0, q)
    level = np.where(first < t, z / p, 0.0)
    return sse, level


def _best(sse: FloatArray, level: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    best = np.asarray(np.argmin(sse, axis=0), dtype=np.intp)
    return np.asarray(level[best, np.arange(level.shape[1])], dtype=np.float64), best


class Croston(Forecaster):
    """Classic Croston; ``alpha=None`` picks it per series from a grid."""

    name = "croston"
    bias_correction = False

    def __init__(self, *, alpha: float | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.alpha = alpha

    def params(self) -> dict[str, Any]:
        return {**super().params(), "alpha": self.alpha}

    def _fit_point(self, panel: SeriesPanel) -> None:
        grid = np.asarray(ALPHA_GRID if self.alpha is None else (self.alpha,), dtype=np.float64)
        levels, best = _best(*_croston_grid(panel.values, grid))
        if self.bias_correction:
            levels = levels * (1.0 - grid[best] / 2.0)
        self._level = levels

    def _predict_point(self, horizon: int) -> PointPrediction:
        return PointPrediction(mean=_repeat(self._level, horizon))


class CrostonSBA(Croston):
    """Croston with the Syntetos-Boylan approximation (bias factor ``1 - alpha/2``)."""

    name = "croston_sba"
    bias_correction = True


def _tsb_grid(
    values: FloatArray, alphas: FloatArray, betas: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """TSB for every (alpha, beta) pair at once: (SSE, final level), each (G, n)."""
    n, t = values.shape
    size0, interval0, first = _demand_stats(values)
    a = alphas[:, None]
    b = betas[:, None]
    g = alphas.size
    z = np.broadcast_to(size0, (g, n)).copy()
    d = np.broadcast_to(np.minimum(1.0 / interval0, 1.0), (g, n)).copy()
    sse = np.zeros((g, n))
    for j in range(t):
        y = values[:, j]
        active = j > first
        sse += np.where(active, (d * z - y) ** 2, 0.0)
        nz = y > 0
        upd = nz & active
        if upd.any():
            z = np.where(upd, z + a * (y - z), z)
        d = np.where(active, d + b * (nz.astype(np.float64) - d), d)
    level = np.where(first < t, d * z, 0.0)
    return sse, level


class TSB(Forecaster):
    """Teunter-Syntetos-Babai; ``alpha``/``beta`` ``None`` pick them per series from a grid."""

    name = "tsb"

    def __init__(self, *, alpha: float | None = None, beta: float | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.alpha = alpha
        self.beta = beta

    def params(self) -> dict[str, Any]:
        return {**super().params(), "alpha": self.alpha, "beta": self.beta}

    def _fit_point(self, panel: SeriesPanel) -> None:
        alphas = ALPHA_GRID if self.alpha is None else (self.alpha,)
        betas = ALPHA_GRID if self.beta is None else (self.beta,)
        pairs = [(x, y) for x in alphas for y in betas]
        grid_a = np.asarray([x for x, _ in pairs], dtype=np.float64)
        grid_b = np.asarray([y for _, y in pairs], dtype=np.float64)
        self._level, _ = _best(*_tsb_grid(panel.values, grid_a, grid_b))

    def _predict_point(self, horizon: int) -> PointPrediction:
        return PointPrediction(mean=_repeat(self._level, horizon))


def ses_level(values: FloatArray, alphas: tuple[float, ...] = SES_GRID) -> FloatArray:
    """Final SES level per row, alpha per row by in-sample one-step SSE; starts at the mean."""
    n, t = values.shape
    if t == 0:
        return np.zeros(n)
    a = np.asarray(alphas, dtype=np.float64)[:, None]
    lv = np.broadcast_to(values.mean(axis=1), (a.shape[0], n)).copy()
    sse = np.zeros_like(lv)
    for j in range(t):
        err = values[:, j] - lv
        sse += err**2
        lv += a * err
    return _best(sse, lv)[0]


def aggregate(values: FloatArray, k: int) -> FloatArray:
    """Sum non-overlapping buckets of ``k`` periods, aligned so the last bucket is complete."""
    n, t = values.shape
    m = t // k
    return np.asarray(values[:, t - m * k :].reshape(n, m, k).sum(axis=2), dtype=np.float64)


def _aggregation_levels(values: FloatArray, max_level: int) -> npt.NDArray[np.intp]:
    _, interval, _ = _demand_stats(values)
    cap = max(1, min(max_level, values.shape[1] // 2))
    return np.asarray(np.clip(np.rint(interval).astype(np.intp), 1, cap), dtype=np.intp)


def _ses_by_level(values: FloatArray, k_max: int) -> FloatArray:
    """Per-period forecasts of SES on each aggregation level 1..k_max: shape (n, k_max)."""
    out = np.zeros((values.shape[0], k_max))
    for k in range(1, k_max + 1):
        agg = aggregate(values, k)
        if agg.shape[1] >= 2:
            out[:, k - 1] = ses_level(agg) / k
        else:
            out[:, k - 1] = values.mean(axis=1)
    return out


class ADIDA(Forecaster):
    """Aggregate-disaggregate intermittent demand approach with SES at the aggregate level."""

    name = "adida"

    def __init__(self, *, max_level: int = 13, **kw: Any) -> None:
        super().__init__(**kw)
        self.max_level = max_level

    def params(self) -> dict[str, Any]:
        return {**super().params(), "max_level": self.max_level}

    def _fit_point(self, panel: SeriesPanel) -> None:
        levels = _aggregation_levels(panel.values, self.max_level)
        by_level = _ses_by_level(panel.values, int(levels.max()))
        self._level = by_level[np.arange(panel.n_series), levels - 1]
        self._level[panel.values.sum(axis=1) == 0] = 0.0

    def _predict_point(self, horizon: int) -> PointPrediction:
        return PointPrediction(mean=_repeat(self._level, horizon))


class IMAPA(ADIDA):
    """Intermittent multiple aggregation prediction algorithm: mean of ADIDA over levels."""

    name = "imapa"

    def _fit_point(self, panel: SeriesPanel) -> None:
        levels = _aggregation_levels(panel.values, self.max_level)
        by_level = _ses_by_level(panel.values, int(levels.max()))
        cum = np.cumsum(by_level, axis=1)
        self._level = cum[np.arange(panel.n_series), levels - 1] / levels
        self._level[panel.values.sum(axis=1) == 0] = 0.0


class SES(Forecaster):
    """Simple exponential smoothing (local level), alpha per series from :data:`SES_GRID`."""

    name = "ses"

    def _fit_point(self, panel: SeriesPanel) -> None:
        self._level = ses_level(panel.values)

    def _predict_point(self, horizon: int) -> PointPrediction:
        return PointPrediction(mean=_repeat(self._level, horizon))


class TopDown(Forecaster):
    """Series share of the panel (``share_window``) x recent panel level (``level_window``)."""

    name = "top_down"

    def __init__(self, *, share_window: int = 26, level_window: int = 13, **kw: Any) -> None:
        super().__init__(**kw)
        if share_window < 1 or level_window < 1:
            raise InvalidParameterError("share_window and level_window must be at least 1")
        self.share_window = share_window
        self.level_window = level_window

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "share_window": self.share_window,
            "level_window": self.level_window,
        }

    def _fit_point(self, panel: SeriesPanel) -> None:
        x = panel.values
        recent = x[:, -self.share_window :].sum(axis=1)
        total = float(recent.sum())
        share = recent / total if total > 0 else np.zeros(x.shape[0])
        w = min(self.level_window, x.shape[1])
        self._level = share * float(x[:, -w:].sum()) / w

    def _predict_point(self, horizon: int) -> PointPrediction:
        return PointPrediction(mean=_repeat(self._level, horizon))
