"""Base Pydantic models for request and response bodies."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

MIN_DATETIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_DATETIME = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


class RequestSchema(BaseModel):
    """Inbound bodies: unknown keys are errors, NaN/Infinity are errors, strings are bounded."""

    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, str_max_length=10_000, populate_by_name=True
    )


class ResponseSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _utc_bounded(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must include a timezone offset (RFC 3339), e.g. Z")
    value = value.astimezone(dt.UTC)
    if not (MIN_DATETIME <= value < MAX_DATETIME):
        raise ValueError("timestamp must be between 1970 and 2200")
    return value


def _rfc3339_only(value: Any) -> Any:
    # Pydantic would read a number as a Unix timestamp; the API speaks RFC 3339 only.
    if not isinstance(value, (str, dt.datetime)):
        raise ValueError("expected an RFC 3339 timestamp string, e.g. 2026-11-22T10:00:00Z")
    return value


UTCDatetime = Annotated[dt.datetime, BeforeValidator(_rfc3339_only), AfterValidator(_utc_bounded)]
