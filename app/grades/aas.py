"""Export a lot's grade as an IDTA 02080 submodel instance (AAS v3 JSON, plain dict).

Uses the template's idShorts and semantic IDs as recorded in the rule table. Differences from
the template, on purpose:

* children of a SubmodelElementList carry no idShort (constraint AASd-120; the template itself
  violates it four times);
* only fields that are present *and valid* are exported (invalid values never count, so they
  are not published either); ``x-`` extensions are not part of IDTA 02080 and are left out;
* template qualifiers (cardinality, RequiredAtDQL) are template metadata and are not copied;
* a measured value's ``Kind`` holds the measured quantity and, for MFR/MVR, the test conditions
  (``MFR 230 degC/2.16 kg``), since the template has no element for conditions.

Document references (certificate of analysis, FTIR/DSC reports) are exported as ``File``
elements whose value is the evidence id or URI given in the attributes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from app.grades import units
from app.grades.catalogue import PLASTIC_FAMILIES, CompiledField, get_catalogue
from app.grades.dql import assess
from app.grades.plausibility import viscosity_quantity

__all__ = ["build_submodel"]

_DEFAULT_CONTENT_TYPE = "application/pdf"
_MEASUREMENT_SEMANTICS = {
    "MeasuredValue": "https://admin-shell.io/idta/measurementvalue/measuredvalue/1/0",
    "Value": "https://admin-shell.io/idta/measurementvalue/value/1/0",
    "Unit": "0112/2///62720#UBA000",
    "Kind": "0112/2///62683#ACI144",
}


def _ref(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    return {"type": "ExternalReference", "keys": [{"type": "GlobalReference", "value": value}]}


def _with_semantic(el: dict[str, Any], semantic_id: str | None) -> dict[str, Any]:
    ref = _ref(semantic_id)
    if ref is not None:
        el["semanticId"] = ref
    return el


def _prop(
    id_short: str | None, value: Any, semantic_id: str | None, value_type: str = "xs:string"
) -> dict[str, Any]:
    el: dict[str, Any] = {"modelType": "Property", "valueType": value_type, "value": str(value)}
    if id_short is not None:
        el["idShort"] = id_short
    return _with_semantic(el, semantic_id)


def _smc(
    id_short: str | None, children: list[dict[str, Any]], semantic_id: str | None
) -> dict[str, Any]:
    el: dict[str, Any] = {"modelType": "SubmodelElementCollection", "value": children}
    if id_short is not None:
        el["idShort"] = id_short
    return _with_semantic(el, semantic_id)


def _sml(
    id_short: str,
    items: list[dict[str, Any]],
    semantic_id: str | None,
    item_semantic_id: str | None,
) -> dict[str, Any]:
    el: dict[str, Any] = {
        "modelType": "SubmodelElementList",
        "idShort": id_short,
        "typeValueListElement": "SubmodelElementCollection",
        "orderRelevant": False,
    }
    ref = _ref(item_semantic_id)
    if ref is not None:
        el["semanticIdListElement"] = ref
    if items:
        el["value"] = items
    return _with_semantic(el, semantic_id)


def _file(id_short: str, value: str, semantic_id: str | None, content_type: str) -> dict[str, Any]:
    el = {"modelType": "File", "idShort": id_short, "value": value, "contentType": content_type}
    return _with_semantic(el, semantic_id)


def _parts(raw: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(p["idShort"]): p for p in raw.get("parts") or []}


def _fmt(x: float) -> str:
    return repr(float(x))


def _measured_value(value: float, unit: str, kind: str, id_short: str | None) -> dict[str, Any]:
    return _smc(
        id_short,
        [
            _prop("Value", _fmt(value), _MEASUREMENT_SEMANTICS["Value"], "xs:float"),
            _prop("Unit", unit, _MEASUREMENT_SEMANTICS["Unit"]),
            _prop("Kind", kind, _MEASUREMENT_SEMANTICS["Kind"]),
        ],
        _MEASUREMENT_SEMANTICS["MeasuredValue"],
    )


def _unit_code(unit: Any) -> str:
    return units.canonicalize_unit(str(unit)) or str(unit)


def _measurement(f: CompiledField, v: Mapping[str, Any]) -> dict[str, Any]:
    parts = _parts(f.raw)
    central = float(v["value"] if "value" in v else v["mean"])
    unit = _unit_code(v.get("unit") or "1")
    if f.id_short == "Viscosity":
        kind = viscosity_quantity(v) or "viscosity"
        cond = v.get("conditions") or {}
        if "temperature_c" in cond and "load_kg" in cond:
            kind += f" {cond['temperature_c']:g} degC/{cond['load_kg']:g} kg"
    else:
        names = list(f.spec.get("quantities", {}))
        kind = str(v.get("quantity") or (names[0] if names else f.id_short))
    if "mean" in v:
        kind += " (mean"
        kind += f", sd {v['sd']:g}" if "sd" in v else ""
        kind += f", n {v['n']}" if "n" in v else ""
        kind += ")"
    children: list[dict[str, Any]] = []
    if v.get("method"):
        children.append(
            _prop("StandardOrNorm", v["method"], parts["StandardOrNorm"].get("semanticId"))
        )
    children.append(_measured_value(central, unit, kind, "MeasuredValue"))
    return _smc(f.id_short, children, f.semantic_id)


def _tensile(f: CompiledField, v: Mapping[str, Any]) -> dict[str, Any]:
    parts = _parts(f.raw)
    mv = parts["MeasuredValues"]
    items = []
    for kind, m in v["values"].items():
        central = float(m["value"] if "value" in m else m["mean"])
        items.append(_measured_value(central, _unit_code(m.get("unit")), kind, None))
    children = [
        _sml("MeasuredValues", items, mv.get("semanticId"), mv.get("semanticIdListElement"))
    ]
    if v.get("method"):
        children.append(
            _prop("StandardOrNorm", v["method"], parts["StandardOrNorm"].get("semanticId"))
        )
    return _smc(f.id_short, children, f.semantic_id)


def _identification(f: CompiledField, v: Mapping[str, Any], content_type: str) -> dict[str, Any]:
    parts = _parts(f.raw)
    children = []
    for tech in ("FTIR", "DSC"):
        if tech not in v or v[tech] is None:
            continue
        tp = parts[tech]
        doc_sem = _parts(tp)["Documentation"].get("semanticId")
        docs = v[tech].get("Documentation")
        doc_list = docs if isinstance(docs, list) else [docs] if docs else []
        files = [
            _file(
                "Documentation" if i == 0 else f"Documentation{i + 1}",
                str(d),
                doc_sem,
                content_type,
            )
            for i, d in enumerate(doc_list)
        ]
        children.append(_smc(tech, files, tp.get("semanticId")))
    return _smc(f.id_short, children, f.semantic_id)


def _percent_value(v: Any) -> str:
    if isinstance(v, Mapping):
        return _fmt(units.normalize(float(v["value"]), str(v.get("unit", "%")), "mass_fraction")[0])
    return _fmt(float(v))


def _information(f: CompiledField, v: Any, content_type: str) -> dict[str, Any]:
    shape = f.spec["shape"]
    parts = _parts(f.raw)
    if shape == "percent":
        return _prop(
            f.id_short,
            _percent_value(v),
            f.semantic_id,
            str(f.raw.get("valueType") or "xs:decimal"),
        )
    if shape == "collection":
        children = []
        for name, pv in v.items():
            if pv is None:
                continue
            sem = parts.get(name, {}).get("semanticId")
            if parts.get(name, {}).get("modelType") == "File":
                children.append(_file(name, str(pv), sem, content_type))
            else:
                children.append(_prop(name, str(pv).strip(), sem))
        return _smc(f.id_short, children, f.semantic_id)
    if shape == "list":
        item_tpl = next(iter(parts.values()))
        item_parts = _parts(item_tpl)
        items = []
        for it in v:
            kids = []
            for name, pv in it.items():
                tp = item_parts.get(name, {})
                if tp.get("valueType") == "xs:decimal":
                    kids.append(_prop(name, _percent_value(pv), tp.get("semanticId"), "xs:decimal"))
                else:
                    kids.append(_prop(name, str(pv).strip(), tp.get("semanticId")))
            items.append(_smc(None, kids, item_tpl.get("semanticId")))
        return _sml(f.id_short, items, f.semantic_id, f.raw.get("semanticIdListElement"))
    return _prop(
        f.id_short, str(v).strip(), f.semantic_id, str(f.raw.get("valueType") or "xs:string")
    )


_ID_SAFE = re.compile(r"[^A-Za-z0-9._~:-]")


def build_submodel(
    lot_id: str,
    attributes: Mapping[str, Any],
    *,
    family: str = "plastic_recyclate",
    scheme: str | None = None,
    edition: str | None = None,
    level: int | None = None,
    application_standards: Sequence[str] = (),
    submodel_id: str | None = None,
    content_type: str = _DEFAULT_CONTENT_TYPE,
) -> dict[str, Any]:
    """IDTA 02080 submodel instance for one lot (AAS v3 JSON as a dict).

    ``level`` defaults to the computed DQL; only valid template fields are exported.
    ``submodel_id`` defaults to ``urn:recyclate-marketplace:lot:<lot_id>:en18065``.
    """
    cat = get_catalogue(family, scheme, edition)
    if cat.family not in PLASTIC_FAMILIES:
        raise ValueError("IDTA 02080 export exists only for plastic families")
    a = assess(
        attributes, family=cat.family, scheme=cat.scheme, edition=cat.edition, plausibility=False
    )
    dql = a.level if level is None else level
    valid = set(a.valid_fields)
    raw = cat.raw
    sm = raw["submodel"]
    dq = raw["data_quality"]
    groups: dict[str, list[dict[str, Any]]] = {
        "InformationCharacteristics": [],
        "PropertyCharacteristics": [],
    }
    for f in cat.fields:
        if f.id_short not in valid:
            continue
        v = attributes[f.id_short]
        if f.spec["shape"] == "measurement":
            el = _measurement(f, v)
        elif f.spec["shape"] == "measurement_set":
            el = _tensile(f, v)
        elif f.id_short == "MaterialIdentification":
            el = _identification(f, v, content_type)
        else:
            el = _information(f, v, content_type)
        groups[str(f.raw["container"])].append(el)

    elements: list[dict[str, Any]] = [
        _smc(
            "DataQuality",
            [_prop("DataQualityLevel", str(dql), _parts(dq)["DataQualityLevel"].get("semanticId"))],
            dq.get("semanticId"),
        )
    ]
    if application_standards:
        elements.append(
            {
                "modelType": "SubmodelElementList",
                "idShort": "ApplicationSpecificStandards",
                "typeValueListElement": "Property",
                "valueTypeListElement": "xs:string",
                "orderRelevant": False,
                "semanticId": _ref(
                    "https://admin-shell.io/idta/en18065materialdata/ApplicationSpecificStandards/1/0"
                ),
                "semanticIdListElement": _ref(
                    "https://admin-shell.io/idta/en18065materialdata/StandardOrNorm/1/0"
                ),
                "value": [
                    _prop(
                        None,
                        s,
                        "https://admin-shell.io/idta/en18065materialdata/StandardOrNorm/1/0",
                    )
                    for s in application_standards
                ],
            }
        )
    for gid, children in groups.items():
        if children:
            elements.append(_smc(gid, children, raw["containers"].get(gid)))
    safe_lot = _ID_SAFE.sub("_", lot_id)
    return {
        "modelType": "Submodel",
        "idShort": sm["idShort"],
        "id": submodel_id or f"urn:recyclate-marketplace:lot:{safe_lot}:en18065",
        "kind": "Instance",
        "semanticId": _ref(sm["semanticId"]),
        "administration": {"version": "1", "revision": "0", "templateId": sm["templateId"]},
        "submodelElements": elements,
    }
