from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.dependencies import ForecastsReader
from app.forecasts import service
from app.forecasts.models import ForecastRun
from app.forecasts.schemas import ForecastModelOut, ForecastSeries
from app.kit.etag import make_etag, not_modified, not_modified_response
from app.kit.pagination import CursorQuery, LimitQuery, Page, page_of, set_link_header
from app.kit.problems import ProblemError, problem_responses
from app.kit.routing import TransactionalRoute, get_session

router = APIRouter(prefix="/v1/forecasts", tags=["forecasts"], route_class=TransactionalRoute)
SessionDep = Annotated[Session, Depends(get_session)]
_Key = Query(max_length=32)
CSV = "text/csv"


def _filters(
    family: Annotated[str | None, _Key] = None,
    polymer: Annotated[str | None, _Key] = None,
    form: Annotated[str | None, _Key] = None,
    dql_band: Annotated[Literal["0-1", "2", "3-4"] | None, Query()] = None,
    region: Annotated[str | None, Query(max_length=8, description="NUTS-1 code or country")] = None,
) -> dict[str, str | None]:
    return {
        "family": family,
        "polymer": polymer,
        "form": form,
        "dql_band": dql_band,
        "region": region,
    }


Filters = Annotated[dict[str, str | None], Depends(_filters)]


def _series_out(
    run: ForecastRun, key: dict[str, Any], values: list[Any], quality: dict[str, Any]
) -> dict[str, Any]:
    """A ForecastSeries as plain data (serialised with orjson; the schema documents it)."""
    return {
        "series": {f: key.get(f) for f in service.KEY_FIELDS},
        "unit": "kg",
        "freq": run.freq,
        "model_version": run.version,
        "generated_at": run.created_at,
        "quality": quality,
        "periods": [
            {
                "period_start": v.period_start,
                "mean": v.mean,
                "p10": v.p10,
                "p50": v.p50,
                "p90": v.p90,
                "point": v.point,
            }
            for v in values
        ],
    }


@router.get(
    "",
    response_model=Page[ForecastSeries],
    responses={
        200: {"content": {CSV: {"schema": {"type": "string"}}}},
        304: {"description": "Not modified (same model version and query)"},
        **problem_responses(400, 401, 403, 404, 422),
    },
)
def list_forecasts(
    request: Request,
    response: Response,
    principal: ForecastsReader,
    session: SessionDep,
    filters: Filters,
    freq: Literal["W", "M"] = "W",
    horizon: Annotated[int | None, Query(ge=1, le=104)] = None,
    model_version: Annotated[str | None, Query(max_length=40)] = None,
    limit: LimitQuery = 25,
    cursor: CursorQuery = None,
) -> Any:
    """Predicted available supply per grade x region x period with P10/P50/P90 (kg), from the
    latest model (or `model_version`). JSON by default, CSV with `Accept: text/csv`. The ETag
    changes only when a new model version is trained: poll with If-None-Match for free."""
    run = service.latest_run(session, freq, model_version)
    want_csv = CSV in request.headers.get("accept", "")
    etag = make_etag("forecasts", run.version, 0, f"{request.url.query}|{want_csv}")
    if not_modified(request, etag):
        return not_modified_response(etag)
    result = service.page(session, run, filters, horizon=horizon, cursor=cursor, limit=limit)
    headers = {"ETag": etag, "Cache-Control": "private, max-age=60"}
    if want_csv:
        out = Response(
            service.to_csv(result, run.keys), media_type="text/csv; charset=utf-8", headers=headers
        )
        set_link_header(request, out, result.next_cursor)
        return out
    quality = service.quality_of(run)
    body = page_of([_series_out(run, k, v, quality) for k, v in result.series], result.next_cursor)
    out = Response(
        orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json", headers=headers
    )
    set_link_header(request, out, result.next_cursor)
    return out


@router.get(
    "/models",
    response_model=list[ForecastModelOut],
    responses=problem_responses(401, 403, 422),
)
def list_models(
    principal: ForecastsReader,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[ForecastModelOut]:
    """Model versions, newest first, with their backtest reports (RMSSE and scaled pinball
    loss relative to Naive, 80 % interval coverage and width, per method)."""
    runs = session.scalars(
        select(ForecastRun)
        .order_by(ForecastRun.created_at.desc(), ForecastRun.id.desc())
        .limit(limit)
    )
    return [
        ForecastModelOut.model_validate(
            {
                "version": r.version,
                "freq": r.freq,
                "horizon": r.horizon,
                "keys": r.keys,
                "method": r.method,
                "series_count": r.series_count,
                "training_start": r.training_start,
                "training_end": r.training_end,
                "created_at": r.created_at,
                "quality": service.quality_of(r),
                "backtest": (r.metadata_ or {}).get("backtest"),
            }
        )
        for r in runs
    ]


@router.get(
    "/chart.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **problem_responses(401, 403, 404, 422)},
)
def fan_chart(
    principal: ForecastsReader,
    session: SessionDep,
    filters: Filters,
    freq: Literal["W", "M"] = "W",
) -> Response:
    """A fan chart (P10-P90 band, P50 line, mean dots, the point forecast dashed) of one
    series; give every key of the model (see /v1/forecasts/models) so the filters pick exactly
    one series."""
    run = service.latest_run(session, freq)
    result = service.page(session, run, filters, horizon=None, cursor=None, limit=2)
    if not result.series:
        raise ProblemError(404, "not_found", "No series matches these filters.")
    if len(result.series) > 1:
        raise ProblemError(
            422,
            "ambiguous_series",
            f"Several series match; give every key of the model: {', '.join(run.keys)}.",
        )
    key, values = result.series[0]
    return Response(service.fan_chart_svg(key, values, run.version), media_type="image/svg+xml")
