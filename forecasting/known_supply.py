"""Known future supply: recurring volumes sellers have committed to.

A committed stream ("20 t of PP regrind every month") is given as a frame with the panel's
key columns, ``period_start`` and ``quantity`` (per series and future period). Two modes:

* ``"floor"`` (default): the history already contains the committed stream, so the forecast
  is at least the commitment: ``mean, p10, p50, p90, point = max(value, committed)``.
* ``"add"``: the history excludes the committed stream (e.g. lots posted outside the
  commitment were used to build the series), so the commitment is added on top:
  ``value + committed`` for the mean, every quantile and the point forecast.

Rows for series or periods that are not in the forecast are ignored and reported back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from forecasting.errors import InvalidQuantityError, UnknownColumnError
from forecasting.models.base import Forecast

Mode = Literal["floor", "add"]


@dataclass(frozen=True)
class KnownSupplyResult:
    forecast: Forecast
    applied_rows: int
    ignored_rows: int


def known_supply_matrix(forecast: Forecast, known: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Commitments laid out like the forecast arrays, and the number of rows ignored."""
    keys = [str(c) for c in forecast.keys.columns]
    missing = [c for c in [*keys, "period_start", "quantity"] if c not in known.columns]
    if missing:
        raise UnknownColumnError(f"known supply is missing column(s): {', '.join(missing)}")
    qty = pd.to_numeric(known["quantity"], errors="coerce")
    if qty.isna().any() or (qty < 0).any():
        pos = int(np.flatnonzero(qty.isna().to_numpy() | (qty < 0).to_numpy())[0])
        raise InvalidQuantityError(
            f"known supply quantity must be a non-negative number (row {pos + 1})"
        )
    out = np.zeros_like(forecast.mean)
    key_index = pd.MultiIndex.from_frame(forecast.keys.astype(str))
    k_rows = key_index.get_indexer(pd.MultiIndex.from_frame(known[keys].astype(str)))
    p_cols = forecast.periods.get_indexer(pd.DatetimeIndex(pd.to_datetime(known["period_start"])))
    ok = (k_rows >= 0) & (p_cols >= 0)
    np.add.at(out, (k_rows[ok], p_cols[ok]), qty.to_numpy(dtype=np.float64)[ok])
    return out, int((~ok).sum())


def apply_known_supply(
    forecast: Forecast, known: pd.DataFrame, mode: Mode = "floor"
) -> KnownSupplyResult:
    """Combine committed future supply with a forecast (see module doc for the modes)."""
    if mode not in ("floor", "add"):
        raise ValueError(f"mode must be 'floor' or 'add', got {mode!r}")
    committed, ignored = known_supply_matrix(forecast, known)
    combine = np.maximum if mode == "floor" else np.add
    new = replace(
        forecast,
        mean=combine(forecast.mean, committed),
        p10=combine(forecast.p10, committed),
        p50=combine(forecast.p50, committed),
        p90=combine(forecast.p90, committed),
        point=combine(forecast.point_forecast, committed),
    )
    return KnownSupplyResult(forecast=new, applied_rows=len(known) - ignored, ignored_rows=ignored)
