"""Countries, NUTS regions, postcodes, location resolution and distances (pure, no web/DB)."""

from app.geo.distance import EARTH_RADIUS_KM, haversine_km, haversine_km_array, rank_by_distance
from app.geo.location import MAX_REGION_DISTANCE_KM, Location, nearest_region, resolve_location
from app.geo.regions import (
    Country,
    GeoError,
    PostcodeArea,
    Region,
    de_postcode_area,
    get_country,
    get_region,
    known_countries,
    normalise_country,
    normalise_postcode,
    region_ancestors,
    regions_in,
)

__all__ = [
    "EARTH_RADIUS_KM",
    "MAX_REGION_DISTANCE_KM",
    "Country",
    "GeoError",
    "Location",
    "PostcodeArea",
    "Region",
    "de_postcode_area",
    "get_country",
    "get_region",
    "haversine_km",
    "haversine_km_array",
    "known_countries",
    "nearest_region",
    "normalise_country",
    "normalise_postcode",
    "rank_by_distance",
    "region_ancestors",
    "regions_in",
    "resolve_location",
]
