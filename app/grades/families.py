"""Non-plastic material families: completeness levels 1..4 and threshold flags.

Each family is data in ``rules/families/<family>.json``: an attribute catalogue with the
completeness level at which each field becomes required (same ``assess`` entry point and
Assessment shape as the DQL, scheme ``completeness``), plus threshold checks (legal end-of-waste
criteria and grade specifications) reported as flags in ``Assessment.checks``, never blocking.

Check ops: ``le``, ``lt``, ``ge``, ``gt`` (numeric, after converting the value to the check's
unit), ``is_false`` / ``is_true`` (boolean declarations). ``when`` restricts a check to grade
codes (``{"field": "GradeCode", "in": [...]}`` or ``{"field": ..., "matches": regex}``);
``limit_from`` takes the limit from a regex group of another field (Zorba NN).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

from app.grades import units
from app.grades.catalogue import OTHER_FAMILIES, Catalogue, get_catalogue
from app.grades.results import ThresholdCheck

__all__ = ["OTHER_FAMILIES", "evaluate_checks", "family_catalogue", "numeric_value"]


def family_catalogue(family: str) -> Catalogue:
    """Compiled catalogue of a non-plastic family (scheme ``completeness``)."""
    return get_catalogue(family, "completeness", None)


def numeric_value(v: Any, unit: str) -> float | None:
    """A valid number or ``{value|mean, unit}`` converted to ``unit``; plain numbers are taken
    to be in ``unit`` already."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, Mapping):
        raw = v.get("value", v.get("mean"))
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return None
        try:
            return units.convert(float(raw), str(v.get("unit", unit)), unit)
        except units.UnitError:
            return None
    return None


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _applies(check: Mapping[str, Any], attrs: Mapping[str, Any], valid: set[str]) -> bool:
    when = check.get("when")
    if not when:
        return True
    fld = when["field"]
    if fld not in valid:
        return False
    val = str(attrs[fld]).strip()
    if "in" in when:
        return val.upper() in {str(x).upper() for x in when["in"]}
    if "matches" in when:
        return _regex(str(when["matches"])).fullmatch(val) is not None
    return False


_OPS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "le": (operator.le, "<="),
    "lt": (operator.lt, "<"),
    "ge": (operator.ge, ">="),
    "gt": (operator.gt, ">"),
}


def evaluate_checks(
    cat: Catalogue, attrs: Mapping[str, Any], valid: Sequence[str]
) -> tuple[ThresholdCheck, ...]:
    """Evaluate the catalogue's threshold checks. A check on a missing or invalid field has
    status ``unknown``; checks whose ``when`` does not apply are left out."""
    valid_set = set(valid)
    out: list[ThresholdCheck] = []
    for c in cat.checks:
        if not _applies(c, attrs, valid_set):
            continue
        fld = str(c["field"])
        op = str(c["op"])
        unit = c.get("unit")
        limit: float | None = float(c["limit"]) if c.get("limit") is not None else None
        lf = c.get("limit_from")
        if lf is not None:
            src = lf["field"]
            m = _regex(str(lf["regex"])).fullmatch(str(attrs.get(src, "")).strip())
            if src not in valid_set or m is None:
                continue
            limit = float(m.group(1)) + float(lf.get("offset", 0))
        base = ThresholdCheck(
            code=str(c["code"]),
            field=fld,
            basis=str(c["basis"]),
            legal=bool(c.get("legal", False)),
            comparator=op,
            limit=limit,
            unit=None if unit is None else str(unit),
            value=None,
            status="unknown",
            detail="",
        )
        if fld not in valid_set:
            out.append(replace(base, detail=f"{fld} missing or invalid"))
            continue
        if op in ("is_false", "is_true"):
            b = attrs[fld]
            ok = (b is False) if op == "is_false" else (b is True)
            out.append(
                replace(
                    base,
                    value=bool(b),
                    status="pass" if ok else "fail",
                    detail=str(c.get("detail", "")),
                )
            )
            continue
        value = numeric_value(attrs[fld], str(unit))
        if value is None or limit is None:
            out.append(replace(base, detail="not numeric"))
            continue
        fn, sym = _OPS[op]
        ok = fn(value, limit)
        out.append(
            replace(
                base,
                value=value,
                status="pass" if ok else "fail",
                detail=f"{value:g} {unit} {'meets' if ok else 'fails'} {sym} {limit:g} {unit}"
                + (f" ({c['detail']})" if c.get("detail") else ""),
            )
        )
    return tuple(out)
