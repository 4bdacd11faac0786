"""Countries, NUTS regions and postcode formats, loaded once from ``app/geo/data``."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

__all__ = [
    "Country",
    "GeoError",
    "PostcodeArea",
    "Region",
    "de_postcode_area",
    "get_country",
    "get_region",
    "known_countries",
    "normalise_country",
    "normalise_postcode",
    "region_ancestors",
    "regions_in",
]

_DATA_DIR: Final = Path(__file__).resolve().parent / "data"
_MAX_FREE_POSTCODE: Final = 12


class GeoError(ValueError):
    """Invalid geographic input.

    ``code`` is a stable machine code (``unknown_country``, ``malformed_postcode``,
    ``invalid_coordinates``, ``incomplete_coordinates``, ``unknown_region``...), ``detail`` a
    human sentence and ``field`` the argument at fault (``country``, ``postcode``, ``lat``,
    ``lon``, ``region``) so callers can build a JSON Pointer.
    """

    def __init__(self, code: str, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.field = field


@dataclass(frozen=True, slots=True)
class _PostcodeFormat:
    pattern: re.Pattern[str]
    template: str
    example: str


@dataclass(frozen=True, slots=True)
class Country:
    code: str  # ISO 3166-1 alpha-2
    name: str
    group: str  # eu, eea, efta, uk, partner
    lat: float  # approximate geographic centre
    lon: float
    nuts_code: str  # NUTS level 0 (EL for Greece, UK for the United Kingdom)
    postcode_example: str | None


@dataclass(frozen=True, slots=True)
class Region:
    code: str  # NUTS code, e.g. "DE21"
    level: int  # 1 or 2
    country: str  # ISO alpha-2
    name: str
    city: str  # main city whose coordinates stand for the region
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class PostcodeArea:
    prefix: str
    region: str
    city: str
    lat: float
    lon: float


def _read_csv(name: str) -> Iterator[dict[str, str]]:
    with (_DATA_DIR / name).open(encoding="utf-8", newline="") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    yield from csv.DictReader(lines)


def _coord(value: str, limit: float, source: str) -> float:
    number = float(value)
    if not -limit <= number <= limit:
        raise RuntimeError(f"{source}: coordinate {value} out of range")
    return number


@cache
def _country_tables() -> tuple[dict[str, Country], dict[str, str], dict[str, _PostcodeFormat]]:
    with (_DATA_DIR / "countries.json").open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    formats = {
        name: _PostcodeFormat(re.compile(f["pattern"], re.ASCII), f["format"], f["example"])
        for name, f in data["postcode_formats"].items()
    }
    countries: dict[str, Country] = {}
    by_country_format: dict[str, _PostcodeFormat] = {}
    for raw in data["countries"]:
        code = str(raw["code"])
        if not re.fullmatch(r"[A-Z]{2}", code) or code in countries:
            raise RuntimeError(f"countries.json: bad or duplicate code {code!r}")
        fmt_name = raw.get("postcode")
        if fmt_name is not None:
            by_country_format[code] = formats[fmt_name]
        countries[code] = Country(
            code=code,
            name=str(raw["name"]),
            group=str(raw["group"]),
            lat=_coord(str(raw["lat"]), 90.0, "countries.json"),
            lon=_coord(str(raw["lon"]), 180.0, "countries.json"),
            nuts_code=str(raw.get("nuts", code)),
            postcode_example=formats[fmt_name].example if fmt_name else None,
        )
    aliases = {str(k): str(v) for k, v in data["aliases"].items()}
    if not set(aliases.values()) <= countries.keys():
        raise RuntimeError("countries.json: alias to an unknown country")
    return countries, aliases, by_country_format


@cache
def _regions() -> dict[str, Region]:
    source = "nuts_regions.csv"
    countries = _country_tables()[0]
    out: dict[str, Region] = {}
    for row in _read_csv(source):
        region = Region(
            code=row["code"],
            level=int(row["level"]),
            country=row["country"],
            name=row["name"],
            city=row["city"],
            lat=_coord(row["lat"], 90.0, source),
            lon=_coord(row["lon"], 180.0, source),
        )
        nuts0 = countries[region.country].nuts_code
        if (
            region.code in out
            or not region.code.startswith(nuts0)
            or len(region.code) != 2 + region.level
            or (region.level == 2 and region.code[:-1] not in out)
        ):
            raise RuntimeError(f"{source}: bad, duplicate or orphan region {row!r}")
        out[region.code] = region
    return out


@cache
def _de_postcode_areas() -> dict[str, PostcodeArea]:
    source = "de_postcode_areas.csv"
    regions = _regions()
    out: dict[str, PostcodeArea] = {}
    for row in _read_csv(source):
        area = PostcodeArea(
            prefix=row["prefix"],
            region=row["region"],
            city=row["city"],
            lat=_coord(row["lat"], 90.0, source),
            lon=_coord(row["lon"], 180.0, source),
        )
        if not re.fullmatch(r"[0-9]{2}", area.prefix) or area.prefix in out:
            raise RuntimeError(f"{source}: bad or duplicate prefix {row!r}")
        if area.region not in regions or regions[area.region].country != "DE":
            raise RuntimeError(f"{source}: unknown German region in {row!r}")
        out[area.prefix] = area
    return out


def normalise_country(value: str) -> str:
    """ISO alpha-2 code of a known country (case-insensitive; UK -> GB, EL -> GR).

    Raises GeoError ``unknown_country``.
    """
    countries, aliases, _ = _country_tables()
    code = value.strip().upper() if isinstance(value, str) else ""
    code = aliases.get(code, code)
    if code not in countries:
        shown = value if isinstance(value, str) and len(value) <= 20 else "value"
        raise GeoError(
            "unknown_country",
            f"{shown!r} is not a supported ISO 3166-1 alpha-2 country code",
            field="country",
        )
    return code


def get_country(code: str) -> Country:
    return _country_tables()[0][normalise_country(code)]


def known_countries() -> tuple[Country, ...]:
    return tuple(_country_tables()[0].values())


def normalise_postcode(country: str, postcode: str) -> str:
    """Validate a postcode for the country and return its canonical form.

    DE/FR/IT/ES five digits; AT/BE/CH/DK four digits; NL ``1234 AB``; PL ``12-345``;
    CZ ``123 45``; other countries free text (printable, 1-12 characters, trimmed).

    Raises GeoError ``malformed_postcode`` (or ``unknown_country``).
    """
    code = normalise_country(country)
    if not isinstance(postcode, str):
        raise GeoError("malformed_postcode", "postcode must be a string", field="postcode")
    text = " ".join(postcode.split())
    fmt = _country_tables()[2].get(code)
    if fmt is None:
        if not 1 <= len(text) <= _MAX_FREE_POSTCODE or not text.isprintable():
            raise GeoError(
                "malformed_postcode",
                f"postcode for {code} must be 1-{_MAX_FREE_POSTCODE} printable characters",
                field="postcode",
            )
        return text
    match = fmt.pattern.fullmatch(text.upper())
    if match is None:
        shown = text if len(text) <= 20 else text[:17] + "..."
        raise GeoError(
            "malformed_postcode",
            f"{shown!r} is not a valid postcode for {code} (expected e.g. {fmt.example!r})",
            field="postcode",
        )
    return fmt.template.format(*match.groups())


def get_region(code: str) -> Region:
    """A known NUTS level-1/2 region. Raises GeoError ``unknown_region``."""
    region = _regions().get(code.strip().upper()) if isinstance(code, str) else None
    if region is None:
        raise GeoError("unknown_region", f"{code!r} is not a known NUTS region", field="region")
    return region


def regions_in(country: str, level: int | None = None) -> tuple[Region, ...]:
    """Known regions of a country (all levels, or only ``level``)."""
    iso = normalise_country(country)
    return tuple(
        r for r in _regions().values() if r.country == iso and (level is None or r.level == level)
    )


def region_ancestors(code: str, *, include_self: bool = False) -> tuple[str, ...]:
    """Enclosing regions, nearest first: ``"DE21"`` -> ``("DE2", "DE")``.

    Accepts known NUTS-1/2 codes, NUTS-0 codes of the covered countries (returning ``()``), and
    NUTS-3 codes whose NUTS-2 parent is known (NUTS-3 itself is not validated).

    Raises GeoError ``unknown_region``.
    """
    text = code.strip().upper() if isinstance(code, str) else ""
    regions = _regions()
    nuts0 = {r.code[:2] for r in regions.values()}
    known = (
        text in regions
        or text in nuts0
        or (len(text) == 5 and text[:4] in regions and text[4].isalnum() and text.isascii())
    )
    if not known:
        raise GeoError("unknown_region", f"{code!r} is not a known NUTS region", field="region")
    chain = [text[:n] for n in range(len(text), 1, -1)]
    return tuple(chain if include_self else chain[1:])


def de_postcode_area(postcode: str) -> PostcodeArea | None:
    """The German postcode area of a normalised five-digit postcode, or None if unassigned."""
    return _de_postcode_areas().get(postcode[:2])
