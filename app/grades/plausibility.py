"""Plausibility warnings (never blocking): values a polymer cannot (usually) have.

Tables live in ``rules/plausibility.json``. Only fields that already passed validation are
looked at. ``quantity_warning`` compares a new lot quantity with the seller's history (the
caller fetches the history; this module stays pure).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from app.grades import units
from app.grades.catalogue import PLASTIC_FAMILIES, Catalogue, load_json
from app.grades.results import Issue
from app.grades.validation import polymer_vocab

__all__ = [
    "attribute_warnings",
    "expected_density_range",
    "measurement_value",
    "quantity_warning",
    "viscosity_quantity",
]


@lru_cache(maxsize=1)
def _table() -> Mapping[str, Any]:
    data: Mapping[str, Any] = load_json("plausibility.json")
    return data


def measurement_value(m: Mapping[str, Any], dimension: str) -> float | None:
    """Central value (value or mean) of a *valid* measurement in the dimension's canonical unit."""
    raw = m.get("value", m.get("mean"))
    unit = m.get("unit")
    if raw is None or unit is None:
        return None
    try:
        return units.normalize(float(raw), str(unit), dimension)[0]
    except units.UnitError:
        return None


def viscosity_quantity(m: Mapping[str, Any]) -> str | None:
    """MFR / MVR / IV / VN for a valid Viscosity measurement (declared or inferred from unit)."""
    declared = m.get("quantity")
    if isinstance(declared, str):
        return declared
    code = units.canonicalize_unit(str(m.get("unit", "")))
    if code is None:
        return None
    dim = units.unit_dimension(code)
    if dim == "mass_flow_rate":
        return "MFR"
    if dim == "volume_flow_rate":
        return "MVR"
    if dim == "specific_volume":
        return "IV" if code == "dL/g" else "VN"
    return None


def _filler_fraction(attrs: Mapping[str, Any]) -> float:
    fillers = attrs.get("TypesOfFillers")
    total = 0.0
    if isinstance(fillers, list):
        for f in fillers:
            v = f.get("FillerMassPercentage") if isinstance(f, Mapping) else None
            if isinstance(v, Mapping):
                v = units.normalize(float(v.get("value", 0)), str(v.get("unit", "%")))[0]
            if isinstance(v, int | float):
                total += float(v)
    return min(max(total, 0.0), 100.0) / 100.0


def expected_density_range(base: str, filler_fraction: float = 0.0) -> tuple[float, float] | None:
    """Typical density window (g/cm3) for a base polymer, widened for declared fillers
    (rule of mixtures with the table's filler density)."""
    t = _table()
    rng = t["density_g_cm3"].get(base)
    if rng is None:
        return None
    lo, hi = float(rng[0]), float(rng[1])
    if filler_fraction > 0:
        rho_f = float(t["filler_density_g_cm3"])
        hi = 1.0 / ((1.0 - filler_fraction) / hi + filler_fraction / rho_f)
    tol = float(t["density_tolerance"])
    return lo - tol, hi + tol


def attribute_warnings(
    attrs: Mapping[str, Any], cat: Catalogue, valid: Sequence[str]
) -> list[Issue]:
    """Warnings for valid plastic attributes; empty for other families."""
    if cat.family not in PLASTIC_FAMILIES or "MainMaterialType" not in valid:
        return []
    out: list[Issue] = []
    vocab = polymer_vocab()
    raw_code = str(attrs["MainMaterialType"])
    code, alias = vocab.resolve(raw_code)
    if code is None:
        return out
    if alias:
        out.append(
            Issue(
                "MainMaterialType",
                "non_iso_polymer_code",
                f"{raw_code!r} is a trade abbreviation; EN ISO 1043-1 symbol: {code}",
                "/MainMaterialType",
                None,
                "warning",
            )
        )
    base = vocab.base_of(code)
    t = _table()
    if "Viscosity" in valid:
        out.extend(_viscosity_warnings(attrs["Viscosity"], base, t))
    if "Density" in valid:
        d = measurement_value(attrs["Density"], "density")
        rng = expected_density_range(base, _filler_fraction(attrs))
        if d is not None and rng is not None and not rng[0] <= d <= rng[1]:
            out.append(
                Issue(
                    "Density",
                    "implausible_density",
                    f"{d:g} g/cm3 is outside the usual {rng[0]:.3f}..{rng[1]:.3f} g/cm3 for {base}",
                    "/Density",
                    None,
                    "warning",
                )
            )
    if "ResidualHumidity" in valid:
        h = measurement_value(attrs["ResidualHumidity"], "mass_fraction")
        limit = float(t["residual_humidity_pct_max"])
        if h is not None and h > limit:
            out.append(
                Issue(
                    "ResidualHumidity",
                    "implausible_humidity",
                    f"{h:g} % residual humidity is unusually high (> {limit:g} %)",
                    "/ResidualHumidity",
                    None,
                    "warning",
                )
            )
    return out


def _viscosity_warnings(m: Mapping[str, Any], base: str, t: Mapping[str, Any]) -> list[Issue]:
    out: list[Issue] = []
    q = viscosity_quantity(m)
    expected = t["viscosity_quantities"].get(base)
    if expected and q not in expected:
        out.append(
            Issue(
                "Viscosity",
                "unexpected_viscosity_quantity",
                f"{base} is specified by {' or '.join(expected)}, not {q}",
                "/Viscosity",
                None,
                "warning",
            )
        )
    if q in ("MFR", "MVR"):
        cond = m.get("conditions") or {}
        temp, load = cond.get("temperature_c", 0.0), cond.get("load_kg", 0.0)
        standard = t["mfr_conditions"].get(base)
        if standard and not any(
            abs(float(temp) - s[0]) < 0.01 and abs(float(load) - s[1]) < 0.001 for s in standard
        ):
            usual = ", ".join(f"{s[0]:g} degC/{s[1]:g} kg" for s in standard)
            out.append(
                Issue(
                    "Viscosity",
                    "nonstandard_conditions",
                    f"{q} at {temp} degC/{load} kg; usual for {base}: {usual}",
                    "/Viscosity/conditions",
                    None,
                    "warning",
                )
            )
        if q == "MFR":
            rng = t["mfr_g_10min"].get(base)
            v = measurement_value(m, "mass_flow_rate")
            if rng and v is not None and not rng[0] <= v <= rng[1]:
                out.append(
                    Issue(
                        "Viscosity",
                        "implausible_mfr",
                        f"MFR {v:g} g/10min is far outside the usual {rng[0]:g}..{rng[1]:g} "
                        f"for {base}",
                        "/Viscosity/value",
                        None,
                        "warning",
                    )
                )
    elif q == "IV":
        rng = t["iv_dl_g"].get(base)
        v = measurement_value(m, "specific_volume")
        if rng and v is not None and not rng[0] <= v / 100.0 <= rng[1]:
            out.append(
                Issue(
                    "Viscosity",
                    "implausible_iv",
                    f"IV {v / 100.0:g} dL/g is outside the usual {rng[0]:g}..{rng[1]:g} for {base}",
                    "/Viscosity/value",
                    None,
                    "warning",
                )
            )
    return out


def quantity_warning(
    quantity: float,
    past_quantities: Sequence[float],
    *,
    factor: float | None = None,
    min_history: int | None = None,
) -> Issue | None:
    """Warn when a lot quantity is far above the seller's usual (same unit as history).

    Flags ``quantity > factor * median(history)`` and ``> max(history)``; needs at least
    ``min_history`` past lots (defaults from plausibility.json: 3 lots, factor 5).
    """
    cfg = _table()["quantity_history"]
    k = float(cfg["factor"]) if factor is None else factor
    need = int(cfg["min_history"]) if min_history is None else min_history
    history = [float(q) for q in past_quantities if q > 0]
    if len(history) < need or quantity <= 0:
        return None
    med = statistics.median(history)
    if quantity > k * med and quantity > max(history):
        return Issue(
            "quantity",
            "quantity_far_above_usual",
            f"{quantity:g} is {quantity / med:.1f}x the seller's median lot ({med:g}) "
            f"over {len(history)} past lots",
            "/quantity",
            None,
            "warning",
        )
    return None
