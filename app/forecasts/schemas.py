from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from app.kit.schemas import ResponseSchema


class ForecastPoint(ResponseSchema):
    period_start: dt.date = Field(description="Monday of the ISO week, or the 1st of the month")
    mean: float
    p10: float
    p50: float
    p90: float
    point: float | None = Field(
        default=None,
        description="The point forecast the backtest's RMSSE scores: the value between 0 and "
        "the mean that minimises the expected RMSSE under the model's own predictive "
        "distribution (below the mean where supply is sparse). Use `mean` for expected "
        "volumes. Null for models trained before it existed.",
    )


class SeriesKey(ResponseSchema):
    family: str | None = None
    polymer: str | None = None
    form: str | None = None
    dql_band: str | None = None
    region: str | None = Field(default=None, description="NUTS-1 region, or country")


class ModelQuality(ResponseSchema):
    coverage_80: float | None = Field(description="Backtest share of actuals inside P10-P90")
    rmsse_rel_naive: float | None = Field(
        description="RMSSE of the point forecast (`point`) relative to the Naive forecast"
    )
    spl_rel_naive: float | None = Field(description="Scaled pinball loss relative to Naive")


class ForecastSeries(ResponseSchema):
    model_config = {
        "from_attributes": True,
        "json_schema_extra": {
            "examples": [
                {
                    "series": {
                        "family": "plastic_recyclate",
                        "polymer": "PP",
                        "dql_band": "2",
                        "region": "DEA",
                    },
                    "unit": "kg",
                    "freq": "W",
                    "model_version": "v0003-01m82x",
                    "generated_at": "2026-11-22T03:00:00Z",
                    "quality": {
                        "coverage_80": 0.81,
                        "rmsse_rel_naive": 0.72,
                        "spl_rel_naive": 0.64,
                    },
                    "periods": [
                        {
                            "period_start": "2026-11-23",
                            "mean": 41000.0,
                            "p10": 0.0,
                            "p50": 38000.0,
                            "p90": 96000.0,
                            "point": 41000.0,
                        }
                    ],
                }
            ]
        },
    }

    series: SeriesKey
    unit: str = "kg"
    freq: str
    model_version: str
    generated_at: dt.datetime
    quality: ModelQuality
    periods: list[ForecastPoint]


class ForecastModelOut(ResponseSchema):
    version: str
    freq: str
    horizon: int
    keys: list[str]
    method: str
    series_count: int
    training_start: dt.date
    training_end: dt.date
    created_at: dt.datetime
    quality: ModelQuality
    backtest: dict[str, Any] | None = Field(description="Per-method backtest report")
