from __future__ import annotations

import json
from typing import Any

import aas_core3.jsonization as jsonization
import aas_core3.verification as verification
import pytest

from app.grades import assess
from app.grades.aas import build_submodel
from app.grades.catalogue import get_catalogue
from tests.grades.conftest import examples

PLASTIC = get_catalogue("plastic_recyclate")
from tests.grades.conftest import TEMPLATE  # noqa: E402


def _verify(sm: dict[str, Any]) -> list[str]:
    obj = jsonization.submodel_from_jsonable(json.loads(json.dumps(sm)))
    return [f"{e.path}: {e.cause}" for e in verification.verify(obj)]


def _walk(elements: list[dict[str, Any]], out: dict[str, dict[str, Any]]) -> None:
    for el in elements:
        if "idShort" in el:
            out.setdefault(el["idShort"], el)
        if isinstance(el.get("value"), list):
            _walk(el["value"], out)


@pytest.mark.parametrize("level", [0, 1, 2, 3, 4])
def test_export_passes_the_independent_verifier(level: int) -> None:
    attrs = examples(PLASTIC, level)
    attrs["MaterialIdentification"] = {
        "FTIR": {"Documentation": "d1"},
        "DSC": {"Documentation": ["a", "b"], "method": "ISO 11357-3"},
    }
    sm = build_submodel("lot_01HX", attrs, application_standards=["VDA 284"])
    assert _verify(sm) == []


@pytest.mark.skipif(not TEMPLATE.exists(), reason="template not available")
def test_template_itself_violates_aasd_120_and_export_does_not() -> None:
    template = json.loads(TEMPLATE.read_text(encoding="utf-8-sig"))["submodels"][0]
    causes = _verify(template)
    assert len(causes) == 4
    assert all("AASd-120" in c for c in causes)
    assert _verify(build_submodel("lot_1", examples(PLASTIC))) == []


def test_export_reuses_template_ids_and_level() -> None:
    attrs = examples(PLASTIC)
    sm = build_submodel("lot_42", attrs)
    found: dict[str, dict[str, Any]] = {}
    _walk(sm["submodelElements"], found)
    for f in PLASTIC.fields:
        assert found[f.id_short]["semanticId"]["keys"][0]["value"] == f.semantic_id
    assert found["DataQualityLevel"]["value"] == str(assess(attrs).level)
    assert sm["semanticId"]["keys"][0]["value"] == PLASTIC.raw["submodel"]["semanticId"]
    assert "lot_42" in sm["id"]
    fillers = found["TypesOfFillers"]
    assert all("idShort" not in item for item in fillers["value"])


def test_invalid_and_extension_fields_are_not_exported() -> None:
    attrs = examples(PLASTIC, 2)
    attrs["Density"] = {"value": 0.9, "unit": "MPa", "method": "ISO 1183-1"}
    attrs["x-Odour"] = {"value": 3, "method": "VDA 270"}
    sm = build_submodel("lot_7", attrs)
    found: dict[str, dict[str, Any]] = {}
    _walk(sm["submodelElements"], found)
    assert "Density" not in found
    assert "x-Odour" not in found
    assert found["DataQualityLevel"]["value"] == "1"
    assert _verify(sm) == []


def test_units_are_normalised_in_percent_fields() -> None:
    attrs = examples(PLASTIC, 1)
    attrs["RecycledContent"] = {"value": 950000, "unit": "ppm"}
    found: dict[str, dict[str, Any]] = {}
    _walk(build_submodel("lot_8", attrs)["submodelElements"], found)
    assert float(found["RecycledContent"]["value"]) == pytest.approx(95)


def test_other_families_are_rejected() -> None:
    with pytest.raises(ValueError, match="plastic"):
        build_submodel("lot_9", {}, family="paper")
