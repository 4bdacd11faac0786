"""Pydantic v2 API schemas for grades (no web framework import).

``GradeIn`` rejects hard input errors (unknown keys, wrong types, NUL bytes, NaN/inf, numbers
beyond +-1e12, oversize values) with a ``ValidationError`` whose locations point into the
attributes (``("attributes", "Density", "unit")`` -> JSON pointer ``/grade/attributes/Density/unit``
when the model is nested under ``grade``). The classifier's verdicts (missing or invalid fields,
level) are *not* errors: they come back in ``AssessmentOut``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.grades.catalogue import UnknownSchemeError, get_catalogue, resolve_scheme
from app.grades.dql import assess, check_input
from app.grades.results import Assessment

__all__ = [
    "AssessmentOut",
    "FamilyName",
    "GradeIn",
    "IssueOut",
    "ThresholdCheckOut",
    "assess_grade",
    "pointer_to_loc",
]

FamilyName = Literal[
    "plastic_recyclate",
    "plastic_waste",
    "paper",
    "ferrous_scrap",
    "aluminium_scrap",
    "copper_scrap",
    "glass_cullet",
]

EXAMPLE_PP_REGRIND: dict[str, Any] = {
    "family": "plastic_recyclate",
    "scheme": "EN 18065",
    "edition": "2025",
    "claimed_dql": 3,
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
            "lot_specific": True,
        },
        "ChainOfCustody": {"AttributionModel": "segregated"},
        "RecyclingMethod": "mechanical",
        "Source": "post_industrial",
        "TypesOfFillers": [{"Filler": "talc", "FillerMassPercentage": 5}],
        "LotNumber": "L-2025-0412",
        "CertificateOfAnalysis": {
            "TypeOfInspectionCertificate": "3.1",
            "Documentation": "doc_coa_2025_0412",
        },
        "PresenceOfModifyingAdditives": [],
        "AshContent": {"value": 5.4, "unit": "%", "method": "ISO 3451-1"},
        "ResidualHumidity": {"value": 400, "unit": "ppm", "method": "ISO 15512"},
        "Density": {"mean": 0.935, "sd": 0.004, "n": 5, "unit": "g/cm3", "method": "ISO 1183-1"},
        "x-Odour": {"value": 3.5, "method": "VDA 270", "conditions": {"variant": "C3"}},
    },
}


def pointer_to_loc(pointer: str) -> tuple[str | int, ...]:
    """``/TypesOfFillers/0/Filler`` -> ``("TypesOfFillers", 0, "Filler")`` (RFC 6901 unescape)."""
    if not pointer:
        return ()
    out: list[str | int] = []
    for token in pointer.lstrip("/").split("/"):
        t = token.replace("~1", "/").replace("~0", "~")
        out.append(int(t) if t.isdigit() else t)
    return tuple(out)


class GradeIn(BaseModel):
    """A grade posted with a lot: attributes keyed by IDTA 02080 idShort or ``x-`` extension."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [EXAMPLE_PP_REGRIND]},
    )

    family: FamilyName = "plastic_recyclate"
    scheme: str | None = Field(
        default=None, max_length=50, description="EN 18065 | DIN SPEC 91446 | completeness"
    )
    edition: str | None = Field(default=None, max_length=20)
    claimed_dql: int | None = Field(default=None, ge=0, le=4)
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        description="Object keyed by IDTA 02080 idShort or a documented x- extension key.",
    )

    @model_validator(mode="after")
    def _check(self) -> GradeIn:
        try:
            _, scheme, edition = resolve_scheme(self.family, self.scheme, self.edition)
        except UnknownSchemeError as exc:
            raise ValidationError.from_exception_data(
                "GradeIn",
                [
                    InitErrorDetails(
                        type=PydanticCustomError("unknown_scheme", str(exc)),
                        loc=("scheme",),
                        input=self.scheme,
                    )
                ],
            ) from None
        errors = check_input(self.attributes, family=self.family, scheme=scheme, edition=edition)
        if errors:
            raise ValidationError.from_exception_data(
                "GradeIn",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            e.code, e.detail.replace("{", "(").replace("}", ")")
                        ),
                        loc=("attributes", *pointer_to_loc(e.pointer)),
                        input=None,
                    )
                    for e in errors
                ],
            )
        self.scheme, self.edition = scheme, edition
        return self


class IssueOut(BaseModel):
    field: str
    code: str = Field(
        description="missing | invalid_unit | out_of_range | missing_conditions | ..."
    )
    detail: str
    pointer: str = Field(description="JSON Pointer relative to grade.attributes")
    level: int | None
    severity: Literal["error", "warning"]


class ThresholdCheckOut(BaseModel):
    code: str
    field: str
    basis: str
    legal: bool
    comparator: str
    limit: float | None
    unit: str | None
    value: float | bool | None
    status: Literal["pass", "fail", "unknown"]
    detail: str


class AssessmentOut(BaseModel):
    family: str
    scheme: str
    edition: str
    level: int = Field(description="Data Quality Level (or completeness level) reached; 0 = none")
    max_level: int
    claimed_level: int | None
    claim_exceeds_computed: bool
    next_level: int | None
    missing_for_next_level: list[IssueOut]
    invalid: list[IssueOut]
    warnings: list[IssueOut]
    checks: list[ThresholdCheckOut]
    valid_fields: list[str]

    @classmethod
    def from_assessment(cls, a: Assessment) -> AssessmentOut:
        return cls.model_validate(a.as_dict())


def assess_grade(grade: GradeIn) -> AssessmentOut:
    """Assess a validated GradeIn (the service layer's one-liner)."""
    return AssessmentOut.from_assessment(
        assess(
            grade.attributes,
            family=grade.family,
            scheme=grade.scheme,
            edition=grade.edition,
            claimed_level=grade.claimed_dql,
        )
    )


def _example_output() -> dict[str, Any]:
    g = EXAMPLE_PP_REGRIND
    get_catalogue(g["family"], g["scheme"], g["edition"])
    a = assess(
        g["attributes"], family=g["family"], scheme=g["scheme"], claimed_level=g["claimed_dql"]
    )
    return a.as_dict()


# The example output is computed from the example input at import time, so it cannot drift.
AssessmentOut.model_config["json_schema_extra"] = {"examples": [_example_output()]}
AssessmentOut.model_rebuild(force=True)
