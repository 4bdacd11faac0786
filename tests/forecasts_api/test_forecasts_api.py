from __future__ import annotations

import csv
import datetime as dt
import io
import random

import pandas as pd
import pytest

from app.forecasts import service as fc_service
from app.forecasts.models import ForecastValue, SupplyHistory
from app.forecasts.training import import_history, train
from app.kit.db import utcnow
from app.lots.models import Lot
from tests.factories import grade_attributes, lot_body


@pytest.fixture
def history(client, recycler, db):
    """~70 weeks of postings for two polymers, some weeks empty (intermittent)."""
    rng = random.Random(7)
    ids = []
    for polymer in ("PP", "PE-HD"):
        attrs = dict(grade_attributes(2), MainMaterialType=polymer)
        body = lot_body(grade={"attributes": attrs})
        r = client.post("/v1/lots/bulk", json={"lots": [body] * 60}, headers=recycler.headers)
        assert r.status_code == 201, r.text
        ids.extend(r.json()["ids"])
    now = utcnow()
    with db.transaction() as s:
        for lot_id in ids:
            lot = s.get(Lot, lot_id)
            lot.posted_at = now - dt.timedelta(days=rng.randint(7, 490))
            lot.quantity_kg = float(rng.choice([5000, 10000, 20000, 24000]))
    return ids


@pytest.fixture
def trained(history, db, tmp_path):
    return train(db, freq="W", horizon=6, keys=["family", "polymer"], model_dir=tmp_path)


def test_no_forecasts_yet_is_a_clear_404(client, manufacturer):
    r = client.get("/v1/forecasts", headers=manufacturer.headers)
    assert r.status_code == 404
    assert r.json()["code"] == "no_forecasts"


def test_forecasts_json_with_intervals_and_quality(client, manufacturer, trained):
    r = client.get("/v1/forecasts", headers=manufacturer.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {s["series"]["polymer"] for s in body["data"]} == {"PP", "PE-HD"}
    from app.forecasts.schemas import ForecastSeries

    for series in body["data"]:
        ForecastSeries.model_validate(series)  # the body honours the documented schema
        assert series["unit"] == "kg"
        assert series["model_version"] == trained.version
        assert len(series["periods"]) == 6
        starts = [dt.date.fromisoformat(p["period_start"]) for p in series["periods"]]
        assert all(d.weekday() == 0 for d in starts)  # ISO weeks start on Monday
        assert starts[0] >= utcnow().date() - dt.timedelta(days=7)
        for p in series["periods"]:
            assert 0 <= p["p10"] <= p["p50"] <= p["p90"]
            assert p["mean"] >= 0
            assert 0 <= p["point"] <= p["mean"] + 1e-9  # the default model's RMSSE point
        assert set(series["quality"]) == {"coverage_80", "rmsse_rel_naive", "spl_rel_naive"}
    only_pp = client.get("/v1/forecasts?polymer=PP&horizon=2", headers=manufacturer.headers).json()
    assert [s["series"]["polymer"] for s in only_pp["data"]] == ["PP"]
    assert len(only_pp["data"][0]["periods"]) == 2


def test_etag_304_until_a_new_model(client, manufacturer, trained, db, tmp_path):
    r = client.get("/v1/forecasts", headers=manufacturer.headers)
    etag = r.headers["etag"]
    again = client.get("/v1/forecasts", headers={**manufacturer.headers, "If-None-Match": etag})
    assert again.status_code == 304
    train(db, freq="W", horizon=6, keys=["family", "polymer"], model_dir=tmp_path)
    fresh = client.get("/v1/forecasts", headers={**manufacturer.headers, "If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] != etag


def test_csv_and_cursor_over_series(client, manufacturer, trained):
    page1 = client.get("/v1/forecasts?limit=1", headers=manufacturer.headers).json()
    assert page1["has_more"] is True
    page2 = client.get(
        f"/v1/forecasts?limit=1&cursor={page1['next_cursor']}", headers=manufacturer.headers
    ).json()
    assert page2["has_more"] is False
    assert page1["data"][0]["series"] != page2["data"][0]["series"]
    r = client.get("/v1/forecasts", headers={**manufacturer.headers, "Accept": "text/csv"})
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 12
    assert set(rows[0]) >= {"family", "polymer", "period_start", "mean", "p10", "p50", "p90"}
    assert 0 <= float(rows[0]["point"]) <= float(rows[0]["mean"]) + 1e-3


def test_csv_cells_cannot_inject_formulas():
    assert fc_service._cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert fc_service._cell("-2+3") == "'-2+3"
    assert fc_service._cell("PP") == "PP"


def test_models_and_fan_chart(client, manufacturer, trained):
    models = client.get("/v1/forecasts/models", headers=manufacturer.headers).json()
    assert models[0]["version"] == trained.version
    assert models[0]["series_count"] == 2
    assert models[0]["backtest"] is not None
    svg = client.get(
        "/v1/forecasts/chart.svg?family=plastic_recyclate&polymer=PP", headers=manufacturer.headers
    )
    assert svg.status_code == 200
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.startswith("<svg")
    assert "polygon" in svg.text
    # the point forecast (every period of the default model has one) as a dashed line
    assert svg.text.count('stroke-dasharray="5,3"') == 1
    assert "dashed: point forecast" in svg.text
    ambiguous = client.get("/v1/forecasts/chart.svg", headers=manufacturer.headers)
    assert ambiguous.status_code == 422


def test_scope_required(client, make_org, trained):
    org = make_org("manufacturer", scopes=["lots:read"])
    assert client.get("/v1/forecasts", headers=org.headers).status_code == 403


def test_import_history_feeds_training(db, tmp_path):
    events = pd.DataFrame(
        {
            "ts": pd.date_range("2025-01-06", periods=60, freq="W-MON"),
            "qty": [0 if i % 3 else 12000 for i in range(60)],
            "family": "paper",
            "polymer": "-",
        }
    )
    batch, n = import_history(db, events, time_col="ts", qty_col="qty", keys=["family", "polymer"])
    assert n == 60
    with db.transaction() as s:
        assert s.query(SupplyHistory).filter_by(batch_id=batch).count() == 60
    run = train(db, freq="W", horizon=4, keys=["family"], model_dir=tmp_path)
    assert run.series_count >= 1


def test_job_lease_admits_one_holder(db):
    from app.forecasts import schedule

    assert schedule.acquire(db, "job-x", dt.timedelta(minutes=5)) is True
    assert schedule.acquire(db, "job-x", dt.timedelta(minutes=5)) is False
    schedule.release(db, "job-x")
    assert schedule.acquire(db, "job-x", dt.timedelta(minutes=5)) is True


def test_scheduled_retrain_trains_once_when_due(history, db, tmp_path):
    from app.settings import Settings
    from app.worker import retrain_if_due

    settings = Settings(
        database_url="sqlite://",
        model_dir=tmp_path,
        forecast_horizon=4,
        forecast_keys="family,polymer",
        retrain_interval_hours=24,
    )
    assert retrain_if_due(db, settings) is True
    assert retrain_if_due(db, settings) is False  # the new model is fresh


def test_delivered_orders_can_be_the_measure(history, db, tmp_path):
    from app.forecasts.training import platform_events
    from app.orders.models import Order

    with db.transaction() as s:
        lots = s.query(Lot).limit(3).all()
        for i, lot in enumerate(lots):
            s.add(
                Order(
                    reservation_id=_reservation(s, lot).id,
                    lot_id=lot.id,
                    buyer_org_id=lot.organization_id,
                    seller_org_id=lot.organization_id,
                    status="delivered",
                    quantity_kg=5000,
                    shipped_kg=5000,
                    delivered_kg=4800 + i,
                    delivered_at=utcnow() - dt.timedelta(days=30 * (i + 1)),
                )
            )
    with db.transaction() as s:
        delivered = platform_events(s, "delivered")
        posted = platform_events(s, "posted")
    assert sorted(delivered["quantity_kg"]) == [4800, 4801, 4802]
    assert len(posted) == 120
    run = train(db, freq="W", horizon=4, keys=["family"], measure="delivered", model_dir=tmp_path)
    assert run.metadata_["measure"] == "delivered"


def _reservation(session, lot):
    from app.orders.models import Reservation

    res = Reservation(
        lot_id=lot.id,
        buyer_org_id=lot.organization_id,
        seller_org_id=lot.organization_id,
        status="accepted",
        quantity_kg=5000,
        expires_at=utcnow(),
    )
    session.add(res)
    session.flush()
    return res


def test_a_failed_retrain_backs_off_instead_of_retrying_every_tick(db, tmp_path, monkeypatch):
    import app.worker as worker
    from app.settings import Settings

    attempts: list[int] = []

    def failing(db_, settings_):
        attempts.append(1)
        raise ValueError("no events before the as-of date")

    monkeypatch.setattr(worker, "retrain_if_due", failing)
    monkeypatch.setattr(worker, "expire_once", lambda db_: 0)
    jobs = worker.BackgroundJobs(
        db, interval=0.01, settings=Settings(database_url="sqlite://", model_dir=tmp_path)
    )
    ticks = []
    monkeypatch.setattr(jobs._stop, "wait", lambda _t: ticks.append(1) or len(ticks) >= 5)
    monkeypatch.setattr(jobs._stop, "is_set", lambda: len(ticks) >= 5)
    jobs.run_forever()
    assert len(ticks) == 5
    assert len(attempts) == 1  # the next attempt waits retrain_backoff_s (an hour)


def test_fan_chart_of_an_older_run_without_point_forecasts():
    values = [
        ForecastValue(
            period_start=dt.date(2026, 11, 23) + dt.timedelta(weeks=i),
            mean=1000.0 + i,
            p10=500.0,
            p50=900.0,
            p90=2000.0,
            point=None,
        )
        for i in range(4)
    ]
    svg = fc_service.fan_chart_svg({"family": "paper"}, values, "v1")
    assert "polygon" in svg
    assert "stroke-dasharray" not in svg
    assert "point forecast" not in svg
    values[1].point = 1500.0
    assert svg != fc_service.fan_chart_svg({"family": "paper"}, values, "v1")
