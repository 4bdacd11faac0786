"""Forecast container, method base class and split-conformal prediction intervals.

Every method produces a *point* forecast (and optionally its own quantile forecasts). The
base class turns those into calibrated P10/P50/P90 with split-conformal prediction on
rolling-origin residuals computed **inside the training window only**:

* calibration origins are the last ``calibration_origins`` periods of the training window
  that still leave ``horizon`` periods of actuals after them; the method is refitted (or,
  for the global model, fitted once before the first calibration origin) on the data before
  each origin and its forecasts are compared with the actuals that follow;
* residuals are scaled per series (root mean square of the first differences over the
  training window, the RMSSE scale) and collected per horizon step;
* the conformity score is ``max(lo - y, y - hi) / scale`` (conformalized quantile regression;
  for a method without native quantiles ``lo = hi = point``, i.e. the absolute residual), and
  the interval is widened or narrowed by the finite-sample-corrected ``coverage`` quantile of
  the scores, then clipped at zero;
* the median is the point forecast shifted by the median scaled signed residual (or the
  method's own median), clipped into the interval, so that ``0 <= p10 <= p50 <= p90``.
"""

from __future__ import annotations

import copy
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import pandas as pd

from forecasting.dataset import FloatArray, SeriesPanel
from forecasting.errors import InsufficientHistoryError, InvalidParameterError
from forecasting.point import rmsse_point

QUANTILES: tuple[float, float, float] = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class Forecast:
    """Forecasts for every series of a panel: arrays of shape (n_series, horizon)."""

    keys: pd.DataFrame
    periods: pd.DatetimeIndex
    mean: FloatArray
    p10: FloatArray
    p50: FloatArray
    p90: FloatArray
    method: str = ""
    # The point forecast to score with the RMSSE (forecasting/point.py), if the method makes
    # one; read it as ``point_forecast``.
    point: FloatArray | None = None

    @property
    def point_forecast(self) -> FloatArray:
        """The point forecast: ``point``, or the mean when the method makes none."""
        return self.mean if self.point is None else self.point

    @property
    def horizon(self) -> int:
        return int(self.mean.shape[1])

    def quantiles(self) -> dict[float, FloatArray]:
        return {0.1: self.p10, 0.5: self.p50, 0.9: self.p90}

    def to_frame(self) -> pd.DataFrame:
        """Long frame: key columns, ``period_start``, ``mean``, ``p10``, ``p50``, ``p90``,
        ``point``."""
        n, h = self.mean.shape
        out = self.keys.loc[np.repeat(np.arange(n), h)].reset_index(drop=True)
        out["period_start"] = np.tile(self.periods.to_numpy(), n)
        for name in ("mean", "p10", "p50", "p90"):
            out[name] = getattr(self, name).reshape(-1)
        out["point"] = self.point_forecast.reshape(-1)
        return out


@dataclass
class PointPrediction:
    """A method's raw output before calibration: point and optional native quantiles."""

    mean: FloatArray
    lo: FloatArray | None = None
    mid: FloatArray | None = None
    hi: FloatArray | None = None


@dataclass
class Calibration:
    """Conformal offsets per series group and horizon step (in units of the series scale).

    Arrays are (n_groups, horizon); with ``conformal_groups=False`` there is one group.
    """

    lower: FloatArray  # subtracted (x scale) from lo
    upper: FloatArray  # added (x scale) to hi
    median_shift: FloatArray  # median scaled signed residual
    n_scores: int
    coverage: float

    @property
    def widen(self) -> FloatArray:
        """Symmetric widening of the first group (the two offsets agree when symmetric)."""
        return np.asarray(np.maximum(self.lower[0], self.upper[0]), dtype=np.float64)


INTERVALS = ("symmetric", "asymmetric")
# The point forecast: the mean, or the point that minimises the expected RMSSE (point.py).
POINT_LOSSES = ("mean", "rmsse")
CLASS_WINDOW = 26
CLASS_EDGES: tuple[float, ...] = (0.2, 0.76)


def intermittency_class(
    values: FloatArray, window: int = CLASS_WINDOW, edges: tuple[float, ...] = CLASS_EDGES
) -> npt.NDArray[np.intp]:
    """Class index per series: share of non-zero periods in the last ``window`` periods,
    binned by ``edges`` (0 = sparsest). The default edges give "sparse" (< 20 % non-zero),
    "intermittent" and "regular" (>= 76 %, i.e. the Syntetos-Boylan ADI cut-off 1.32)."""
    if values.shape[1] == 0:
        return np.zeros(values.shape[0], dtype=np.intp)
    share = (values[:, -window:] > 0).mean(axis=1)
    return np.asarray(np.digitize(share, np.asarray(edges, dtype=np.float64)), dtype=np.intp)


def series_scale(values: FloatArray) -> FloatArray:
    """Per-series RMS of first differences after the first non-zero value (RMSSE scale).

    Zero (or undefined) scales are replaced by a small floor so that scaled quantities stay
    finite: 10 % of the median positive scale of the panel (1.0 if no series has one).
    """
    n, t = values.shape
    if t < 2:
        return np.ones(n)
    started = np.maximum.accumulate(values > 0, axis=1)
    diffs = np.diff(values, axis=1) ** 2
    mask = started[:, :-1]
    cnt = mask.sum(axis=1)
    ss = (diffs * mask).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.sqrt(np.where(cnt > 0, ss / np.maximum(cnt, 1), 0.0))
    positive = scale[scale > 0]
    floor = 0.1 * float(np.median(positive)) if positive.size else 1.0
    return np.maximum(scale, floor)


def conformal_quantile(scores: FloatArray, level: float) -> float:
    """Finite-sample split-conformal quantile: the ceil((n+1) level)-th smallest score."""
    s = np.sort(scores[np.isfinite(scores)])
    n = s.size
    if n == 0:
        return 0.0
    k = math.ceil((n + 1) * level)
    if k > n:
        return float(s[-1])
    return float(s[k - 1])


class Forecaster(ABC):
    """Base class: ``fit(panel)`` then ``predict(horizon)``.

    Subclasses implement :meth:`_fit_point` and :meth:`_predict_point`; they may override
    :meth:`backcast` when forecasts at several origins can be had from one fit.
    """

    name: str = "forecaster"
    min_history: int = 2

    def __init__(
        self,
        *,
        horizon: int = 12,
        coverage: float = 0.8,
        calibration_origins: int = 8,
        calibrate: bool = True,
        interval: str = "symmetric",
        conformal_groups: bool = False,
        min_group_scores: int = 100,
        point_loss: str = "mean",
    ) -> None:
        if horizon < 1:
            raise InvalidParameterError(f"horizon must be at least 1, got {horizon}")
        if not 0.0 < coverage < 1.0:
            raise InvalidParameterError(f"coverage must be in (0, 1), got {coverage}")
        if point_loss not in POINT_LOSSES:
            raise InvalidParameterError(
                f"point_loss must be one of {', '.join(POINT_LOSSES)}, got {point_loss!r}"
            )
        if interval not in INTERVALS:
            raise InvalidParameterError(
                f"interval must be one of {', '.join(INTERVALS)}, got {interval!r}"
            )
        self.horizon = horizon
        self.coverage = coverage
        self.calibration_origins = calibration_origins
        self.calibrate = calibrate
        self.interval = interval
        self.conformal_groups = conformal_groups
        self.min_group_scores = min_group_scores
        self.point_loss = point_loss
        self.calibration_: Calibration | None = None
        self.panel_: SeriesPanel | None = None
        self.scale_: FloatArray | None = None
        self.fit_seconds_: float = 0.0

    # -- hooks ---------------------------------------------------------------------------
    @abstractmethod
    def _fit_point(self, panel: SeriesPanel) -> None:
        """Fit the point model on the whole ``panel`` (its training window)."""

    @abstractmethod
    def _predict_point(self, horizon: int) -> PointPrediction:
        """Point (and optional native quantile) forecasts after the fitted panel."""

    def params(self) -> dict[str, Any]:
        """Constructor parameters, for metadata and cloning."""
        return {
            "horizon": self.horizon,
            "coverage": self.coverage,
            "calibration_origins": self.calibration_origins,
            "calibrate": self.calibrate,
            "interval": self.interval,
            "conformal_groups": self.conformal_groups,
            "min_group_scores": self.min_group_scores,
            "point_loss": self.point_loss,
        }

    def clone(self) -> Self:
        """A new, unfitted instance with the same parameters."""
        new = copy.copy(self)
        new.__dict__ = {
            k: copy.deepcopy(v)
            for k, v in self.__dict__.items()
            if not (k.endswith("_") or k.startswith("_"))
        }
        new.calibration_ = None
        new.panel_ = None
        new.scale_ = None
        new.fit_seconds_ = 0.0
        new._reset()
        return new

    def _reset(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Drop fitted state in subclasses (called by :meth:`clone`)."""

    def backcast(
        self, panel: SeriesPanel, horizon: int, origins: list[int]
    ) -> list[PointPrediction]:
        """Point forecasts made at each origin index using only ``panel`` periods before it."""
        out: list[PointPrediction] = []
        for o in origins:
            m = self.clone()
            m._fit_point(panel.head(o))
            m.panel_ = panel.head(o)
            out.append(m._predict_point(horizon))
        return out

    # -- public API ----------------------------------------------------------------------
    def fit(self, panel: SeriesPanel, horizon: int | None = None) -> Self:
        """Fit on ``panel`` (all of it is the training window) and calibrate intervals."""
        if panel.n_periods < self.min_history:
            raise InsufficientHistoryError(
                f"{self.name} needs at least {self.min_history} periods of history, "
                f"got {panel.n_periods}"
            )
        if horizon is not None:
            if horizon < 1:
                raise InvalidParameterError(f"horizon must be at least 1, got {horizon}")
            self.horizon = horizon
        t0 = time.perf_counter()
        self.panel_ = panel
        self.scale_ = series_scale(panel.values)
        self.calibration_ = self._calibrate(panel) if self.calibrate else None
        self._fit_point(panel)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def calibration_origin_indices(self, panel: SeriesPanel) -> list[int]:
        """The last ``calibration_origins`` origins with a full horizon of actuals after them;
        for short histories, the last origins with at least one period of actuals."""
        first_allowed = max(self.min_history, 2)
        for last in (panel.n_periods - self.horizon, panel.n_periods - 1):
            start = last - self.calibration_origins + 1
            idx = [o for o in range(start, last + 1) if o >= first_allowed]
            if idx:
                return idx
        return []

    def _calibrate(self, panel: SeriesPanel) -> Calibration | None:
        origins = self.calibration_origin_indices(panel)
        if not origins:
            return None
        preds = self.backcast(panel, self.horizon, origins)
        return self._calibration_from(panel, origins, preds)

    def _groups(self, values: FloatArray) -> npt.NDArray[np.intp]:
        """Conformal group of each series given its history ``values`` (one group if off)."""
        if not self.conformal_groups:
            return np.zeros(values.shape[0], dtype=np.intp)
        return intermittency_class(values)

    @property
    def n_groups(self) -> int:
        return len(CLASS_EDGES) + 1 if self.conformal_groups else 1

    def _calibration_from(
        self, panel: SeriesPanel, origins: list[int], preds: list[PointPrediction]
    ) -> Calibration:
        """Conformal offsets from point forecasts ``preds`` made at ``origins`` of ``panel``.

        Symmetric: the ``coverage`` quantile of ``max(lo - y, y - hi) / scale``. Asymmetric:
        the ``(1 + coverage) / 2`` quantiles of ``(lo - y) / scale`` and ``(y - hi) / scale``
        separately (two one-sided intervals). With ``conformal_groups`` the quantiles are taken
        per intermittency class of the series as of each origin (Mondrian conformal); a group
        with fewer than ``min_group_scores`` scores at a step uses the pooled value.
        """
        assert self.scale_ is not None
        h = self.horizon
        g_count = self.n_groups
        scale = self.scale_[:, None]
        # per step: lists of (score_lo, score_hi, signed, group) arrays
        lo_s: list[list[FloatArray]] = [[] for _ in range(h)]
        hi_s: list[list[FloatArray]] = [[] for _ in range(h)]
        signed: list[list[FloatArray]] = [[] for _ in range(h)]
        groups: list[list[npt.NDArray[np.intp]]] = [[] for _ in range(h)]
        for o, pp in zip(origins, preds, strict=True):
            actual = panel.values[:, o : o + h]
            steps = actual.shape[1]
            lo = pp.lo if pp.lo is not None else pp.mean
            hi = pp.hi if pp.hi is not None else pp.mean
            mid = pp.mid if pp.mid is not None else pp.mean
            s_lo = (lo[:, :steps] - actual) / scale
            s_hi = (actual - hi[:, :steps]) / scale
            sg = (actual - mid[:, :steps]) / scale
            grp = self._groups(panel.values[:, :o])
            for j in range(steps):
                lo_s[j].append(s_lo[:, j])
                hi_s[j].append(s_hi[:, j])
                signed[j].append(sg[:, j])
                groups[j].append(grp)
        lower = np.zeros((g_count, h))
        upper = np.zeros((g_count, h))
        shift = np.zeros((g_count, h))
        n_scores = 0
        level = (1.0 + self.coverage) / 2.0
        for j in range(h):
            # steps beyond the calibrated range reuse the last calibrated step
            src = j
            while src > 0 and not lo_s[src]:
                src -= 1
            if not lo_s[src]:
                continue
            a = np.concatenate(lo_s[src])
            b = np.concatenate(hi_s[src])
            sg_all = np.concatenate(signed[src])
            grp_all = np.concatenate(groups[src])
            n_scores += a.size if src == j else 0

            def offsets(a: FloatArray, b: FloatArray) -> tuple[float, float]:
                if self.interval == "asymmetric":
                    return conformal_quantile(a, level), conformal_quantile(b, level)
                w = conformal_quantile(np.maximum(a, b), self.coverage)
                return w, w

            pooled = offsets(a, b)
            pooled_shift = float(np.median(sg_all))
            for g in range(g_count):
                sel = grp_all == g
                if g_count > 1 and int(sel.sum()) >= self.min_group_scores:
                    lower[g, j], upper[g, j] = offsets(a[sel], b[sel])
                    shift[g, j] = float(np.median(sg_all[sel]))
                else:
                    lower[g, j], upper[g, j] = pooled
                    shift[g, j] = pooled_shift
        return Calibration(
            lower=lower,
            upper=upper,
            median_shift=shift,
            n_scores=n_scores,
            coverage=self.coverage,
        )

    def predict(self, horizon: int | None = None) -> Forecast:
        """Forecast ``horizon`` periods (default: the fitted horizon) after the panel."""
        if self.panel_ is None or self.scale_ is None:
            raise RuntimeError(f"{self.name}: call fit() before predict()")
        h = self.horizon if horizon is None else horizon
        if h < 1:
            raise InvalidParameterError(f"horizon must be at least 1, got {h}")
        pp = self._predict_point(h)
        return self._finish(pp, h)

    def _finish(self, pp: PointPrediction, h: int) -> Forecast:
        assert self.panel_ is not None
        assert self.scale_ is not None
        mean = np.maximum(pp.mean[:, :h], 0.0)
        lo = pp.lo[:, :h] if pp.lo is not None else mean
        hi = pp.hi[:, :h] if pp.hi is not None else mean
        mid = pp.mid[:, :h] if pp.mid is not None else None
        scale = self.scale_[:, None]
        cal = self.calibration_
        if cal is not None:
            steps = np.minimum(np.arange(h), cal.lower.shape[1] - 1)
            grp = self._groups(self.panel_.values)[:, None]
            p10 = lo - cal.lower[grp, steps[None, :]] * scale
            p90 = hi + cal.upper[grp, steps[None, :]] * scale
            shift = cal.median_shift[grp, steps[None, :]]
            p50 = mid if mid is not None else mean + shift * scale
        else:
            p10, p90 = lo, hi
            p50 = mid if mid is not None else mean
        # (getattr: artifacts pickled before point_loss existed score the mean)
        point_loss = getattr(self, "point_loss", "mean")
        point = rmsse_point(self.panel_.values, mean) if point_loss == "rmsse" else None
        return make_forecast(
            self.panel_, h, mean=mean, p10=p10, p50=p50, p90=p90, method=self.name, point=point
        )


def make_forecast(
    panel: SeriesPanel,
    horizon: int,
    *,
    mean: FloatArray,
    p10: FloatArray,
    p50: FloatArray,
    p90: FloatArray,
    method: str,
    point: FloatArray | None = None,
) -> Forecast:
    """Clip at zero and enforce ``p10 <= p50 <= p90``."""
    p10 = np.maximum(p10, 0.0)
    p90 = np.maximum(p90, 0.0)
    crossed = p10 > p90
    if crossed.any():
        midpoint = (p10 + p90) / 2.0
        p10 = np.where(crossed, midpoint, p10)
        p90 = np.where(crossed, midpoint, p90)
    p50 = np.clip(np.maximum(p50, 0.0), p10, p90)
    return Forecast(
        keys=panel.keys,
        periods=panel.future_periods(horizon),
        mean=np.maximum(mean, 0.0).astype(np.float64),
        p10=p10.astype(np.float64),
        p50=p50.astype(np.float64),
        p90=p90.astype(np.float64),
        method=method,
        point=None if point is None else np.maximum(point, 0.0).astype(np.float64),
    )
