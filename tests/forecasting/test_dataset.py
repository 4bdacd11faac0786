from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.dataset import build_series, read_events
from forecasting.errors import (
    EmptyInputError,
    ForecastInputError,
    InsufficientHistoryError,
    InvalidParameterError,
    InvalidQuantityError,
    InvalidTimestampError,
    UnknownColumnError,
)

KEYS = ["grade", "region"]


def _ev(rows: list[tuple[str, float, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ts", "qty", "grade", "region"])


def test_weekly_series_start_monday_and_zero_fill() -> None:
    ev = _ev(
        [
            ("2024-01-03 10:00", 5, "PP", "N"),  # Wednesday -> week of Mon 2024-01-01
            ("2024-01-07 23:59", 2, "PP", "N"),  # Sunday -> same ISO week
            ("2024-01-22", 4, "PP", "N"),  # Monday, two weeks later
            ("2024-01-10", 1, "PE", "S"),
        ]
    )
    panel = build_series(ev, time_col="ts", qty_col="qty", keys=KEYS, freq="W")
    assert list(panel.periods) == list(
        pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"])
    )
    assert all(p.weekday() == 0 for p in panel.periods)
    frame = panel.keys.assign(total=panel.values.sum(axis=1))
    rows = {(r.grade, r.region): i for i, r in enumerate(panel.keys.itertuples())}
    np.testing.assert_array_equal(panel.values[rows[("PP", "N")]], [7, 0, 0, 4])
    np.testing.assert_array_equal(panel.values[rows[("PE", "S")]], [0, 1, 0, 0])
    assert frame["total"].sum() == 12


def test_monthly_series_and_as_of_excludes_later_events() -> None:
    ev = _ev(
        [
            ("2024-01-31", 1, "PP", "N"),
            ("2024-02-01", 2, "PP", "N"),
            ("2024-04-15", 9, "PP", "N"),  # at/after as-of: must be ignored
            ("2024-04-01 00:00", 9, "PP", "N"),
        ]
    )
    panel = build_series(ev, time_col="ts", qty_col="qty", keys=KEYS, freq="M", as_of="2024-04-01")
    assert list(panel.periods) == list(pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]))
    np.testing.assert_array_equal(panel.values[0], [1, 2, 0])
    assert panel.future_periods(2)[0] == pd.Timestamp("2024-04-01")


def test_as_of_must_be_period_start() -> None:
    ev = _ev([("2024-01-03", 1, "PP", "N"), ("2024-01-20", 1, "PP", "N")])
    with pytest.raises(InvalidParameterError, match=r"not a week start.*2024-01-29"):
        build_series(ev, time_col="ts", qty_col="qty", keys=KEYS, freq="W", as_of="2024-01-31")


def test_one_period_history_is_rejected() -> None:
    ev = _ev([("2024-01-01", 1, "PP", "N"), ("2024-01-05", 3, "PE", "N")])
    with pytest.raises(InsufficientHistoryError, match="only 1 week"):
        build_series(ev, time_col="ts", qty_col="qty", keys=KEYS, freq="W")


def test_tz_aware_timestamps_are_converted_to_utc() -> None:
    ev = _ev([("2024-01-08T00:30:00+02:00", 1, "PP", "N"), ("2024-01-15", 1, "PP", "N")])
    panel = build_series(ev, time_col="ts", qty_col="qty", keys=KEYS, freq="W")
    # 00:30 +02:00 on Monday is Sunday 22:30 UTC -> week of 2024-01-01
    assert panel.periods[0] == pd.Timestamp("2024-01-01")


def _write(tmp_path: Path, text: str, name: str = "ev.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_read_events_empty_file(tmp_path: Path) -> None:
    with pytest.raises(EmptyInputError, match="is empty"):
        read_events(_write(tmp_path, ""), "ts", "qty", KEYS)


def test_read_events_header_only(tmp_path: Path) -> None:
    with pytest.raises(EmptyInputError, match="no rows"):
        read_events(_write(tmp_path, "ts,qty,grade,region\n"), "ts", "qty", KEYS)


def test_read_events_unknown_columns_are_named(tmp_path: Path) -> None:
    p = _write(tmp_path, "ts,qty,grade\n2024-01-01,1,PP\n")
    with pytest.raises(
        UnknownColumnError,
        match=r"unknown column\(s\): region.*columns in the input: ts, qty, grade",
    ):
        read_events(p, "ts", "qty", KEYS)


def test_read_events_negative_quantity_names_row(tmp_path: Path) -> None:
    p = _write(tmp_path, "ts,qty,grade,region\n2024-01-01,1,PP,N\n2024-01-02,-3,PP,N\n")
    with pytest.raises(InvalidQuantityError, match="negative value -3 at row 2"):
        read_events(p, "ts", "qty", KEYS)


def test_read_events_non_numeric_quantity_names_row(tmp_path: Path) -> None:
    p = _write(
        tmp_path, "ts,qty,grade,region\n2024-01-01,1,PP,N\n2024-01-02,1,PP,N\n2024-01-09,ten,PP,N\n"
    )
    with pytest.raises(InvalidQuantityError, match="non-numeric value 'ten' at row 3"):
        read_events(p, "ts", "qty", KEYS)


def test_read_events_bad_timestamp_names_row(tmp_path: Path) -> None:
    p = _write(tmp_path, "ts,qty,grade,region\n2024-01-01,1,PP,N\nyesterday,2,PP,N\n")
    with pytest.raises(InvalidTimestampError, match="unparseable value 'yesterday' at row 2"):
        read_events(p, "ts", "qty", KEYS)


def test_read_events_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ForecastInputError, match="does not exist"):
        read_events(tmp_path / "nope.csv", "ts", "qty", KEYS)


def test_read_events_parquet_round_trip(tmp_path: Path) -> None:
    ev = _ev([("2024-01-01", 1, "PP", "N"), ("2024-01-09", 2, "PP", "N")])
    ev["ts"] = pd.to_datetime(ev["ts"])
    p = tmp_path / "ev.parquet"
    ev.to_parquet(p)
    frame = read_events(p, "ts", "qty", KEYS)
    panel = build_series(frame, time_col="ts", qty_col="qty", keys=KEYS, freq="W")
    np.testing.assert_array_equal(panel.values, [[1, 2]])


def test_errors_are_value_errors() -> None:
    assert issubclass(ForecastInputError, ValueError)


def test_read_events_corrupt_parquet(tmp_path: Path) -> None:
    p = tmp_path / "ev.parquet"
    p.write_bytes(b"this is not parquet")
    with pytest.raises(ForecastInputError, match="not a readable Parquet file"):
        read_events(p, "ts", "qty", KEYS)
