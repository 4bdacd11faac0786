"""Test-standard references: parsing from prose and matching a declared method against them.

A method reference is reduced to a key ``(body, number, part)``: ``"EN ISO 1133-1:2011"`` ->
``("ISO", "1133", "1")``, ``"DIN EN ISO 1183-1"`` -> ``("ISO", "1183", "1")``,
``"ASTM D6980-17"`` -> ``("ASTM", "D6980", None)`` (the ASTM suffix is a year),
``"CEN/TS 16010"`` -> ``("CEN/TS", "16010", None)``. EN ISO and ISO are the same document;
national prefixes (DIN, BS, NF, ...) are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = ["MethodKey", "MethodMatcher", "method_key", "parse_standard_refs"]

MethodKey = tuple[str, str, str | None]

_NATIONAL = re.compile(r"^(?:DIN|BS|NF|ÖNORM|OENORM|UNI|SS|NEN|UNE|PN|SN|CSN)\s+")
_KEY = re.compile(
    r"^(ISO|EN|CEN/TS|CEN/TR|ASTM|VDA|IEC)\s*([A-Z]?)\s*(\d+)(?:-(\d+))?(?::\d{4})?(?:[\s,(].*)?$"
)

# References inside the template's descriptions, e.g. "EN ISO 1133 series", "EN 15348, Annex B",
# "ASTM D1895, Method C", "CEN/TS 16010".
_REF_IN_TEXT = re.compile(
    r"(?P<ref>(?:EN ISO|CEN/TS|ISO|EN|ASTM)\s+(?:[A-Z]\s?)?\d+(?:-\d+)?(?::\d{4})?)"
    r"(?P<series>\s+series)?"
    r"(?:,?\s+(?P<qualifier>(?:Annex|Method|clause)\s+[A-Z0-9.]+))?"
)


@lru_cache(maxsize=4096)
def method_key(method: str) -> MethodKey | None:
    """Reduce a standard designation to ``(body, number, part)``; None if unrecognised."""
    s = " ".join(method.upper().split())
    s = _NATIONAL.sub("", s)
    if s.startswith("EN ISO "):
        s = s[3:]
    m = _KEY.match(s)
    if m is None:
        return None
    body, letter, number, part = m.group(1), m.group(2), m.group(3), m.group(4)
    if body == "ASTM":
        part = None  # ASTM D6980-17: "-17" is the edition year
    return body, f"{letter}{number}", part


def parse_standard_refs(text: str) -> list[dict[str, Any]]:
    """Extract test-standard references from a template description."""
    refs: list[dict[str, Any]] = []
    seen: set[str] = set()
    for m in _REF_IN_TEXT.finditer(text):
        ref = " ".join(m.group("ref").split())
        key = method_key(ref)
        if key is None or ref in seen:
            continue
        seen.add(ref)
        refs.append(
            {
                "ref": ref,
                "body": key[0],
                "number": key[1],
                "part": key[2],
                "series": m.group("series") is not None,
                "qualifier": m.group("qualifier"),
            }
        )
    return refs


@dataclass(frozen=True, slots=True)
class MethodMatcher:
    """Accepts a declared method when it names one of the referenced standards.

    A reference without a part (or marked "series") accepts every part; a declared method
    without a part (``ISO 527``) is accepted when any referenced part of that standard is.
    """

    whole: frozenset[tuple[str, str]]
    parts: frozenset[MethodKey]
    numbers: frozenset[tuple[str, str]]
    labels: tuple[str, ...]
    _cache: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_refs(cls, refs: Iterable[Mapping[str, Any]]) -> MethodMatcher:
        whole: set[tuple[str, str]] = set()
        parts: set[MethodKey] = set()
        labels: list[str] = []
        for r in refs:
            body, number, part = str(r["body"]), str(r["number"]), r.get("part")
            labels.append(str(r["ref"]) + (" series" if r.get("series") else ""))
            if part is None or r.get("series"):
                whole.add((body, number))
            else:
                parts.add((body, number, str(part)))
        numbers = frozenset(whole | {(b, n) for b, n, _ in parts})
        return cls(frozenset(whole), frozenset(parts), numbers, tuple(labels))

    def accepts(self, method: str) -> bool:
        hit = self._cache.get(method)
        if hit is not None:
            return hit
        ok = self._accepts(method)
        if len(self._cache) < 512:
            self._cache[method] = ok
        return ok

    def _accepts(self, method: str) -> bool:
        key = method_key(method)
        if key is None:
            return False
        body, number, part = key
        if (body, number) in self.whole or key in self.parts:
            return True
        return part is None and (body, number) in self.numbers
