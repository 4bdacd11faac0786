"""Resolve the position and NUTS region of a lot from what its seller told us."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from app.geo.distance import haversine_km_array
from app.geo.regions import (
    GeoError,
    Region,
    de_postcode_area,
    get_country,
    normalise_postcode,
    regions_in,
)

__all__ = ["MAX_REGION_DISTANCE_KM", "Location", "nearest_region", "resolve_location"]

# A point farther than this from every region centre of its country gets no region: the
# coordinates are probably not in that country, or the country's regions are not loaded.
MAX_REGION_DISTANCE_KM: Final = 300.0


@dataclass(frozen=True, slots=True)
class Location:
    country: str  # ISO 3166-1 alpha-2
    postcode: str | None  # canonical form, or None
    lat: float
    lon: float
    region_code: str | None  # deepest known NUTS region, or None
    approximate: bool  # True unless the coordinates were given explicitly


def _coordinate(value: object, name: str, limit: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GeoError("invalid_coordinates", f"{name} must be a number", field=name)
    number = float(value)
    if not math.isfinite(number) or not -limit <= number <= limit:
        raise GeoError(
            "invalid_coordinates",
            f"{name} must be between {-limit:g} and {limit:g}, got {value!r}",
            field=name,
        )
    return number


def nearest_region(country: str, lat: float, lon: float) -> Region | None:
    """The deepest-level region of ``country`` whose centre is nearest (within the limit)."""
    regions = regions_in(country)
    if not regions:
        return None
    depth = max(r.level for r in regions)
    candidates = [r for r in regions if r.level == depth]
    dist = haversine_km_array(
        lat, lon, np.array([r.lat for r in candidates]), np.array([r.lon for r in candidates])
    )
    best = int(np.argmin(dist))
    return candidates[best] if float(dist[best]) <= MAX_REGION_DISTANCE_KM else None


def resolve_location(
    country: str,
    postcode: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
) -> Location:
    """Position and region of a lot.

    Precedence: explicit coordinates (exact; region = nearest region centre in the country),
    then a German postcode (its two-digit area), then the country's centre (no region). The
    postcode is validated and normalised for every country even when it is not used for the
    position. Both coordinates or neither must be given.

    Raises GeoError: ``unknown_country``, ``malformed_postcode``, ``incomplete_coordinates``,
    ``invalid_coordinates``.
    """
    iso = get_country(country).code
    canonical = normalise_postcode(iso, postcode) if postcode is not None else None
    if (lat is None) != (lon is None):
        missing = "lon" if lon is None else "lat"
        raise GeoError("incomplete_coordinates", "give both lat and lon, or neither", field=missing)
    if lat is not None and lon is not None:
        la = _coordinate(lat, "lat", 90.0)
        lo = _coordinate(lon, "lon", 180.0)
        region = nearest_region(iso, la, lo)
        return Location(iso, canonical, la, lo, region.code if region else None, False)
    if canonical is not None and iso == "DE":
        area = de_postcode_area(canonical)
        if area is not None:
            return Location(iso, canonical, area.lat, area.lon, area.region, True)
    centre = get_country(iso)
    return Location(iso, canonical, centre.lat, centre.lon, None, True)
