from __future__ import annotations

from typing import Any

import pytest

from app.grades import assess
from app.grades.catalogue import get_catalogue
from app.grades.plausibility import expected_density_range, quantity_warning
from tests.grades.conftest import examples

PLASTIC = get_catalogue("plastic_recyclate")


def _warnings(attrs: dict[str, Any]) -> set[str]:
    return {w.code for w in assess(attrs).warnings}


def _pp(**override: Any) -> dict[str, Any]:
    attrs = examples(PLASTIC, 2)
    attrs["TypesOfFillers"] = []
    attrs.update(override)
    return attrs


def test_plausible_pp_has_no_warnings() -> None:
    assert _warnings(_pp()) == set()


@pytest.mark.parametrize(
    "density", [{"value": 1.25, "unit": "g/cm3"}, {"value": 1250, "unit": "kg/m3"}]
)
def test_density_outside_polymer_range_warns_in_any_unit(density: dict[str, Any]) -> None:
    attrs = _pp(Density={**density, "method": "ISO 1183-1"})
    a = assess(attrs)
    assert "implausible_density" in {w.code for w in a.warnings}
    assert a.level == 2  # never blocking


def test_declared_fillers_widen_the_density_window() -> None:
    dense = {"value": 1.22, "unit": "g/cm3", "method": "ISO 1183-1"}
    talc = [{"Filler": "talc", "FillerMassPercentage": 40}]
    assert "implausible_density" in _warnings(_pp(Density=dense))
    assert "implausible_density" not in _warnings(_pp(Density=dense, TypesOfFillers=talc))
    lo, hi = expected_density_range("PP", 0.4) or (0, 0)
    assert hi > 1.22 > lo


def test_mfr_conditions_and_range() -> None:
    visc = {
        "value": 12,
        "unit": "g/10min",
        "method": "ISO 1133-1",
        "conditions": {"temperature_c": 190, "load_kg": 2.16},
    }
    assert "nonstandard_conditions" in _warnings(_pp(Viscosity=visc))
    far = {**visc, "value": 3000, "conditions": {"temperature_c": 230, "load_kg": 2.16}}
    assert "implausible_mfr" in _warnings(_pp(Viscosity=far))


def test_pet_iv_range() -> None:
    attrs = _pp(
        MainMaterialType="PET",
        Viscosity={"value": 3.5, "unit": "dL/g", "method": "ISO 1628-5"},
        Density={"value": 1.36, "unit": "g/cm3", "method": "ISO 1183-1"},
    )
    assert _warnings(attrs) == {"implausible_iv"}


def test_humidity() -> None:
    attrs = _pp(ResidualHumidity={"value": 12, "unit": "%", "method": "ISO 15512"})
    assert "implausible_humidity" in _warnings(attrs)


def test_plausibility_can_be_switched_off() -> None:
    attrs = _pp(Density={"value": 1.25, "unit": "g/cm3", "method": "ISO 1183-1"})
    assert assess(attrs, plausibility=False).warnings == ()


def test_quantity_far_above_usual() -> None:
    history = [20, 22, 18, 25, 21]
    w = quantity_warning(200, history)
    assert w is not None
    assert w.code == "quantity_far_above_usual"
    assert w.severity == "warning"
    assert quantity_warning(40, history) is None
    assert quantity_warning(200, [20, 22]) is None  # too little history
    assert quantity_warning(200, history, factor=20) is None
