"""``forecast`` command group: ``backtest``, ``predict`` and ``train``.

The app's ``recyclate`` console script calls :func:`register` with its argparse subparsers;
``python -m forecasting ...`` runs the same commands standalone through :func:`main`
(``python -m forecasting forecast backtest ...`` or, shorter, ``python -m forecasting
backtest ...``). Bad input exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from forecasting.errors import ForecastInputError, InvalidParameterError

if TYPE_CHECKING:  # heavy imports (pandas, scikit-learn) load only when a command runs
    import pandas as pd

    from forecasting.dataset import SeriesPanel

PlatformCommand = Callable[[argparse.Namespace, TextIO, TextIO], int]
METHOD_NAMES = (
    "naive",
    "zero",
    "seasonal_naive",
    "croston",
    "croston_sba",
    "tsb",
    "adida",
    "imapa",
    "global_gbm",
    "default",
)

DEFAULT_BACKTEST_METHODS = METHOD_NAMES


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (no usage dump), exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {self.prog}: {message}\n")
        raise SystemExit(2)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _key_list(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        raise argparse.ArgumentTypeError("expected comma-separated column names, e.g. grade,region")
    return keys


def _add_input_args(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("--events", required=required, type=Path, help="CSV or Parquet events file")
    p.add_argument("--time-col", required=required, help="timestamp column")
    p.add_argument("--qty-col", required=required, help="quantity column (non-negative numbers)")
    p.add_argument(
        "--keys", required=required, type=_key_list, help="key columns, e.g. grade,region"
    )
    p.add_argument(
        "--freq", required=required, choices=["W", "M"], help="W = ISO weeks, M = months"
    )
    p.add_argument("--horizon", required=required, type=_positive_int, help="periods to forecast")
    p.add_argument(
        "--as-of",
        default=None,
        help="start of the first period to forecast (YYYY-MM-DD, a Monday for W); "
        "nothing at or after it is used (default: the period after the last event)",
    )


def _add_known_supply_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--known-supply",
        type=Path,
        default=None,
        help="CSV of committed future supply: the key columns, period_start, quantity",
    )
    p.add_argument(
        "--known-supply-mode",
        choices=["floor", "add"],
        default="floor",
        help="floor: forecast >= commitment (history includes it); add: on top of the forecast",
    )


def _read_known_supply(path: Path | None) -> pd.DataFrame | None:
    import pandas as pd

    if path is None:
        return None
    if not path.exists() or path.stat().st_size == 0:
        raise ForecastInputError(f"known supply file {str(path)!r} is missing or empty")
    try:
        frame = pd.read_csv(path, dtype=str)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise ForecastInputError(
            f"known supply file {str(path)!r} is not readable: {exc}"
        ) from None
    if "period_start" in frame.columns:
        stamps = pd.to_datetime(frame["period_start"], errors="coerce")
        if stamps.isna().any():
            pos = int(stamps.isna().to_numpy().argmax())
            raise ForecastInputError(
                f"known supply file has an unparseable period_start at row {pos + 1}"
            )
        frame["period_start"] = stamps
    return frame


def register(
    subparsers: Any,
    *,
    platform_train: PlatformCommand | None = None,
    platform_import: PlatformCommand | None = None,
) -> argparse.ArgumentParser:
    """Add the ``forecast`` command group to an argparse subparsers object.

    After parsing, call ``args.func(args)`` (that is :func:`run`) to execute the command; it
    returns the exit status. The app passes ``platform_train`` (``train`` without ``--events``
    trains on the platform database) and ``platform_import`` (adds ``import-history``); this
    package stays free of the app's web and database code.
    """
    group: argparse.ArgumentParser = subparsers.add_parser(
        "forecast", help="supply forecasting: backtest, predict, train", description=__doc__
    )
    group.set_defaults(func=run)
    sub = group.add_subparsers(dest="forecast_command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    bt = sub.add_parser("backtest", help="rolling-origin backtest, metrics per method")
    _add_input_args(bt)
    bt.add_argument("--origins", required=True, type=_positive_int, help="number of origins")
    bt.add_argument(
        "--methods",
        type=_key_list,
        default=list(DEFAULT_BACKTEST_METHODS),
        help=f"comma-separated methods (default: all): {', '.join(METHOD_NAMES)}",
    )
    bt.add_argument("--json", action="store_true", help="print metrics as JSON")
    bt.set_defaults(forecast_func=_cmd_backtest)

    pr = sub.add_parser("predict", help="fit the default model on the file and write forecasts")
    _add_input_args(pr)
    pr.add_argument("--out", required=True, type=Path, help="output CSV file")
    _add_known_supply_args(pr)
    pr.set_defaults(forecast_func=_cmd_predict)

    tr = sub.add_parser(
        "train",
        help="backtest, fit and save a versioned model artifact"
        + (
            " (from --events, or the platform's history when --events is absent)"
            if platform_train
            else ""
        ),
    )
    _add_input_args(tr, required=platform_train is None)
    tr.add_argument(
        "--registry",
        required=platform_train is None,
        type=Path,
        help="artifact directory (platform mode: RECYCLATE_MODEL_DIR)",
    )
    tr.add_argument("--origins", type=_positive_int, default=3, help="backtest origins")
    tr.add_argument("--out", type=Path, default=None, help="also write forecasts to this CSV")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _add_known_supply_args(tr)
    tr.set_defaults(forecast_func=_cmd_train, platform_train=platform_train)
    if platform_import is not None:
        ih = sub.add_parser("import-history", help="load an events file as platform history")
        ih.add_argument("--events", required=True, type=Path, help="CSV or Parquet events file")
        ih.add_argument("--time-col", required=True, help="timestamp column")
        ih.add_argument("--qty-col", required=True, help="quantity column (kg)")
        ih.add_argument(
            "--keys",
            required=True,
            type=_key_list,
            help="key columns named like the platform's: family, polymer, form, dql_band, region",
        )
        ih.set_defaults(forecast_func=platform_import)
    return group


def _panel(args: argparse.Namespace) -> SeriesPanel:
    from forecasting.dataset import build_series, read_events

    events = read_events(args.events, args.time_col, args.qty_col, args.keys)
    return build_series(
        events,
        time_col=args.time_col,
        qty_col=args.qty_col,
        keys=args.keys,
        freq=args.freq,
        as_of=args.as_of,
    )


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else round(x, 6)


def _cmd_backtest(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from forecasting.backtest import rolling_origin
    from forecasting.models import METHODS, make_method

    panel = _panel(args)
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        raise InvalidParameterError(
            f"unknown method(s): {', '.join(unknown)}; choose from {', '.join(METHODS)}"
        )
    methods = [make_method(m, args.horizon) for m in args.methods]
    report = rolling_origin(panel, methods, args.horizon, args.origins)
    if args.json:
        payload = {
            name: {k: _json_float(v) for k, v in metrics.items()}
            for name, metrics in report.metrics.items()
        }
        out.write(json.dumps(payload, indent=2) + "\n")
    else:
        out.write(report.to_table() + "\n")
    return 0


def _write_forecasts(frame: pd.DataFrame, path: Path) -> None:
    import pandas as pd

    frame = frame.copy()
    frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.strftime("%Y-%m-%d")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.6g")


def _cmd_predict(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from forecasting.known_supply import apply_known_supply
    from forecasting.models import default_model

    panel = _panel(args).active()
    known = _read_known_supply(args.known_supply)
    model = default_model(args.horizon).fit(panel, horizon=args.horizon)
    forecast = model.predict(args.horizon)
    if known is not None:
        forecast = apply_known_supply(forecast, known, args.known_supply_mode).forecast
    frame = forecast.to_frame()
    _write_forecasts(frame, args.out)
    err.write(
        f"wrote {len(frame)} rows ({panel.n_series} series x {args.horizon} periods "
        f"from {frame['period_start'].min().date()}) to {args.out}\n"
    )
    return 0


class ProgressBar:
    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width

    def __call__(self, done: int, total: int, message: str) -> None:
        frac = done / total if total else 1.0
        filled = round(self.width * frac)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} {message[:40]:<40}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _cmd_train(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from forecasting import registry
    from forecasting.train import train_and_forecast

    if args.events is None and getattr(args, "platform_train", None) is not None:
        return int(args.platform_train(args, out, err))
    missing = [
        flag
        for flag, value in (
            ("--events", args.events),
            ("--time-col", args.time_col),
            ("--qty-col", args.qty_col),
            ("--keys", args.keys),
            ("--freq", args.freq),
            ("--horizon", args.horizon),
            ("--registry", args.registry),
        )
        if value is None
    ]
    if missing:
        raise InvalidParameterError(f"training from a file needs {', '.join(missing)}")

    panel = _panel(args)
    progress = None if args.no_progress else ProgressBar(err)
    artifact, frame = train_and_forecast(
        panel,
        args.horizon,
        progress=progress,
        backtest_origins=args.origins,
        known_supply=_read_known_supply(args.known_supply),
        known_supply_mode=args.known_supply_mode,
    )
    saved = registry.save(artifact, args.registry)
    if args.out is not None:
        _write_forecasts(frame, args.out)
    out.write(
        json.dumps(
            {
                "version": saved.version,
                "path": str(saved.path),
                "series_count": saved.metadata["series_count"],
                "training_window": saved.metadata["training_window"],
            }
        )
        + "\n"
    )
    return 0


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run a parsed ``forecast`` command; input errors -> one line on stderr, exit code 2."""
    o = out or sys.stdout
    e = err or sys.stderr
    try:
        return int(args.forecast_func(args, o, e))
    except ForecastInputError as exc:
        e.write(f"error: {exc}\n")
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: ``python -m forecasting [forecast] COMMAND ...``."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in ("backtest", "predict", "train"):
        args_list = ["forecast", *args_list]
    parser = _Parser(prog="python -m forecasting", description="Supply forecasting commands")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    register(subparsers)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # usage error (already reported) or --help
        return int(exc.code) if isinstance(exc.code, int) else 2
    return run(args)
