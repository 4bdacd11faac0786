from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest

from forecasting.cli import main, register
from tests.forecasting.conftest import make_events

BASE = ["--time-col", "posted_at", "--qty-col", "tonnes", "--keys", "grade,region", "--freq", "W"]


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    p = tmp_path / "events.csv"
    make_events(n_series=4, n_weeks=30).to_csv(p, index=False)
    return p


def test_backtest_json(csv_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "backtest",
            "--events",
            str(csv_file),
            *BASE,
            "--horizon",
            "3",
            "--origins",
            "2",
            "--methods",
            "naive,zero,tsb,croston",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"naive", "zero", "tsb", "croston"}
    for metrics in out.values():
        for key in ("rmsse_rel_naive", "spl_rel_naive", "coverage_80", "width_80", "fit_seconds"):
            assert key in metrics
    assert out["naive"]["rmsse_rel_naive"] == pytest.approx(1.0)
    assert 0.0 <= out["tsb"]["coverage_80"] <= 1.0


def test_backtest_table_via_forecast_group(
    csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "forecast",
            "backtest",
            "--events",
            str(csv_file),
            *BASE,
            "--horizon",
            "2",
            "--origins",
            "1",
            "--methods",
            "naive,imapa",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "rmsse_rel_naive" in out
    assert "imapa" in out
    assert "horizon 2" in out


def test_predict_writes_csv_and_respects_as_of(tmp_path: Path, csv_file: Path) -> None:
    out = tmp_path / "fc.csv"
    code = main(
        [
            "predict",
            "--events",
            str(csv_file),
            *BASE,
            "--horizon",
            "3",
            "--as-of",
            "2024-06-03",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    fc = pd.read_csv(out)
    assert list(fc.columns) == [
        "grade",
        "region",
        "period_start",
        "mean",
        "p10",
        "p50",
        "p90",
        "point",
    ]
    assert sorted(fc["period_start"].unique()) == ["2024-06-03", "2024-06-10", "2024-06-17"]
    assert (fc["p10"] <= fc["p50"]).all()
    assert (fc["p50"] <= fc["p90"]).all()
    assert (fc[["mean", "p10", "p50", "p90", "point"]] >= 0).all().all()
    # the RMSSE point forecast lies between 0 and the mean (forecasting/point.py)
    assert (fc["point"] <= fc["mean"] + 1e-9).all()

    # events at/after --as-of must not change anything
    extra = pd.read_csv(csv_file)
    later = extra.head(5).assign(posted_at="2024-06-05T10:00:00", tonnes=1e6)
    p2 = tmp_path / "more.csv"
    pd.concat([extra, later]).to_csv(p2, index=False)
    out2 = tmp_path / "fc2.csv"
    assert (
        main(
            [
                "predict",
                "--events",
                str(p2),
                *BASE,
                "--horizon",
                "3",
                "--as-of",
                "2024-06-03",
                "--out",
                str(out2),
            ]
        )
        == 0
    )
    pd.testing.assert_frame_equal(fc, pd.read_csv(out2))


def test_predict_parquet_default_as_of(tmp_path: Path) -> None:
    ev = make_events(n_series=3, n_weeks=20)
    ev["posted_at"] = pd.to_datetime(ev["posted_at"])
    src = tmp_path / "ev.parquet"
    ev.to_parquet(src)
    out = tmp_path / "fc.csv"
    assert main(["predict", "--events", str(src), *BASE, "--horizon", "2", "--out", str(out)]) == 0
    fc = pd.read_csv(out, parse_dates=["period_start"])
    last_week = ev["posted_at"].max().normalize() - pd.Timedelta(
        days=ev["posted_at"].max().weekday()
    )
    assert fc["period_start"].min() == last_week + pd.Timedelta(weeks=1)
    assert (fc["period_start"].dt.day_of_week == 0).all()


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("", [], "is empty"),
        ("posted_at,tonnes,grade,region\n", [], "no rows"),
        ("posted_at,tonnes,grade\n2024-01-01,1,A\n", [], "unknown column(s): region"),
        (
            "posted_at,tonnes,grade,region\n2024-01-01,1,A,N\n2024-01-09,-2,A,N\n",
            [],
            "negative value -2 at row 2",
        ),
        (
            "posted_at,tonnes,grade,region\n2024-01-01,abc,A,N\n",
            [],
            "non-numeric value 'abc' at row 1",
        ),
        ("posted_at,tonnes,grade,region\n2024-01-01,1,A,N\nnot-a-date,1,A,N\n", [], "unparseable"),
        ("posted_at,tonnes,grade,region\n2024-01-01,1,A,N\n2024-01-03,1,A,N\n", [], "only 1 week"),
        (
            "posted_at,tonnes,grade,region\n2024-01-01,1,A,N\n2024-01-09,1,A,N\n",
            ["--as-of", "2024-01-10"],
            "not a week start",
        ),
    ],
)
def test_bad_input_exit_2_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, extra: list[str], message: str
) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(content)
    code = main(
        [
            "predict",
            "--events",
            str(p),
            *BASE,
            "--horizon",
            "2",
            *extra,
            "--out",
            str(tmp_path / "o.csv"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert captured.err.count("\n") == 1
    assert "Traceback" not in captured.err
    assert not (tmp_path / "o.csv").exists()


def test_usage_errors_exit_2_one_line(csv_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["backtest", "--events", str(csv_file), *BASE, "--horizon", "0", "--origins", "2"])
    err = capsys.readouterr().err
    assert code == 2
    assert "positive integer" in err
    assert err.count("\n") == 1
    code = main(
        [
            "backtest",
            "--events",
            str(csv_file),
            *BASE[:-2],
            "--freq",
            "D",
            "--horizon",
            "2",
            "--origins",
            "1",
        ]
    )
    assert code == 2


def test_backtest_too_short_history(csv_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["backtest", "--events", str(csv_file), *BASE, "--horizon", "12", "--origins", "5"])
    err = capsys.readouterr().err
    assert code == 2
    assert "too few" in err


def test_register_adds_forecast_group(csv_file: Path, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="recyclate")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    reg = tmp_path / "models"
    args = parser.parse_args(
        [
            "forecast",
            "train",
            "--events",
            str(csv_file),
            *BASE,
            "--horizon",
            "2",
            "--registry",
            str(reg),
            "--origins",
            "1",
            "--no-progress",
        ]
    )
    assert args.command == "forecast"
    assert args.func(args) == 0
    assert (reg / "v0001" / "metadata.json").exists()


def test_predict_with_known_supply_floor(tmp_path: Path, csv_file: Path) -> None:
    out = tmp_path / "fc.csv"
    base = [
        "predict",
        "--events",
        str(csv_file),
        *BASE,
        "--horizon",
        "2",
        "--as-of",
        "2024-06-03",
        "--out",
        str(out),
    ]
    assert main(base) == 0
    plain = pd.read_csv(out)
    known = tmp_path / "known.csv"
    first = plain.iloc[0]
    pd.DataFrame(
        {
            "grade": [first["grade"]],
            "region": [first["region"]],
            "period_start": ["2024-06-10"],
            "quantity": [1000],
        }
    ).to_csv(known, index=False)
    assert main([*base, "--known-supply", str(known)]) == 0
    floored = pd.read_csv(out)
    hit = (
        (floored["grade"] == first["grade"])
        & (floored["region"] == first["region"])
        & (floored["period_start"] == "2024-06-10")
    )
    assert (floored.loc[hit, ["mean", "p10", "p50", "p90"]] == 1000).all().all()
    # values compared, not dtypes: with %.6g a column of whole numbers reads back as int
    pd.testing.assert_frame_equal(floored[~hit], plain[~hit], check_dtype=False)
