"""Base Pydantic models for request and response bodies."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

MIN_DATETIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_DATETIME = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


class RequestSchema(BaseModel):
    """Inbound bodies: unknown keys are errors, NaN/Infinity are errors, strings are bounded,
    and types are strict ("3" is not a number). Dates opt out of strictness (JSON has no date
    type): declare them as ``LaxDate`` / ``UTCDatetime``."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        str_max_length=10_000,
        populate_by_name=True,
        strict=True,
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


_RFC3339_START = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _rfc3339_only(value: Any) -> Any:
    # Pydantic would read a number as a Unix timestamp; the API speaks RFC 3339 only.
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _RFC3339_START.match(value):
        raise ValueError("expected an RFC 3339 timestamp string, e.g. 2026-11-22T10:00:00Z")
    return value


def _iso_date_only(value: Any) -> Any:
    if isinstance(value, dt.date) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError("expected an ISO 8601 date string, e.g. 2026-11-22")


UTCDatetime = Annotated[
    dt.datetime,
    Field(strict=False),
    BeforeValidator(_rfc3339_only),
    AfterValidator(_utc_bounded),
]
LaxDate = Annotated[dt.date, Field(strict=False), BeforeValidator(_iso_date_only)]
