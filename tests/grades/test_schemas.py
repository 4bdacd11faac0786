from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from app.grades import assess
from app.grades.schemas import (
    EXAMPLE_PP_REGRIND,
    AssessmentOut,
    GradeIn,
    assess_grade,
    pointer_to_loc,
)


class Envelope(BaseModel):
    grade: GradeIn


def _errors(payload: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as exc:
        Envelope.model_validate({"grade": payload})
    return [(e["loc"], e["type"]) for e in exc.value.errors()]


def test_example_round_trip_matches_documented_output() -> None:
    grade = GradeIn.model_validate(EXAMPLE_PP_REGRIND)
    out = assess_grade(grade)
    documented = AssessmentOut.model_json_schema()["examples"][0]
    assert out.model_dump(mode="json") == AssessmentOut.model_validate(documented).model_dump(
        mode="json"
    )
    assert out.level == 2
    assert out.claim_exceeds_computed
    assert GradeIn.model_json_schema()["examples"][0] == EXAMPLE_PP_REGRIND


@pytest.mark.parametrize(
    ("path", "value", "loc", "code"),
    [
        (("Foo",), 1, ("Foo",), "unknown_field"),
        (("Density", "unit"), "g\x00", ("Density", "unit"), "nul_byte"),
        (("Density", "mean"), float("nan"), ("Density", "mean"), "non_finite_number"),
        (("Density", "mean"), float("-inf"), ("Density", "mean"), "non_finite_number"),
        (("Density", "mean"), 1e308, ("Density", "mean"), "number_out_of_bounds"),
        (("Density", "mean"), 10**400, ("Density", "mean"), "number_out_of_bounds"),
        (("Density", "mean"), "0.9", ("Density", "mean"), "wrong_type"),
        (
            ("TypesOfFillers", 0, "FillerMassPercentage"),
            [],
            ("TypesOfFillers", 0, "FillerMassPercentage"),
            "wrong_type",
        ),
        (("MainMaterialType",), {"code": "PP"}, ("MainMaterialType",), "wrong_type"),
    ],
)
def test_hard_input_errors_carry_deep_locations(
    path: tuple[Any, ...], value: Any, loc: tuple[Any, ...], code: str
) -> None:
    payload = copy.deepcopy(EXAMPLE_PP_REGRIND)
    target: Any = payload["attributes"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = _errors(payload)
    assert (("grade", "attributes", *loc), code) in errors


def test_verdicts_are_not_input_errors() -> None:
    payload = copy.deepcopy(EXAMPLE_PP_REGRIND)
    payload["attributes"]["Density"]["unit"] = "MPa"
    payload["attributes"]["MainMaterialType"] = "XYZ"
    grade = GradeIn.model_validate(payload)
    out = assess_grade(grade)
    assert {(i.field, i.code) for i in out.invalid} == {
        ("Density", "invalid_unit"),
        ("MainMaterialType", "unknown_polymer_code"),
    }
    assert out.level == 0


def test_scheme_defaults_and_errors() -> None:
    g = GradeIn.model_validate({"family": "paper", "attributes": {"GradeCode": "1.05.00"}})
    assert (g.scheme, g.edition) == ("completeness", "1")
    assert (("grade", "scheme"), "unknown_scheme") in _errors(
        {"family": "paper", "scheme": "EN 18065"}
    )
    assert _errors({"family": "wood"})[0][1] == "literal_error"
    assert _errors({"claimed_dql": 5})[0][0] == ("grade", "claimed_dql")
    assert _errors({"unexpected": 1})[0][1] == "extra_forbidden"


def test_assessment_out_from_assessment_is_json_ready() -> None:
    a = assess({"GradeCode": "E3", "ForeignMaterials": 3}, family="ferrous_scrap")
    out = AssessmentOut.from_assessment(a)
    data = json.loads(out.model_dump_json())
    assert data["checks"][0]["status"] in {"pass", "fail", "unknown"}
    assert data == a.as_dict()


def test_pointer_to_loc() -> None:
    assert pointer_to_loc("/TypesOfFillers/0/Filler") == ("TypesOfFillers", 0, "Filler")
    assert pointer_to_loc("/a~1b/c~0d") == ("a/b", "c~d")
    assert pointer_to_loc("") == ()
