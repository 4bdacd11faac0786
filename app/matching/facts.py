"""Lot data for matching: grade attributes -> canonical measurements (pure, no HTTP/DB).

Only attributes the DQL classifier found valid are used (an invalid measurement is missing).
Values are normalised to the canonical unit of their dimension (``app.grades.units``). The
standard deviation comes from the measurement's ``sd`` or, when absent, from the lot's
``CoefficientOfVariationWRTCertificateOfAnalysis`` (cv % x mean).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, Final

import orjson

from app.grades import units
from app.grades.plausibility import viscosity_quantity
from app.grades.validation import polymer_vocab
from app.matching.scoring import Certificate, LotFacts, Measurement

__all__ = [
    "PROPERTIES",
    "VISCOSITY_DIMENSIONS",
    "canonical_polymer",
    "decode_match_facts",
    "encode_match_facts",
    "grade_facts",
    "lot_facts",
    "measurements_of",
    "property_dimension",
]

# Matchable properties -> dimension (Viscosity depends on the quantity).
PROPERTIES: Final[dict[str, str | None]] = {
    "Viscosity": None,
    "Density": "density",
    "BulkDensity": "density",
    "AshContent": "mass_fraction",
    "ResidualHumidity": "mass_fraction",
    "RecycledContent": "mass_fraction",
    "ContentOfTheMainPlasticType": "mass_fraction",
    "ParticleSizeDistribution": "length",
    "TensileProperties.tensile_modulus": "pressure",
    "TensileProperties.yield_stress": "pressure",
    "TensileProperties.tensile_strength": "pressure",
    "x-ForeignPolymerContent": "mass_fraction",
    "x-Odour": "dimensionless",
    "x-CharpyImpact": "energy_per_area",
}
VISCOSITY_DIMENSIONS: Final[dict[str, str]] = {
    "MFR": "mass_flow_rate",
    "MVR": "volume_flow_rate",
    "IV": "specific_volume",
    "VN": "specific_volume",
}
_DEFAULT_UNITS: Final[dict[str, str]] = {"x-Odour": "1"}
_CV_FIELD: Final = "CoefficientOfVariationWRTCertificateOfAnalysis"


def property_dimension(prop: str, quantity: str | None) -> str | None:
    if prop == "Viscosity":
        return VISCOSITY_DIMENSIONS.get(quantity or "")
    return PROPERTIES.get(prop)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _cv_pct(attrs: Mapping[str, Any]) -> float | None:
    cv = attrs.get(_CV_FIELD)
    if isinstance(cv, Mapping):
        value, unit = _num(cv.get("value")), cv.get("unit", "%")
        if value is None:
            return None
        try:
            return units.normalize(value, str(unit), "mass_fraction")[0]
        except units.UnitError:
            return None
    return _num(cv)


def _conditions(raw: Any) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            n = _num(v)
            if n is not None:
                out[str(k)] = n
            elif isinstance(v, str):
                out[str(k)] = v
    return out


def _measurement(
    raw: Any,
    dim: str,
    cv_pct: float | None,
    *,
    default_unit: str | None,
    method: Any = None,
    conditions: Any = None,
    quantity: str | None = None,
) -> Measurement | None:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = {"value": raw, "unit": default_unit or units.canonical_unit(dim)}
    if not isinstance(raw, Mapping):
        return None
    central = _num(raw.get("value", raw.get("mean")))
    unit = raw.get("unit", default_unit)
    if central is None or unit is None:
        return None
    try:
        value, canonical = units.normalize(central, str(unit), dim)
    except units.UnitError:
        return None
    sd: float | None = None
    raw_sd = _num(raw.get("sd"))
    if raw_sd is not None:
        sd = abs(units.normalize(central + raw_sd, str(unit), dim)[0] - value)
    elif cv_pct is not None:
        sd = abs(value) * cv_pct / 100.0
    m = raw.get("method", method)
    return Measurement(
        value=value,
        unit=canonical,
        sd=sd,
        method=str(m) if isinstance(m, str) else None,
        conditions=_conditions(raw.get("conditions", conditions)),
        quantity=quantity,
    )


def measurements_of(attrs: Mapping[str, Any], valid: Iterable[str]) -> dict[str, Measurement]:
    ok = set(valid)
    cv = _cv_pct(attrs) if _CV_FIELD in ok else None
    out: dict[str, Measurement] = {}
    for prop, dim in PROPERTIES.items():
        head, _, kind = prop.partition(".")
        if head not in ok or head not in attrs:
            continue
        raw = attrs[head]
        if prop == "Viscosity":
            if not isinstance(raw, Mapping):
                continue
            q = viscosity_quantity(raw)
            vdim = VISCOSITY_DIMENSIONS.get(q or "")
            if vdim is None:
                continue
            m = _measurement(raw, vdim, cv, default_unit=None, quantity=q)
        elif kind:
            if not isinstance(raw, Mapping) or not isinstance(raw.get("values"), Mapping):
                continue
            assert dim is not None
            m = _measurement(
                raw["values"].get(kind),
                dim,
                cv,
                default_unit=None,
                method=raw.get("method"),
                conditions=raw.get("conditions"),
            )
        else:
            assert dim is not None
            m = _measurement(raw, dim, cv, default_unit=_DEFAULT_UNITS.get(prop))
        if m is not None:
            out[prop] = m
    return out


def _date(v: Any) -> dt.date | None:
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v[:10])
        except ValueError:
            return None
    return None


def certificates(raw: Any) -> tuple[Certificate, ...] | None:
    if not isinstance(raw, list) or not raw:
        return None
    out: list[Certificate] = []
    for c in raw:
        if not isinstance(c, Mapping):
            continue
        start, end = _date(c.get("valid_from")), _date(c.get("valid_until"))
        if isinstance(c.get("scheme"), str) and start and end:
            out.append(Certificate(str(c["scheme"]), start, end))
    return tuple(out) or None


@lru_cache(maxsize=4096)
def canonical_polymer(raw: str | None) -> str | None:
    """ISO 1043-1 symbol for a stored polymer (trade abbreviations such as HDPE -> PE-HD)."""
    if raw is None:
        return None
    code, _ = polymer_vocab().resolve(raw)
    return code or raw


def grade_facts(
    attrs: Mapping[str, Any], valid: Iterable[str]
) -> tuple[str | None, bool | None, dict[str, Measurement]]:
    """What matching reads from a grade: food-contact status, REACH declaration and the
    canonical measurements (only attributes the classifier found valid)."""
    ok = set(valid)
    food = attrs.get("x-FoodContact") if "x-FoodContact" in ok else None
    reach = attrs.get("x-ReachSvhcDeclaration") if "x-ReachSvhcDeclaration" in ok else None
    return (
        str(food["status"])
        if isinstance(food, Mapping) and isinstance(food.get("status"), str)
        else None,
        reach if isinstance(reach, bool) else None,
        measurements_of(attrs, ok),
    )


def encode_match_facts(food: str | None, reach: bool | None, ms: Mapping[str, Measurement]) -> str:
    """What ``grade_facts`` returns, as compact JSON stored with the lot
    (``lots.match_facts``): a match reads this short text instead of the whole grade and
    assessment, and skips the unit normalisation (``decode_match_facts`` gives the same
    facts back; tested)."""
    doc = {
        "f": food,
        "r": reach,
        "m": {
            k: [m.value, m.unit, m.sd, m.method, dict(m.conditions), m.quantity]
            for k, m in ms.items()
        },
    }
    return orjson.dumps(doc).decode()


def decode_match_facts(
    text: str | bytes,
) -> tuple[str | None, bool | None, dict[str, Measurement]]:
    doc = orjson.loads(text)
    return (
        doc["f"],
        doc["r"],
        {
            k: Measurement(
                value=v[0], unit=v[1], sd=v[2], method=v[3], conditions=v[4], quantity=v[5]
            )
            for k, v in doc["m"].items()
        },
    )


def lot_facts(row: Any) -> LotFacts:
    """Facts from a lot row or ORM object (attributes named like the ``lots`` columns): from
    the stored ``match_facts`` when the row has them, else from the grade and assessment."""
    stored = getattr(row, "match_facts", None)
    if stored:
        food, reach, measurements = decode_match_facts(stored)
    else:
        attrs = (row.grade or {}).get("attributes") or {}
        valid = (row.assessment or {}).get("valid_fields") or ()
        food, reach, measurements = grade_facts(attrs, valid)
    price = row.price_per_t_minor
    return LotFacts(
        id=row.id,
        organization_id=row.organization_id,
        title=row.title,
        family=row.family,
        polymer=canonical_polymer(row.polymer),
        form=row.form,
        color=row.color,
        source=row.source,
        dql=int(row.dql or 0),
        available_kg=float(row.available_kg),
        latitude=row.latitude,
        longitude=row.longitude,
        price_per_t=price / 100.0 if price is not None else None,
        currency=row.currency,
        available_from=row.available_from,
        end_of_waste_status=row.end_of_waste_status,
        certifications=certificates(row.certifications),
        food_contact=food,
        reach_declaration=reach,
        measurements=measurements,
    )
