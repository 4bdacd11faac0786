from __future__ import annotations

import datetime as dt

from pydantic import Field, HttpUrl

from app.kit.schemas import RequestSchema, ResponseSchema
from app.orgs.models import OrgRole, VerificationStatus


class OrganizationPublic(ResponseSchema):
    """What every authenticated caller may see of an organisation."""

    model_config = {
        "from_attributes": True,
        "json_schema_extra": {
            "examples": [
                {
                    "id": "org_01jd3m9x5q8v2r7k4t6w1y0z3a",
                    "name": "Rhein Recycling GmbH",
                    "role": "recycler",
                    "verification_status": "verified",
                    "country": "DE",
                }
            ]
        },
    }

    id: str
    name: str
    role: OrgRole
    verification_status: VerificationStatus
    country: str | None


class OrganizationOut(OrganizationPublic):
    website: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class OrganizationUpdate(RequestSchema):
    model_config = {
        "json_schema_extra": {"examples": [{"name": "Rhein Recycling GmbH", "country": "DE"}]}
    }

    name: str | None = Field(default=None, min_length=1, max_length=200)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    website: HttpUrl | None = None
