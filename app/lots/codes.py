"""Legal and trade codes on a lot: List of Waste, Basel entries, HS codes, end-of-waste status.

Pure module (no web or database imports). The code lists live in ``app/lots/data/*.json`` and
are loaded once; each file states which subset it holds and where it comes from.

* ``parse_waste_code`` / ``parse_basel_code`` / ``parse_hs_code`` normalise and validate one code
  and return a frozen record, or raise :class:`CodeError` with a stable machine ``code``.
* ``check_consistency`` compares family, form, end-of-waste status and codes and returns
  warnings (never raises for an inconsistency; it raises only for a value it cannot parse).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Final

__all__ = [
    "BaselEntry",
    "CodeError",
    "ConsistencyWarning",
    "EndOfWasteStatus",
    "Family",
    "HsCode",
    "WasteCode",
    "check_consistency",
    "eow_regulations_for",
    "family_hs_headings",
    "known_basel_entries",
    "known_hs_codes",
    "known_waste_codes",
    "normalise_eow_regulation",
    "parse_basel_code",
    "parse_end_of_waste_status",
    "parse_family",
    "parse_hs_code",
    "parse_waste_code",
]

_DATA_DIR: Final = Path(__file__).resolve().parent / "data"


class CodeError(ValueError):
    """A code that is malformed, unknown, or carries the wrong hazard marker.

    ``code`` is a stable machine code (e.g. ``malformed_waste_code``, ``unknown_waste_code``,
    ``hazard_marker_mismatch``); ``detail`` is a human sentence; ``value`` is the input as given
    (truncated), so the caller can echo it in an RFC 9457 ``errors`` entry.
    """

    def __init__(self, code: str, detail: str, *, value: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.value = value


class Family(StrEnum):
    """Material families used across the project."""

    PLASTIC_RECYCLATE = "plastic_recyclate"
    PLASTIC_WASTE = "plastic_waste"
    PAPER = "paper"
    FERROUS_SCRAP = "ferrous_scrap"
    ALUMINIUM_SCRAP = "aluminium_scrap"
    COPPER_SCRAP = "copper_scrap"
    GLASS_CULLET = "glass_cullet"


class EndOfWasteStatus(StrEnum):
    """Legal status of the material on a lot."""

    WASTE = "waste"
    END_OF_WASTE = "end_of_waste"  # ceased to be waste (EU regulation or national criteria)
    PRODUCT = "product"  # e.g. regranulated pellets
    BY_PRODUCT = "by_product"  # Article 5 of Directive 2008/98/EC


@dataclass(frozen=True, slots=True)
class WasteCode:
    """A List of Waste entry. ``code`` is ``"15 01 02"`` without the asterisk."""

    code: str
    hazardous: bool
    description: str
    material: str
    mirror: tuple[str, ...] = ()

    @property
    def display(self) -> str:
        """The code as written in the List of Waste, e.g. ``"15 01 10*"``."""
        return f"{self.code}*" if self.hazardous else self.code

    @property
    def chapter(self) -> str:
        """The sub-chapter, e.g. ``"15 01"``."""
        return self.code[:5]


@dataclass(frozen=True, slots=True)
class BaselEntry:
    """A Basel Convention (or EU-only) waste entry such as ``B3011`` or ``EU48``."""

    code: str
    annex: str
    hazardous: bool
    requires_notification: bool
    description: str
    material: str
    superseded_by: str | None = None

    @property
    def superseded(self) -> bool:
        return self.superseded_by is not None


@dataclass(frozen=True, slots=True)
class HsCode:
    """An HS heading or subheading; ``code`` is ``"NNNN.NN"`` (or ``"NNNN"`` for a bare heading)."""

    code: str
    heading: str
    subheading: str | None
    cn_code: str | None
    description: str
    heading_description: str
    waste_scrap: bool
    material: str


@dataclass(frozen=True, slots=True)
class ConsistencyWarning:
    """A soft inconsistency between the codes and status of a lot; ``field`` names the input."""

    code: str
    field: str
    detail: str


# --------------------------------------------------------------------------- data loading


def _load_json(name: str) -> dict[str, Any]:
    with (_DATA_DIR / name).open(encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise RuntimeError(f"{name}: top level must be an object")
    return data


def _str(entry: Mapping[str, Any], key: str, source: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise RuntimeError(f"{source}: entry {entry!r} needs a non-empty string {key!r}")
    return value


def _bool(entry: Mapping[str, Any], key: str, source: str) -> bool:
    value = entry.get(key)
    if not isinstance(value, bool):
        raise RuntimeError(f"{source}: entry {entry!r} needs a boolean {key!r}")
    return value


_LOW_CODE_RE: Final = re.compile(r"[0-9]{2} [0-9]{2} [0-9]{2}")
_MATERIALS: Final = frozenset(
    {"plastic", "paper", "ferrous", "non_ferrous", "copper", "aluminium", "metal", "glass"}
    | {"mixed", "other"}
)


@cache
def _waste_codes() -> dict[str, WasteCode]:
    source = "list_of_waste.json"
    out: dict[str, WasteCode] = {}
    for raw in _load_json(source)["entries"]:
        code = _str(raw, "code", source)
        material = _str(raw, "material", source)
        mirror = raw.get("mirror", [])
        if not _LOW_CODE_RE.fullmatch(code) or code in out or material not in _MATERIALS:
            raise RuntimeError(f"{source}: bad or duplicate entry {raw!r}")
        if not isinstance(mirror, list) or not all(isinstance(m, str) for m in mirror):
            raise RuntimeError(f"{source}: 'mirror' must be a list of codes in {raw!r}")
        out[code] = WasteCode(
            code=code,
            hazardous=_bool(raw, "hazardous", source),
            description=_str(raw, "description", source),
            material=material,
            mirror=tuple(mirror),
        )
    for entry in out.values():
        for other in entry.mirror:
            if other not in out or out[other].hazardous == entry.hazardous:
                raise RuntimeError(f"{source}: mirror {other} of {entry.code} is not a mirror")
    return out


@cache
def _basel_entries() -> dict[str, BaselEntry]:
    source = "basel_entries.json"
    out: dict[str, BaselEntry] = {}
    for raw in _load_json(source)["entries"]:
        code = _str(raw, "code", source)
        material = _str(raw, "material", source)
        superseded_by = raw.get("superseded_by")
        if code in out or material not in _MATERIALS or not _BASEL_RE.fullmatch(code):
            raise RuntimeError(f"{source}: bad or duplicate entry {raw!r}")
        if superseded_by is not None and not isinstance(superseded_by, str):
            raise RuntimeError(f"{source}: 'superseded_by' must be a string in {raw!r}")
        out[code] = BaselEntry(
            code=code,
            annex=_str(raw, "annex", source),
            hazardous=_bool(raw, "hazardous", source),
            requires_notification=_bool(raw, "requires_notification", source),
            description=_str(raw, "description", source),
            material=material,
            superseded_by=superseded_by,
        )
    for entry in out.values():
        if entry.superseded_by is not None and entry.superseded_by not in out:
            raise RuntimeError(f"{source}: {entry.code} superseded by unknown entry")
    return out


@dataclass(frozen=True, slots=True)
class _Heading:
    code: str
    description: str
    waste_scrap: bool
    material: str


@cache
def _hs_tables() -> tuple[dict[str, _Heading], dict[str, str]]:
    """(heading 'NNNN' -> heading, subheading 'NNNN.NN' -> description)."""
    source = "hs_codes.json"
    data = _load_json(source)
    headings: dict[str, _Heading] = {}
    for raw in data["headings"]:
        code = _str(raw, "code", source)
        material = _str(raw, "material", source)
        if not re.fullmatch(r"[0-9]{4}", code) or code in headings or material not in _MATERIALS:
            raise RuntimeError(f"{source}: bad or duplicate heading {raw!r}")
        headings[code] = _Heading(
            code, _str(raw, "description", source), _bool(raw, "waste_scrap", source), material
        )
    subheadings: dict[str, str] = {}
    for raw in data["subheadings"]:
        code = _str(raw, "code", source)
        if not re.fullmatch(r"[0-9]{4}\.[0-9]{2}", code) or code in subheadings:
            raise RuntimeError(f"{source}: bad or duplicate subheading {raw!r}")
        if code[:4] not in headings:
            raise RuntimeError(f"{source}: subheading {code} has no heading")
        subheadings[code] = _str(raw, "description", source)
    return headings, subheadings


@dataclass(frozen=True, slots=True)
class _FamilyRules:
    hs_headings: tuple[str, ...]
    materials: frozenset[str]
    eow_regulations: tuple[str, ...]


@cache
def _family_tables() -> tuple[dict[Family, _FamilyRules], frozenset[str], dict[str, str]]:
    """(family -> rules, product forms, regulation 'NNN/YYYY' -> title)."""
    source = "families.json"
    data = _load_json(source)
    regulations = {str(k): str(v) for k, v in data["eow_regulations"].items()}
    headings, _ = _hs_tables()
    rules: dict[Family, _FamilyRules] = {}
    for name, raw in data["families"].items():
        family = Family(name)
        rule = _FamilyRules(
            hs_headings=tuple(raw["hs_headings"]),
            materials=frozenset(raw["materials"]),
            eow_regulations=tuple(raw["eow_regulations"]),
        )
        if (
            not set(rule.hs_headings) <= headings.keys()
            or not rule.materials <= _MATERIALS
            or not set(rule.eow_regulations) <= regulations.keys()
        ):
            raise RuntimeError(f"{source}: family {name} refers to unknown codes")
        rules[family] = rule
    if set(rules) != set(Family):
        raise RuntimeError(f"{source}: families do not match the Family enum")
    forms = frozenset(str(f).strip().lower() for f in data["product_forms"])
    return rules, forms, regulations


# --------------------------------------------------------------------------- parsing


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_WASTE_INPUT_RE: Final = re.compile(r"\s*([0-9]{2})\s?([0-9]{2})\s?([0-9]{2})\s*(\*?)\s*", re.ASCII)


def parse_waste_code(value: str) -> WasteCode:
    """Normalise and validate a List of Waste code.

    Accepts ``"15 01 02"``, ``"150102"``, ``"15 01 10*"``, ``"150110*"``. The asterisk must be
    present exactly for hazardous entries.

    Raises:
        CodeError: ``malformed_waste_code``, ``unknown_waste_code`` or ``hazard_marker_mismatch``.
    """
    match = _WASTE_INPUT_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise CodeError(
            "malformed_waste_code",
            f"{_shown(value)!r} is not a List of Waste code: expected six digits such as "
            "'15 01 02' or '150102', with '*' appended for hazardous entries",
            value=_shown(value),
        )
    code = " ".join(match.group(1, 2, 3))
    marked = match.group(4) == "*"
    entry = _waste_codes().get(code)
    if entry is None:
        raise CodeError(
            "unknown_waste_code",
            f"{code} is not a List of Waste code known to this service",
            value=_shown(value),
        )
    if marked and not entry.hazardous:
        hint = _mirror_hint(entry)
        raise CodeError(
            "hazard_marker_mismatch",
            f"{code} ({entry.description}) is a non-hazardous entry and must not carry '*'" + hint,
            value=_shown(value),
        )
    if entry.hazardous and not marked:
        hint = _mirror_hint(entry)
        raise CodeError(
            "hazard_marker_mismatch",
            f"{code} ({entry.description}) is a hazardous entry and must be written "
            f"'{entry.display}'" + hint,
            value=_shown(value),
        )
    return entry


def _mirror_hint(entry: WasteCode) -> str:
    if not entry.mirror:
        return ""
    table = _waste_codes()
    kind = "non-hazardous" if entry.hazardous else "hazardous"
    mirrors = ", ".join(table[m].display for m in entry.mirror)
    return f"; its {kind} mirror entry is {mirrors}"


_BASEL_RE: Final = re.compile(r"[A-Z]{1,2}[0-9]{1,4}", re.ASCII)


def parse_basel_code(value: str) -> BaselEntry:
    """Normalise (upper case, inner spaces removed) and validate a Basel / EU waste entry.

    Superseded entries (e.g. ``B3010``, ``A1180``) are returned with ``superseded_by`` set.

    Raises:
        CodeError: ``malformed_basel_code`` or ``unknown_basel_code``.
    """
    text = re.sub(r"\s+", "", value).upper() if isinstance(value, str) else ""
    if not _BASEL_RE.fullmatch(text):
        raise CodeError(
            "malformed_basel_code",
            f"{_shown(value)!r} is not a Basel entry: expected a letter prefix and digits "
            "such as 'B3011', 'A3210', 'Y48' or 'EU3011'",
            value=_shown(value),
        )
    entry = _basel_entries().get(text)
    if entry is None:
        raise CodeError(
            "unknown_basel_code",
            f"{text} is not a Basel or EU waste entry known to this service",
            value=_shown(value),
        )
    return entry


_HS_INPUT_RE: Final = re.compile(
    r"\s*([0-9]{4})(?:[. ]?([0-9]{2})(?:[. ]?([0-9]{2}))?)?\s*", re.ASCII
)


def parse_hs_code(value: str) -> HsCode:
    """Normalise and validate an HS heading/subheading or an eight-digit CN code.

    Accepts ``"3915"``, ``"3915.10"``, ``"391510"``, ``"3915 10"``, ``"3915.10.00"``,
    ``"39151000"``. Subheadings normalise to ``"NNNN.NN"``; a bare heading that is not
    subdivided (``"7404"``) normalises to its only subheading (``"7404.00"``). For a CN code only
    the HS six-digit part is validated; the eight digits are kept in ``cn_code``.

    Raises:
        CodeError: ``malformed_hs_code`` or ``unknown_hs_code``.
    """
    match = _HS_INPUT_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise CodeError(
            "malformed_hs_code",
            f"{_shown(value)!r} is not an HS code: expected 4, 6 or 8 digits such as "
            "'3915', '3915.10' or '39151000'",
            value=_shown(value),
        )
    heading_code, sub, cn = match.group(1, 2, 3)
    headings, subheadings = _hs_tables()
    heading = headings.get(heading_code)
    if heading is None:
        raise CodeError(
            "unknown_hs_code",
            f"HS heading {heading_code} is not among the waste, scrap and primary-form "
            "headings known to this service",
            value=_shown(value),
        )
    subheading: str | None
    if sub is None:
        only = [s for s in subheadings if s.startswith(heading_code + ".")]
        subheading = only[0] if len(only) == 1 and only[0].endswith(".00") else None
    else:
        subheading = f"{heading_code}.{sub}"
        if subheading not in subheadings:
            raise CodeError(
                "unknown_hs_code",
                f"HS subheading {subheading} does not exist under heading {heading_code} "
                f"({heading.description}) in the list known to this service",
                value=_shown(value),
            )
    return HsCode(
        code=subheading or heading_code,
        heading=heading_code,
        subheading=subheading,
        cn_code=f"{heading_code}{sub}{cn}" if cn is not None else None,
        description=subheadings[subheading] if subheading else heading.description,
        heading_description=heading.description,
        waste_scrap=heading.waste_scrap,
        material=heading.material,
    )


def parse_family(value: Family | str) -> Family:
    """Raises CodeError ``unknown_family``."""
    try:
        return Family(value.strip().lower() if isinstance(value, str) else value)
    except ValueError:
        raise CodeError(
            "unknown_family",
            f"{_shown(value)!r} is not a material family; expected one of "
            + ", ".join(f.value for f in Family),
            value=_shown(value),
        ) from None


def parse_end_of_waste_status(value: EndOfWasteStatus | str) -> EndOfWasteStatus:
    """Raises CodeError ``unknown_end_of_waste_status``."""
    try:
        return EndOfWasteStatus(value.strip().lower() if isinstance(value, str) else value)
    except ValueError:
        raise CodeError(
            "unknown_end_of_waste_status",
            f"{_shown(value)!r} is not an end-of-waste status; expected one of "
            + ", ".join(s.value for s in EndOfWasteStatus),
            value=_shown(value),
        ) from None


_REGULATION_RE: Final = re.compile(r"(?<![0-9])([0-9]{3,4})/([0-9]{4})(?![0-9])", re.ASCII)


def normalise_eow_regulation(value: str) -> str | None:
    """``"Regulation (EU) No 333/2011"`` -> ``"333/2011"``; None when no number/year is found."""
    match = _REGULATION_RE.search(value)
    return f"{match.group(1)}/{match.group(2)}" if match else None


def known_waste_codes() -> tuple[WasteCode, ...]:
    return tuple(_waste_codes().values())


def known_basel_entries() -> tuple[BaselEntry, ...]:
    return tuple(_basel_entries().values())


def known_hs_codes() -> tuple[str, ...]:
    """All known subheadings, ``"NNNN.NN"``."""
    return tuple(_hs_tables()[1])


def family_hs_headings(family: Family | str) -> tuple[str, ...]:
    """The HS headings (four digits) expected for a family."""
    return _family_tables()[0][parse_family(family)].hs_headings


def eow_regulations_for(family: Family | str) -> tuple[str, ...]:
    """EU end-of-waste regulations (``"333/2011"``...) for a family; empty if none exist."""
    return _family_tables()[0][parse_family(family)].eow_regulations


# --------------------------------------------------------------------------- consistency


def check_consistency(
    family: Family | str,
    *,
    form: str | None = None,
    status: EndOfWasteStatus | str | None = None,
    waste_code: WasteCode | str | None = None,
    basel_code: BaselEntry | str | None = None,
    hs_code: HsCode | str | None = None,
    eow_regulation: str | None = None,
) -> list[ConsistencyWarning]:
    """Return warnings about a lot whose family, form, status and codes do not fit together.

    Codes may be given as parsed records or as strings; a string that does not parse raises
    :class:`CodeError` (validate fields first to report them per field). ``form`` is free text
    compared case-insensitively with the product forms in ``families.json`` (regranulate,
    pellets, granulate, compound). Warning ``field`` values are the keyword names used here.
    """
    fam = parse_family(family)
    rules_by_family, product_forms, regulations = _family_tables()
    rules = rules_by_family[fam]
    st = parse_end_of_waste_status(status) if status is not None else None
    low = parse_waste_code(waste_code) if isinstance(waste_code, str) else waste_code
    basel = parse_basel_code(basel_code) if isinstance(basel_code, str) else basel_code
    hs = parse_hs_code(hs_code) if isinstance(hs_code, str) else hs_code
    form_key = form.strip().lower() if form else None
    is_product_form = form_key in product_forms

    warnings: list[ConsistencyWarning] = []

    def warn(code: str, field: str, detail: str) -> None:
        warnings.append(ConsistencyWarning(code, field, detail))

    # Family <-> HS heading.
    if hs is not None and hs.heading not in rules.hs_headings:
        warn(
            "hs_family_mismatch",
            "hs_code",
            f"HS {hs.heading} ({hs.heading_description}) does not fit family {fam.value}; "
            f"expected heading {', '.join(rules.hs_headings)}",
        )
    # Status <-> HS heading.
    if hs is not None and st is EndOfWasteStatus.PRODUCT and hs.waste_scrap:
        warn(
            "hs_waste_scrap_with_product_status",
            "status",
            f"HS {hs.heading} (waste/scrap) with end-of-waste status product",
        )
    if hs is not None and st is EndOfWasteStatus.WASTE and not hs.waste_scrap:
        warn(
            "hs_primary_form_with_waste_status",
            "status",
            f"HS {hs.heading} is a primary-form (product) heading but the lot is declared waste",
        )
    # Form rules: regranulated pellets are products, not waste.
    if is_product_form:
        if st is EndOfWasteStatus.WASTE:
            warn(
                "product_form_declared_waste",
                "status",
                f"form {form_key} is a product, not waste; use status product",
            )
        if hs is not None and hs.waste_scrap:
            warn(
                "product_form_with_waste_scrap_hs",
                "hs_code",
                f"form {form_key} is classified under a primary-form heading (3901-3908), "
                f"not under waste/scrap heading {hs.heading}",
            )
        if fam is Family.PLASTIC_WASTE:
            warn(
                "product_form_in_waste_family",
                "family",
                f"form {form_key} on a plastic_waste lot; regranulate belongs to plastic_recyclate",
            )
    # End-of-waste claims.
    regulation = normalise_eow_regulation(eow_regulation) if eow_regulation else None
    if eow_regulation and regulation is None:
        warn(
            "eow_regulation_unrecognised",
            "eow_regulation",
            f"{_shown(eow_regulation)!r} does not name a regulation number such as '333/2011'",
        )
    if st is EndOfWasteStatus.END_OF_WASTE:
        if rules.eow_regulations:
            expected = " or ".join(f"Regulation (EU) No {r}" for r in rules.eow_regulations)
            if not eow_regulation:
                warn(
                    "eow_regulation_missing",
                    "eow_regulation",
                    f"an end-of-waste claim for {fam.value} needs the regulation it relies on "
                    f"({expected})",
                )
            elif regulation is not None and regulation not in rules.eow_regulations:
                warn(
                    "eow_regulation_mismatch",
                    "eow_regulation",
                    f"Regulation {regulation} does not set end-of-waste criteria for "
                    f"{fam.value}; expected {expected}",
                )
        else:
            if regulation is not None and regulation in regulations:
                warn(
                    "eow_regulation_mismatch",
                    "eow_regulation",
                    f"Regulation {regulation} does not cover {fam.value}; there are no EU-wide "
                    "end-of-waste criteria for it",
                )
            warn(
                "eow_no_eu_criteria",
                "status",
                f"no EU-wide end-of-waste criteria exist for {fam.value}; the claim rests on "
                "national criteria or a case-by-case decision (Art. 6(4) Directive 2008/98/EC)",
            )
    elif eow_regulation and st is not None:
        warn(
            "eow_regulation_without_claim",
            "eow_regulation",
            f"an end-of-waste regulation is given but the status is {st.value}",
        )
    # Waste classification codes on material that is not waste.
    if st is not None and st is not EndOfWasteStatus.WASTE:
        if low is not None:
            warn(
                "waste_code_on_non_waste",
                "waste_code",
                f"List of Waste code {low.display} classifies waste but the lot is declared "
                f"{st.value}",
            )
        if basel is not None:
            warn(
                "basel_code_on_non_waste",
                "basel_code",
                f"Basel entry {basel.code} applies to waste shipments but the lot is declared "
                f"{st.value}",
            )
    # Material of the codes vs the family.
    if low is not None and low.material not in rules.materials:
        warn(
            "waste_code_family_mismatch",
            "waste_code",
            f"List of Waste code {low.display} ({low.description}) does not fit family {fam.value}",
        )
    if basel is not None and basel.material not in rules.materials:
        warn(
            "basel_code_family_mismatch",
            "basel_code",
            f"Basel entry {basel.code} does not fit family {fam.value}",
        )
    if low is not None and low.hazardous:
        warn(
            "hazardous_waste_code",
            "waste_code",
            f"{low.display} is hazardous waste: shipments need notification and consent",
        )
    if basel is not None and basel.hazardous:
        warn(
            "hazardous_basel_entry",
            "basel_code",
            f"Basel entry {basel.code} is presumed hazardous (Annex VIII)",
        )
    if basel is not None and basel.superseded_by is not None:
        warn(
            "superseded_basel_entry",
            "basel_code",
            f"Basel entry {basel.code} has been replaced by {basel.superseded_by}",
        )
    return warnings
