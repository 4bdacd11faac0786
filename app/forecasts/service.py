"""Serving precomputed forecasts: the latest run per frequency, filtered, one page of series."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.forecasts.models import ForecastRun, ForecastValue
from app.kit.pagination import SortKey, decode_cursor, encode_cursor
from app.kit.problems import ProblemError, not_found

KEY_FIELDS = ("family", "polymer", "form", "dql_band", "region")
SERIES_ORDER = SortKey("series", (ForecastValue.series_key,), descending=False)


def quality_of(run: ForecastRun) -> dict[str, float | None]:
    bt = (run.metadata_ or {}).get("backtest") or {}
    metrics = (bt.get("metrics") or {}).get(run.method) or {}
    return {
        "coverage_80": metrics.get("coverage_80"),
        "rmsse_rel_naive": metrics.get("rmsse_rel_naive"),
        "spl_rel_naive": metrics.get("spl_rel_naive"),
    }


def latest_run(session: Session, freq: str, version: str | None = None) -> ForecastRun:
    stmt = select(ForecastRun).where(ForecastRun.freq == freq)
    if version:
        stmt = stmt.where(ForecastRun.version == version)
    newest = (ForecastRun.created_at.desc(), ForecastRun.id.desc())
    run = session.scalar(stmt.order_by(*newest).limit(1))
    if run is None:
        if version:
            raise not_found("Forecast model")
        raise ProblemError(
            404,
            "no_forecasts",
            f"No forecasts for freq={freq} yet: run `recyclate forecast train`.",
            title="No forecasts yet",
        )
    return run


@dataclass(frozen=True)
class SeriesPage:
    run: ForecastRun
    series: list[tuple[dict[str, str | None], list[ForecastValue]]]
    next_cursor: str | None


def page(
    session: Session,
    run: ForecastRun,
    filters: dict[str, str | None],
    *,
    horizon: int | None,
    cursor: str | None,
    limit: int,
) -> SeriesPage:
    first_period = session.scalar(
        select(func.min(ForecastValue.period_start)).where(ForecastValue.run_id == run.id)
    )
    # Every series has a value at the run's first period: one index entry per series.
    conds: list[Any] = [
        ForecastValue.run_id == run.id,
        ForecastValue.period_start == first_period,
    ]
    for name, value in filters.items():
        if value is not None:
            conds.append(getattr(ForecastValue, name) == value)
    keys_stmt = select(ForecastValue.series_key).where(*conds)
    if cursor:
        (after,) = decode_cursor(SERIES_ORDER, cursor)
        keys_stmt = keys_stmt.where(ForecastValue.series_key > str(after))
    keys = list(session.scalars(keys_stmt.order_by(ForecastValue.series_key).limit(limit + 1)))
    has_more = len(keys) > limit
    keys = keys[:limit]
    rows: list[ForecastValue] = []
    if keys:
        rows = list(
            session.scalars(
                select(ForecastValue)
                .where(ForecastValue.run_id == run.id, ForecastValue.series_key.in_(keys))
                .order_by(ForecastValue.series_key, ForecastValue.period_start)
            )
        )
    grouped: dict[str, list[ForecastValue]] = {k: [] for k in keys}
    for row in rows:
        grouped[row.series_key].append(row)
    out = []
    for k in keys:
        vals = grouped[k][: horizon or None]
        first = vals[0] if vals else None
        key = {f: getattr(first, f) for f in KEY_FIELDS if f in run.keys} if first else {}
        out.append((key, vals))
    next_cursor = encode_cursor(SERIES_ORDER, [keys[-1]]) if has_more and keys else None
    return SeriesPage(run, out, next_cursor)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """CSV cell safe to open in a spreadsheet (no formula injection)."""
    text = "" if value is None else str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def to_csv(result: SeriesPage, key_fields: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [*key_fields, "period_start", "mean", "p10", "p50", "p90", "point", "unit", "model_version"]
    )
    for key, values in result.series:
        for v in values:
            w.writerow(
                [_cell(key.get(f)) for f in key_fields]
                + [
                    v.period_start.isoformat(),
                    f"{v.mean:.3f}",
                    f"{v.p10:.3f}",
                    f"{v.p50:.3f}",
                    f"{v.p90:.3f}",
                    "" if v.point is None else f"{v.point:.3f}",
                    "kg",
                    _cell(result.run.version),
                ]
            )
    return buf.getvalue()


def fan_chart_svg(key: dict[str, str | None], values: Sequence[ForecastValue], version: str) -> str:
    """A small self-contained SVG: P10-P90 band, P50 line, mean dots, and the point forecast
    (the value the backtest's RMSSE scores) as a dashed line where the run has one."""
    if not values:
        raise ProblemError(404, "not_found", "No forecast for this series")
    w, h, pad = 640, 300, 48
    top = max(max(v.p90, v.mean, v.point or 0.0) for v in values) or 1.0
    n = len(values)

    def x(i: int) -> float:
        return pad + (w - 2 * pad) * (i / max(n - 1, 1))

    def y(val: float) -> float:
        return h - pad - (h - 2 * pad) * (val / top)

    band = " ".join(f"{x(i):.1f},{y(v.p90):.1f}" for i, v in enumerate(values))
    band += " " + " ".join(
        f"{x(i):.1f},{y(v.p10):.1f}" for i, v in reversed(list(enumerate(values)))
    )
    median = " ".join(f"{x(i):.1f},{y(v.p50):.1f}" for i, v in enumerate(values))
    dots = "".join(
        f'<circle cx="{x(i):.1f}" cy="{y(v.mean):.1f}" r="2.5" fill="#1f4e79"/>'
        for i, v in enumerate(values)
    )
    points = [(i, v.point) for i, v in enumerate(values) if v.point is not None]
    point_line = (
        '<polyline points="'
        + " ".join(f"{x(i):.1f},{y(p):.1f}" for i, p in points)
        + '" fill="none" stroke="#d95f02" stroke-width="1.5" stroke-dasharray="5,3"/>'
        if points
        else ""
    )
    legend = "band: P10-P90 · line: P50 · dots: mean" + (
        " · dashed: point forecast" if points else ""
    )
    title = " / ".join(str(v) for v in key.values() if v) or "series"
    labels = "".join(
        f'<text x="{x(i):.1f}" y="{h - pad + 16}" font-size="9" text-anchor="middle">'
        f"{v.period_start.isoformat()[5:]}</text>"
        for i, v in enumerate(values)
        if i % max(1, n // 6) == 0
    )
    from html import escape

    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="sans-serif">'
        f'<rect width="{w}" height="{h}" fill="white"/>'
        f'<text x="{pad}" y="24" font-size="13">'
        f"{escape(title)} (kg, model {escape(version)})</text>"
        f'<polygon points="{band}" fill="#9ecae1" fill-opacity="0.6" stroke="none"/>'
        f'<polyline points="{median}" fill="none" stroke="#08519c" stroke-width="2"/>'
        f"{dots}{point_line}"
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#555"/>'
        f'<text x="{pad - 4}" y="{y(top):.1f}" font-size="9" text-anchor="end">{top:,.0f}</text>'
        f'<text x="{pad - 4}" y="{h - pad}" font-size="9" text-anchor="end">0</text>'
        f"{labels}"
        f'<text x="{w - pad}" y="24" font-size="10" text-anchor="end">'
        f"{legend}</text></svg>"
    )
