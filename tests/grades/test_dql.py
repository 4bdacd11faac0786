from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from app.grades import UnknownSchemeError, assess, check_input
from app.grades.catalogue import get_catalogue
from app.grades.methods import MethodMatcher, method_key, parse_standard_refs
from tests.grades.conftest import (
    TEMPLATE,
    examples,
)

PLASTIC = get_catalogue("plastic_recyclate")
FIELDS = [(f.id_short, f.level) for f in PLASTIC.fields]
LEVELS = list(range(1, PLASTIC.max_level + 1))


# ----------------------------------------------------------------- rule table vs template


def _template_tags() -> dict[str, int]:
    data = json.loads(TEMPLATE.read_text(encoding="utf-8-sig"))
    tags: dict[str, int] = {}

    def walk(elements: list[dict[str, Any]]) -> None:
        for el in elements:
            for q in el.get("qualifiers") or []:
                if q.get("type") == "RequiredAtDQL":
                    tags[el["idShort"]] = int(q["value"])
            value = el.get("value")
            if isinstance(value, list) and value and isinstance(value[0], dict):
                walk(value)

    walk(data["submodels"][0]["submodelElements"])
    return tags


@pytest.mark.skipif(not TEMPLATE.exists(), reason="template not available")
def test_rule_table_levels_equal_template_tags() -> None:
    assert {f.id_short: f.level for f in PLASTIC.fields} == _template_tags()


@pytest.mark.skipif(not TEMPLATE.exists(), reason="template not available")
def test_shipped_rule_tables_are_up_to_date(tmp_path: Path) -> None:
    from app.grades.rules import build_rules

    assert build_rules.main([str(TEMPLATE), "--out-dir", str(tmp_path)]) == 0
    shipped = Path(build_rules.__file__).parent
    for name in ("en18065-2025.json", "din-spec-91446-2021.json"):
        assert (tmp_path / name).read_text("utf-8") == (shipped / name).read_text("utf-8")


def test_rule_table_has_all_parts_of_compound_fields() -> None:
    raw = {f.id_short: f.raw for f in PLASTIC.fields}
    filler = raw["TypesOfFillers"]["parts"][0]["parts"]
    assert {p["idShort"] for p in filler} == {"Filler", "FillerMassPercentage"}
    coa = {p["idShort"] for p in raw["CertificateOfAnalysis"]["parts"]}
    assert coa == {"TypeOfInspectionCertificate", "Documentation"}
    visc = {r["number"] for r in raw["Viscosity"]["standards"]}
    assert visc == {"1133", "307", "1628"}
    assert raw["RecycledContent"]["allowed_range"] == [0.0, 100.0]
    assert all(
        f.semantic_id and f.semantic_id.startswith("https://admin-shell.io/")
        for f in PLASTIC.fields
    )


# ----------------------------------------------------------------- level boundaries


@pytest.mark.parametrize("level", LEVELS)
def test_exactly_meeting_a_level_reaches_it(level: int) -> None:
    a = assess(examples(PLASTIC, level))
    assert a.level == level
    assert a.invalid == ()
    if level < PLASTIC.max_level:
        assert a.next_level == level + 1
        expected = {f for f, lvl in FIELDS if lvl == level + 1}
        assert {i.field for i in a.missing_for_next_level} == expected
        assert {i.code for i in a.missing_for_next_level} == {"missing"}
    else:
        assert a.next_level is None
        assert a.missing_for_next_level == ()


@pytest.mark.parametrize(("field", "field_level"), FIELDS)
def test_removing_any_required_field_drops_below_its_level(field: str, field_level: int) -> None:
    for level in range(field_level, PLASTIC.max_level + 1):
        attrs = examples(PLASTIC, level)
        del attrs[field]
        a = assess(attrs)
        assert a.level == field_level - 1, (field, level)
        assert a.next_level == field_level
        assert field in {i.field for i in a.missing_for_next_level}


def test_empty_attributes_are_level_zero() -> None:
    a = assess({})
    assert a.level == 0
    assert a.next_level == 1
    assert {i.field for i in a.missing_for_next_level} == {f for f, lvl in FIELDS if lvl == 1}


def test_din_spec_table_is_available_and_mirrors_en18065() -> None:
    din = get_catalogue("plastic_recyclate", "DIN SPEC 91446", "2021")
    assert [(f.id_short, f.level) for f in din.fields] == FIELDS
    a = assess(examples(PLASTIC, 3), scheme="DIN SPEC 91446", edition="2021")
    assert (a.scheme, a.edition, a.level) == ("DIN SPEC 91446", "2021", 3)


def test_plastic_waste_family_uses_en18065() -> None:
    a = assess(examples(PLASTIC, 2), family="plastic_waste")
    assert (a.family, a.scheme, a.level) == ("plastic_waste", "EN 18065", 2)


def test_unknown_scheme_and_bad_claim_raise() -> None:
    with pytest.raises(UnknownSchemeError):
        assess({}, scheme="ISO 9999")
    with pytest.raises(UnknownSchemeError):
        assess({}, family="wood")
    with pytest.raises(ValueError, match="claimed_level"):
        assess({}, claimed_level=5)


# ----------------------------------------------------------------- invalid values

MFR_OK = {
    "value": 12.0,
    "unit": "g/10min",
    "method": "ISO 1133-1",
    "conditions": {"temperature_c": 230, "load_kg": 2.16},
}

INVALID_CASES: list[tuple[str, Any, str, bool]] = [
    ("RecycledContent", 150, "out_of_range", False),
    ("RecycledContent", {"value": -1, "unit": "%"}, "out_of_range", False),
    ("RecycledContent", {"value": 50, "unit": "g/cm3"}, "invalid_unit", False),
    ("RecycledContent", {"value": 2_000_000, "unit": "ppm"}, "out_of_range", False),
    ("Viscosity", {**MFR_OK, "conditions": {}}, "missing_conditions", False),
    (
        "Viscosity",
        {k: v for k, v in MFR_OK.items() if k != "conditions"},
        "missing_conditions",
        False,
    ),
    ("Viscosity", {**MFR_OK, "conditions": {"temperature_c": 230}}, "missing_conditions", False),
    (
        "Viscosity",
        {**MFR_OK, "conditions": {"temperature_c": 900, "load_kg": 2.16}},
        "invalid_conditions",
        False,
    ),
    ("Viscosity", {**MFR_OK, "unit": "MPa"}, "invalid_unit", False),
    ("Viscosity", {**MFR_OK, "unit": "furlong/fortnight"}, "unknown_unit", False),
    ("Viscosity", {**MFR_OK, "unit": None}, "missing_unit", False),
    ("Viscosity", {**MFR_OK, "method": "ASTM D1238"}, "unsupported_method", False),
    ("Viscosity", {**MFR_OK, "method": "ISO 1628-5"}, "unsupported_method", False),
    ("Viscosity", {k: v for k, v in MFR_OK.items() if k != "method"}, "missing_method", False),
    ("Viscosity", {**MFR_OK, "quantity": "IV"}, "invalid_unit", False),
    ("Viscosity", {**MFR_OK, "quantity": "HLMI"}, "unknown_quantity", False),
    ("Viscosity", {"unit": "g/10min", "method": "ISO 1133"}, "missing_value", False),
    ("Density", {"value": 0.9, "method": "ISO 1183-1"}, "missing_unit", False),
    ("Density", {"value": 0.9, "unit": "%", "method": "ISO 1183-1"}, "invalid_unit", False),
    ("Density", {"value": 0.9, "unit": "g/cm3"}, "missing_method", False),
    ("Density", {"value": -0.9, "unit": "g/cm3", "method": "ISO 1183-1"}, "out_of_range", False),
    (
        "Density",
        {"mean": 0.9, "min": 0.95, "unit": "g/cm3", "method": "ISO 1183-1"},
        "inconsistent_statistics",
        False,
    ),
    (
        "Density",
        {"mean": 0.9, "sd": -0.1, "unit": "g/cm3", "method": "ISO 1183-1"},
        "inconsistent_statistics",
        False,
    ),
    (
        "Density",
        {"value": float("nan"), "unit": "g/cm3", "method": "ISO 1183-1"},
        "non_finite_number",
        True,
    ),
    (
        "Density",
        {"value": float("inf"), "unit": "g/cm3", "method": "ISO 1183-1"},
        "non_finite_number",
        True,
    ),
    (
        "Density",
        {"value": 1e308, "unit": "g/cm3", "method": "ISO 1183-1"},
        "number_out_of_bounds",
        True,
    ),
    ("Density", {"value": "0.9", "unit": "g/cm3", "method": "ISO 1183-1"}, "wrong_type", True),
    ("Density", {"value": True, "unit": "g/cm3", "method": "ISO 1183-1"}, "wrong_type", True),
    (
        "Density",
        {"value": 0.9, "mean": 0.9, "unit": "g/cm3", "method": "ISO 1183-1"},
        "ambiguous_value",
        True,
    ),
    (
        "Density",
        {"value": 0.9, "unit": "g/cm3", "method": "ISO 1183-1", "colour": 1},
        "unknown_key",
        True,
    ),
    ("Density", 0.9, "wrong_type", True),
    ("MainMaterialType", "XYZ", "unknown_polymer_code", False),
    ("MainMaterialType", "PP+FOO", "unknown_polymer_code", False),
    ("MainMaterialType", 5, "wrong_type", True),
    ("Form", "liquid", "invalid_value", False),
    ("TradeName", "   ", "empty", False),
    ("TradeName", "a\x00b", "nul_byte", True),
    ("TradeName", "x" * 5000, "too_long", True),
    (
        "CertificateOfAnalysis",
        {"TypeOfInspectionCertificate": "none", "Documentation": "d"},
        "no_certificate",
        False,
    ),
    ("CertificateOfAnalysis", {"TypeOfInspectionCertificate": "3.1"}, "missing_part", False),
    (
        "CertificateOfAnalysis",
        {"TypeOfInspectionCertificate": "3.1", "Documentation": "d", "x": 1},
        "unknown_key",
        True,
    ),
    (
        "PresenceOfModifyingAdditives",
        [{"ModifyingAdditiveName": "AO", "ModifyingAdditiveCASNumber": "6683-19-9"}],
        "invalid_cas",
        False,
    ),
    ("PresenceOfModifyingAdditives", {"ModifyingAdditiveName": "AO"}, "wrong_type", True),
    (
        "TypesOfFillers",
        [
            {"Filler": "talc", "FillerMassPercentage": 70},
            {"Filler": "CaCO3", "FillerMassPercentage": 40},
        ],
        "out_of_range",
        False,
    ),
    ("TypesOfFillers", [{"Filler": "talc", "FillerMassPercentage": 170}], "out_of_range", False),
    ("TypesOfFillers", [{"Filler": "talc"}], "missing_part", False),
    ("ChainOfCustody", {"AttributionModel": "wishful_thinking"}, "invalid_value", False),
    (
        "TensileProperties",
        {"values": {"tensile_modulus": {"value": 1300, "unit": "MPa"}}},
        "missing_method",
        False,
    ),
    ("TensileProperties", {"method": "ISO 527-2", "values": {}}, "missing_value", False),
    (
        "TensileProperties",
        {"method": "ISO 178", "values": {"tensile_modulus": {"value": 1300, "unit": "MPa"}}},
        "unsupported_method",
        False,
    ),
    (
        "TensileProperties",
        {"method": "ISO 527-2", "values": {"tensile_modulus": {"value": 1300, "unit": "g/cm3"}}},
        "invalid_unit",
        False,
    ),
    (
        "TensileProperties",
        {"method": "ISO 527-2", "values": {"hardness": {"value": 1, "unit": "MPa"}}},
        "unknown_key",
        True,
    ),
    ("MaterialIdentification", {}, "missing_part", False),
    (
        "MaterialIdentification",
        {"DSC": {"Documentation": ["d"], "method": "ISO 527-2"}},
        "unsupported_method",
        False,
    ),
    ("MaterialIdentification", {"DSC": {"Documentation": []}}, "empty", False),
    (
        "ParticleSizeDistribution",
        {"value": 6, "unit": "mm", "method": "ISO 22498", "d90": "big"},
        "wrong_type",
        True,
    ),
]


@pytest.mark.parametrize(("field", "value", "code", "hard"), INVALID_CASES)
def test_invalid_values_never_count(field: str, value: Any, code: str, hard: bool) -> None:
    level = PLASTIC.by_id[field].level
    assert level is not None
    attrs = examples(PLASTIC)
    attrs[field] = value
    a = assess(attrs)
    issues = [i for i in a.invalid if i.field == field]
    assert [i.code for i in issues] == [code], issues
    assert issues[0].pointer.startswith(f"/{field}")
    assert field not in a.valid_fields
    assert a.level == level - 1
    blockers = {i.field: i.code for i in a.missing_for_next_level}
    assert blockers.get(field) == code
    errors = check_input(attrs)
    assert bool(errors) == hard
    if hard:
        assert all(e.pointer.startswith(f"/{field}") for e in errors)
        assert code in {e.code for e in errors}


@pytest.mark.parametrize(
    "viscosity",
    [
        {"value": 0.78, "unit": "dL/g", "method": "ISO 1628-5"},
        {"value": 78, "unit": "mL/g", "method": "ISO 1628-5", "quantity": "IV"},
        {"value": 150, "unit": "mL/g", "method": "ISO 307"},
        {
            "value": 9,
            "unit": "cm3/10min",
            "method": "ISO 1133-2",
            "conditions": {"temperature_c": 230, "load_kg": 2.16},
        },
        {
            "value": 1.2,
            "unit": "g/min",
            "method": "DIN EN ISO 1133-1:2022",
            "conditions": {"temperature_c": 230, "load_kg": 2.16},
        },
    ],
)
def test_each_viscosity_quantity_is_accepted(viscosity: dict[str, Any]) -> None:
    attrs = examples(PLASTIC, 1)
    attrs["Viscosity"] = viscosity
    a = assess(attrs)
    assert a.level == 1, a.invalid


def test_pet_given_mfr_is_warned_but_iv_is_not() -> None:
    attrs = examples(PLASTIC, 1)
    attrs["MainMaterialType"] = "PET"
    attrs["Viscosity"] = {**MFR_OK, "conditions": {"temperature_c": 280, "load_kg": 2.16}}
    codes = {w.code for w in assess(attrs).warnings}
    assert "unexpected_viscosity_quantity" in codes
    attrs["Viscosity"] = {"value": 0.78, "unit": "dL/g", "method": "ISO 1628-5"}
    a = assess(attrs)
    assert a.level == 1
    assert "unexpected_viscosity_quantity" not in {w.code for w in a.warnings}


def test_trade_abbreviation_is_accepted_with_warning() -> None:
    attrs = examples(PLASTIC, 1)
    attrs["MainMaterialType"] = "hdpe"
    attrs["Viscosity"] = {**MFR_OK, "conditions": {"temperature_c": 190, "load_kg": 2.16}}
    a = assess(attrs)
    assert a.level == 1
    assert "non_iso_polymer_code" in {w.code for w in a.warnings}


def test_null_counts_as_missing() -> None:
    attrs = examples(PLASTIC, 2)
    attrs["Density"] = None
    a = assess(attrs)
    assert a.level == 1
    assert {i.field: i.code for i in a.missing_for_next_level}["Density"] == "missing"
    assert check_input(attrs) == []


def test_empty_declaration_lists_count_as_present() -> None:
    attrs = examples(PLASTIC, 2)
    attrs["TypesOfFillers"] = []
    attrs["PresenceOfModifyingAdditives"] = []
    assert assess(attrs).level == 2


# ----------------------------------------------------------------- claims, explanations


def test_claim_above_computed_is_flagged() -> None:
    a = assess(examples(PLASTIC, 2), claimed_level=4)
    assert (a.level, a.claimed_level, a.claim_exceeds_computed) == (2, 4, True)
    assert "claim_exceeds_computed" in {w.code for w in a.warnings}
    b = assess(examples(PLASTIC, 2), claimed_level=2)
    assert not b.claim_exceeds_computed
    c = assess(examples(PLASTIC, 2), claimed_level=1)
    assert not c.claim_exceeds_computed


def test_missing_field_explanation_lists_missing_and_invalid() -> None:
    attrs = examples(PLASTIC, 2)
    del attrs["LotNumber"]
    attrs["Density"] = {"value": 905, "unit": "kg/m3"}  # no method
    a = assess(attrs)
    assert a.level == 1
    reasons = {i.field: (i.code, i.level) for i in a.missing_for_next_level}
    assert reasons == {"LotNumber": ("missing", 2), "Density": ("missing_method", 2)}
    assert [i.field for i in a.invalid] == ["Density"]
    assert a.invalid[0].pointer == "/Density/method"
    assert "method" in a.invalid[0].detail


def test_invalid_field_at_a_higher_level_is_listed_but_does_not_lower_reached_level() -> None:
    attrs = examples(PLASTIC, 1)
    attrs["BulkDensity"] = {"value": 450, "unit": "MPa", "method": "ISO 60"}
    a = assess(attrs)
    assert a.level == 1
    assert [(i.field, i.code) for i in a.invalid] == [("BulkDensity", "invalid_unit")]


# ----------------------------------------------------------------- extensions / unknown keys


def test_documented_extensions_are_validated_but_never_count() -> None:
    ext = {f.id_short: f.raw["example"] for f in PLASTIC.extensions.values()}
    assert all(k.startswith("x-") for k in ext)
    a = assess(ext)
    assert a.level == 0
    assert a.invalid == ()
    assert set(ext) <= set(a.valid_fields)
    bad = assess({"x-Odour": {"value": 7, "method": "VDA 270"}})
    assert [(i.field, i.code) for i in bad.invalid] == [("x-Odour", "out_of_range")]


@pytest.mark.parametrize("key", ["Foo", "x-Unknown", "density", "X-Odour", "a/b"])
def test_unknown_keys_are_errors(key: str) -> None:
    attrs = examples(PLASTIC, 1)
    attrs[key] = 1
    a = assess(attrs)
    assert a.level == 1
    assert [(i.field, i.code) for i in a.invalid] == [(key, "unknown_field")]
    errors = check_input(attrs)
    assert [e.code for e in errors] == ["unknown_field"]
    assert errors[0].pointer == "/" + key.replace("/", "~1")


def test_check_input_rejects_non_mapping_and_deep_nesting() -> None:
    assert [e.code for e in check_input([1, 2])] == ["wrong_type"]
    deep: Any = 1
    for _ in range(10):
        deep = {"k": deep}
    errors = check_input({"x-ColorCIELab": deep})
    assert "too_deep" in {e.code for e in errors}


# ----------------------------------------------------------------- determinism


def test_assessment_is_deterministic_and_order_independent() -> None:
    attrs = examples(PLASTIC, 3)
    attrs["Density"] = {"value": 5, "unit": "%", "method": "ISO 1183"}
    attrs["Foo"] = 1
    first = assess(attrs, claimed_level=4).as_dict()
    assert assess(copy.deepcopy(attrs), claimed_level=4).as_dict() == first
    items = list(attrs.items())
    rng = random.Random(7)
    for _ in range(5):
        rng.shuffle(items)
        shuffled = assess(dict(items), claimed_level=4).as_dict()
        assert shuffled["level"] == first["level"]
        assert shuffled["missing_for_next_level"] == first["missing_for_next_level"]
        assert sorted(json.dumps(i) for i in shuffled["invalid"]) == sorted(
            json.dumps(i) for i in first["invalid"]
        )
    json.dumps(first)  # plain JSON


def test_input_is_not_mutated() -> None:
    attrs = examples(PLASTIC)
    snapshot = copy.deepcopy(attrs)
    assess(attrs, claimed_level=1)
    check_input(attrs)
    assert attrs == snapshot


# ----------------------------------------------------------------- methods


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("EN ISO 1133-1:2011", ("ISO", "1133", "1")),
        ("DIN EN ISO 1183-1", ("ISO", "1183", "1")),
        ("iso 307", ("ISO", "307", None)),
        ("ASTM D6980-17", ("ASTM", "D6980", None)),
        ("ASTM D 1921", ("ASTM", "D1921", None)),
        ("CEN/TS 16010", ("CEN/TS", "16010", None)),
        ("my lab method", None),
    ],
)
def test_method_key(text: str, key: Any) -> None:
    assert method_key(text) == key


def test_method_matcher_series_and_parts() -> None:
    m = MethodMatcher.from_refs(
        parse_standard_refs("according to EN ISO 1133 series, EN ISO 527-2")
    )
    assert m.accepts("ISO 1133-2")
    assert m.accepts("ISO 527-2")
    assert m.accepts("ISO 527")
    assert not m.accepts("ISO 527-1")
    assert not m.accepts("ISO 1183-1")
