"""Combinations of methods: equal weights, or weights chosen by inner rolling validation.

The point forecast is a weighted mean of the members' point forecasts.

* ``weighting="equal"``: the plain mean of the members.
* ``weighting="inner"``: weights chosen **inside the training window only**. At the
  weight origins (as many as the calibration origins, just before them, so that their actuals
  end where the calibration actuals begin: see :meth:`Combination.weight_origin_indices`)
  every member forecasts from the data before the origin; each series is put in an
  intermittency class by its share of non-zero periods over the last ``class_window`` periods
  before that origin (edges ``class_edges``: by default < 0.2 "sparse", 0.2-0.76
  "intermittent", >= 0.76 "regular", the last edge being the Syntetos-Boylan ADI cut-off 1.32);
  per class, the weights on the simplex grid of step ``grid_step`` with the lowest mean RMSSE
  over those series and origins are chosen (ties go to the grid point nearest equal weights; a
  class with fewer than ``min_class_series`` scored series-origins takes the weights chosen on
  all classes together). At forecast time each series gets the weights of its class as of the
  end of the training window. The evaluated (test) periods are never seen: they lie after the
  training window the combination is fitted on.

With ``quantile_source=NAME`` the lower/median/upper come from that member's native quantile
forecasts (e.g. the global model's quantile-loss boosters); with ``source_interval=False``
only that member's median is used and the interval is conformalized around the combined
point forecast (absolute scaled residuals). With ``native_quantiles=True`` the combined
lower/median/upper are the (weighted) means of the members' quantile forecasts (a member
without native quantiles contributes its point forecast); otherwise the combination is
calibrated from its own point residuals only. Either way the interval is conformalized on the
combination's own rolling-origin residuals at the calibration origins, with the chosen weights
(chosen on other, earlier periods, so the conformal residuals are not optimistic).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from forecasting import metrics as fm
from forecasting.dataset import FloatArray, SeriesPanel
from forecasting.errors import InvalidParameterError
from forecasting.models.base import (
    CLASS_EDGES,
    CLASS_WINDOW,
    Calibration,
    Forecaster,
    PointPrediction,
    intermittency_class,
)

WEIGHTINGS = ("equal", "inner")
IntArray = npt.NDArray[np.intp]


def simplex_grid(k: int, step: float) -> FloatArray:
    """All weight vectors of length ``k`` on the simplex with spacing ``step`` (rows sum to 1),
    ordered by distance to equal weights (nearest first)."""
    if k < 1:
        raise InvalidParameterError("a weight grid needs at least one member")
    n = round(1.0 / step)
    if n < 1 or abs(n * step - 1.0) > 1e-9:
        raise InvalidParameterError(f"grid_step must divide 1 evenly, got {step}")
    rows = [c for c in itertools.product(range(n + 1), repeat=k) if sum(c) == n]
    grid = np.asarray(rows, dtype=np.float64) / n
    dist = ((grid - 1.0 / k) ** 2).sum(axis=1)
    return np.asarray(grid[np.argsort(dist, kind="stable")], dtype=np.float64)


def select_weights(
    member_means: Sequence[Sequence[FloatArray]],
    actuals: Sequence[FloatArray],
    trains: Sequence[FloatArray],
    classes: Sequence[IntArray],
    n_classes: int,
    grid: FloatArray,
    min_class_series: int = 20,
) -> FloatArray:
    """Per-class weights minimising mean RMSSE over the given origins.

    ``member_means[m][i]`` is member ``m``'s point forecast at origin ``i`` (series x steps),
    ``actuals[i]`` the values after that origin, ``trains[i]`` the values before it (for the
    RMSSE scale) and ``classes[i]`` each series' class as of that origin. Returns an array
    (n_classes, n_members) whose rows sum to 1.
    """
    k = len(member_means)
    g = grid.shape[0]
    sums = np.zeros((g, n_classes))
    counts = np.zeros(n_classes)
    for i, actual in enumerate(actuals):
        steps = actual.shape[1]
        if steps == 0:
            continue
        msd, _ = fm.diff_scales(trains[i])
        stacked = np.stack([member_means[m][i][:, :steps] for m in range(k)])  # (k, n, h)
        cls = classes[i]
        ok = np.isfinite(msd)
        for j in range(g):
            f = np.tensordot(grid[j], stacked, axes=1)
            r = np.sqrt(np.mean((actual - f) ** 2, axis=1) / np.where(ok, msd, 1.0))
            sums[j] += np.bincount(cls[ok], weights=r[ok], minlength=n_classes)[:n_classes]
        counts += np.bincount(cls[ok], minlength=n_classes)[:n_classes]
    weights = np.empty((n_classes, k))
    pooled = grid[int(np.argmin(sums.sum(axis=1)))] if counts.sum() > 0 else np.full(k, 1.0 / k)
    for c in range(n_classes):
        if counts[c] >= min_class_series:
            weights[c] = grid[int(np.argmin(sums[:, c]))]
        else:
            weights[c] = pooled
    return weights


def _combine(
    preds: Sequence[PointPrediction],
    native_quantiles: bool,
    source: int | None = None,
    source_interval: bool = True,
    weights: FloatArray | None = None,
) -> PointPrediction:
    """Combine member predictions; ``weights`` is (n_series, n_members) or None (equal)."""

    def wmean(arrs: Sequence[FloatArray]) -> FloatArray:
        stacked = np.stack(arrs)  # (k, n, h)
        if weights is None:
            return np.asarray(stacked.mean(axis=0), dtype=np.float64)
        return np.asarray(np.einsum("nk,knh->nh", weights, stacked), dtype=np.float64)

    mean = wmean([p.mean for p in preds])
    if source is not None:
        q = preds[source]
        if source_interval:
            return PointPrediction(mean=mean, lo=q.lo, mid=q.mid, hi=q.hi)
        return PointPrediction(mean=mean, mid=q.mid)
    if not native_quantiles or all(p.lo is None for p in preds):
        return PointPrediction(mean=mean)
    lo = wmean([p.lo if p.lo is not None else p.mean for p in preds])
    mid = wmean([p.mid if p.mid is not None else p.mean for p in preds])
    hi = wmean([p.hi if p.hi is not None else p.mean for p in preds])
    return PointPrediction(mean=mean, lo=lo, mid=mid, hi=hi)


class Combination(Forecaster):
    """Combination of ``members`` (each a :class:`Forecaster`), equal or inner-validated."""

    def __init__(
        self,
        members: Sequence[Forecaster],
        *,
        name: str | None = None,
        native_quantiles: bool = False,
        quantile_source: str | None = None,
        source_interval: bool = True,
        weighting: str = "equal",
        grid_step: float = 0.25,
        class_window: int = CLASS_WINDOW,
        class_edges: Sequence[float] = CLASS_EDGES,
        min_class_series: int = 20,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        if not members:
            raise InvalidParameterError("a combination needs at least one member")
        if weighting not in WEIGHTINGS:
            raise InvalidParameterError(
                f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}"
            )
        if class_window < 1:
            raise InvalidParameterError(f"class_window must be at least 1, got {class_window}")
        if list(class_edges) != sorted(class_edges):
            raise InvalidParameterError("class_edges must be increasing")
        self.members = [m.clone() for m in members]
        self.native_quantiles = native_quantiles
        self.quantile_source = quantile_source
        self.source_interval = source_interval
        self.weighting = weighting
        self.grid_step = grid_step
        self.class_window = class_window
        self.class_edges = tuple(float(e) for e in class_edges)
        self.min_class_series = min_class_series
        simplex_grid(len(self.members), grid_step)  # validates grid_step
        names = [m.name for m in self.members]
        if len(set(names)) != len(names):
            raise InvalidParameterError(f"member names must be unique, got {names}")
        if quantile_source is not None and quantile_source not in names:
            raise InvalidParameterError(
                f"quantile_source {quantile_source!r} is not a member ({', '.join(names)})"
            )
        self.name = name or "combo(" + "+".join(m.name for m in self.members) + ")"
        self.min_history = max(m.min_history for m in self.members)
        self.weights_: FloatArray | None = None

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "native_quantiles": self.native_quantiles,
            "quantile_source": self.quantile_source,
            "source_interval": self.source_interval,
            "weighting": self.weighting,
            "grid_step": self.grid_step,
            "class_window": self.class_window,
            "class_edges": list(self.class_edges),
            "min_class_series": self.min_class_series,
            "members": {m.name: m.params() for m in self.members},
        }

    def _reset(self) -> None:
        self.members = [m.clone() for m in self.members]
        self.weights_ = None

    def _sync(self) -> None:
        for m in self.members:
            m.horizon = self.horizon

    @property
    def n_classes(self) -> int:
        return len(self.class_edges) + 1

    def member_weights(self) -> dict[str, dict[str, float]]:
        """Chosen weights per intermittency class (equal weights before fitting/if equal)."""
        k = len(self.members)
        w = self.weights_ if self.weights_ is not None else np.full((self.n_classes, k), 1.0 / k)
        return {
            f"class_{c}": {m.name: float(w[c, i]) for i, m in enumerate(self.members)}
            for c in range(self.n_classes)
        }

    def _series_weights(self, values: FloatArray) -> FloatArray | None:
        if self.weights_ is None:
            return None
        cls = intermittency_class(values, self.class_window, self.class_edges)
        return np.asarray(self.weights_[cls], dtype=np.float64)

    def fit(self, panel: SeriesPanel, horizon: int | None = None) -> Self:
        self.weights_ = None
        if not self.calibrate and self.weighting == "inner" and panel.n_periods >= 2:
            # weights still come from inner rolling origins, without a conformal step
            if horizon is not None:
                self.horizon = horizon
            origins = self.weight_origin_indices(panel)
            if origins:
                self._choose_weights(panel, origins, self._member_backcasts(panel, origins))
        return super().fit(panel, horizon)

    def _member_backcasts(
        self, panel: SeriesPanel, origins: list[int]
    ) -> list[list[PointPrediction]]:
        self._sync()
        return [m.backcast(panel, self.horizon, origins) for m in self.members]

    def _choose_weights(
        self, panel: SeriesPanel, origins: list[int], per_member: list[list[PointPrediction]]
    ) -> None:
        h = self.horizon
        self.weights_ = select_weights(
            [[pp.mean for pp in pm] for pm in per_member],
            [panel.values[:, o : o + h] for o in origins],
            [panel.values[:, :o] for o in origins],
            [
                intermittency_class(panel.values[:, :o], self.class_window, self.class_edges)
                for o in origins
            ],
            self.n_classes,
            simplex_grid(len(self.members), self.grid_step),
            self.min_class_series,
        )

    def weight_origin_indices(self, panel: SeriesPanel) -> list[int]:
        """Origins for choosing the weights: as many as the calibration origins, placed so
        that their actuals end where the calibration actuals begin (weights chosen on the
        conformal residuals would make the intervals too narrow); for short histories, the
        calibration origins themselves."""
        cal = self.calibration_origin_indices(panel)
        if not cal:
            return []
        first_allowed = max(self.min_history, 2)
        last = cal[0] - self.horizon
        idx = [o for o in range(last - len(cal) + 1, last + 1) if o >= first_allowed]
        return idx if len(idx) == len(cal) else cal

    def _calibrate(self, panel: SeriesPanel) -> Calibration | None:
        origins = self.calibration_origin_indices(panel)
        if not origins:
            return None
        per_member = self._member_backcasts(panel, origins)
        if self.weighting == "inner":
            w_origins = self.weight_origin_indices(panel)
            w_preds = (
                per_member if w_origins == origins else self._member_backcasts(panel, w_origins)
            )
            self._choose_weights(panel, w_origins, w_preds)
        preds = self._combined_at(panel, origins, per_member)
        return self._calibration_from(panel, origins, preds)

    def _fit_point(self, panel: SeriesPanel) -> None:
        self._sync()
        for m in self.members:
            m.panel_ = panel
            m._fit_point(panel)

    def _source(self) -> int | None:
        if self.quantile_source is None:
            return None
        return [m.name for m in self.members].index(self.quantile_source)

    def _predict_point(self, horizon: int) -> PointPrediction:
        assert self.panel_ is not None
        preds = [m._predict_point(horizon) for m in self.members]
        return _combine(
            preds,
            self.native_quantiles,
            self._source(),
            self.source_interval,
            self._series_weights(self.panel_.values),
        )

    def backcast(
        self, panel: SeriesPanel, horizon: int, origins: list[int]
    ) -> list[PointPrediction]:
        """Combined forecasts at ``origins`` with the current weights (equal if none yet)."""
        self._sync()
        per_member = [m.backcast(panel, horizon, origins) for m in self.members]
        return self._combined_at(panel, origins, per_member)

    def _combined_at(
        self, panel: SeriesPanel, origins: list[int], per_member: list[list[PointPrediction]]
    ) -> list[PointPrediction]:
        """The members' forecasts at each origin combined with the current weights."""
        return [
            _combine(
                [pm[i] for pm in per_member],
                self.native_quantiles,
                self._source(),
                self.source_interval,
                self._series_weights(panel.values[:, :o]),
            )
            for i, o in enumerate(origins)
        ]
