"""Equal-weight combination of methods.

The point forecast is the plain mean of the members' point forecasts. With
``quantile_source=NAME`` the lower/median/upper come from that member's native quantile
forecasts (e.g. the global model's quantile-loss boosters); with ``source_interval=False``
only that member's median is used and the interval is conformalized around the combined
point forecast (absolute scaled residuals). With
``native_quantiles=True`` the combined lower/median/upper are the means of the members'
quantile forecasts (a member without native quantiles contributes its point forecast);
otherwise the combination is calibrated from its own point residuals only. Either way the
interval is conformalized on the combination's own rolling-origin residuals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from forecasting.dataset import SeriesPanel
from forecasting.errors import InvalidParameterError
from forecasting.models.base import Forecaster, PointPrediction


def _combine(
    preds: Sequence[PointPrediction],
    native_quantiles: bool,
    source: int | None = None,
    source_interval: bool = True,
) -> PointPrediction:
    mean = np.mean([p.mean for p in preds], axis=0)
    if source is not None:
        q = preds[source]
        if source_interval:
            return PointPrediction(mean=mean, lo=q.lo, mid=q.mid, hi=q.hi)
        return PointPrediction(mean=mean, mid=q.mid)
    if not native_quantiles or all(p.lo is None for p in preds):
        return PointPrediction(mean=mean)
    lo = np.mean([p.lo if p.lo is not None else p.mean for p in preds], axis=0)
    mid = np.mean([p.mid if p.mid is not None else p.mean for p in preds], axis=0)
    hi = np.mean([p.hi if p.hi is not None else p.mean for p in preds], axis=0)
    return PointPrediction(mean=mean, lo=lo, mid=mid, hi=hi)


class Combination(Forecaster):
    """Equal-weight combination of ``members`` (each a :class:`Forecaster`)."""

    def __init__(
        self,
        members: Sequence[Forecaster],
        *,
        name: str | None = None,
        native_quantiles: bool = False,
        quantile_source: str | None = None,
        source_interval: bool = True,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        if not members:
            raise InvalidParameterError("a combination needs at least one member")
        self.members = [m.clone() for m in members]
        self.native_quantiles = native_quantiles
        self.quantile_source = quantile_source
        self.source_interval = source_interval
        names = [m.name for m in self.members]
        if quantile_source is not None and quantile_source not in names:
            raise InvalidParameterError(
                f"quantile_source {quantile_source!r} is not a member ({', '.join(names)})"
            )
        self.name = name or "combo(" + "+".join(m.name for m in self.members) + ")"
        self.min_history = max(m.min_history for m in self.members)

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "native_quantiles": self.native_quantiles,
            "quantile_source": self.quantile_source,
            "source_interval": self.source_interval,
            "members": {m.name: m.params() for m in self.members},
        }

    def _reset(self) -> None:
        self.members = [m.clone() for m in self.members]

    def _sync(self) -> None:
        for m in self.members:
            m.horizon = self.horizon

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
        preds = [m._predict_point(horizon) for m in self.members]
        return _combine(preds, self.native_quantiles, self._source(), self.source_interval)

    def backcast(
        self, panel: SeriesPanel, horizon: int, origins: list[int]
    ) -> list[PointPrediction]:
        self._sync()
        per_member = [m.backcast(panel, horizon, origins) for m in self.members]
        return [
            _combine(
                [pm[i] for pm in per_member],
                self.native_quantiles,
                self._source(),
                self.source_interval,
            )
            for i in range(len(origins))
        ]
