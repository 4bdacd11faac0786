"""Rolling-origin backtest without leakage.

At each origin the training panel is ``panel.head(origin)`` (periods strictly before it) and
only the series with some supply in that window are forecast (series selection as of the
origin). Every method is a fresh clone fitted on that window alone, so its features, scales,
smoothing constants, tuning and conformal calibration never see the evaluated periods.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting import metrics as fm
from forecasting.dataset import FloatArray, SeriesPanel
from forecasting.errors import InsufficientHistoryError, InvalidParameterError
from forecasting.models.base import Forecast, Forecaster
from forecasting.models.classic import Naive

Progress = Callable[[int, int, str], None]

METRIC_KEYS: tuple[str, ...] = (
    "rmsse",
    "rmsse_rel_naive",
    "rmsse_mean",
    "rmsse_mean_rel_naive",
    "rmsse_vw",
    "rmsse_vw_rel_naive",
    "spl",
    "spl_rel_naive",
    "coverage_80",
    "width_80",
    "scaled_width_80",
    "mae",
    "mase",
    "fit_seconds",
    "predict_seconds",
    "n_evaluated",
)


@dataclass
class _Acc:
    rmsse: list[FloatArray] = field(default_factory=list)
    rmsse_mean: list[FloatArray] = field(default_factory=list)
    spl: list[FloatArray] = field(default_factory=list)
    mase: list[FloatArray] = field(default_factory=list)
    weight: list[FloatArray] = field(default_factory=list)
    inside: int = 0
    count: int = 0
    width_sum: float = 0.0
    scaled_width: list[FloatArray] = field(default_factory=list)
    abs_err_sum: float = 0.0
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0


@dataclass
class BacktestReport:
    """Metrics per method (``metrics[name][key]``), the origins used and optional forecasts."""

    horizon: int
    origins: list[pd.Timestamp]
    metrics: dict[str, dict[str, float]]
    forecasts: dict[str, list[Forecast]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {k: dict(v) for k, v in self.metrics.items()}

    def to_table(self) -> str:
        cols = [
            ("method", 16),
            ("rmsse_rel_naive", 15),
            ("rmsse_mean_rel_naive", 20),
            ("rmsse_vw_rel_naive", 18),
            ("spl_rel_naive", 13),
            ("coverage_80", 11),
            ("width_80", 9),
            ("fit_seconds", 11),
            ("predict_seconds", 15),
        ]
        head = "  ".join(f"{c:>{w}}" if c != "method" else f"{c:<{w}}" for c, w in cols)
        lines = [head, "-" * len(head)]
        for name, m in self.metrics.items():
            cells = [f"{name:<16}"]
            for c, w in cols[1:]:
                cells.append(f"{m.get(c, float('nan')):>{w}.3f}")
            lines.append("  ".join(cells))
        origins = ", ".join(str(o.date()) for o in self.origins)
        lines.append(f"horizon {self.horizon}; origins {origins}")
        return "\n".join(lines)


def origin_indices(
    panel: SeriesPanel, horizon: int, origins: int | Sequence[int | str | pd.Timestamp]
) -> list[int]:
    """Origin period indices: ``K`` -> the last K non-overlapping windows of ``horizon``."""
    if horizon < 1:
        raise InvalidParameterError(f"horizon must be at least 1, got {horizon}")
    t = panel.n_periods
    if isinstance(origins, int):
        if origins < 1:
            raise InvalidParameterError(f"origins must be at least 1, got {origins}")
        idx = [t - horizon * (origins - k) for k in range(origins)]
    else:
        idx = []
        for o in origins:
            if isinstance(o, int | np.integer):
                idx.append(int(o))
            else:
                pos = panel.periods.get_indexer(pd.DatetimeIndex([pd.Timestamp(o)]))[0]
                if pos < 0:
                    raise InvalidParameterError(f"origin {o} is not a period start of the panel")
                idx.append(int(pos))
    if not idx or min(idx) < 2:
        need = 2 + horizon * (origins if isinstance(origins, int) else 1)
        raise InsufficientHistoryError(
            f"the history has {t} periods, too few for this backtest "
            f"(horizon {horizon}, origins {origins}: at least {need} periods are needed)"
        )
    if max(idx) > t - 1:
        raise InvalidParameterError("an origin leaves no actuals to evaluate")
    return sorted(idx)


def rolling_origin(
    panel: SeriesPanel,
    methods: Sequence[Forecaster],
    horizon: int,
    origins: int | Sequence[int | str | pd.Timestamp],
    *,
    keep_forecasts: bool = False,
    progress: Progress | None = None,
) -> BacktestReport:
    """Backtest ``methods`` at each origin; metrics are relative to :class:`Naive`.

    A Naive baseline is added if no method is named ``naive``.
    """
    idx = origin_indices(panel, horizon, origins)
    methods = list(methods)
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise InvalidParameterError(f"method names must be unique, got {names}")
    if "naive" not in names:
        methods.append(Naive())
    acc = {m.name: _Acc() for m in methods}
    kept: dict[str, list[Forecast]] = {m.name: [] for m in methods}
    total = len(idx) * len(methods)
    done = 0
    for o in idx:
        full = panel.head(min(o + horizon, panel.n_periods))
        rows = np.flatnonzero(panel.values[:, :o].sum(axis=1) > 0)
        if rows.size == 0:
            raise InsufficientHistoryError(
                f"no series has supply before the origin {panel.periods[o].date()}"
            )
        train = panel.head(o).select(rows)
        actual = full.values[rows, o:]
        steps = actual.shape[1]
        weights = train.values.sum(axis=1)
        for method in methods:
            model = method.clone()
            t0 = time.perf_counter()
            model.fit(train, horizon=horizon)
            t1 = time.perf_counter()
            fc = model.predict(horizon)
            t2 = time.perf_counter()
            a = acc[method.name]
            a.fit_seconds += t1 - t0
            a.predict_seconds += t2 - t1
            _accumulate(a, fc, actual, train.values, weights, steps)
            if keep_forecasts:
                kept[method.name].append(fc)
            done += 1
            if progress is not None:
                progress(done, total, f"{method.name} @ {panel.periods[o].date()}")
    out: dict[str, dict[str, float]] = {}
    for name, a in acc.items():
        out[name] = _summarise(a)
    base = out["naive"]
    for m in out.values():
        m["rmsse_rel_naive"] = _ratio(m["rmsse"], base["rmsse"])
        m["rmsse_mean_rel_naive"] = _ratio(m["rmsse_mean"], base["rmsse"])
        m["rmsse_vw_rel_naive"] = _ratio(m["rmsse_vw"], base["rmsse_vw"])
        m["spl_rel_naive"] = _ratio(m["spl"], base["spl"])
    ordered = {k: {key: out[k][key] for key in METRIC_KEYS} for k in out}
    return BacktestReport(
        horizon=horizon,
        origins=[panel.periods[o] for o in idx],
        metrics=ordered,
        forecasts=kept if keep_forecasts else {},
    )


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b and np.isfinite(b) else float("nan")


def _accumulate(
    a: _Acc, fc: Forecast, actual: FloatArray, train: FloatArray, weights: FloatArray, steps: int
) -> None:
    mean = fc.mean[:, :steps]
    p10, p50, p90 = fc.p10[:, :steps], fc.p50[:, :steps], fc.p90[:, :steps]
    # RMSSE scores the point forecast (the mean unless the method makes a point for it)
    a.rmsse.append(fm.rmsse_per_series(actual, fc.point_forecast[:, :steps], train))
    a.rmsse_mean.append(fm.rmsse_per_series(actual, mean, train))
    a.spl.append(fm.spl_per_series(actual, {0.1: p10, 0.5: p50, 0.9: p90}, train))
    a.mase.append(fm.mase_per_series(actual, mean, train))
    a.weight.append(weights)
    a.inside += int(((actual >= p10) & (actual <= p90)).sum())
    a.count += int(actual.size)
    a.width_sum += float((p90 - p10).sum())
    _, mad = fm.diff_scales(train)
    a.scaled_width.append(np.mean(p90 - p10, axis=1) / mad)
    a.abs_err_sum += float(np.abs(actual - mean).sum())


def _summarise(a: _Acc) -> dict[str, float]:
    r = np.concatenate(a.rmsse)
    s = np.concatenate(a.spl)
    w = np.concatenate(a.weight)
    res: dict[str, Any] = {
        "rmsse": float(np.nanmean(r)),
        "rmsse_mean": float(np.nanmean(np.concatenate(a.rmsse_mean))),
        "rmsse_vw": fm.volume_weighted_mean(r, w),
        "spl": float(np.nanmean(s)),
        "coverage_80": a.inside / a.count if a.count else float("nan"),
        "width_80": a.width_sum / a.count if a.count else float("nan"),
        "scaled_width_80": float(np.nanmean(np.concatenate(a.scaled_width))),
        "mae": a.abs_err_sum / a.count if a.count else float("nan"),
        "mase": float(np.nanmean(np.concatenate(a.mase))),
        "fit_seconds": a.fit_seconds,
        "predict_seconds": a.predict_seconds,
        "n_evaluated": float(np.isfinite(r).sum()),
    }
    return {k: float(v) for k, v in res.items()}
