from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.grades import units


@pytest.mark.parametrize(
    ("value", "src", "dst", "expected"),
    [
        (905, "kg/m3", "g/cm3", 0.905),
        (0.905, "g/cm3", "kg/m3", 905),
        (400, "ppm", "%", 0.04),
        (400, "[ppm]", "%", 0.04),
        (0.04, "%", "mg/kg", 400),
        (1.5, "g/kg", "%", 0.15),
        (0.8, "dL/g", "mL/g", 80),
        (1.2, "g/min", "g/10min", 12),
        (2.1, "GPa", "MPa", 2100),
        (293.15, "K", "Cel", 20),
        (500, "µm", "mm", 0.5),
        (1, "t", "kg", 1000),
    ],
)
def test_convert(value: float, src: str, dst: str, expected: float) -> None:
    assert units.convert(value, src, dst) == pytest.approx(expected)


def test_normalize_returns_canonical_unit() -> None:
    assert units.normalize(905, "kg/m³", "density") == pytest.approx((0.905, "g/cm3"))
    assert units.normalize(5, "wt%")[1] == "%"


@pytest.mark.parametrize(
    ("src", "dst"), [("g/cm3", "%"), ("g/10min", "cm3/10min"), ("MPa", "kJ/m2")]
)
def test_cross_dimension_conversion_is_rejected(src: str, dst: str) -> None:
    with pytest.raises(units.UnitError) as exc:
        units.convert(1, src, dst)
    assert exc.value.code == "invalid_unit"


def test_unknown_unit() -> None:
    assert units.canonicalize_unit("furlong") is None
    assert units.unit_dimension("furlong") is None
    with pytest.raises(units.UnitError) as exc:
        units.normalize(1, "furlong")
    assert exc.value.code == "unknown_unit"
    with pytest.raises(units.UnitError):
        units.normalize(1, "kg/m3", "mass_fraction")


def test_every_dimension_has_its_canonical_unit_registered() -> None:
    for dim, unit in units.DIMENSIONS.items():
        assert unit in units.known_units(dim)
        assert units.unit_dimension(unit) == dim


@given(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.sampled_from([u for u in units.known_units() if units.unit_dimension(u) != "dimensionless"]),
)
def test_round_trip_through_canonical(value: float, unit: str) -> None:
    dim = units.unit_dimension(unit)
    assert dim is not None
    canon, cunit = units.normalize(value, unit, dim)
    assert units.convert(canon, cunit, unit) == pytest.approx(value, rel=1e-9, abs=1e-9)
