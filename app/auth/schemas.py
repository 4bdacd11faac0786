from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator

from app.auth.scopes import ALL_SCOPES
from app.kit.schemas import RequestSchema, ResponseSchema, UTCDatetime

_SCOPES_DESC = "Scopes granted; default: all scopes. One of: " + ", ".join(sorted(ALL_SCOPES))


def _check_scopes(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    unknown = sorted(set(value) - ALL_SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(unknown)}")
    return sorted(set(value))


class ApiKeyCreate(RequestSchema):
    model_config = {
        "json_schema_extra": {
            "examples": [{"name": "ERP sync", "scopes": ["lots:read", "forecasts:read"]}]
        }
    }

    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] | None = Field(default=None, max_length=32, description=_SCOPES_DESC)
    expires_at: UTCDatetime | None = None

    _v_scopes = field_validator("scopes")(_check_scopes)


class ApiKeyOut(ResponseSchema):
    model_config = {
        "from_attributes": True,
        "json_schema_extra": {
            "examples": [
                {
                    "id": "key_01jd3m9x5q8v2r7k4t6w1y0z3a",
                    "name": "ERP sync",
                    "prefix": "rcy_sk_Xk3p9QaL",
                    "scopes": ["forecasts:read", "lots:read"],
                    "created_at": "2026-11-22T10:00:00Z",
                    "last_used_at": None,
                    "expires_at": None,
                    "revoked_at": None,
                }
            ]
        },
    }

    id: str
    name: str
    prefix: str = Field(description="Visible start of the key, to recognise it in lists.")
    scopes: list[str]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyOut):
    secret: str = Field(
        description="The full API key. Shown once: store it now, it cannot be retrieved again."
    )


class OAuthClientCreate(RequestSchema):
    model_config = {
        "json_schema_extra": {
            "examples": [{"name": "SAP S/4 forecast pull", "scopes": ["forecasts:read"]}]
        }
    }

    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] | None = Field(default=None, max_length=32, description=_SCOPES_DESC)

    _v_scopes = field_validator("scopes")(_check_scopes)


class OAuthClientOut(ResponseSchema):
    id: str = Field(description="The OAuth client_id.")
    name: str
    scopes: list[str]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class OAuthClientCreated(OAuthClientOut):
    client_secret: str = Field(description="Shown once: store it now.")


class TokenOut(ResponseSchema):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "access_token": "rcy_at_2bV0...",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "scope": "forecasts:read lots:read",
                }
            ]
        }
    }

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int
    scope: str
