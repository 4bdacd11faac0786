"""Training entry point used by the service and the CLI.

:func:`train_and_forecast` backtests the model (for the artifact's metrics), fits it on the
whole panel, forecasts ``horizon`` periods and returns an unsaved
:class:`~forecasting.registry.ModelArtifact` plus the forecasts as a long frame (key columns,
``period_start``, ``mean``, ``p10``, ``p50``, ``p90``, ``point``). Save the artifact with
:func:`forecasting.registry.save`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from forecasting.backtest import rolling_origin
from forecasting.dataset import SeriesPanel
from forecasting.errors import InsufficientHistoryError
from forecasting.known_supply import Mode, apply_known_supply
from forecasting.models import default_model
from forecasting.models.base import Forecaster
from forecasting.registry import ModelArtifact, library_versions

Progress = Callable[[int, int, str], None]


def _noop(done: int, total: int, message: str) -> None:
    return None


def train_and_forecast(
    panel: SeriesPanel,
    horizon: int,
    progress: Progress | None = None,
    *,
    model: Forecaster | None = None,
    backtest_origins: int = 3,
    known_supply: pd.DataFrame | None = None,
    known_supply_mode: Mode = "floor",
) -> tuple[ModelArtifact, pd.DataFrame]:
    """Backtest, fit and forecast; ``progress(done, total, message)`` is called per step.

    The backtest is skipped (``metadata["backtest"] = None``) when the history is too short
    for ``backtest_origins`` windows of ``horizon`` periods.
    """
    report = progress or _noop
    base = model if model is not None else default_model(horizon)
    train_panel = panel.active()
    if train_panel.n_series == 0:
        raise InsufficientHistoryError("no series has any supply in the history")
    steps_backtest = backtest_origins * 2 if backtest_origins > 0 else 0
    total = steps_backtest + 2
    backtest: dict[str, Any] | None = None
    if backtest_origins > 0:
        try:
            bt = rolling_origin(
                train_panel,
                [base.clone()],
                horizon,
                backtest_origins,
                progress=lambda d, _t, m: report(d, total, f"backtest {m}"),
            )
            backtest = {
                "horizon": horizon,
                "origins": [str(o.date()) for o in bt.origins],
                "metrics": bt.to_dict(),
            }
        except InsufficientHistoryError as exc:
            backtest = {"skipped": str(exc)}
    report(steps_backtest, total, "fitting")
    fitted = base.clone().fit(train_panel, horizon=horizon)
    report(steps_backtest + 1, total, "forecasting")
    forecast = fitted.predict(horizon)
    ks_meta: dict[str, Any] | None = None
    if known_supply is not None and len(known_supply):
        res = apply_known_supply(forecast, known_supply, known_supply_mode)
        forecast = res.forecast
        ks_meta = {
            "mode": known_supply_mode,
            "applied_rows": res.applied_rows,
            "ignored_rows": res.ignored_rows,
        }
    report(total, total, "done")
    meta: dict[str, Any] = {
        "method": fitted.name,
        "params": fitted.params(),
        "freq": panel.freq,
        "keys": panel.key_names,
        "horizon": horizon,
        "training_window": {
            "start": str(panel.periods[0].date()),
            "end": str(panel.periods[-1].date()),
            "periods": panel.n_periods,
        },
        "series_count": train_panel.n_series,
        "forecast_periods": [str(p.date()) for p in forecast.periods],
        "backtest": backtest,
        "known_supply": ks_meta,
        "fit_seconds": round(fitted.fit_seconds_, 3),
        "library_versions": library_versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return ModelArtifact(model=fitted, metadata=meta), forecast.to_frame()
