from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, utcnow
from app.kit.ids import new_id


class ForecastRun(Base):
    """One trained model version and the forecasts it produced (precomputed for serving)."""

    __tablename__ = "forecast_runs"
    __table_args__ = (Index("ix_forecast_runs_freq_created", "freq", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("fcr"))
    version: Mapped[str] = mapped_column(String(40), unique=True)
    freq: Mapped[str] = mapped_column(String(1))
    horizon: Mapped[int] = mapped_column(Integer)
    keys: Mapped[list[str]] = mapped_column(JSON)
    method: Mapped[str] = mapped_column(String(100))
    series_count: Mapped[int] = mapped_column(Integer)
    training_start: Mapped[dt.date]
    training_end: Mapped[dt.date]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ForecastValue(Base):
    __tablename__ = "forecast_values"
    __table_args__ = (
        Index("ix_forecast_values_run_series", "run_id", "series_key", "period_start", unique=True),
        # Covering index for "which series match these filters": one entry per series at the
        # run's first period, so a page of series needs no DISTINCT and no table lookups.
        Index(
            "ix_forecast_values_series_filter",
            "run_id",
            "period_start",
            "series_key",
            "family",
            "polymer",
            "dql_band",
            "region",
            "form",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"))
    series_key: Mapped[str] = mapped_column(String(200))
    family: Mapped[str | None] = mapped_column(String(24))
    polymer: Mapped[str | None] = mapped_column(String(32))
    form: Mapped[str | None] = mapped_column(String(32))
    dql_band: Mapped[str | None] = mapped_column(String(8))
    region: Mapped[str | None] = mapped_column(String(8))
    period_start: Mapped[dt.date]
    mean: Mapped[float] = mapped_column(Float)
    p10: Mapped[float] = mapped_column(Float)
    p50: Mapped[float] = mapped_column(Float)
    p90: Mapped[float] = mapped_column(Float)
    # the point forecast scored by the RMSSE (forecasting/point.py); None for older runs
    point: Mapped[float | None] = mapped_column(Float, nullable=True)


class SupplyHistory(Base):
    """Supply events imported from an ERP or legacy system (`recyclate forecast
    import-history`); training uses them together with the platform's own postings."""

    __tablename__ = "supply_history"
    __table_args__ = (Index("ix_supply_history_occurred_at", "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[dt.datetime]
    quantity_kg: Mapped[float] = mapped_column(Float)
    family: Mapped[str | None] = mapped_column(String(24))
    polymer: Mapped[str | None] = mapped_column(String(32))
    form: Mapped[str | None] = mapped_column(String(32))
    dql_band: Mapped[str | None] = mapped_column(String(8))
    region: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class JobLease(Base):
    """A named lease so that only one process at a time runs a scheduled job (retraining),
    whatever the number of API workers or `recyclate worker` processes."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(80))
    leased_until: Mapped[dt.datetime]
