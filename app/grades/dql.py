"""Grade classifier: DQL (EN 18065 / DIN SPEC 91446) for plastics, completeness for others.

``assess`` is pure and deterministic: the same attributes give the same Assessment (issues are
ordered by rule-table order, then by key order of the input for unknown keys).

A lot reaches level L when every field required at L or below is present and valid; level 0
when level 1 is not met. Invalid values never count. ``None`` (JSON null) counts as absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.grades import families as _families
from app.grades import plausibility as _plausibility
from app.grades.catalogue import Catalogue, get_catalogue
from app.grades.results import Assessment, InputError, Issue
from app.grades.validation import escape_pointer, sanitize

__all__ = ["assess", "check_input"]


def _field_issue(cat: Catalogue, key: str, value: Any) -> Issue | None:
    f = cat.by_id.get(key) or cat.extensions.get(key)
    if f is None:
        return Issue(
            key,
            "unknown_field",
            f"{key!r} is neither an attribute of {cat.scheme} for {cat.family} nor a documented "
            f"extension ({cat.extension_prefix}...)",
            "/" + escape_pointer(key),
        )
    p = f.validate(value)
    if p is None:
        return None
    return Issue(key, p[0], p[1], "/" + key + p[2], f.level)


def assess(
    attributes: Mapping[str, Any],
    *,
    family: str = "plastic",
    scheme: str | None = None,
    edition: str | None = None,
    claimed_level: int | None = None,
    plausibility: bool = True,
) -> Assessment:
    """Assess grade attributes.

    ``family``: ``plastic_recyclate`` (alias ``plastic``), ``plastic_waste``, ``paper``,
    ``ferrous_scrap``, ``aluminium_scrap``, ``copper_scrap``, ``glass_cullet``.
    ``scheme``/``edition`` default to the family's default: ``EN 18065``/``2025`` for plastics
    (``DIN SPEC 91446``/``2021`` also available), ``completeness``/``1`` for the others.
    Raises ``UnknownSchemeError`` (a ValueError) for an unknown family/scheme/edition,
    ``TypeError`` when attributes is not a mapping, ``ValueError`` for a claimed level outside
    0..max_level.
    """
    cat = get_catalogue(family, scheme, edition)
    if not isinstance(attributes, Mapping):
        raise TypeError("attributes must be a mapping")
    if claimed_level is not None and (
        type(claimed_level) is not int or not 0 <= claimed_level <= cat.max_level
    ):
        raise ValueError(f"claimed_level must be an integer 0..{cat.max_level}")

    blockers: list[list[Issue]] = [[] for _ in range(cat.max_level + 2)]
    invalid: list[Issue] = []
    valid: list[str] = []
    get = attributes.get
    for f in cat.fields:
        value = get(f.id_short)
        lvl = f.level or 0
        if value is None:
            if f.missing is not None:
                blockers[lvl].append(f.missing)
            continue
        p = f.validate(value)
        if p is None:
            valid.append(f.id_short)
            continue
        issue = Issue(f.id_short, p[0], p[1], "/" + f.id_short + p[2], lvl)
        invalid.append(issue)
        blockers[lvl].append(issue)

    if len(attributes) != len(valid) + len(invalid):
        for key, value in attributes.items():
            if key in cat.by_id:
                continue
            if value is None and key in cat.extensions:
                continue
            extra = _field_issue(cat, key, value) if isinstance(key, str) else None
            if extra is not None:
                invalid.append(extra)
            elif isinstance(key, str):
                valid.append(key)

    level = 0
    for lvl in range(1, cat.max_level + 1):
        if blockers[lvl]:
            break
        level = lvl
    next_level = level + 1 if level < cat.max_level else None
    missing_next = tuple(blockers[next_level]) if next_level is not None else ()

    warnings: list[Issue] = []
    exceeds = claimed_level is not None and claimed_level > level
    if exceeds:
        warnings.append(
            Issue(
                "claimed_level",
                "claim_exceeds_computed",
                f"claimed level {claimed_level} but the data supports level {level}",
                "",
                claimed_level,
                "warning",
            )
        )
    if plausibility:
        warnings.extend(_plausibility.attribute_warnings(attributes, cat, valid))
    checks = _families.evaluate_checks(cat, attributes, valid) if cat.checks else ()

    return Assessment(
        family=cat.family,
        scheme=cat.scheme,
        edition=cat.edition,
        level=level,
        max_level=cat.max_level,
        claimed_level=claimed_level,
        claim_exceeds_computed=exceeds,
        next_level=next_level,
        missing_for_next_level=missing_next,
        invalid=tuple(invalid),
        warnings=tuple(warnings),
        checks=checks,
        valid_fields=tuple(valid),
    )


def check_input(
    attributes: Any,
    *,
    family: str = "plastic",
    scheme: str | None = None,
    edition: str | None = None,
) -> list[InputError]:
    """Hard input errors (to be answered with 422), separate from the classifier's verdicts.

    Reports: not an object, unknown keys, wrong JSON types, unexpected sub-keys, NUL bytes,
    NaN/inf, numbers beyond +-1e12, oversize strings/arrays, nesting too deep.
    Pointers are relative to the attributes object (``/Density/unit``).
    """
    if not isinstance(attributes, Mapping):
        return [InputError("", "wrong_type", "attributes must be an object")]
    cat = get_catalogue(family, scheme, edition)
    errors: dict[str, InputError] = {}
    for code, detail, ptr, _ in sanitize(attributes):
        errors.setdefault(ptr, InputError(ptr, code, detail))
    for key, value in attributes.items():
        if not isinstance(key, str) or value is None:
            continue
        issue = _field_issue(cat, key, value)
        if issue is None:
            continue
        if issue.code == "unknown_field":
            errors.setdefault(issue.pointer, InputError(issue.pointer, issue.code, issue.detail))
            continue
        f = cat.by_id.get(key) or cat.extensions[key]
        p = f.validate(value)
        if p is not None and p[3]:
            ptr = "/" + escape_pointer(key) + p[2]
            errors.setdefault(ptr, InputError(ptr, p[0], p[1]))
    return sorted(errors.values(), key=lambda e: e.pointer)
