"""Plain result types returned by the grade engine (frozen dataclasses, JSON via ``as_dict``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Assessment", "InputError", "Issue", "ThresholdCheck"]

Severity = Literal["error", "warning"]
CheckStatus = Literal["pass", "fail", "unknown"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One verdict on one field: why it is missing/invalid, or a warning.

    ``pointer`` is a JSON Pointer relative to ``grade.attributes`` (``/Density/unit``).
    ``level`` is the level at which the field becomes required (None for extensions).
    """

    field: str
    code: str
    detail: str
    pointer: str
    level: int | None = None
    severity: Severity = "error"

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "code": self.code,
            "detail": self.detail,
            "pointer": self.pointer,
            "level": self.level,
            "severity": self.severity,
        }


@dataclass(frozen=True, slots=True)
class InputError:
    """A hard input error (422): pointer is relative to the attributes object unless prefixed."""

    pointer: str
    code: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "code": self.code, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class ThresholdCheck:
    """A legal (end-of-waste) or grade-specification ceiling, reported as a flag, never blocking."""

    code: str
    field: str
    basis: str
    legal: bool
    comparator: str
    limit: float | None
    unit: str | None
    value: float | bool | None
    status: CheckStatus
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "field": self.field,
            "basis": self.basis,
            "legal": self.legal,
            "comparator": self.comparator,
            "limit": self.limit,
            "unit": self.unit,
            "value": self.value,
            "status": self.status,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Assessment:
    """Result of ``assess``: level reached and exactly what blocks the next one.

    ``level`` is 0 when level 1 is not met. ``next_level`` is None at the top level.
    ``missing_for_next_level``: every field required at ``next_level`` that is missing or
    invalid (fields of lower levels are all valid by definition of ``level``).
    ``invalid``: every present-but-invalid field (any level, extensions, unknown keys).
    """

    family: str
    scheme: str
    edition: str
    level: int
    max_level: int
    claimed_level: int | None
    claim_exceeds_computed: bool
    next_level: int | None
    missing_for_next_level: tuple[Issue, ...]
    invalid: tuple[Issue, ...]
    warnings: tuple[Issue, ...]
    checks: tuple[ThresholdCheck, ...]
    valid_fields: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "scheme": self.scheme,
            "edition": self.edition,
            "level": self.level,
            "max_level": self.max_level,
            "claimed_level": self.claimed_level,
            "claim_exceeds_computed": self.claim_exceeds_computed,
            "next_level": self.next_level,
            "missing_for_next_level": [i.as_dict() for i in self.missing_for_next_level],
            "invalid": [i.as_dict() for i in self.invalid],
            "warnings": [i.as_dict() for i in self.warnings],
            "checks": [c.as_dict() for c in self.checks],
            "valid_fields": list(self.valid_fields),
        }
