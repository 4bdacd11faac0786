"""Train forecasts from the platform's own history and store them for serving.

History = every posted lot (quantity at its posting time) plus imported supply history.
Committed recurring streams on active lots enter as known future supply ("floor" mode: the
forecast is at least what sellers have committed). The pure `forecasting` package does the
modelling; this module only moves data between the database and it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.forecasts.models import ForecastRun, ForecastValue, SupplyHistory
from app.kit.db import Database, utcnow
from app.kit.ids import new_id
from app.lots.models import Lot, LotStatus
from app.orders.models import Order

KEY_COLUMNS = ("family", "polymer", "form", "dql_band", "region")
DEFAULT_KEYS = ("family", "polymer", "dql_band", "region")
MISSING = "-"

Progress = Callable[[int, int, str], None]
_STEP_DAYS = {"weekly": 7, "biweekly": 14, "monthly": 30, "quarterly": 91}


def dql_band(level: int | None) -> str:
    if level is None or level <= 1:
        return "0-1"
    return "2" if level == 2 else "3-4"


def region_of(region_code: str | None, country: str | None) -> str:
    """NUTS-1 (e.g. DEA = Nordrhein-Westfalen) for aggregation; the country when unknown."""
    if region_code:
        return region_code[:3]
    return country or MISSING


def check_keys(keys: Sequence[str]) -> list[str]:
    unknown = [k for k in keys if k not in KEY_COLUMNS]
    if unknown or not keys:
        raise ValueError(f"unknown grade key(s) {unknown}; choose from {', '.join(KEY_COLUMNS)}")
    return list(dict.fromkeys(keys))


Measure = Literal["posted", "delivered"]


def platform_events(session: Session, measure: Measure = "posted") -> pd.DataFrame:
    """One row per supply event: occurred_at, quantity_kg and every key column.

    ``posted`` (default): each lot's quantity when it was posted (what was offered) plus
    imported history. ``delivered``: what delivered orders actually moved, at delivery time,
    keyed by their lot's grade and region (the realised flow; imported history is offer data,
    so it is left out).
    """
    lot_cols = (Lot.family, Lot.polymer, Lot.form, Lot.dql, Lot.region_code, Lot.country)
    if measure == "delivered":
        stmt = (
            select(Order.delivered_at.label("at"), Order.delivered_kg.label("kg"), *lot_cols)
            .join(Lot, Lot.id == Order.lot_id)
            .where(Order.delivered_at.is_not(None), Order.delivered_kg.is_not(None))
        )
    else:
        stmt = select(Lot.posted_at.label("at"), Lot.quantity_kg.label("kg"), *lot_cols)
    lots = session.execute(stmt).all()
    rows: list[dict[str, Any]] = [
        {
            "occurred_at": r.at,
            "quantity_kg": r.kg,
            "family": r.family,
            "polymer": r.polymer or MISSING,
            "form": r.form or MISSING,
            "dql_band": dql_band(r.dql),
            "region": region_of(r.region_code, r.country),
        }
        for r in lots
    ]
    history: Iterable[SupplyHistory] = (
        session.scalars(select(SupplyHistory)) if measure == "posted" else ()
    )
    for h in history:
        rows.append(
            {
                "occurred_at": h.occurred_at,
                "quantity_kg": h.quantity_kg,
                "family": h.family or MISSING,
                "polymer": h.polymer or MISSING,
                "form": h.form or MISSING,
                "dql_band": h.dql_band or MISSING,
                "region": h.region or MISSING,
            }
        )
    frame = pd.DataFrame(rows, columns=["occurred_at", "quantity_kg", *KEY_COLUMNS])
    if len(frame):
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True).dt.tz_localize(None)
    return frame


def known_future_supply(session: Session, keys: Sequence[str], freq: str) -> pd.DataFrame:
    """Committed deliveries of active recurring lots, per key and future period."""
    out: list[dict[str, Any]] = []
    today = dt.date.today()
    for lot in session.scalars(
        select(Lot).where(Lot.status == LotStatus.ACTIVE.value, Lot.supply_type == "recurring")
    ):
        rec = lot.recurrence or {}
        try:
            start = dt.date.fromisoformat(str(rec["start"]))
            per = float(rec["quantity_per_delivery_kg"])
        except (KeyError, ValueError, TypeError):
            continue
        end = (
            dt.date.fromisoformat(str(rec["end"]))
            if rec.get("end")
            else today + dt.timedelta(days=400)
        )
        step = {"weekly": 7, "biweekly": 14, "monthly": 30, "quarterly": 91}.get(
            str(rec.get("frequency")), 30
        )
        key = {
            "family": lot.family,
            "polymer": lot.polymer or MISSING,
            "form": lot.form or MISSING,
            "dql_band": dql_band(lot.dql),
            "region": region_of(lot.region_code, lot.country),
        }
        day = start
        while day <= min(end, today + dt.timedelta(days=400)):
            if day >= today:
                out.append({**{k: key[k] for k in keys}, "when": day, "quantity": per})
            day += dt.timedelta(days=step)
    frame = pd.DataFrame(out, columns=[*keys, "when", "quantity"])
    if not len(frame):
        return frame.rename(columns={"when": "period_start"})
    from forecasting.dataset import period_start

    frame["period_start"] = period_start(pd.to_datetime(frame.pop("when")), freq)  # type: ignore[arg-type]
    return frame.groupby([*keys, "period_start"], as_index=False).agg(quantity=("quantity", "sum"))


def train(
    db: Database,
    *,
    freq: str = "W",
    horizon: int = 12,
    keys: Sequence[str] = DEFAULT_KEYS,
    measure: Measure = "posted",
    model_dir: Path,
    progress: Progress | None = None,
) -> ForecastRun:
    """Extract history, train the default model (with backtest), save the artifact and store
    the forecasts as a new run. Raises forecasting.errors.ForecastInputError on bad input."""
    from forecasting import registry
    from forecasting.dataset import build_series, period_start
    from forecasting.train import train_and_forecast

    key_list = check_keys(keys)
    with db.transaction(write=False) as session:
        events = platform_events(session, measure)
        # Committed recurring streams are future offers: they floor "posted" forecasts only.
        known = (
            known_future_supply(session, key_list, freq) if measure == "posted" else pd.DataFrame()
        )
    panel = build_series(
        events[["occurred_at", "quantity_kg", *key_list]],
        time_col="occurred_at",
        qty_col="quantity_kg",
        keys=key_list,
        freq=freq,
        # forecast from the current (partly observed) period on; history = complete periods
        as_of=period_start(
            pd.DatetimeIndex([pd.Timestamp(utcnow().date())]), cast(Literal["W", "M"], freq)
        )[0],
    )
    artifact, frame = train_and_forecast(
        panel, horizon, progress, known_supply=known if len(known) else None
    )
    saved = registry.save(artifact, model_dir)
    meta = saved.metadata
    run = ForecastRun(
        id=new_id("fcr"),
        version=f"{saved.version}-{new_id('m')[2:12]}",
        freq=freq,
        horizon=horizon,
        keys=key_list,
        method=str(meta.get("method", "default")),
        series_count=int(meta.get("series_count", 0)),
        training_start=dt.date.fromisoformat(meta["training_window"]["start"]),
        training_end=dt.date.fromisoformat(meta["training_window"]["end"]),
        metadata_=_jsonable({**meta, "measure": measure}),
        created_at=utcnow(),
    )
    values = []
    for rec in frame.to_dict("records"):
        key_vals = {k: (str(rec[k]) if k in rec else None) for k in KEY_COLUMNS}
        values.append(
            {
                "run_id": run.id,
                "series_key": "|".join(str(rec[k]) for k in key_list),
                **key_vals,
                "period_start": pd.Timestamp(rec["period_start"]).date(),
                "mean": max(0.0, float(rec["mean"])),
                "p10": max(0.0, float(rec["p10"])),
                "p50": max(0.0, float(rec["p50"])),
                "p90": max(0.0, float(rec["p90"])),
                "point": max(0.0, float(rec["point"])),
            }
        )
    with db.transaction(write=True) as session:
        session.add(run)
        session.flush()
        for i in range(0, len(values), 5000):
            session.execute(insert(ForecastValue), values[i : i + 5000])
    return run


def _jsonable(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become null (JSON has neither), other objects strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def import_history(
    db: Database, events: pd.DataFrame, *, time_col: str, qty_col: str, keys: Sequence[str]
) -> tuple[str, int]:
    """Load an events file (already validated by forecasting.dataset.read_events) as history.
    Key columns named like the platform's (family, polymer, form, dql_band, region) map onto
    them; a batch id lets an operator find or remove one import."""
    batch = new_id("imp")
    rows = []
    for rec in events.to_dict("records"):
        ts = pd.Timestamp(rec[time_col])
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        row: dict[str, Any] = {
            "batch_id": batch,
            "occurred_at": ts.to_pydatetime(),
            "quantity_kg": float(rec[qty_col]),
            "created_at": utcnow(),
        }
        for k in KEY_COLUMNS:
            row[k] = str(rec[k])[:24] if k in keys and rec.get(k) is not None else None
        rows.append(row)
    with db.transaction(write=True) as session:
        for i in range(0, len(rows), 5000):
            session.execute(insert(SupplyHistory), rows[i : i + 5000])
    return batch, len(rows)
