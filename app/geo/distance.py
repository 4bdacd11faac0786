"""Great-circle distances (haversine), scalar and vectorised with numpy."""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["EARTH_RADIUS_KM", "haversine_km", "haversine_km_array", "rank_by_distance"]

# IUGG mean Earth radius. Great-circle distance on a sphere; the error against the ellipsoid is
# below 0.5 %, far inside what road distance adds (typically +20-40 %).
EARTH_RADIUS_KM: Final = 6371.0088


def _check(lat: float, lon: float) -> None:
    if not (-90.0 <= lat <= 90.0) or not (-180.0 <= lon <= 180.0):
        raise ValueError(f"coordinates out of range: lat={lat!r}, lon={lon!r}")


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in decimal degrees.

    Raises ValueError for NaN or out-of-range coordinates.
    """
    _check(lat1, lon1)
    _check(lat2, lon2)
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def haversine_km_array(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Vectorised haversine: arguments broadcast against each other (numpy rules).

    Typical use: one origin (scalars) against arrays of lot coordinates. Inputs are not range
    checked (validate at the boundary); NaN coordinates give NaN distances.
    """
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    h = np.sin(dphi / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2.0) ** 2
    out: npt.NDArray[np.float64] = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
    return out


def rank_by_distance(
    lat: float, lon: float, lats: npt.ArrayLike, lons: npt.ArrayLike
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Indices of the points sorted nearest first (stable for ties), and all distances in km.

    NaN distances (unknown positions) sort last.
    """
    _check(lat, lon)
    dist = haversine_km_array(lat, lon, lats, lons)
    order: npt.NDArray[np.intp] = np.argsort(dist, kind="stable")
    return order, dist
