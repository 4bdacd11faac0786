"""Global gradient-boosting model over all series (scikit-learn HistGradientBoosting).

One model is trained across every series of the panel (direct multi-horizon: the horizon
step is a feature, so one fit serves every step). Each training row is (series, origin,
step): the features use only the periods *before* the origin, the target is the value
``step`` periods later. Quantities are divided by a per-series level (mean of the trailing
52 periods, else of the whole history before the origin) so series of different volume share
one model; the level itself is a feature.

Features: lags 1-6, 8, 13, 26, 52; trailing means over 4, 8, 13, 26, 52 periods; share of
non-zero periods over 13 and 52; periods since the last non-zero value; mean non-zero size;
series age; horizon step; week-of-year or month of the target period (plus sin/cos).

Losses: Poisson deviance for the mean (counts and lumpy non-negative quantities; ``loss`` can
be set to another HistGradientBoosting loss), pinball (quantile) loss for the levels in
``quantile_levels`` (P10/P50/P90 by default). ``target_scale="rmsse"`` divides by the running
RMSSE scale instead of the level (measured slightly better on bike_sales, worse on
seattle_pets, so not the default). Intervals are then conformalized by the base class.
``level_window`` sets the trailing window of that level (52); ``sample_weight="level"`` or
``"rmsse"`` weights the training rows so the loss on the level-scaled target matches the count
scale or the RMSSE scale (measured on development origins: better on high-volume series,
worse on sparse ones, so off by default). Small fits run single-threaded (OpenMP start-up
costs more than it saves below 30k rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from forecasting.dataset import FloatArray, SeriesPanel, period_range
from forecasting.models.base import QUANTILES, Forecaster, PointPrediction

LAGS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 13, 26, 52)
WINDOWS: tuple[int, ...] = (4, 8, 13, 26, 52)
NZ_WINDOWS: tuple[int, ...] = (13, 52)


@dataclass
class _StateFeatures:
    """Per (series, origin) features for origins 0..T (origin t = history values[:, :t])."""

    names: list[str]
    data: npt.NDArray[np.float32]  # (n_features, n_series, T + 1)
    level: FloatArray  # (n_series, T + 1); 0 where the series has no history yet
    msd: FloatArray  # (n_series, T + 1); running mean squared first difference (RMSSE scale^2)


def _window_sum(cum: FloatArray, w: int) -> FloatArray:
    _n, _t1 = cum.shape
    out = cum.copy()
    out[:, w:] = cum[:, w:] - cum[:, :-w]
    return out


def state_features(
    values: FloatArray, market: bool = True, scale: str = "level", level_window: int = 52
) -> _StateFeatures:
    """Features of every origin, from the values strictly before it (no look-ahead)."""
    n, t = values.shape
    zeros = np.zeros((n, 1))
    cum = np.concatenate([zeros, np.cumsum(values, axis=1)], axis=1)
    nz = (values > 0).astype(np.float64)
    cnz = np.concatenate([zeros, np.cumsum(nz, axis=1)], axis=1)
    hist_len = np.arange(t + 1, dtype=np.float64)[None, :]

    lw = level_window
    mean_lw = _window_sum(cum, lw) / np.maximum(np.minimum(hist_len, lw), 1)
    mean_all = cum / np.maximum(hist_len, 1)
    level = np.where(mean_lw > 0, mean_lw, mean_all)
    # running RMSSE scale: mean squared first difference since the first non-zero value
    started = np.maximum.accumulate(values > 0, axis=1)
    d2 = np.diff(values, axis=1) ** 2 * started[:, :-1]
    cnt = np.concatenate([np.zeros((n, 2)), np.cumsum(started[:, :-1], axis=1)], axis=1)
    ss = np.concatenate([np.zeros((n, 2)), np.cumsum(d2, axis=1)], axis=1)
    msd = ss / np.maximum(cnt, 1)
    if scale == "rmsse":
        rms = np.sqrt(msd)
        level = np.where((cnt > 0) & (rms > 0), rms, np.where(level > 0, level, 0.0))
    safe = np.where(level > 0, level, 1.0)

    names: list[str] = []
    feats: list[FloatArray] = []
    padded = np.concatenate([zeros, values], axis=1)  # padded[:, t] = values[:, t-1]
    for k in LAGS:
        lag = np.full((n, t + 1), np.nan)
        if k <= t:
            lag[:, k:] = padded[:, 1 : t + 2 - k]
        names.append(f"lag_{k}")
        feats.append(lag / safe)
    for w in WINDOWS:
        names.append(f"mean_{w}")
        feats.append(_window_sum(cum, w) / np.maximum(np.minimum(hist_len, w), 1) / safe)
    for w in NZ_WINDOWS:
        names.append(f"nonzero_share_{w}")
        feats.append(_window_sum(cnz, w) / np.maximum(np.minimum(hist_len, w), 1))
    # periods since last non-zero value before origin t
    idx = np.where(nz > 0, np.arange(t)[None, :], -1)
    last_nz = np.maximum.accumulate(idx, axis=1)
    last_before = np.concatenate([np.full((n, 1), -1), last_nz], axis=1)
    since = np.where(last_before >= 0, hist_len - last_before, np.nan)
    names.append("since_nonzero")
    feats.append(since)
    first = np.where(nz.any(axis=1), np.argmax(nz > 0, axis=1), t)
    age = hist_len - first[:, None]
    names.append("age")
    feats.append(np.where(age > 0, age, np.nan))
    names.append("nonzero_size")
    feats.append(np.where(cnz > 0, cum / np.maximum(cnz, 1), np.nan) / safe)
    names.append("log_level")
    feats.append(np.log1p(level))
    if market:
        # panel-wide momentum (same for every series at an origin): recent total supply
        # relative to the trailing year, from the periods before the origin only
        total = cum.sum(axis=0, keepdims=True)
        for w in (4, 13):
            recent = _window_sum(total, w) / np.maximum(np.minimum(hist_len, w), 1)
            yearly = _window_sum(total, 52) / np.maximum(np.minimum(hist_len, 52), 1)
            ratio = np.where(yearly > 0, recent / np.where(yearly > 0, yearly, 1.0), np.nan)
            names.append(f"market_ratio_{w}")
            feats.append(np.repeat(ratio, n, axis=0))
    # missing (not yet observable) values are coded -1: every feature is otherwise >= 0
    data = np.nan_to_num(np.stack(feats), nan=-1.0).astype(np.float32)
    return _StateFeatures(names=names, data=data, level=level, msd=msd)


def _calendar(panel: SeriesPanel, period_index: npt.NDArray[np.int64]) -> tuple[FloatArray, float]:
    """Calendar position (week of year / month) of period indices (may run past the panel)."""
    top = int(period_index.max()) + 1 if period_index.size else 1
    periods = period_range(panel.periods[0], max(top, 1), panel.freq)
    if panel.freq == "W":
        pos = periods.isocalendar().week.to_numpy(dtype=np.float64)
        cycle = 52.18
    else:
        pos = periods.month.to_numpy(dtype=np.float64)
        cycle = 12.0
    return np.asarray(pos[period_index], dtype=np.float64), cycle


class GlobalGBM(Forecaster):
    """Global direct multi-horizon gradient boosting (Poisson mean + quantile models)."""

    name = "global_gbm"
    min_history = 4

    def __init__(
        self,
        *,
        max_rows: int = 100_000,
        max_iter: int = 80,
        quantile_iter: int = 40,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 40,
        quantile_models: bool = True,
        quantile_levels: tuple[float, ...] = QUANTILES,
        market_features: bool = False,
        loss: str = "poisson",
        target_scale: str = "level",
        level_window: int = 52,
        sample_weight: str = "none",
        random_state: int = 0,
        n_threads: int | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.n_threads = n_threads
        self.max_rows = max_rows
        self.max_iter = max_iter
        self.quantile_iter = quantile_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.quantile_models = quantile_models
        bad = [q for q in quantile_levels if q not in QUANTILES]
        if bad:
            raise ValueError(f"quantile_levels must be among {QUANTILES}, got {bad}")
        self.quantile_levels = tuple(quantile_levels)
        self.market_features = market_features
        self.loss = loss
        self.target_scale = target_scale
        self.level_window = level_window
        self.sample_weight = sample_weight
        self.random_state = random_state
        self._reset()

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "max_rows": self.max_rows,
            "max_iter": self.max_iter,
            "quantile_iter": self.quantile_iter,
            "learning_rate": self.learning_rate,
            "max_leaf_nodes": self.max_leaf_nodes,
            "min_samples_leaf": self.min_samples_leaf,
            "quantile_models": self.quantile_models,
            "quantile_levels": list(self.quantile_levels),
            "market_features": self.market_features,
            "loss": self.loss,
            "target_scale": self.target_scale,
            "level_window": self.level_window,
            "sample_weight": self.sample_weight,
            "random_state": self.random_state,
            "n_threads": self.n_threads,
        }

    def _threads(self, n_rows: int) -> int | None:
        """OpenMP threads: one for small fits (spin-up costs more than it saves), else all."""
        if self.n_threads is not None:
            return self.n_threads
        return 1 if n_rows < 30_000 else None

    def _reset(self) -> None:
        self._models: dict[str, HistGradientBoostingRegressor] = {}
        self._values: FloatArray | None = None
        self._state: _StateFeatures | None = None
        self._panel: SeriesPanel | None = None

    # -- design matrices -----------------------------------------------------------------
    def _rows(
        self,
        panel: SeriesPanel,
        state: _StateFeatures,
        series: npt.NDArray[np.int64],
        origin: npt.NDArray[np.int64],
        step: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.float32]:
        base = state.data[:, series, origin].T
        cal, cycle = _calendar(panel, origin + step - 1)
        ang = 2 * np.pi * cal / cycle
        extra = np.stack([step.astype(np.float64), cal, np.sin(ang), np.cos(ang)], axis=1)
        return np.concatenate([base, extra.astype(np.float32)], axis=1)

    def _fit_on(
        self, panel: SeriesPanel, train_end: int
    ) -> dict[str, HistGradientBoostingRegressor]:
        """Fit models on rows whose target period index is < ``train_end``."""
        state = self._state
        assert state is not None
        values = panel.values
        h = self.horizon
        first_origin = 2
        rng = np.random.default_rng(self.random_state)
        # candidate (series, origin, step) with origin + step - 1 < train_end and history > 0
        n = values.shape[0]
        origins = np.arange(first_origin, train_end)
        steps = np.arange(1, h + 1)
        o_grid, s_grid = np.meshgrid(origins, steps, indexing="ij")
        ok = (o_grid + s_grid - 1) < train_end
        o_flat = o_grid[ok].astype(np.int64)
        s_flat = s_grid[ok].astype(np.int64)
        total = n * o_flat.size
        if total == 0:
            return {}
        take = min(self.max_rows, total)
        if take < total:
            pick = np.unique(rng.integers(0, total, size=take, dtype=np.int64))
        else:
            pick = np.arange(total, dtype=np.int64)
        series = (pick // o_flat.size).astype(np.int64)
        pos = pick % o_flat.size
        origin, step = o_flat[pos], s_flat[pos]
        keep = state.level[series, origin] > 0
        series, origin, step = series[keep], origin[keep], step[keep]
        if series.size < 50:
            return {}
        x = self._rows(panel, state, series, origin, step)
        y = values[series, origin + step - 1] / state.level[series, origin]
        common: dict[str, Any] = {
            "learning_rate": self.learning_rate,
            "max_leaf_nodes": self.max_leaf_nodes,
            "min_samples_leaf": self.min_samples_leaf,
            "l2_regularization": 1.0,
            "early_stopping": False,
            "random_state": self.random_state,
        }
        models: dict[str, HistGradientBoostingRegressor] = {}
        if y.sum() <= 0:
            return {}
        w = self._weights(state, series, origin)
        with threadpool_limits(limits=self._threads(len(y)), user_api="openmp"):
            models["mean"] = HistGradientBoostingRegressor(
                loss=self.loss, max_iter=self.max_iter, **common
            ).fit(x, y, sample_weight=w)
            if self.quantile_models:
                for q in self.quantile_levels:
                    models[f"q{int(q * 100)}"] = HistGradientBoostingRegressor(
                        loss="quantile", quantile=q, max_iter=self.quantile_iter, **common
                    ).fit(x, y, sample_weight=w)
        return models

    def _weights(
        self,
        state: _StateFeatures,
        series: npt.NDArray[np.int64],
        origin: npt.NDArray[np.int64],
    ) -> FloatArray | None:
        """Row weights so the loss on the level-scaled target matches the metric's scale."""
        if self.sample_weight == "none":
            return None
        level = state.level[series, origin]
        if self.sample_weight == "level":
            w = level
        else:  # "rmsse": squared error scaled by the series' RMSSE scale
            msd = state.msd[series, origin]
            pos = msd[msd > 0]
            floor = float(np.median(pos)) * 0.1 if pos.size else 1.0
            w = level**2 / np.maximum(msd, floor)
        w = np.minimum(w, np.quantile(w, 0.99))
        return np.asarray(w / max(float(w.mean()), 1e-12), dtype=np.float64)

    def _predict_at(
        self,
        panel: SeriesPanel,
        models: dict[str, HistGradientBoostingRegressor],
        origin_idx: int,
        horizon: int,
    ) -> PointPrediction:
        state = self._state
        assert state is not None
        n = panel.n_series
        series = np.repeat(np.arange(n, dtype=np.int64), horizon)
        step = np.tile(np.arange(1, horizon + 1, dtype=np.int64), n)
        origin = np.full(series.size, origin_idx, dtype=np.int64)
        level = state.level[:, origin_idx][:, None]
        if not models:
            mean = np.repeat(
                state.data[state.names.index("mean_13"), :, origin_idx][:, None], horizon, axis=1
            )
            return PointPrediction(mean=mean.astype(np.float64) * level)
        x = self._rows(panel, state, series, origin, step)

        def run(key: str) -> FloatArray:
            with threadpool_limits(limits=self._threads(len(x)), user_api="openmp"):
                out = models[key].predict(x).reshape(n, horizon)
            return np.maximum(np.asarray(out, dtype=np.float64), 0.0) * level

        pp = PointPrediction(mean=run("mean"))
        if "q10" in models and "q50" in models and "q90" in models:
            lo, mid, hi = run("q10"), run("q50"), run("q90")
            stacked = np.sort(np.stack([lo, mid, hi]), axis=0)
            pp.lo, pp.mid, pp.hi = stacked[0], stacked[1], stacked[2]
        elif "q50" in models:
            pp.mid = run("q50")
        return pp

    # -- Forecaster hooks ----------------------------------------------------------------
    def _ensure_state(self, panel: SeriesPanel) -> None:
        if self._panel is not panel:
            self._state = state_features(
                panel.values, self.market_features, self.target_scale, self.level_window
            )
            self._panel = panel

    def _fit_point(self, panel: SeriesPanel) -> None:
        self._ensure_state(panel)
        self._models = self._fit_on(panel, panel.n_periods)
        self._values = panel.values

    def _predict_point(self, horizon: int) -> PointPrediction:
        assert self._panel is not None
        return self._predict_at(self._panel, self._models, self._panel.n_periods, horizon)

    def backcast(
        self, panel: SeriesPanel, horizon: int, origins: list[int]
    ) -> list[PointPrediction]:
        """One fit on targets before the first origin, then forecasts at every origin."""
        self._ensure_state(panel)
        models = self._fit_on(panel, min(origins))
        return [self._predict_at(panel, models, o, horizon) for o in origins]
