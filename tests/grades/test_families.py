from __future__ import annotations

from typing import Any

import pytest

from app.grades import assess
from app.grades.catalogue import OTHER_FAMILIES, get_catalogue
from app.grades.families import numeric_value
from tests.grades.conftest import examples

CATS = {fam: get_catalogue(fam) for fam in OTHER_FAMILIES}
FAMILY_FIELDS = [(fam, f.id_short, f.level) for fam, cat in CATS.items() for f in cat.fields]
FAMILY_LEVELS = [(fam, lvl) for fam, cat in CATS.items() for lvl in range(1, cat.max_level + 1)]


@pytest.mark.parametrize(("family", "level"), FAMILY_LEVELS)
def test_family_exactly_meeting_level(family: str, level: int) -> None:
    a = assess(examples(CATS[family], level), family=family)
    assert (a.family, a.scheme, a.level) == (family, "completeness", level)
    assert a.invalid == ()


@pytest.mark.parametrize(("family", "field", "field_level"), FAMILY_FIELDS)
def test_family_removing_a_field_drops_level(family: str, field: str, field_level: int) -> None:
    attrs = examples(CATS[family])
    del attrs[field]
    a = assess(attrs, family=family)
    assert a.level == field_level - 1
    assert field in {i.field for i in a.missing_for_next_level}


def test_every_family_uses_all_four_levels() -> None:
    for cat in CATS.values():
        assert {f.level for f in cat.fields} == {1, 2, 3, 4}


def _check(a: Any, code: str) -> Any:
    found = [c for c in a.checks if c.code == code]
    assert len(found) == 1, [c.code for c in a.checks]
    return found[0]


# (family, grade override, field, value at limit, status at limit, value beyond, code, legal)
THRESHOLDS: list[tuple[str, dict[str, Any], str, Any, str, Any, str, bool]] = [
    (
        "paper",
        {"GradeCode": "1.05.00"},
        "NonPaperComponents",
        1.5,
        "pass",
        1.6,
        "en643_non_paper_components",
        False,
    ),
    (
        "paper",
        {"GradeCode": "1.05.00"},
        "TotalUnwantedMaterials",
        2.5,
        "pass",
        2.6,
        "en643_total_unwanted_materials",
        False,
    ),
    (
        "ferrous_scrap",
        {},
        "ForeignMaterials",
        2,
        "pass",
        2.01,
        "eow_333_2011_foreign_materials",
        True,
    ),
    ("ferrous_scrap", {"GradeCode": "E1"}, "Steriles", 1.5, "pass", 1.6, "efr_e1_steriles", False),
    ("ferrous_scrap", {"GradeCode": "E3"}, "Steriles", 1.0, "pass", 1.1, "efr_e3_steriles", False),
    ("ferrous_scrap", {"GradeCode": "E8"}, "Steriles", 0.3, "pass", 0.31, "efr_e8_steriles", False),
    (
        "aluminium_scrap",
        {},
        "ForeignMaterials",
        5,
        "pass",
        5.5,
        "eow_333_2011_al_foreign_materials",
        True,
    ),
    (
        "aluminium_scrap",
        {"GradeCode": "Taint/Tabor"},
        "OilContent",
        1,
        "pass",
        1.2,
        "isri_taint_tabor_oil",
        False,
    ),
    (
        "aluminium_scrap",
        {"GradeCode": "Taint/Tabor"},
        "TaleContent",
        10,
        "pass",
        11,
        "isri_taint_tabor_tale",
        False,
    ),
    (
        "copper_scrap",
        {},
        "ForeignMaterials",
        1.99,
        "pass",
        2,
        "eow_715_2013_foreign_materials",
        True,
    ),
    (
        "copper_scrap",
        {"GradeCode": "Birch/Cliff"},
        "CopperContent",
        94,
        "pass",
        93.9,
        "isri_no2_copper_content",
        False,
    ),
    (
        "glass_cullet",
        {},
        "FerrousMetals",
        {"value": 50, "unit": "ppm"},
        "pass",
        {"value": 51, "unit": "ppm"},
        "eow_1179_2012_ferrous",
        True,
    ),
    (
        "glass_cullet",
        {},
        "NonFerrousMetals",
        {"value": 60, "unit": "mg/kg"},
        "pass",
        {"value": 0.0061, "unit": "%"},
        "eow_1179_2012_non_ferrous",
        True,
    ),
    (
        "glass_cullet",
        {},
        "NonMetallicNonGlassInorganics",
        {"value": 99, "unit": "ppm"},
        "pass",
        {"value": 100, "unit": "ppm"},
        "eow_1179_2012_inorganics",
        True,
    ),
    (
        "glass_cullet",
        {},
        "Organics",
        {"value": 2000, "unit": "ppm"},
        "pass",
        {"value": 2001, "unit": "ppm"},
        "eow_1179_2012_organics",
        True,
    ),
]


@pytest.mark.parametrize(
    ("family", "override", "field", "at", "at_status", "beyond", "code", "legal"), THRESHOLDS
)
def test_threshold_checks_are_flags_not_blockers(
    family: str,
    override: dict[str, Any],
    field: str,
    at: Any,
    at_status: str,
    beyond: Any,
    code: str,
    legal: bool,
) -> None:
    attrs = {**examples(CATS[family]), **override}
    attrs[field] = at
    ok = assess(attrs, family=family)
    check = _check(ok, code)
    assert (check.status, check.legal) == (at_status, legal)
    attrs[field] = beyond
    bad = assess(attrs, family=family)
    assert _check(bad, code).status == "fail"
    assert bad.level == ok.level == CATS[family].max_level  # never blocking


def test_check_on_missing_field_is_unknown() -> None:
    attrs = examples(CATS["glass_cullet"], 1)
    a = assess(attrs, family="glass_cullet")
    assert {c.status for c in a.checks} == {"unknown"}


def test_grade_specific_checks_apply_only_to_their_grade() -> None:
    attrs = {**examples(CATS["ferrous_scrap"]), "GradeCode": "E40"}
    codes = {c.code for c in assess(attrs, family="ferrous_scrap").checks}
    assert not any(c.startswith("efr_") for c in codes)
    assert "eow_333_2011_foreign_materials" in codes


def test_zorba_limit_comes_from_the_code() -> None:
    base = examples(CATS["aluminium_scrap"])
    a = assess(
        {**base, "GradeCode": "Zorba 95", "NonFerrousMetalContent": 94}, family="aluminium_scrap"
    )
    c = _check(a, "isri_zorba_non_ferrous")
    assert (c.limit, c.status) == (95.0, "fail")
    b = assess(
        {**base, "GradeCode": "Zorba 90", "NonFerrousMetalContent": 94}, family="aluminium_scrap"
    )
    assert _check(b, "isri_zorba_non_ferrous").status == "pass"


def test_boolean_legal_declarations() -> None:
    attrs = {**examples(CATS["ferrous_scrap"]), "FreeOfVisibleOil": False}
    a = assess(attrs, family="ferrous_scrap")
    assert _check(a, "eow_333_2011_no_visible_oil").status == "fail"
    attrs = {**examples(CATS["paper"]), "ProhibitedMaterialsPresent": True}
    assert _check(assess(attrs, family="paper"), "en643_prohibited_materials").status == "fail"


@pytest.mark.parametrize(
    ("family", "field", "value", "code"),
    [
        ("paper", "GradeCode", "1.5", "invalid_grade_code"),
        ("paper", "GradeCode", "6.01.00", "invalid_grade_code"),
        ("ferrous_scrap", "GradeCode", "E99", "invalid_grade_code"),
        ("glass_cullet", "FerrousMetals", 20, "wrong_type"),
        ("glass_cullet", "FerrousMetals", {"value": 20}, "missing_unit"),
        ("copper_scrap", "ForeignMaterials", 120, "out_of_range"),
        ("glass_cullet", "Colour", "purple", "invalid_value"),
    ],
)
def test_family_invalid_values(family: str, field: str, value: Any, code: str) -> None:
    attrs = examples(CATS[family])
    attrs[field] = value
    a = assess(attrs, family=family)
    assert [(i.field, i.code) for i in a.invalid] == [(field, code)]
    assert a.level == CATS[family].field_levels[field] - 1


def test_plastic_fields_are_unknown_in_other_families() -> None:
    a = assess({"MainMaterialType": "PP"}, family="paper")
    assert [(i.field, i.code) for i in a.invalid] == [("MainMaterialType", "unknown_field")]


def test_numeric_value_conversion() -> None:
    assert numeric_value({"value": 1500, "unit": "ppm"}, "[ppm]") == 1500
    assert numeric_value({"value": 0.15, "unit": "%"}, "[ppm]") == pytest.approx(1500)
    assert numeric_value(3, "%") == 3.0
    assert numeric_value(True, "%") is None
