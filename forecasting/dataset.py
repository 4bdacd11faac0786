"""Supply series from events: reading, validation, aggregation and zero filling.

An *event* is one row with a timestamp, a non-negative quantity and one or more key columns
(e.g. grade key and region). :func:`build_series` sums the quantities per key combination and
period (ISO week starting Monday, or calendar month starting on the 1st) and fills the periods
without events with zeros, giving a dense :class:`SeriesPanel`.

Supply history from the platform is one events frame: posted lot quantities (and, if wanted,
delivered order quantities) concatenated, with the grade key columns (e.g. family, polymer,
form, DQL band - any list of columns) and the region column as ``keys``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from forecasting.errors import (
    EmptyInputError,
    ForecastInputError,
    InsufficientHistoryError,
    InvalidKeyError,
    InvalidParameterError,
    InvalidQuantityError,
    InvalidTimestampError,
    UnknownColumnError,
)

Freq = Literal["W", "M"]
FloatArray = npt.NDArray[np.float64]

SEASON_LENGTH: dict[str, int] = {"W": 52, "M": 12}


def _check_freq(freq: str) -> Freq:
    if freq not in ("W", "M"):
        raise InvalidParameterError(f"frequency must be 'W' (weeks) or 'M' (months), got {freq!r}")
    return cast(Freq, freq)


def period_start(ts: pd.Series | pd.DatetimeIndex, freq: Freq) -> pd.DatetimeIndex:
    """Start of the period holding each timestamp: Monday 00:00 (ISO week) or the 1st."""
    idx = pd.DatetimeIndex(ts).normalize()
    if freq == "W":
        return idx - pd.to_timedelta(idx.day_of_week, unit="D")
    return pd.DatetimeIndex(idx.to_period("M").start_time)


def period_range(start: pd.Timestamp, periods: int, freq: Freq) -> pd.DatetimeIndex:
    """``periods`` consecutive period starts beginning at ``start`` (which must be a start)."""
    rule = "W-MON" if freq == "W" else "MS"
    return pd.date_range(start=start, periods=periods, freq=rule)


def is_period_start(ts: pd.Timestamp, freq: Freq) -> bool:
    return bool(period_start(pd.DatetimeIndex([ts]), freq)[0] == ts)


@dataclass(frozen=True)
class SeriesPanel:
    """Dense panel of non-negative series on a regular period grid.

    ``values[i, t]`` is the quantity of series ``i`` (identified by row ``i`` of ``keys``) in
    the period starting at ``periods[t]``.
    """

    values: FloatArray
    keys: pd.DataFrame
    periods: pd.DatetimeIndex
    freq: Freq

    def __post_init__(self) -> None:
        if self.values.ndim != 2:
            raise ValueError("values must be a 2-D array (series x periods)")
        if self.values.shape != (len(self.keys), len(self.periods)):
            raise ValueError(
                f"values shape {self.values.shape} does not match "
                f"{len(self.keys)} series x {len(self.periods)} periods"
            )

    @property
    def key_names(self) -> list[str]:
        return [str(c) for c in self.keys.columns]

    @property
    def n_series(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_periods(self) -> int:
        return int(self.values.shape[1])

    @property
    def season_length(self) -> int:
        return SEASON_LENGTH[self.freq]

    def future_periods(self, horizon: int) -> pd.DatetimeIndex:
        """The ``horizon`` period starts following the last period of the panel."""
        first = period_range(self.periods[-1], 2, self.freq)[1]
        return period_range(first, horizon, self.freq)

    def head(self, n_periods: int) -> SeriesPanel:
        """The first ``n_periods`` periods (the training window of an origin at that index)."""
        if not 0 < n_periods <= self.n_periods:
            raise InvalidParameterError(
                f"cannot keep {n_periods} of {self.n_periods} periods in the panel"
            )
        return SeriesPanel(
            values=self.values[:, :n_periods].copy(),
            keys=self.keys,
            periods=self.periods[:n_periods],
            freq=self.freq,
        )

    def select(self, rows: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> SeriesPanel:
        idx = np.arange(self.n_series)[rows]
        return SeriesPanel(
            values=self.values[idx].copy(),
            keys=self.keys.iloc[idx].reset_index(drop=True),
            periods=self.periods,
            freq=self.freq,
        )

    def active(self) -> SeriesPanel:
        """Only the series with some supply in the panel's window (series selection)."""
        return self.select(self.values.sum(axis=1) > 0)

    def to_frame(self) -> pd.DataFrame:
        """Long frame: key columns, ``period_start``, ``quantity``."""
        n, t = self.values.shape
        out = self.keys.loc[np.repeat(np.arange(n), t)].reset_index(drop=True)
        out["period_start"] = np.tile(self.periods.to_numpy(), n)
        out["quantity"] = self.values.reshape(-1)
        return out


def _row_label(frame: pd.DataFrame, pos: int) -> str:
    """Human row reference: data row number (1-based, header not counted)."""
    label = frame.index[pos]
    return f"row {int(label) + 1}" if isinstance(label, int | np.integer) else f"row {label}"


def validate_events(
    events: pd.DataFrame, *, time_col: str, qty_col: str, keys: Sequence[str]
) -> pd.DataFrame:
    """Check and normalise an events frame; returns columns ``keys + [time, qty]``.

    Raises a :class:`~forecasting.errors.ForecastInputError` subclass with a one-line message.
    """
    if not keys:
        raise InvalidParameterError("at least one key column is needed (e.g. --keys grade,region)")
    if len(set(keys)) != len(keys):
        raise InvalidParameterError(f"key columns are repeated: {', '.join(keys)}")
    wanted = [time_col, qty_col, *keys]
    missing = [c for c in wanted if c not in events.columns]
    if missing:
        have = ", ".join(map(str, events.columns)) or "none"
        raise UnknownColumnError(
            f"unknown column(s): {', '.join(missing)} (columns in the input: {have})"
        )
    if len(events) == 0:
        raise EmptyInputError("the events input has no rows")
    frame = events[list(dict.fromkeys(wanted))].reset_index(drop=True)

    raw_qty = frame[qty_col]
    qty = pd.to_numeric(raw_qty, errors="coerce").astype("float64")
    bad = qty.isna().to_numpy() | ~np.isfinite(qty.to_numpy(dtype=np.float64, na_value=np.nan))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise InvalidQuantityError(
            f"quantity column {qty_col!r} has a missing or non-numeric value "
            f"{raw_qty.iloc[pos]!r} at {_row_label(frame, pos)}"
        )
    neg = qty.to_numpy() < 0
    if neg.any():
        pos = int(np.flatnonzero(neg)[0])
        raise InvalidQuantityError(
            f"quantity column {qty_col!r} has a negative value {qty.iloc[pos]:g} "
            f"at {_row_label(frame, pos)}"
        )

    raw_time = frame[time_col]
    if pd.api.types.is_datetime64_any_dtype(raw_time):
        times = pd.to_datetime(raw_time, utc=True)
    else:
        try:
            times = pd.to_datetime(raw_time, errors="coerce", utc=True, format="mixed")
        except (ValueError, TypeError) as exc:  # pragma: no cover - pandas raises rarely here
            raise InvalidTimestampError(f"timestamp column {time_col!r}: {exc}") from None
    bad_t = times.isna().to_numpy()
    if bad_t.any():
        pos = int(np.flatnonzero(bad_t)[0])
        raise InvalidTimestampError(
            f"timestamp column {time_col!r} has an unparseable value "
            f"{raw_time.iloc[pos]!r} at {_row_label(frame, pos)}"
        )
    for k in keys:
        na = frame[k].isna().to_numpy()
        if na.any():
            pos = int(np.flatnonzero(na)[0])
            raise InvalidKeyError(f"key column {k!r} is empty at {_row_label(frame, pos)}")

    out = frame[list(keys)].copy()
    for k in keys:
        if not pd.api.types.is_string_dtype(out[k]) and out[k].dtype != object:
            continue
        out[k] = out[k].astype(str)
    out["__time"] = times.dt.tz_convert(None)
    out["__qty"] = qty.to_numpy()
    return out


def build_series(
    events: pd.DataFrame,
    *,
    time_col: str,
    qty_col: str,
    keys: list[str],
    freq: str,
    as_of: str | pd.Timestamp | None = None,
    start: str | pd.Timestamp | None = None,
) -> SeriesPanel:
    """Sum event quantities per key combination and period; fill empty periods with zeros.

    Periods are ISO weeks starting on Monday (``freq="W"``) or calendar months (``"M"``).
    ``as_of`` is the start of the first period to forecast: events at or after it are dropped
    and the panel ends with the period before it (default: the panel ends with the period of
    the last event). ``start`` optionally forces the first period (default: first event).
    Needs at least two periods of history.
    """
    f = _check_freq(freq)
    ev = validate_events(events, time_col=time_col, qty_col=qty_col, keys=keys)
    end_excl: pd.Timestamp | None = None
    if as_of is not None:
        end_excl = _parse_as_of(as_of, f)
        ev = ev[ev["__time"] < end_excl]
        if ev.empty:
            raise InsufficientHistoryError(f"no events before the as-of date {end_excl.date()}")
    ev = ev.assign(__period=period_start(ev["__time"], f))
    first = (
        ev["__period"].min()
        if start is None
        else period_start(pd.DatetimeIndex([pd.Timestamp(start)]), f)[0]
    )
    last = ev["__period"].max()
    if end_excl is not None:
        last = period_range(end_excl, 1, f)[0] - (
            pd.Timedelta(days=7) if f == "W" else pd.DateOffset(months=1)
        )
    ev = ev[ev["__period"] >= first]
    n_periods = len(pd.date_range(first, last, freq="W-MON" if f == "W" else "MS"))
    if n_periods < 2:
        raise InsufficientHistoryError(
            f"the history covers only {n_periods} {'week' if f == 'W' else 'month'}"
            f"{'' if n_periods == 1 else 's'}; at least 2 periods are needed to forecast"
        )
    periods = period_range(first, n_periods, f)
    grouped = ev.groupby([*keys, "__period"], sort=True, observed=True)["__qty"].sum().reset_index()
    key_frame = (
        grouped[list(keys)]
        .drop_duplicates()
        .sort_values(list(keys), kind="stable")
        .reset_index(drop=True)
    )
    row_of = key_frame.assign(__row=np.arange(len(key_frame)))
    grouped = grouped.merge(row_of, on=list(keys), how="left")
    rows = grouped["__row"].to_numpy(dtype=np.intp)
    cols = periods.get_indexer(pd.DatetimeIndex(grouped["__period"]))
    values = np.zeros((len(key_frame), n_periods), dtype=np.float64)
    np.add.at(values, (rows, cols), grouped["__qty"].to_numpy(dtype=np.float64))
    return SeriesPanel(values=values, keys=key_frame, periods=periods, freq=f)


def _parse_as_of(as_of: str | pd.Timestamp, freq: Freq) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(as_of)
    except (ValueError, TypeError):
        raise InvalidParameterError(
            f"as-of date {as_of!r} is not a date (use YYYY-MM-DD)"
        ) from None
    if ts.tzinfo is not None:
        ts = ts.tz_convert(None)
    if not is_period_start(ts, freq):
        prev = period_start(pd.DatetimeIndex([ts]), freq)[0]
        nxt = period_range(prev, 2, freq)[1]
        what = "a week start (Monday 00:00)" if freq == "W" else "a month start (day 1)"
        shown = ts.date() if ts == ts.normalize() else ts
        raise InvalidParameterError(
            f"as-of date {shown} is not {what}; use {prev.date()} or {nxt.date()}"
        )
    return ts


def read_events(path: str | Path, time_col: str, qty_col: str, keys: Sequence[str]) -> pd.DataFrame:
    """Read an events file (CSV, or Parquet by ``.parquet``/``.pq`` suffix) and validate it.

    Returns the file's ``time_col``, ``qty_col`` and ``keys`` columns unchanged (validated);
    pass it to :func:`build_series`.
    """
    p = Path(path)
    if not p.exists():
        raise EmptyInputError(f"events file {str(p)!r} does not exist")
    if p.is_dir():
        raise EmptyInputError(f"events path {str(p)!r} is a directory, not a file")
    if p.stat().st_size == 0:
        raise EmptyInputError(f"events file {str(p)!r} is empty")
    is_parquet = p.suffix.lower() in (".parquet", ".pq")
    try:
        if is_parquet:
            frame = pd.read_parquet(p)
        else:
            frame = pd.read_csv(p, dtype=dict.fromkeys(keys, str), keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise EmptyInputError(f"events file {str(p)!r} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        kind = "Parquet" if is_parquet else "CSV"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ForecastInputError(
            f"events file {str(p)!r} is not a readable {kind} file: {first}"
        ) from None
    if len(frame) == 0 and all(c in frame.columns for c in [time_col, qty_col, *keys]):
        raise EmptyInputError(f"events file {str(p)!r} has a header but no rows")
    validate_events(frame, time_col=time_col, qty_col=qty_col, keys=keys)
    return frame
