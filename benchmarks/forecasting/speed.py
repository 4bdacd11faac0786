"""Speed benchmark: training on a synthetic intermittent panel (default 10,000 x 156 weeks).

    .venv/bin/python -m benchmarks.forecasting.speed
    .venv/bin/python -m benchmarks.forecasting.speed --series 10000 --weeks 156 --backtest-origins 3

Times: events -> series, default-model fit (incl. conformal calibration) + predict, and
optionally the full ``train_and_forecast`` (backtest + fit + forecast).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.forecasting.datasets import synthetic_panel_events
from forecasting.dataset import build_series
from forecasting.models import default_model
from forecasting.train import train_and_forecast


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--weeks", type=int, default=156)
    ap.add_argument("--horizon", type=int, default=12)
    ap.add_argument("--backtest-origins", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()

    events = synthetic_panel_events(args.series, args.weeks)
    t0 = time.perf_counter()
    panel = build_series(events, time_col="ts", qty_col="qty", keys=["grade", "region"], freq="W")
    t_build = time.perf_counter() - t0
    print(
        f"{len(events)} events -> {panel.n_series} series x {panel.n_periods} weeks "
        f"({(panel.values == 0).mean():.1%} zero) in {t_build:.1f} s"
    )
    t0 = time.perf_counter()
    model = default_model(args.horizon).fit(panel, horizon=args.horizon)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    fc = model.predict(args.horizon)
    t_pred = time.perf_counter() - t0
    print(f"default model fit (incl. calibration) {t_fit:.1f} s, predict {t_pred:.2f} s")
    result = {
        "series": panel.n_series,
        "weeks": panel.n_periods,
        "horizon": args.horizon,
        "build_seconds": t_build,
        "fit_seconds": t_fit,
        "predict_seconds": t_pred,
        "forecast_rows": int(fc.mean.size),
    }
    if args.backtest_origins:
        t0 = time.perf_counter()
        train_and_forecast(panel, args.horizon, backtest_origins=args.backtest_origins)
        result["train_and_forecast_seconds"] = time.perf_counter() - t0
        print(
            f"train_and_forecast with {args.backtest_origins}-origin backtest "
            f"{result['train_and_forecast_seconds']:.1f} s"
        )
    total = t_build + t_fit + t_pred
    print(
        f"total build + fit + predict {total:.1f} s -> target < 120 s: "
        f"{'PASS' if total < 120 else 'FAIL'}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
