"""Rule-table registry: loads the shipped JSON once and compiles it into validators.

Plastics (``plastic_recyclate``, ``plastic_waste``) use the DQL tables generated from IDTA 02080
(``rules/en18065-2025.json``, ``rules/din-spec-91446-2021.json``) plus the documented ``x-``
extensions (``rules/extensions.json``). Other families use ``rules/families/<family>.json``
with the scheme ``completeness``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Final

from app.grades.results import Issue
from app.grades.validation import Validator, compile_spec

__all__ = [
    "FAMILIES",
    "PLASTIC_FAMILIES",
    "Catalogue",
    "CompiledField",
    "UnknownSchemeError",
    "get_catalogue",
    "load_json",
    "normalize_family",
    "resolve_scheme",
    "schemes_for",
]

PLASTIC_FAMILIES: Final = ("plastic_recyclate", "plastic_waste")
OTHER_FAMILIES: Final = (
    "paper",
    "ferrous_scrap",
    "aluminium_scrap",
    "copper_scrap",
    "glass_cullet",
)
FAMILIES: Final = PLASTIC_FAMILIES + OTHER_FAMILIES
_FAMILY_ALIASES: Final = {"plastic": "plastic_recyclate", "plastics": "plastic_recyclate"}

# (scheme, edition) -> rule file; the first edition listed per scheme is the default.
_PLASTIC_TABLES: Final[dict[tuple[str, str], str]] = {
    ("EN 18065", "2025"): "en18065-2025.json",
    ("DIN SPEC 91446", "2021"): "din-spec-91446-2021.json",
}
_COMPLETENESS: Final = ("completeness", "1")


class UnknownSchemeError(ValueError):
    """Unknown family, scheme or edition."""


@dataclass(frozen=True, slots=True)
class CompiledField:
    id_short: str
    level: int | None  # None for extensions (never count towards a level)
    kind: str
    semantic_id: str | None
    spec: Mapping[str, Any]
    validate: Validator
    raw: Mapping[str, Any]
    missing: Issue | None = None  # precomputed "missing" verdict (immutable, shared)


@dataclass(frozen=True, slots=True)
class Catalogue:
    family: str
    scheme: str
    edition: str
    title: str
    max_level: int
    fields: tuple[CompiledField, ...]
    by_id: Mapping[str, CompiledField]
    extensions: Mapping[str, CompiledField]
    checks: tuple[Mapping[str, Any], ...]
    raw: Mapping[str, Any]
    extension_prefix: str = "x-"
    field_levels: Mapping[str, int] = field(default_factory=dict)

    def known(self, key: str) -> bool:
        return key in self.by_id or key in self.extensions


def load_json(relpath: str) -> Any:
    text = resources.files("app.grades.rules").joinpath(relpath).read_text(encoding="utf-8")
    return json.loads(text)


def normalize_family(family: str) -> str:
    f = _FAMILY_ALIASES.get(family, family)
    if f not in FAMILIES:
        raise UnknownSchemeError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    return f


def _norm_scheme(s: str) -> str:
    return " ".join(s.upper().replace("-", " ").split())


def schemes_for(family: str) -> list[tuple[str, str]]:
    """(scheme, edition) pairs available for a family, default first."""
    f = normalize_family(family)
    if f in PLASTIC_FAMILIES:
        return list(_PLASTIC_TABLES)
    return [_COMPLETENESS]


def resolve_scheme(family: str, scheme: str | None, edition: str | None) -> tuple[str, str, str]:
    """Canonical (family, scheme, edition); None picks the family's default."""
    f = normalize_family(family)
    options = schemes_for(f)
    if scheme is None:
        s, e = options[0]
        if edition is not None and edition != e:
            matches = [o for o in options if o[1] == edition]
            if not matches:
                raise UnknownSchemeError(f"unknown edition {edition!r} for {f}")
            s, e = matches[0]
        return f, s, e
    wanted = _norm_scheme(scheme)
    for s, e in options:
        if _norm_scheme(s) == wanted and (edition is None or edition == e):
            return f, s, e
    known = ", ".join(f"{s} {e}" for s, e in options)
    raise UnknownSchemeError(
        f"scheme {scheme!r} edition {edition!r} not available for {f}: {known}"
    )


def _compile_field(raw: Mapping[str, Any], level: int | None) -> CompiledField:
    spec = raw["value"]
    id_short = str(raw["idShort"])
    missing = None
    if level is not None:
        missing = Issue(
            id_short, "missing", f"{id_short} is required from level {level}", "/" + id_short, level
        )
    return CompiledField(
        id_short=str(raw["idShort"]),
        level=level,
        kind=str(raw.get("kind", "information")),
        semantic_id=raw.get("semanticId"),
        spec=spec,
        validate=compile_spec(spec),
        raw=raw,
        missing=missing,
    )


@lru_cache(maxsize=32)
def get_catalogue(family: str, scheme: str | None = None, edition: str | None = None) -> Catalogue:
    """Compiled rule table, cached per (family, scheme, edition)."""
    fam, sch, ed = resolve_scheme(family, scheme, edition)
    if fam in PLASTIC_FAMILIES:
        raw = load_json(_PLASTIC_TABLES[(sch, ed)])
        ext_raw = load_json("extensions.json")
        fields = tuple(_compile_field(f, int(f["required_at_dql"])) for f in raw["fields"])
        extensions = {str(x["idShort"]): _compile_field(x, None) for x in ext_raw["fields"]}
        prefix = str(ext_raw["prefix"])
        checks: tuple[Mapping[str, Any], ...] = ()
        title = str(raw["title"])
        max_level = max(int(x) for x in raw["levels"])
    else:
        raw = load_json(f"families/{fam}.json")
        common = load_json("families/_common.json")["fields"]
        resolved = [{**common[f["use"]], **f} if "use" in f else f for f in raw["fields"]]
        raw = {**raw, "fields": resolved}
        fields = tuple(_compile_field(f, int(f["level"])) for f in resolved)
        extensions = {str(x["idShort"]): _compile_field(x, None) for x in raw.get("extensions", [])}
        prefix = "x-"
        checks = tuple(raw.get("checks", []))
        title = str(raw["title"])
        max_level = max(int(x) for x in raw["levels"])
    ordered = tuple(sorted(fields, key=lambda f: f.level or 0))
    return Catalogue(
        family=fam,
        scheme=sch,
        edition=ed,
        title=title,
        max_level=max_level,
        fields=ordered,
        by_id={f.id_short: f for f in ordered},
        extensions=extensions,
        checks=checks,
        raw=raw,
        extension_prefix=prefix,
        field_levels={f.id_short: int(f.level or 0) for f in ordered},
    )
