from __future__ import annotations

import math

import numpy as np
import pytest

from app.geo import (
    GeoError,
    Location,
    de_postcode_area,
    get_country,
    get_region,
    haversine_km,
    haversine_km_array,
    known_countries,
    nearest_region,
    normalise_country,
    normalise_postcode,
    rank_by_distance,
    region_ancestors,
    regions_in,
    resolve_location,
)

BERLIN = (52.5200, 13.4050)
MUNICH = (48.1372, 11.5756)
HAMBURG = (53.5511, 9.9937)
PARIS = (48.8566, 2.3522)
LONDON = (51.5074, -0.1278)


# ----------------------------------------------------------------- distance


def test_haversine_berlin_munich() -> None:
    assert haversine_km(*BERLIN, *MUNICH) == pytest.approx(504, abs=2)


def test_haversine_london_paris() -> None:
    assert haversine_km(*LONDON, *PARIS) == pytest.approx(344, abs=2)


def test_haversine_symmetry_zero_and_antipode() -> None:
    assert haversine_km(*BERLIN, *BERLIN) == 0.0
    assert haversine_km(*BERLIN, *MUNICH) == pytest.approx(haversine_km(*MUNICH, *BERLIN))
    # Half the circumference between antipodes.
    assert haversine_km(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * 6371.0088)
    # Across the antimeridian: 1 degree of longitude at the equator.
    assert haversine_km(0.0, 179.5, 0.0, -179.5) == pytest.approx(111.195, abs=0.01)


@pytest.mark.parametrize(
    "args", [(91.0, 0.0, 0.0, 0.0), (0.0, 181.0, 0.0, 0.0), (math.nan, 0.0, 0.0, 0.0)]
)
def test_haversine_rejects_bad_coordinates(args: tuple[float, float, float, float]) -> None:
    with pytest.raises(ValueError, match="out of range"):
        haversine_km(*args)


def test_haversine_array_matches_scalar() -> None:
    lats = np.array([MUNICH[0], HAMBURG[0], PARIS[0], BERLIN[0]])
    lons = np.array([MUNICH[1], HAMBURG[1], PARIS[1], BERLIN[1]])
    out = haversine_km_array(BERLIN[0], BERLIN[1], lats, lons)
    assert out.shape == (4,)
    expected = [haversine_km(*BERLIN, la, lo) for la, lo in zip(lats, lons, strict=True)]
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_haversine_array_broadcasts_matrix() -> None:
    lats = np.array([BERLIN[0], MUNICH[0]])
    lons = np.array([BERLIN[1], MUNICH[1]])
    matrix = haversine_km_array(lats[:, None], lons[:, None], lats[None, :], lons[None, :])
    assert matrix.shape == (2, 2)
    assert matrix[0, 0] == 0.0
    assert matrix[0, 1] == pytest.approx(504, abs=2)
    assert matrix[0, 1] == pytest.approx(matrix[1, 0])


def test_rank_by_distance() -> None:
    lats = [PARIS[0], HAMBURG[0], math.nan, MUNICH[0]]
    lons = [PARIS[1], HAMBURG[1], math.nan, MUNICH[1]]
    order, dist = rank_by_distance(*BERLIN, lats, lons)
    # Hamburg (~255 km), Munich (~504 km), Paris (~878 km); the unknown position last.
    assert order.tolist() == [1, 3, 0, 2]
    assert math.isnan(dist[2])


# ----------------------------------------------------------------- countries and postcodes


def test_countries() -> None:
    codes = {c.code for c in known_countries()}
    eu = {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
        "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    }  # fmt: skip
    assert eu | {"IS", "LI", "NO", "CH", "GB"} <= codes
    assert {c.code for c in known_countries() if c.group == "eu"} == eu
    assert normalise_country(" de ") == "DE"
    assert normalise_country("UK") == "GB"
    assert normalise_country("EL") == "GR"
    assert get_country("GR").nuts_code == "EL"


@pytest.mark.parametrize("value", ["XX", "DEU", "", "Germany"])
def test_unknown_country(value: str) -> None:
    with pytest.raises(GeoError) as info:
        normalise_country(value)
    assert info.value.code == "unknown_country"
    assert info.value.field == "country"


@pytest.mark.parametrize(
    ("country", "raw", "expected"),
    [
        ("DE", "80331", "80331"),
        ("DE", " 01067 ", "01067"),
        ("AT", "1010", "1010"),
        ("CH", "8001", "8001"),
        ("BE", "1000", "1000"),
        ("DK", "2100", "2100"),
        ("NL", "1012 ab", "1012 AB"),
        ("NL", "1012AB", "1012 AB"),
        ("PL", "00-950", "00-950"),
        ("PL", "00950", "00-950"),
        ("FR", "75001", "75001"),
        ("IT", "00184", "00184"),
        ("ES", "28013", "28013"),
        ("CZ", "110 00", "110 00"),
        ("CZ", "11000", "110 00"),
        ("GB", "SW1A  1AA", "SW1A 1AA"),
        ("SE", "111 22", "111 22"),
    ],
)
def test_postcode_formats(country: str, raw: str, expected: str) -> None:
    assert normalise_postcode(country, raw) == expected


@pytest.mark.parametrize(
    ("country", "raw"),
    [
        ("DE", "8033"),
        ("DE", "803311"),
        ("DE", "8O331"),
        ("AT", "10100"),
        ("CH", "800"),
        ("NL", "0123 AB"),
        ("NL", "1234"),
        ("PL", "00-95"),
        ("FR", "7500"),
        ("CZ", "1100"),
        ("GB", ""),
        ("US", "1234567890123"),
        ("US", "12\x0045"),
    ],
)
def test_malformed_postcodes(country: str, raw: str) -> None:
    with pytest.raises(GeoError) as info:
        normalise_postcode(country, raw)
    assert info.value.code == "malformed_postcode"
    assert info.value.field == "postcode"


# ----------------------------------------------------------------- regions


def test_german_nuts_regions() -> None:
    level1 = {r.code for r in regions_in("DE", 1)}
    assert level1 == {f"DE{c}" for c in "123456789ABCDEFG"}
    assert get_region("DE11").name == "Stuttgart"
    assert get_region("DE21").name == "Oberbayern"
    assert get_region("DEA1").name == "Düsseldorf"
    assert len(regions_in("DE", 2)) == 38


@pytest.mark.parametrize("country", ["AT", "NL", "BE", "FR", "PL", "CZ", "IT", "ES", "DK", "CH"])
def test_other_countries_have_regions(country: str) -> None:
    regions = regions_in(country)
    assert regions
    assert {r.level for r in regions} == {1, 2}
    for r in regions:
        assert r.country == country
        assert -90 <= r.lat <= 90
        assert -180 <= r.lon <= 180


def test_region_ancestors() -> None:
    assert region_ancestors("DE21") == ("DE2", "DE")
    assert region_ancestors("dea1", include_self=True) == ("DEA1", "DEA", "DE")
    assert region_ancestors("DE2") == ("DE",)
    assert region_ancestors("DE") == ()
    assert region_ancestors("DE212") == ("DE21", "DE2", "DE")  # NUTS-3 below a known NUTS-2
    assert region_ancestors("CH04") == ("CH0", "CH")


@pytest.mark.parametrize("code", ["DEZ9", "XX1", "DE99", "", "DE2199", "SE11"])
def test_unknown_region(code: str) -> None:
    with pytest.raises(GeoError) as info:
        region_ancestors(code)
    assert info.value.code == "unknown_region"


def test_every_german_postcode_area_is_mapped() -> None:
    unused = {"00", "05", "43", "62"}
    for n in range(100):
        prefix = f"{n:02d}"
        area = de_postcode_area(prefix + "000")
        assert (area is None) == (prefix in unused), prefix
        if area is not None:
            assert get_region(area.region).country == "DE"


# ----------------------------------------------------------------- location resolution


def test_explicit_coordinates_win() -> None:
    loc = resolve_location("DE", postcode="10115", lat=MUNICH[0], lon=MUNICH[1])
    assert loc == Location("DE", "10115", MUNICH[0], MUNICH[1], "DE21", False)


def test_postcode_when_no_coordinates() -> None:
    loc = resolve_location("de", postcode="80331")
    assert loc.country == "DE"
    assert loc.region_code == "DE21"
    assert loc.approximate is True
    assert haversine_km(loc.lat, loc.lon, *MUNICH) < 5


@pytest.mark.parametrize(
    ("postcode", "region"),
    [("10115", "DE30"), ("70173", "DE11"), ("40213", "DEA1"), ("01067", "DED2"), ("45127", "DEA")],
)
def test_german_postcode_regions(postcode: str, region: str) -> None:
    assert resolve_location("DE", postcode=postcode).region_code == region


def test_country_centre_as_last_resort() -> None:
    loc = resolve_location("FR", postcode="75001")
    centre = get_country("FR")
    assert (loc.lat, loc.lon) == (centre.lat, centre.lon)
    assert loc.postcode == "75001"
    assert loc.region_code is None
    assert loc.approximate is True
    # An unassigned German postcode area also falls back to the country centre.
    assert resolve_location("DE", postcode="05000").region_code is None


def test_nearest_region_from_coordinates() -> None:
    assert resolve_location("FR", lat=PARIS[0], lon=PARIS[1]).region_code == "FR10"
    assert resolve_location("NL", lat=51.92, lon=4.48).region_code == "NL33"
    assert resolve_location("AT", lat=47.07, lon=15.44).region_code == "AT22"
    # Hamburg harbour, explicitly located.
    assert resolve_location("DE", lat=53.54, lon=9.97).region_code == "DE60"
    # No regions loaded for Sweden; coordinates far from every region get none.
    assert resolve_location("SE", lat=59.33, lon=18.07).region_code is None
    assert nearest_region("DE", 35.0, 139.0) is None


@pytest.mark.parametrize(
    ("lat", "lon", "field"),
    [(90.5, 0.0, "lat"), (-91.0, 0.0, "lat"), (0.0, 180.5, "lon"), (math.nan, 0.0, "lat"),
     (0.0, math.inf, "lon")],
)  # fmt: skip
def test_invalid_coordinates(lat: float, lon: float, field: str) -> None:
    with pytest.raises(GeoError) as info:
        resolve_location("DE", lat=lat, lon=lon)
    assert info.value.code == "invalid_coordinates"
    assert info.value.field == field


def test_boundary_coordinates_are_valid() -> None:
    loc = resolve_location("US", lat=-90, lon=180)
    assert (loc.lat, loc.lon) == (-90.0, 180.0)


def test_incomplete_coordinates() -> None:
    with pytest.raises(GeoError) as info:
        resolve_location("DE", lat=52.0)
    assert info.value.code == "incomplete_coordinates"
    assert info.value.field == "lon"


def test_resolve_validates_country_and_postcode() -> None:
    with pytest.raises(GeoError) as info:
        resolve_location("ZZ")
    assert info.value.code == "unknown_country"
    with pytest.raises(GeoError) as info:
        resolve_location("DE", postcode="1234", lat=52.0, lon=13.0)
    assert info.value.code == "malformed_postcode"
