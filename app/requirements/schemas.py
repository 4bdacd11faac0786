"""Requirement request/response models: the procurement spec a manufacturer matches lots with.

Every criterion carries the same three rules: ``hard`` (failing it makes a lot ineligible),
``weight`` (its share of the score) and ``if_missing`` (``fail`` | ``zero`` | ``ignore``: what
it means when a lot does not give the value, or gives it by a method or under conditions that
are not comparable). Bad specs (min > max, a target outside the window, a unit of another
dimension, unknown keys) are 422 problems pointing at the field.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from app.grades import units
from app.grades.methods import method_key
from app.grades.schemas import FamilyName
from app.grades.validation import polymer_vocab
from app.kit.schemas import LaxDate, RequestSchema, ResponseSchema
from app.lots.schemas import CERT_SCHEMES, CURRENCIES, LocationIn, Quantity
from app.matching.facts import PROPERTIES, property_dimension
from app.requirements.models import RequirementStatus

PropertyName = Literal[tuple(PROPERTIES)]  # type: ignore[valid-type]
Short = Annotated[str, Field(min_length=1, max_length=32)]
Bounded = Annotated[float, Field(ge=-1e12, le=1e12)]
FoodContactStatus = Literal["suitable_technology", "authorised_process", "novel_technology"]


def _food_contact_ok() -> list[FoodContactStatus]:
    return ["suitable_technology", "authorised_process"]


def _custom(code: str, detail: str) -> PydanticCustomError:
    return PydanticCustomError(code, detail.replace("{", "(").replace("}", ")"))


class Rule(RequestSchema):
    hard: bool = Field(
        default=True, description="Hard: a lot failing it is ineligible. Soft: it only scores."
    )
    weight: float = Field(default=1.0, ge=0, le=100, description="Share of the score")
    if_missing: Literal["fail", "zero", "ignore"] = Field(
        default="fail",
        description=(
            "When the lot lacks the value (or gives an incomparable one): `fail` counts as "
            "failed, `zero` scores 0 but keeps the lot eligible, `ignore` leaves it out."
        ),
    )


class PolymerRule(Rule):
    values: list[Short] = Field(min_length=1, max_length=20, examples=[["PP"]])
    include_subtypes: bool = Field(
        default=False,
        description="`PE` admits `PE-HD`, `PE-LD`... only when true; otherwise `PE` only.",
    )

    @field_validator("values")
    @classmethod
    def _codes(cls, values: list[str]) -> list[str]:
        out: list[str] = []
        for v in values:
            code, _ = polymer_vocab().resolve(v)
            if code is None:
                raise _custom("unknown_polymer_code", f"{v!r} is not an EN ISO 1043-1 symbol")
            out.append(code)
        return out


class ValuesRule(Rule):
    values: list[Short] = Field(min_length=1, max_length=20)


class DqlRule(Rule):
    min: int = Field(ge=0, le=4, examples=[2])


class PropertyWindow(Rule):
    property: PropertyName = Field(examples=["Viscosity"])  # type: ignore[valid-type]
    quantity: Literal["MFR", "MVR", "IV", "VN"] | None = Field(
        default=None, description="Viscosity only (inferred from the unit when omitted)"
    )
    unit: str = Field(min_length=1, max_length=20, examples=["g/10min"])
    min: Bounded | None = None
    max: Bounded | None = None
    target: Bounded | None = None
    methods: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        default_factory=list,
        max_length=10,
        description="Accepted test methods (empty: any). `ISO 1133` admits every part.",
    )
    conditions: dict[Annotated[str, Field(max_length=40)], float | Short] = Field(
        default_factory=dict,
        max_length=6,
        description="Required test conditions, e.g. {temperature_c: 190, load_kg: 2.16}",
    )

    @model_validator(mode="after")
    def _check(self) -> PropertyWindow:
        if self.min is None and self.max is None and self.target is None:
            raise _custom("empty_window", "give min, max or target")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise _custom("min_greater_than_max", "min is greater than max")
        if self.target is not None and (
            (self.min is not None and self.target < self.min)
            or (self.max is not None and self.target > self.max)
        ):
            raise _custom("target_outside_window", "target lies outside [min, max]")
        code = units.canonicalize_unit(self.unit)
        if code is None:
            raise _custom("unknown_unit", f"unknown unit {self.unit!r}")
        self.unit = code
        if self.property == "Viscosity" and self.quantity is None:
            self.quantity = {
                "mass_flow_rate": "MFR",
                "volume_flow_rate": "MVR",
                "specific_volume": "IV" if code == "dL/g" else "VN",
            }.get(units.unit_dimension(code) or "")
            if self.quantity is None:
                raise _custom("incompatible_unit", f"{self.unit} is not a viscosity unit")
        if self.property != "Viscosity" and self.quantity is not None:
            raise _custom("unexpected_quantity", "quantity applies to Viscosity only")
        dim = property_dimension(self.property, self.quantity)
        if units.unit_dimension(code) != dim:
            wanted = units.canonical_unit(dim or "dimensionless")
            raise _custom(
                "incompatible_unit",
                f"{self.unit} is a {units.unit_dimension(code)} unit; {self.property} "
                f"{self.quantity or ''} needs {dim} (e.g. {wanted})",
            )
        if self.quantity in ("MFR", "MVR") and not {"temperature_c", "load_kg"} <= set(
            self.conditions
        ):
            raise _custom(
                "missing_conditions",
                f"{self.quantity} windows need conditions temperature_c and load_kg",
            )
        for m in self.methods:
            if method_key(m) is None:
                raise _custom("unknown_method", f"{m!r} is not a recognised test standard")
        for k, v in self.conditions.items():
            if isinstance(v, float) and not math.isfinite(v):
                raise _custom("invalid_condition", f"condition {k} must be finite")
        return self


class CertificationsRule(Rule):
    schemes: list[Literal[CERT_SCHEMES]] = Field(  # type: ignore[valid-type]
        min_length=1, max_length=10, examples=[["EN 15343"]]
    )
    mode: Literal["all", "any"] = "all"
    valid_on: LaxDate | None = Field(
        default=None,
        description="Date the certificates must be valid on (default: delivery start or today)",
    )


class FoodContactRule(Rule):
    statuses: list[FoodContactStatus] = Field(
        default_factory=_food_contact_ok, min_length=1, max_length=3
    )


class EndOfWasteRule(Rule):
    statuses: list[Literal["waste", "end_of_waste", "product", "by_product"]] = Field(
        min_length=1, max_length=4, examples=[["end_of_waste", "product"]]
    )


class QuantityRule(Rule):
    min: Quantity | None = None
    max: Quantity | None = None

    @model_validator(mode="after")
    def _check(self) -> QuantityRule:
        if self.min is None and self.max is None:
            raise _custom("empty_quantity", "give min, max or both")
        if self.min is not None and self.max is not None and self.min.kg > self.max.kg:
            raise _custom("min_greater_than_max", "min is greater than max")
        return self


class DeliveryWindow(Rule):
    start: LaxDate | None = None
    end: LaxDate | None = None

    @model_validator(mode="after")
    def _check(self) -> DeliveryWindow:
        for d in (self.start, self.end):
            if d is not None and not (dt.date(2000, 1, 1) <= d <= dt.date(2100, 1, 1)):
                raise _custom("date_out_of_range", "dates must be between 2000 and 2100")
        if self.start and self.end and self.end < self.start:
            raise _custom("end_before_start", "end is before start")
        return self


class DeliveryLocation(LocationIn):
    hard: bool = True
    weight: float = Field(default=1.0, ge=0, le=100)
    if_missing: Literal["fail", "zero", "ignore"] = "fail"
    max_distance_km: float | None = Field(default=None, gt=0, le=20_000, examples=[300])


class MaxPrice(Rule):
    amount: str = Field(pattern=r"^\d{1,9}(\.\d{1,2})?$", examples=["480.00"])
    currency: Literal[CURRENCIES] = Field(examples=["EUR"])  # type: ignore[valid-type]
    basis: Literal["ex_works", "landed"] = Field(
        default="ex_works", description="`landed` adds transport at the platform's EUR/t*km rate"
    )

    @field_validator("amount")
    @classmethod
    def _positive(cls, v: str) -> str:
        if float(v) <= 0:
            raise _custom("not_positive", "amount must be above 0")
        return v


EXAMPLE_SPEC: dict[str, Any] = {
    "family": "plastic_recyclate",
    "polymers": {"values": ["PP"]},
    "forms": {"values": ["regrind", "regranulate"], "hard": False, "weight": 0.5},
    "min_dql": {"min": 2},
    "properties": [
        {
            "property": "Viscosity",
            "unit": "g/10min",
            "min": 8,
            "max": 20,
            "target": 12,
            "methods": ["ISO 1133"],
            "conditions": {"temperature_c": 230, "load_kg": 2.16},
            "weight": 3,
        },
        {"property": "Density", "unit": "kg/m3", "max": 960, "hard": False, "if_missing": "zero"},
    ],
    "certifications": {"schemes": ["EN 15343"], "hard": False, "if_missing": "zero"},
    "quantity": {"min": {"value": 20, "unit": "t"}, "max": {"value": 60, "unit": "t"}},
    "delivery_window": {"start": "2026-09-01", "end": "2026-12-31"},
    "delivery_location": {"country": "DE", "postcode": "70173", "max_distance_km": 600},
    "max_price": {"amount": "520.00", "currency": "EUR", "basis": "landed", "weight": 2},
}


class RequirementSpec(RequestSchema):
    """What a lot must (hard) or should (soft) satisfy. Only ``family`` is required."""

    model_config = {"json_schema_extra": {"examples": [EXAMPLE_SPEC]}}

    family: FamilyName
    polymers: PolymerRule | None = None
    forms: ValuesRule | None = None
    colors: ValuesRule | None = None
    sources: ValuesRule | None = None
    min_dql: DqlRule | None = None
    properties: list[PropertyWindow] = Field(default_factory=list, max_length=20)
    certifications: CertificationsRule | None = None
    food_contact: FoodContactRule | None = None
    reach_declaration: Rule | None = Field(
        default=None, description="Require a REACH SVHC declaration (x-ReachSvhcDeclaration)"
    )
    end_of_waste: EndOfWasteRule | None = None
    quantity: QuantityRule | None = None
    delivery_window: DeliveryWindow | None = None
    delivery_location: DeliveryLocation | None = None
    max_price: MaxPrice | None = None


EXAMPLE_REQUIREMENT: dict[str, Any] = {
    "name": "PP for crates, Stuttgart plant",
    "saved_search": True,
    "spec": EXAMPLE_SPEC,
}


class RequirementCreate(RequestSchema):
    model_config = {"json_schema_extra": {"examples": [EXAMPLE_REQUIREMENT]}}

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]*$")
    saved_search: bool = Field(
        default=False,
        description="Record a `requirement.matched` event when a lot newly matches",
    )
    spec: RequirementSpec


class RequirementUpdate(RequestSchema):
    """Change the name, the saved-search flag or replace the whole spec."""

    model_config = {"json_schema_extra": {"examples": [{"saved_search": False}]}}

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]*$")
    saved_search: bool | None = None
    spec: RequirementSpec | None = None


class RequirementOut(ResponseSchema):
    id: str
    organization_id: str
    name: str
    status: RequirementStatus
    saved_search: bool
    spec: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    version: int


class RequirementEventOut(ResponseSchema):
    id: str
    type: str = Field(examples=["requirement.matched"])
    requirement_id: str
    lot_id: str
    score: float
    created_at: dt.datetime
