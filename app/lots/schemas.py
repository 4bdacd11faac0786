"""Lot request/response models. Codes and locations are validated here, so errors point at
the offending field (``/legal/waste_code``, ``/location/postcode``...)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from app.geo import GeoError, normalise_country
from app.grades.schemas import AssessmentOut, FamilyName, GradeIn
from app.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.kit.schemas import LaxDate, RequestSchema, ResponseSchema, UTCDatetime
from app.lots import codes
from app.lots.models import LotStatus

CURRENCIES = ("EUR", "USD", "GBP", "CHF", "PLN", "CZK", "DKK", "SEK", "NOK", "HUF", "RON")
CERT_SCHEMES = (
    "EN 15343",
    "RecyClass",
    "ISCC PLUS",
    "EuCertPlast",
    "REDcert2",
    "GRS",
    "RCS",
    "SCS Recycled Content",
    "ISO 9001",
    "ISO 14001",
    "EfbV",
)
MAX_KG = 1e9  # one million tonnes: more than any single lot


def _custom(code: str, detail: str) -> PydanticCustomError:
    return PydanticCustomError(code, detail.replace("{", "(").replace("}", ")"))


class Quantity(RequestSchema):
    value: float = Field(gt=0, le=1e9, examples=[24])
    unit: Literal["kg", "t"] = Field(examples=["t"])

    @property
    def kg(self) -> float:
        return self.value * (1000.0 if self.unit == "t" else 1.0)

    @model_validator(mode="after")
    def _bounded(self) -> Quantity:
        if self.value * (1000.0 if self.unit == "t" else 1.0) > MAX_KG:
            raise _custom("quantity_too_large", "quantity above 1,000,000 t")
        return self


class Money(RequestSchema):
    amount: str = Field(
        pattern=r"^\d{1,9}(\.\d{1,2})?$",
        description="Decimal string, at most 2 decimals",
        examples=["185.00"],
    )
    currency: Literal[CURRENCIES] = Field(examples=["EUR"])  # type: ignore[valid-type]

    @property
    def minor(self) -> int:
        try:
            return int((Decimal(self.amount) * 100).to_integral_exact())
        except InvalidOperation as exc:  # pragma: no cover - guarded by the pattern
            raise ValueError("bad amount") from exc


class Supply(RequestSchema):
    type: Literal["spot", "recurring"] = "spot"
    frequency: Literal["weekly", "biweekly", "monthly", "quarterly"] | None = None
    quantity_per_delivery: Quantity | None = None
    start: LaxDate | None = None
    end: LaxDate | None = None

    @model_validator(mode="after")
    def _check(self) -> Supply:
        if self.type == "recurring":
            if self.frequency is None or self.quantity_per_delivery is None or self.start is None:
                raise _custom(
                    "recurring_incomplete",
                    "recurring supply needs frequency, quantity_per_delivery and start",
                )
        elif self.frequency or self.quantity_per_delivery:
            raise _custom("spot_with_recurrence", "spot supply takes no frequency or quantity")
        for d in (self.start, self.end):
            if d is not None and not (dt.date(2000, 1, 1) <= d <= dt.date(2100, 1, 1)):
                raise _custom("date_out_of_range", "dates must be between 2000 and 2100")
        if self.start and self.end and self.end < self.start:
            raise _custom("end_before_start", "end is before start")
        return self


class LocationIn(RequestSchema):
    country: str = Field(min_length=2, max_length=2, examples=["DE"])
    postcode: str | None = Field(default=None, max_length=12, examples=["47059"])
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        try:
            return normalise_country(v)
        except GeoError as exc:
            raise _custom(exc.code, exc.detail) from None

    @model_validator(mode="after")
    def _pair(self) -> LocationIn:
        if (self.latitude is None) != (self.longitude is None):
            raise _custom("incomplete_coordinates", "give both latitude and longitude, or neither")
        return self


class Legal(RequestSchema):
    waste_code: str | None = Field(
        default=None,
        max_length=12,
        description="European List of Waste code",
        examples=["15 01 02"],
    )
    basel_code: str | None = Field(default=None, max_length=12, examples=["B3011"])
    hs_code: str | None = Field(default=None, max_length=12, examples=["3915.90"])
    end_of_waste_status: Literal["waste", "end_of_waste", "product", "by_product"] | None = None
    end_of_waste_regulation: str | None = Field(default=None, max_length=60)

    @field_validator("waste_code", "basel_code", "hs_code")
    @classmethod
    def _code(cls, v: str | None, info: ValidationInfo) -> str | None:
        """Validate against the code lists and normalise (``150102`` -> ``15 01 02``)."""
        if v is None:
            return None
        try:
            if info.field_name == "waste_code":
                return codes.parse_waste_code(v).display
            if info.field_name == "basel_code":
                return codes.parse_basel_code(v).code
            return codes.parse_hs_code(v).code
        except codes.CodeError as exc:
            raise _custom(exc.code, exc.detail) from None


class Certification(RequestSchema):
    scheme: Literal[CERT_SCHEMES] = Field(examples=["EN 15343"])  # type: ignore[valid-type]
    certificate_id: str = Field(min_length=1, max_length=100, examples=["EN15343-DE-0042"])
    valid_from: LaxDate
    valid_until: LaxDate
    document_id: str | None = Field(default=None, max_length=40)

    @model_validator(mode="after")
    def _dates(self) -> Certification:
        if self.valid_until < self.valid_from:
            raise _custom("end_before_start", "valid_until is before valid_from")
        if not (dt.date(1990, 1, 1) <= self.valid_from and self.valid_until <= dt.date(2100, 1, 1)):
            raise _custom("date_out_of_range", "dates must be between 1990 and 2100")
        return self


_TEXT_RE = re.compile(r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$")

EXAMPLE_LOT: dict[str, Any] = {
    "title": "PP regrind natural, post-industrial, 24 t",
    "family": "plastic_recyclate",
    "grade": {
        "scheme": "EN 18065",
        "edition": "2025",
        "claimed_dql": 2,
        "attributes": {
            "MainMaterialType": "PP",
            "TypeOfPackaging": "big_bag",
            "ColorByVisualInspection": "natural",
            "Form": "regrind",
            "TradeName": "ReGrind PP natural 2",
            "RecycledContent": {"value": 95, "unit": "%"},
            "Viscosity": {
                "value": 12.0,
                "unit": "g/10min",
                "method": "ISO 1133-1",
                "conditions": {"temperature_c": 230, "load_kg": 2.16},
            },
        },
    },
    "quantity": {"value": 24, "unit": "t"},
    "supply": {"type": "spot"},
    "location": {"country": "DE", "postcode": "47059"},
    "legal": {"waste_code": "15 01 02", "basel_code": "B3011", "hs_code": "3915.90"},
    "asking_price": {"amount": "420.00", "currency": "EUR"},
    "certifications": [
        {
            "scheme": "EN 15343",
            "certificate_id": "EN15343-DE-0042",
            "valid_from": "2026-01-01",
            "valid_until": "2027-12-31",
        }
    ],
}


class LotCreate(RequestSchema):
    model_config = {"json_schema_extra": {"examples": [EXAMPLE_LOT]}}

    title: str = Field(min_length=1, max_length=200, pattern=_TEXT_RE.pattern)
    description: str | None = Field(default=None, max_length=5000)
    family: FamilyName
    grade: GradeIn
    quantity: Quantity
    supply: Supply = Field(default_factory=Supply)
    location: LocationIn
    legal: Legal = Field(default_factory=Legal)
    asking_price: Money | None = Field(default=None, description="Price per tonne")
    price_floor: Money | None = Field(default=None, description="Owner-only: lowest acceptable")
    internal_notes: str | None = Field(default=None, max_length=5000)
    certifications: list[Certification] = Field(default_factory=list, max_length=20)
    available_from: LaxDate | None = None

    @model_validator(mode="before")
    @classmethod
    def _family_into_grade(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("grade"), dict):
            fam = data.get("family")
            grade = data["grade"]
            if "family" not in grade and fam is not None:
                data = {**data, "grade": {**grade, "family": fam}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> LotCreate:
        if self.grade.family != self.family:
            raise _custom("family_mismatch", "grade.family differs from the lot's family")
        if (
            self.asking_price
            and self.price_floor
            and self.asking_price.currency != self.price_floor.currency
        ):
            raise _custom("currency_mismatch", "asking_price and price_floor use other currencies")
        return self


class LotUpdate(RequestSchema):
    """Partial update (JSON merge semantics per top-level field). Family cannot change."""

    model_config = {
        "json_schema_extra": {
            "examples": [{"quantity": {"value": 20, "unit": "t"}, "asking_price": None}]
        }
    }

    title: str | None = Field(default=None, min_length=1, max_length=200, pattern=_TEXT_RE.pattern)
    description: str | None = Field(default=None, max_length=5000)
    grade: GradeIn | None = None
    quantity: Quantity | None = None
    supply: Supply | None = None
    location: LocationIn | None = None
    legal: Legal | None = None
    asking_price: Money | None = None
    price_floor: Money | None = None
    internal_notes: str | None = Field(default=None, max_length=5000)
    certifications: list[Certification] | None = Field(default=None, max_length=20)
    available_from: LaxDate | None = None


# --- responses ------------------------------------------------------------------------------


class QuantityOut(ResponseSchema):
    value: float
    unit: str


class MoneyOut(ResponseSchema):
    amount: str = Field(examples=["420.00"])
    currency: str
    per: Literal["t"] = "t"


class LocationOut(ResponseSchema):
    country: str
    postcode: str | None
    latitude: float
    longitude: float
    region_code: str | None = Field(description="NUTS region used for aggregation")
    approximate: bool = Field(description="True when coordinates come from postcode/country")


class LegalOut(ResponseSchema):
    waste_code: str | None
    waste_hazardous: bool | None
    basel_code: str | None
    hs_code: str | None
    end_of_waste_status: str | None
    end_of_waste_regulation: str | None


class SupplyOut(ResponseSchema):
    type: str
    frequency: str | None = None
    quantity_per_delivery_kg: float | None = None
    start: dt.date | None = None
    end: dt.date | None = None


class WarningOut(ResponseSchema):
    code: str
    field: str | None = None
    detail: str


class LotPublic(ResponseSchema):
    """What every authenticated organisation sees of a lot."""

    id: str
    organization_id: str = Field(description="The seller")
    status: LotStatus
    title: str
    description: str | None
    family: str
    polymer: str | None
    form: str | None
    color: str | None
    source: str | None
    dql: int = Field(
        description="Computed Data Quality Level (completeness level for non-plastics)"
    )
    quality_scheme: str
    grade: dict[str, Any]
    assessment: AssessmentOut
    quantity_kg: float
    available_kg: float
    quantity: QuantityOut
    supply: SupplyOut
    location: LocationOut
    legal: LegalOut
    asking_price: MoneyOut | None
    certifications: list[dict[str, Any]]
    available_from: dt.date | None
    posted_at: dt.datetime
    updated_at: dt.datetime
    version: int


class LotOwner(LotPublic):
    """The seller's view: adds owner-only fields and plausibility warnings."""

    price_floor: MoneyOut | None
    internal_notes: str | None
    warnings: list[WarningOut]
    withdrawn_at: dt.datetime | None


class BulkLotsIn(RequestSchema):
    model_config = {"json_schema_extra": {"examples": [{"lots": [EXAMPLE_LOT]}]}}

    lots: list[LotCreate] = Field(min_length=1, max_length=500)


class BulkLotsOut(ResponseSchema):
    created: int
    ids: list[str]


def money_out(minor: int | None, currency: str | None) -> dict[str, str] | None:
    if minor is None or currency is None:
        return None
    return {"amount": f"{minor // 100}.{minor % 100:02d}", "currency": currency, "per": "t"}


def present_lot(lot: Any, *, owner: bool) -> LotPublic:
    """Build the public or the owner view of a lot (owner-only fields never leak)."""
    shown = lot.quantity_kg / 1000.0 if lot.quantity_unit == "t" else lot.quantity_kg
    rec = lot.recurrence or {}
    data: dict[str, Any] = {
        "id": lot.id,
        "organization_id": lot.organization_id,
        "status": lot.status,
        "title": lot.title,
        "description": lot.description,
        "family": lot.family,
        "polymer": lot.polymer,
        "form": lot.form,
        "color": lot.color,
        "source": lot.source,
        "dql": lot.dql,
        "quality_scheme": lot.quality_scheme,
        "grade": lot.grade,
        "assessment": lot.assessment,
        "quantity_kg": lot.quantity_kg,
        "available_kg": lot.available_kg,
        "quantity": {"value": shown, "unit": lot.quantity_unit},
        "supply": {
            "type": lot.supply_type,
            "frequency": rec.get("frequency"),
            "quantity_per_delivery_kg": rec.get("quantity_per_delivery_kg"),
            "start": rec.get("start"),
            "end": rec.get("end"),
        },
        "location": {
            "country": lot.country,
            "postcode": lot.postcode,
            "latitude": lot.latitude,
            "longitude": lot.longitude,
            "region_code": lot.region_code,
            "approximate": lot.location_approximate,
        },
        "legal": {
            "waste_code": lot.waste_code,
            "waste_hazardous": lot.waste_hazardous,
            "basel_code": lot.basel_code,
            "hs_code": lot.hs_code,
            "end_of_waste_status": lot.end_of_waste_status,
            "end_of_waste_regulation": lot.end_of_waste_regulation,
        },
        "asking_price": money_out(lot.price_per_t_minor, lot.currency),
        "certifications": lot.certifications or [],
        "available_from": lot.available_from,
        "posted_at": lot.posted_at,
        "updated_at": lot.updated_at,
        "version": lot.version,
    }
    if not owner:
        return LotPublic.model_validate(data)
    data.update(
        price_floor=money_out(lot.price_floor_per_t_minor, lot.currency),
        internal_notes=lot.internal_notes,
        warnings=lot.warnings or [],
        withdrawn_at=lot.withdrawn_at,
    )
    return LotOwner.model_validate(data)


class PropertiesOut(ResponseSchema):
    """Key measured properties in canonical units (null when absent or invalid)."""

    mfr_g_10min: float | None
    mfr_temperature_c: float | None
    mfr_load_kg: float | None
    density_g_cm3: float | None
    ash_pct: float | None
    moisture_pct: float | None


class LotSummary(ResponseSchema):
    """A list item: everything needed to choose a lot, without the full grade and assessment
    (GET /v1/lots/{id} or `view=full` gives those). Keeps a page of 100 small and fast."""

    id: str
    organization_id: str
    status: LotStatus
    title: str
    family: str
    polymer: str | None
    form: str | None
    color: str | None
    source: str | None
    dql: int
    claimed_dql: int | None
    quality_scheme: str
    properties: PropertiesOut
    quantity_kg: float
    available_kg: float
    supply_type: str
    location: LocationOut
    asking_price: MoneyOut | None
    certification_schemes: list[str]
    posted_at: dt.datetime
    updated_at: dt.datetime
    version: int


_Short = Annotated[str | None, Field(max_length=32)]
_Kg = Annotated[float | None, Field(ge=0, le=1e9)]


class LotListQuery(BaseModel):
    """The query parameters of ``GET /v1/lots`` (validated in one call: app/kit/query.py)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    family: FamilyName | None = None
    polymer: _Short = None
    form: _Short = None
    color: _Short = None
    source: _Short = None
    min_dql: Annotated[int | None, Field(ge=0, le=4)] = None
    country: Annotated[str | None, Field(pattern=r"^[A-Z]{2}$")] = None
    region: Annotated[
        str | None, Field(pattern=r"^[A-Z]{2}[A-Z0-9]{0,3}$", description="NUTS prefix")
    ] = None
    min_available_kg: _Kg = None
    supply_type: Literal["spot", "recurring"] | None = None
    updated_since: UTCDatetime | None = None
    mfr_min: _Kg = None
    mfr_max: _Kg = None
    mfr_temperature_c: Annotated[float | None, Field(ge=0, le=500)] = None
    mfr_load_kg: Annotated[float | None, Field(ge=0, le=100)] = None
    density_min: Annotated[float | None, Field(ge=0, le=25)] = None
    density_max: Annotated[float | None, Field(ge=0, le=25)] = None
    ash_max: Annotated[float | None, Field(ge=0, le=100)] = None
    moisture_max: Annotated[float | None, Field(ge=0, le=100)] = None
    status: Literal["active", "sold_out", "withdrawn", "any"] | None = None
    mine: bool = Field(default=False, description="Only your own lots (all statuses by default)")
    sort: Literal["newest", "oldest", "available_desc", "dql_desc", "updated"] = "newest"
    view: Literal["summary", "full"] = Field(
        default="summary",
        description="summary (default): list items without grade and assessment; "
        "full: the same documents as GET /v1/lots/{id}",
    )
    limit: int = Field(
        default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size (1-100).", examples=[25]
    )
    cursor: Annotated[
        str | None,
        Field(max_length=512, description="Opaque cursor from a previous page's `next_cursor`."),
    ] = None
