"""Generate the DQL rule tables from the IDTA 02080 submodel template (maintainer tool).

Usage::

    python -m app.grades.rules.build_rules /work/shared/standards/IDTA_02080_..._1-0.json \
        [--out-dir app/grades/rules] [--check]

Reads every element of ``InformationCharacteristics`` and ``PropertyCharacteristics`` that
carries a ``RequiredAtDQL`` qualifier and writes, per field: idShort, semanticId, kind
(information | property), required_at_dql, model/value type, allowed range, cardinality,
referenced test standards (parsed from the description) and the compound parts (recursively).
The project overlay ``en18065-overlay.json`` adds the value shape, units, vocabularies,
required test conditions and an example per field.

Output: ``en18065-2025.json`` and ``din-spec-91446-2021.json``. ``--check`` compares instead of
writing and exits 1 when the shipped files are stale.

Source: IDTA 02080-1-0 "Material Data for Plastic Waste", Industrial Digital Twin Association,
CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.grades.methods import parse_standard_refs

RULES_DIR = Path(__file__).resolve().parent
OVERLAY = RULES_DIR / "en18065-overlay.json"

CREDIT = {
    "source": "IDTA 02080-1-0 Material Data for Plastic Waste (Submodel Template), version 1.0",
    "publisher": "Industrial Digital Twin Association e.V. (IDTA)",
    "url": "https://github.com/admin-shell-io/submodel-templates/tree/main/published/"
    "Material%20Data%20for%20Plastic%20Waste/1/0",
    "licence": "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)",
    "changes": "Derived rule table: fields, semantic IDs, RequiredAtDQL levels, value types, "
    "ranges and referenced standards extracted from the template; value shapes, units, "
    "vocabularies and examples added by the recyclate-marketplace project.",
}

SCHEMES: tuple[dict[str, Any], ...] = (
    {
        "file": "en18065-2025.json",
        "scheme": "EN 18065",
        "edition": "2025",
        "title": "EN 18065:2025 Plastics - Recycled plastics - Data Quality Levels",
        "differences": [],
    },
    {
        "file": "din-spec-91446-2021.json",
        "scheme": "DIN SPEC 91446",
        "edition": "2021",
        "title": "DIN SPEC 91446:2021-12 Classification of recycled plastics by Data Quality "
        "Levels for use and (digital) trading",
        "differences": [
            "Mirrors the EN 18065 field set: IDTA 02080 (the only machine-readable source "
            "available to the project) models EN 18065, not DIN SPEC 91446.",
            "EN 18065 is the European successor of DIN SPEC 91446 and also absorbs "
            "DIN SPEC 91481 (polyamide); field-level differences between the two editions are "
            "not encoded here. Correct this file (or the generator) when the DIN SPEC text is "
            "at hand.",
        ],
    },
)


def _en(items: list[dict[str, Any]] | None) -> str:
    for item in items or []:
        if item.get("language", "").startswith("en"):
            return str(item.get("text", "")).strip()
    return ""


def _semantic_id(el: dict[str, Any]) -> str | None:
    keys = (el.get("semanticId") or {}).get("keys") or []
    return str(keys[0]["value"]) if keys else None


def _qualifier(el: dict[str, Any], qtype: str) -> str | None:
    for q in el.get("qualifiers") or []:
        if q.get("type") == qtype:
            return str(q.get("value"))
    return None


def _range(el: dict[str, Any]) -> list[float] | None:
    raw = _qualifier(el, "SMT/AllowedRange")
    if raw is None:
        return None
    lo, hi = raw.strip("[]() ").split(",")
    return [float(lo), float(hi)]


def _children(el: dict[str, Any]) -> list[dict[str, Any]]:
    value = el.get("value")
    if isinstance(value, list) and value and isinstance(value[0], dict) and "modelType" in value[0]:
        return value
    return []


def _part(el: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "idShort": el.get("idShort"),
        "semanticId": _semantic_id(el),
        "modelType": el["modelType"],
        "valueType": el.get("valueType"),
        "cardinality": _qualifier(el, "SMT/Cardinality"),
        "allowed_range": _range(el),
    }
    if el.get("contentType"):
        out["contentType"] = el["contentType"]
    if el["modelType"] == "SubmodelElementList":
        out["typeValueListElement"] = el.get("typeValueListElement")
        out["semanticIdListElement"] = (
            (el.get("semanticIdListElement") or {}).get("keys") or [{}]
        )[0].get("value")
    kids = _children(el)
    if kids:
        out["parts"] = [_part(k) for k in kids]
    return out


def extract(template: dict[str, Any]) -> dict[str, Any]:
    """Fields carrying RequiredAtDQL, in template order, plus submodel identifiers."""
    sm = template["submodels"][0]
    containers: dict[str, str | None] = {}
    fields: list[dict[str, Any]] = []
    top: dict[str, Any] = {}
    for group in sm["submodelElements"]:
        gid = group["idShort"]
        top[gid] = _part(group)
        if gid not in ("InformationCharacteristics", "PropertyCharacteristics"):
            continue
        containers[gid] = _semantic_id(group)
        kind = "information" if gid == "InformationCharacteristics" else "property"
        for el in _children(group):
            level = _qualifier(el, "RequiredAtDQL")
            if level is None:
                continue
            desc = _en(el.get("description"))
            field = _part(el)
            field.update(
                {
                    "kind": kind,
                    "container": gid,
                    "required_at_dql": int(level),
                    "displayName": _en(el.get("displayName")),
                    "description": desc,
                    # EN 18065 itself is cited for sections, not as a test method
                    "standards": [r for r in parse_standard_refs(desc) if r["ref"] != "EN 18065"],
                }
            )
            fields.append(field)
    dq = top.get("DataQuality", {})
    return {
        "submodel": {
            "idShort": sm["idShort"],
            "id": sm["id"],
            "semanticId": _semantic_id(sm),
            "templateId": (sm.get("administration") or {}).get("templateId"),
        },
        "containers": containers,
        "data_quality": dq,
        "fields": fields,
    }


def _select_standards(field: dict[str, Any], wanted: list[str]) -> list[dict[str, Any]]:
    refs: list[dict[str, Any]] = field["standards"]
    if wanted == ["*"]:
        return refs
    picked = [r for r in refs if r["number"] in wanted]
    missing = set(wanted) - {r["number"] for r in picked}
    if missing:
        raise SystemExit(f"{field['idShort']}: overlay names standards {missing} not in template")
    return picked


def merge(extracted: dict[str, Any], overlay: dict[str, Any]) -> list[dict[str, Any]]:
    spec_by_id: dict[str, Any] = overlay["fields"]
    out: list[dict[str, Any]] = []
    ids = {f["idShort"] for f in extracted["fields"]}
    extra = set(spec_by_id) - ids
    if extra:
        raise SystemExit(f"overlay names fields not in the template: {sorted(extra)}")
    for f in extracted["fields"]:
        spec = spec_by_id.get(f["idShort"])
        if spec is None:
            raise SystemExit(f"overlay has no value shape for {f['idShort']}")
        spec = json.loads(json.dumps(spec))  # deep copy
        example = spec.pop("example", None)
        note = spec.pop("note", None)
        if spec["shape"] == "percent" and f.get("allowed_range"):
            spec["range"] = f["allowed_range"]
        for q in (spec.get("quantities") or {}).values():
            q["methods"] = _select_standards(f, q.pop("standards"))
        if spec["shape"] == "measurement_set":
            spec["methods"] = f["standards"]
        if f["idShort"] == "MaterialIdentification":
            spec["parts"]["DSC"]["parts"]["method"]["methods"] = [
                r for r in f["standards"] if r["number"] == "11357"
            ]
        _fill_item_ranges(spec, f)
        field = dict(f)
        field["value"] = spec
        if note:
            field["note"] = note
        field["example"] = example
        out.append(field)
    return out


def _fill_item_ranges(spec: dict[str, Any], f: dict[str, Any]) -> None:
    """Copy the template's allowed ranges of list-item parts (FillerMassPercentage)."""
    item = spec.get("item")
    if not item:
        return
    template_items = {p["idShort"]: p for p in (f.get("parts") or [{}])[0].get("parts", [])}
    for name, pspec in item.get("parts", {}).items():
        tp = template_items.get(name)
        if tp and tp.get("allowed_range") and pspec.get("shape") == "percent":
            pspec["range"] = tp["allowed_range"]
        if tp and "required" not in pspec:
            pspec["required"] = tp.get("cardinality") in ("One", "OneToMany")
        if tp and pspec.get("shape") == "document":
            pspec["many"] = tp.get("cardinality") in ("OneToMany", "ZeroToMany")


def build(template_path: Path) -> dict[str, dict[str, Any]]:
    template = json.loads(template_path.read_text(encoding="utf-8-sig"))
    overlay = json.loads(OVERLAY.read_text(encoding="utf-8"))
    extracted = extract(template)
    fields = merge(extracted, overlay)
    levels: dict[str, list[str]] = {}
    for f in fields:
        levels.setdefault(str(f["required_at_dql"]), []).append(f["idShort"])
    tables: dict[str, dict[str, Any]] = {}
    for s in SCHEMES:
        tables[s["file"]] = {
            "scheme": s["scheme"],
            "edition": s["edition"],
            "title": s["title"],
            "family": ["plastic_recyclate", "plastic_waste"],
            "credit": CREDIT,
            "generated_by": "python -m app.grades.rules.build_rules <template.json>",
            "differences_from_template": s["differences"],
            "note_on_summary_table": "The template's summary table counts one information field "
            "fewer at DQL 2 and 3 than its RequiredAtDQL tags; the tags are the rule used here.",
            "submodel": extracted["submodel"],
            "containers": extracted["containers"],
            "data_quality": extracted["data_quality"],
            "levels": [1, 2, 3, 4],
            "fields_by_level": levels,
            "fields": fields,
        }
    return tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", type=Path)
    parser.add_argument("--out-dir", type=Path, default=RULES_DIR)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    stale = 0
    for name, table in build(args.template).items():
        text = json.dumps(table, indent=1, ensure_ascii=False) + "\n"
        target = args.out_dir / name
        if args.check:
            current = target.read_text(encoding="utf-8") if target.exists() else ""
            if current != text:
                print(f"stale: {target}", file=sys.stderr)
                stale += 1
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target} ({len(table['fields'])} fields)")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
