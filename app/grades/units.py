"""Unit codes and normalisation (pure, reusable by the matching engine).

Units are UCUM-like codes (``g/cm3``, ``kg/m3``, ``%``, ``[ppm]``/``ppm``, ``g/10min``...).
Every unit belongs to one *dimension* with one *canonical* unit; ``normalize`` converts a value
to the canonical unit of its dimension, ``convert`` between two units of the same dimension.

Conversions are linear (``canonical = value * factor``) except temperature (affine).
Some quantities share a physical dimension but are different properties (viscosity number in
mL/g and intrinsic viscosity in dL/g): they share the ``specific_volume`` dimension here and
the rule table decides which property a value stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

__all__ = [
    "DIMENSIONS",
    "UnitError",
    "canonical_unit",
    "canonicalize_unit",
    "convert",
    "known_units",
    "normalize",
    "unit_dimension",
]


class UnitError(ValueError):
    """Raised for an unknown unit or a conversion between different dimensions."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class _Unit:
    code: str
    dimension: str
    factor: float  # canonical = value * factor + offset
    offset: float = 0.0


# dimension -> canonical unit
DIMENSIONS: Final[dict[str, str]] = {
    "mass_fraction": "%",
    "density": "g/cm3",
    "mass_flow_rate": "g/10min",
    "volume_flow_rate": "cm3/10min",
    "specific_volume": "mL/g",
    "pressure": "MPa",
    "energy_per_area": "kJ/m2",
    "length": "mm",
    "temperature": "Cel",
    "mass": "kg",
    "dimensionless": "1",
}

_UNITS: Final[tuple[_Unit, ...]] = (
    # mass fraction (canonical %)
    _Unit("%", "mass_fraction", 1.0),
    _Unit("[ppm]", "mass_fraction", 1e-4),
    _Unit("mg/kg", "mass_fraction", 1e-4),
    _Unit("g/kg", "mass_fraction", 0.1),
    _Unit("g/100g", "mass_fraction", 1.0),
    # density (canonical g/cm3)
    _Unit("g/cm3", "density", 1.0),
    _Unit("kg/m3", "density", 1e-3),
    _Unit("g/mL", "density", 1.0),
    _Unit("kg/dm3", "density", 1.0),
    _Unit("kg/L", "density", 1.0),
    _Unit("g/L", "density", 1e-3),
    _Unit("t/m3", "density", 1.0),
    # melt mass-flow rate (canonical g/10min)
    _Unit("g/10min", "mass_flow_rate", 1.0),
    _Unit("g/min", "mass_flow_rate", 10.0),
    # melt volume-flow rate (canonical cm3/10min)
    _Unit("cm3/10min", "volume_flow_rate", 1.0),
    _Unit("mL/10min", "volume_flow_rate", 1.0),
    # intrinsic viscosity / viscosity number (canonical mL/g)
    _Unit("mL/g", "specific_volume", 1.0),
    _Unit("cm3/g", "specific_volume", 1.0),
    _Unit("dL/g", "specific_volume", 100.0),
    _Unit("L/g", "specific_volume", 1000.0),
    # stress / modulus (canonical MPa)
    _Unit("MPa", "pressure", 1.0),
    _Unit("N/mm2", "pressure", 1.0),
    _Unit("GPa", "pressure", 1000.0),
    _Unit("kPa", "pressure", 1e-3),
    _Unit("Pa", "pressure", 1e-6),
    # impact strength (canonical kJ/m2)
    _Unit("kJ/m2", "energy_per_area", 1.0),
    _Unit("J/m2", "energy_per_area", 1e-3),
    # length (canonical mm)
    _Unit("mm", "length", 1.0),
    _Unit("um", "length", 1e-3),
    _Unit("cm", "length", 10.0),
    _Unit("m", "length", 1000.0),
    # temperature (canonical Cel)
    _Unit("Cel", "temperature", 1.0),
    _Unit("K", "temperature", 1.0, -273.15),
    # mass (canonical kg)
    _Unit("kg", "mass", 1.0),
    _Unit("g", "mass", 1e-3),
    _Unit("t", "mass", 1000.0),
    # dimensionless
    _Unit("1", "dimensionless", 1.0),
)

_BY_CODE: Final[dict[str, _Unit]] = {u.code: u for u in _UNITS}

# Common spellings accepted on input and mapped to the UCUM-like code above.
_ALIASES: Final[dict[str, str]] = {
    "ppm": "[ppm]",
    "wt%": "%",
    "wt.%": "%",
    "% (m/m)": "%",
    "%(m/m)": "%",
    "percent": "%",
    "g/cm³": "g/cm3",
    "g/ccm": "g/cm3",
    "kg/m³": "kg/m3",
    "g/ml": "g/mL",
    "g/10 min": "g/10min",
    "cm³/10min": "cm3/10min",
    "cm3/10 min": "cm3/10min",
    "cm³/10 min": "cm3/10min",
    "ml/10min": "mL/10min",
    "ml/g": "mL/g",
    "dl/g": "dL/g",
    "cm³/g": "cm3/g",
    "mpa": "MPa",
    "gpa": "GPa",
    "n/mm2": "N/mm2",
    "n/mm²": "N/mm2",
    "kj/m2": "kJ/m2",
    "kj/m²": "kJ/m2",
    "µm": "um",
    "μm": "um",
    "°c": "Cel",
    "degc": "Cel",
    "c": "Cel",
    "tonne": "t",
}


@lru_cache(maxsize=1024)
def canonicalize_unit(unit: str) -> str | None:
    """Return the registered unit code for ``unit`` (accepting common spellings), or None."""
    if unit in _BY_CODE:
        return unit
    stripped = unit.strip()
    if stripped in _BY_CODE:
        return stripped
    alias = _ALIASES.get(stripped.lower())
    if alias is not None:
        return alias
    for code in _BY_CODE:
        if code.lower() == stripped.lower():
            return code
    return None


def unit_dimension(unit: str) -> str | None:
    """Dimension name of ``unit`` (e.g. ``density`` for ``kg/m3``), None when unknown."""
    code = canonicalize_unit(unit)
    return None if code is None else _BY_CODE[code].dimension


def canonical_unit(dimension: str) -> str:
    """Canonical unit code of a dimension (``%`` for ``mass_fraction``)."""
    try:
        return DIMENSIONS[dimension]
    except KeyError:
        raise UnitError("unknown_dimension", f"unknown dimension {dimension!r}") from None


def known_units(dimension: str | None = None) -> tuple[str, ...]:
    """All registered unit codes, optionally restricted to one dimension."""
    return tuple(u.code for u in _UNITS if dimension is None or u.dimension == dimension)


def _lookup(unit: str) -> _Unit:
    code = canonicalize_unit(unit)
    if code is None:
        raise UnitError("unknown_unit", f"unknown unit {unit!r}")
    return _BY_CODE[code]


def normalize(value: float, unit: str, dimension: str | None = None) -> tuple[float, str]:
    """Convert ``value`` in ``unit`` to the canonical unit of its dimension.

    When ``dimension`` is given, a unit of another dimension raises ``UnitError`` with code
    ``invalid_unit``; an unknown unit raises code ``unknown_unit``.
    """
    u = _lookup(unit)
    if dimension is not None and u.dimension != dimension:
        raise UnitError(
            "invalid_unit", f"unit {unit!r} is a {u.dimension} unit, expected {dimension}"
        )
    return value * u.factor + u.offset, DIMENSIONS[u.dimension]


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert ``value`` between two units of the same dimension."""
    src = _lookup(from_unit)
    dst = _lookup(to_unit)
    if src.dimension != dst.dimension:
        raise UnitError(
            "invalid_unit",
            f"cannot convert {from_unit!r} ({src.dimension}) to {to_unit!r} ({dst.dimension})",
        )
    if src is dst:
        return value
    if src.offset == 0.0 and dst.offset == 0.0:
        return value * (src.factor / dst.factor)
    canonical = value * src.factor + src.offset
    return (canonical - dst.offset) / dst.factor
