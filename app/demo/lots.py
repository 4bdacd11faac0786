"""Realistic, deterministic demo lots: three years of postings by the demo recyclers.

:func:`generate_lot_bodies` yields JSON-ready ``LotCreate`` bodies (what an ERP would POST to
``/v1/lots/bulk``), each with the moment it was posted, the seller profile that posted it and
what became of it (sold out, withdrawn or still active). The demo loader and the benchmarks
both use it; the demo loader builds every lot through the service layer (validation, DQL,
derived columns, warnings exactly as for an API post) and then backdates it.

What the history looks like (fixed seed, so the same every time):

* families: mostly plastics (PP, PE-HD, PE-LD, PE-LLD, PET, PS, ABS, PA6, PC, PVC as
  ``plastic_recyclate``, bales as ``plastic_waste``), plus paper (EN 643), ferrous, aluminium
  and copper scrap and glass cullet, each seller with its own specialities;
* data quality: attribute completeness drawn per lot (many DQL 1-2, fewer 3-4, some 0), some
  lots with a defective measurement, some sellers claiming more than the data supports;
* places: mostly German postcodes of the sellers' sites, some AT/NL/BE/PL/FR/CZ/IT coordinates;
* time: 156 weeks, a slow growth trend, seasonality (spring and autumn peaks, a dip in August
  and over Christmas), and **recurring streams** ("20 t PP regrind every month" from the same
  seller and site), some of them declared as recurring supply;
* outcome: older lots are mostly sold out or withdrawn, recent ones mostly active.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.geo import de_postcode_area, regions_in
from app.kit.db import utcnow
from app.kit.ids import _encode
from app.lots import service as lot_service
from app.lots.models import Lot, LotStatus
from app.lots.schemas import LotCreate

__all__ = [
    "DEMO_LOT_COUNT",
    "DEMO_SEED",
    "SELLER_PROFILES",
    "GeneratedLot",
    "SellerProfile",
    "demo_lots_loaded",
    "generate_lot_bodies",
    "load_demo_lots",
    "lot_id_at",
]

DEMO_SEED: Final = 20240611
WEEKS: Final = 156

# --- sellers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SellerProfile:
    """A demo recycler: where its sites are and what it sells (family/polymer weights)."""

    slug: str
    short: str  # used in trade names and certificate ids
    country: str
    sites: tuple[str, ...]  # DE: postcodes; elsewhere "lat,lon"
    mix: tuple[tuple[str, float], ...]  # (material key, weight); keys of MATERIALS
    certs: tuple[str, ...] = ()  # schemes the seller holds
    activity: float = 1.0  # relative number of postings


SELLER_PROFILES: Final[tuple[SellerProfile, ...]] = (
    SellerProfile(
        "rhein_recycling",
        "RR",
        "DE",
        ("47059", "41460", "50829"),
        (("PP", 5), ("PE-HD", 3), ("PE-LD", 2), ("ABS", 1), ("PS", 1), ("pw_PE-LD", 1)),
        ("EN 15343", "RecyClass"),
        1.6,
    ),
    SellerProfile(
        "elbe_kunststoff",
        "EK",
        "DE",
        ("01159", "39112", "06116"),
        (("PE-LD", 3), ("PE-LLD", 3), ("PP", 3), ("PET", 2), ("pw_PET", 1)),
        ("EN 15343", "ISCC PLUS"),
        1.3,
    ),
    SellerProfile(
        "nordsee_circular",
        "NC",
        "NL",
        ("51.92,4.48", "52.37,4.90", "53.55,9.99"),
        (("PET", 4), ("PE-HD", 2), ("PP", 2), ("paper", 1), ("glass", 1)),
        ("RecyClass", "ISCC PLUS", "EN 15343"),
        1.0,
    ),
    SellerProfile(
        "donau_polymer",
        "DP",
        "DE",
        ("93055", "85051", "89073"),
        (("PA6", 3), ("PC", 3), ("ABS", 3), ("PP", 2), ("PS", 1)),
        ("EN 15343",),
        1.0,
    ),
    SellerProfile(
        "weser_rohstoff",
        "WR",
        "DE",
        ("28197", "30179", "32051"),
        (("paper", 5), ("PE-LD", 1), ("pw_PE-LD", 1), ("glass", 1)),
        ("EN 15343", "EfbV"),
        1.1,
    ),
    SellerProfile(
        "saar_metall",
        "SM",
        "DE",
        ("66117", "67059", "44147"),
        (("ferrous", 5), ("aluminium", 3), ("copper", 2)),
        ("EfbV", "ISO 9001"),
        1.0,
    ),
    SellerProfile(
        "schwaben_pvc",
        "SP",
        "DE",
        ("70327", "73037", "79108"),
        (("PVC", 5), ("PE-HD", 2), ("PP", 1)),
        ("EN 15343", "RecyClass"),
        0.7,
    ),
    SellerProfile(
        "wisla_recykling",
        "WI",
        "PL",
        ("52.23,21.01", "51.11,17.03", "50.06,19.94"),
        (("PE-LD", 3), ("PP", 2), ("PET", 2), ("pw_PE-LD", 2), ("paper", 1)),
        ("EN 15343",),
        0.8,
    ),
    SellerProfile(
        "vltava_recycling",
        "VR",
        "CZ",
        ("50.08,14.44", "49.20,16.61"),
        (("ferrous", 2), ("aluminium", 2), ("glass", 2), ("PP", 1)),
        ("ISO 9001",),
        0.5,
    ),
    SellerProfile(
        "alpi_riciclo",
        "AR",
        "IT",
        ("45.46,9.19", "45.07,7.69"),
        (("PP", 2), ("PE-HD", 2), ("PET", 2), ("copper", 1)),
        ("RecyClass", "EN 15343"),
        0.5,
    ),
    SellerProfile(
        "loire_recyclage",
        "LR",
        "FR",
        ("47.22,-1.55", "48.86,2.35", "48.58,7.75"),
        (("PET", 2), ("PE-HD", 1), ("glass", 2), ("paper", 1)),
        ("RecyClass",),
        0.5,
    ),
    SellerProfile(
        "schelde_kunststof",
        "SK",
        "BE",
        ("51.22,4.40", "50.85,4.35"),
        (("PP", 2), ("PS", 1), ("PE-HD", 1), ("pw_PP", 1)),
        ("EN 15343", "ISCC PLUS"),
        0.5,
    ),
    SellerProfile(
        "inn_recycling",
        "IR",
        "AT",
        ("48.31,14.29", "47.27,11.39", "48.21,16.37"),
        (("PP", 2), ("PE-LD", 2), ("aluminium", 1), ("paper", 1)),
        ("EN 15343", "ISO 9001"),
        0.5,
    ),
)

# --- materials ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plastic:
    polymer: str
    forms: tuple[tuple[str, float], ...]
    colours: tuple[tuple[str, float], ...]
    sources: tuple[tuple[str, float], ...]  # post_consumer / post_industrial / mixed
    visc: tuple[str, float, float, float, float]  # kind, temp, load, median, spread (lognormal)
    density: tuple[float, float]
    price: tuple[float, float]  # EUR/t (waste forms); regranulate adds ~40 %
    qty_t: tuple[float, float]  # typical lot size (t), lognormal median and spread
    hs_scrap: str
    hs_primary: str
    uses: tuple[str, ...]
    fillers: tuple[str, ...] = ()


PLASTICS: Final[dict[str, Plastic]] = {
    p.polymer: p
    for p in (
        Plastic(
            "PP",
            (("regrind", 4), ("regranulate", 3), ("flakes", 1), ("agglomerate", 1)),
            (("natural", 3), ("black", 3), ("grey", 2), ("white", 1), ("mixed colours", 2)),
            (("post_industrial", 5), ("post_consumer", 4), ("mixed", 1)),
            ("MFR", 230, 2.16, 10.0, 0.7),
            (0.900, 0.915),
            (450, 1150),
            (18, 0.6),
            "3915.90",
            "3902.10",
            (
                "Injection-moulded automotive interior parts, production scrap",
                "Post-consumer rigid packaging (cups, trays, lids) from LVP sorting",
                "Crates and pallets from logistics, end of life",
                "Caps and closures from PET bottle recycling",
            ),
            ("talc", "calcium carbonate"),
        ),
        Plastic(
            "PE-HD",
            (("regrind", 3), ("flakes", 3), ("regranulate", 3)),
            (("natural", 3), ("white", 1), ("mixed colours", 3), ("black", 1), ("blue", 1)),
            (("post_consumer", 6), ("post_industrial", 3), ("mixed", 1)),
            ("MFR", 190, 2.16, 0.8, 0.9),
            (0.948, 0.962),
            (400, 1100),
            (20, 0.5),
            "3915.10",
            "3901.20",
            (
                "Post-consumer bottles (detergent, cosmetics) from LVP sorting",
                "Blow-moulded canisters and drums, production scrap",
                "Pipe extrusion start-up material",
            ),
        ),
        Plastic(
            "PE-LD",
            (("regranulate", 5), ("agglomerate", 2), ("film", 1)),
            (("natural", 4), ("transparent", 2), ("mixed colours", 2), ("black", 1)),
            (("post_industrial", 4), ("post_consumer", 4), ("mixed", 1)),
            ("MFR", 190, 2.16, 0.9, 0.6),
            (0.918, 0.930),
            (300, 950),
            (20, 0.5),
            "3915.10",
            "3901.10",
            (
                "Stretch and shrink film from retail and logistics",
                "Agricultural film, washed",
                "Film edge trim from blown-film extrusion",
            ),
        ),
        Plastic(
            "PE-LLD",
            (("regranulate", 5), ("agglomerate", 2)),
            (("natural", 4), ("transparent", 3), ("mixed colours", 1)),
            (("post_industrial", 6), ("post_consumer", 3)),
            ("MFR", 190, 2.16, 1.0, 0.5),
            (0.915, 0.926),
            (350, 1000),
            (18, 0.5),
            "3915.10",
            "3901.40",
            (
                "Pallet stretch film, post-commercial",
                "Film edge trim from cast-film extrusion",
            ),
        ),
        Plastic(
            "PET",
            (("flakes", 6), ("regranulate", 3)),
            (("clear", 4), ("light blue", 2), ("green", 1), ("mixed colours", 2)),
            (("post_consumer", 8), ("post_industrial", 1), ("mixed", 1)),
            ("IV", 0, 0, 0.74, 0.06),
            (1.335, 1.390),
            (350, 1050),
            (22, 0.4),
            "3915.90",
            "3907.61",
            (
                "Post-consumer beverage bottles from deposit return",
                "Thermoformed trays and blisters",
                "Bottle preforms, production scrap",
            ),
        ),
        Plastic(
            "PS",
            (("regrind", 4), ("regranulate", 3)),
            (("white", 3), ("black", 2), ("mixed colours", 2), ("natural", 1)),
            (("post_industrial", 5), ("post_consumer", 3)),
            ("MFR", 200, 5.0, 7.0, 0.5),
            (1.040, 1.060),
            (400, 950),
            (15, 0.5),
            "3915.20",
            "3903.19",
            (
                "Yoghurt cups and thermoformed packaging",
                "Refrigerator inner liners from WEEE dismantling",
            ),
        ),
        Plastic(
            "ABS",
            (("regrind", 4), ("regranulate", 3)),
            (("black", 4), ("grey", 2), ("white", 1), ("mixed colours", 2)),
            (("post_industrial", 5), ("post_consumer", 3)),
            ("MFR", 220, 10.0, 18.0, 0.5),
            (1.035, 1.070),
            (650, 1450),
            (12, 0.6),
            "3915.20",
            "3903.30",
            (
                "WEEE housings (small household appliances), sorted",
                "Automotive interior trim, production scrap",
            ),
        ),
        Plastic(
            "PA6",
            (("regrind", 4), ("regranulate", 4)),
            (("black", 4), ("natural", 3), ("mixed colours", 1)),
            (("post_industrial", 7), ("post_consumer", 2)),
            ("MFR", 275, 5.0, 30.0, 0.5),
            (1.125, 1.145),
            (900, 2100),
            (8, 0.7),
            "3915.90",
            "3908.10",
            (
                "Engineering parts, injection moulding sprues and runners",
                "Fishing nets and carpet yarn, post-consumer",
            ),
            ("glass fibre",),
        ),
        Plastic(
            "PC",
            (("regrind", 5), ("regranulate", 3)),
            (("clear", 3), ("black", 2), ("mixed colours", 2), ("white", 1)),
            (("post_industrial", 6), ("post_consumer", 3)),
            ("MFR", 300, 1.2, 12.0, 0.5),
            (1.190, 1.210),
            (950, 2000),
            (8, 0.7),
            "3915.90",
            "3907.40",
            (
                "Water bottles (19 l) and optical media, post-consumer",
                "Headlamp lenses, production scrap",
            ),
        ),
        Plastic(
            "PVC",
            (("regrind", 5), ("powder", 2), ("agglomerate", 1)),
            (("white", 5), ("grey", 1), ("mixed colours", 1)),
            (("post_consumer", 5), ("post_industrial", 4)),
            ("VN", 0, 0, 105.0, 0.08),
            (1.385, 1.450),
            (300, 900),
            (20, 0.4),
            "3915.30",
            "3904.21",
            (
                "Window profiles from demolition (PVC-U), dismantled and sorted",
                "Pipe and profile extrusion start-up scrap",
            ),
            ("calcium carbonate",),
        ),
    )
}

# Plastic waste bales (family plastic_waste): polymer key after "pw_".
WASTE_BALES: Final[dict[str, tuple[str, tuple[float, float], str]]] = {
    # polymer -> (DKR-like description, price range EUR/t, waste code)
    "PE-LD": ("film bales, post-consumer (DKR 310)", (30, 220), "15 01 02"),
    "PET": ("bottle bales, clear/light blue (DKR 328)", (150, 600), "15 01 02"),
    "PP": ("rigid packaging bales (DKR 324)", (40, 260), "15 01 02"),
}

PAPER_GRADES: Final[dict[str, tuple[str, str, tuple[float, float], float]]] = {
    # EN 643 code -> (name, HS, price EUR/t, weight)
    "1.01.00": ("mixed paper and board, unsorted", "4707.90", (20, 110), 1.0),
    "1.02.00": ("mixed paper and board, sorted", "4707.90", (35, 140), 2.0),
    "1.04.00": ("supermarket corrugated paper and board", "4707.10", (70, 190), 2.0),
    "1.05.00": ("ordinary corrugated paper and board (OCC)", "4707.10", (60, 180), 3.0),
    "1.11.00": ("sorted graphic paper for deinking", "4707.30", (110, 230), 1.0),
}
FERROUS_GRADES: Final[dict[str, tuple[str, tuple[float, float], float]]] = {
    # EFR code -> (form, price EUR/t, weight)
    "E1": ("loose", (240, 360), 1.0),
    "E2": ("loose", (300, 420), 1.0),
    "E3": ("loose", (270, 390), 2.0),
    "E40": ("shredded", (300, 430), 3.0),
    "E5H": ("turnings", (190, 300), 1.0),
    "E8": ("loose", (330, 460), 1.0),
    "E6": ("bales", (280, 400), 1.0),
}
ALU_GRADES: Final[dict[str, tuple[str, tuple[float, float], float]]] = {
    "Taint/Tabor": ("loose", (1100, 1650), 2.0),
    "Tense": ("loose", (1000, 1500), 1.0),
    "Twitch": ("shredded", (1200, 1700), 1.0),
    "Taldon": ("bales", (900, 1450), 2.0),
    "Tread": ("loose", (1500, 2100), 1.0),
    "Zorba 90": ("shredded", (950, 1400), 1.0),
}
COPPER_GRADES: Final[dict[str, tuple[str, tuple[float, float], float]]] = {
    "Barley": ("loose", (7000, 8600), 1.0),
    "Candy": ("loose", (6800, 8300), 1.0),
    "Clove": ("granulate", (7100, 8700), 1.0),
    "Birch/Cliff": ("loose", (6200, 7700), 2.0),
    "Dream": ("loose", (5200, 6800), 1.0),
}
GLASS_COLOURS: Final = (("flint", 3.0), ("amber", 2.0), ("green", 2.0), ("mixed", 2.0))

CERT_VALIDITY_YEARS: Final = 3

# --- output type --------------------------------------------------------------------------------


class GeneratedLot(TypedDict):
    """One generated posting: the JSON body of ``POST /v1/lots`` and what happened to it."""

    body: dict[str, Any]  # JSON-ready LotCreate
    posted_at: dt.datetime  # UTC
    seller: int  # index into SELLER_PROFILES
    status: str  # active | sold_out | withdrawn, as seen at ``end``
    available_fraction: float  # of the quantity still available (0 unless active)
    closed_at: dt.datetime | None  # when it sold out or was withdrawn
    stream: int | None  # recurring stream id (same seller, site and material), else None


# --- helpers ------------------------------------------------------------------------------------


def _pick(rng: random.Random, options: Sequence[tuple[Any, float]]) -> Any:
    total = sum(w for _, w in options)
    x = rng.random() * total
    for value, w in options:
        x -= w
        if x <= 0:
            return value
    return options[-1][0]


def _money(x: float) -> str:
    return f"{max(x, 1.0):.2f}"


def _round(x: float, digits: int) -> float:
    return float(round(x, digits))


def _season(day_of_year: int) -> float:
    """Relative posting activity over the year: spring and autumn peaks, August and
    Christmas dips."""
    a = 2 * math.pi * day_of_year / 365.25
    s = 1.0 + 0.18 * math.cos(2 * a - 2 * math.pi * 0.27)  # peaks ~ April and October
    if 213 <= day_of_year <= 243:  # August holidays
        s *= 0.7
    if day_of_year >= 355 or day_of_year <= 5:  # Christmas to Epiphany
        s *= 0.45
    return s


def _price_cycle(t: dt.datetime, start: dt.datetime) -> float:
    """A slow market cycle common to all materials (+-12 % over ~2 years) and seasonality."""
    years = (t - start).total_seconds() / (365.25 * 86400)
    return (
        1.0
        + 0.12 * math.sin(2 * math.pi * years / 2.1 + 0.6)
        + 0.03 * math.sin(2 * math.pi * years)
    )


def lot_id_at(t: dt.datetime, rng: random.Random) -> str:
    """A lot id whose time part is ``t`` (ids sort by creation time: keep "newest" honest
    for backdated demo lots); the random part comes from ``rng`` (deterministic)."""
    ms = int(t.timestamp() * 1000)
    return f"lot_{_encode((ms << 80) | rng.getrandbits(80), 26)}"


@dataclass
class _Site:
    country: str
    postcode: str | None = None
    lat: float | None = None
    lon: float | None = None

    def location(self, rng: random.Random) -> dict[str, Any]:
        if self.postcode is not None:
            return {"country": self.country, "postcode": self.postcode}
        assert self.lat is not None
        assert self.lon is not None
        return {
            "country": self.country,
            "latitude": _round(self.lat + rng.uniform(-0.05, 0.05), 4),
            "longitude": _round(self.lon + rng.uniform(-0.05, 0.05), 4),
        }


def _sites(profile: SellerProfile) -> list[_Site]:
    out: list[_Site] = []
    for s in profile.sites:
        if "," in s:
            lat, lon = (float(v) for v in s.split(","))
            # a site may lie across a border (Nordsee's Hamburg yard is in DE)
            country = "DE" if profile.country == "NL" and lat > 53 else profile.country
            out.append(_Site(country, lat=lat, lon=lon))
        else:
            out.append(_Site("DE", postcode=s))
    return out


_DE_PREFIXES: Final = tuple(
    f"{i:02d}" for i in range(1, 100) if de_postcode_area(f"{i:02d}000") is not None
)
_FOREIGN: Final[tuple[tuple[str, float], ...]] = (
    ("AT", 3.0),
    ("NL", 3.0),
    ("BE", 2.0),
    ("PL", 3.0),
    ("FR", 2.0),
    ("CZ", 2.0),
    ("IT", 1.5),
)


def _random_site(rng: random.Random) -> _Site:
    """A brokered lot away from the seller's own sites: mostly Germany, some neighbours."""
    if rng.random() < 0.7:
        return _Site("DE", postcode=f"{rng.choice(_DE_PREFIXES)}{rng.randrange(1000):03d}")
    country = _pick(rng, _FOREIGN)
    regions = regions_in(country, level=2) or regions_in(country)
    r = rng.choice(regions)
    return _Site(country, lat=r.lat + rng.uniform(-0.2, 0.2), lon=r.lon + rng.uniform(-0.2, 0.2))


# --- grade attributes ---------------------------------------------------------------------------


def _level_mix(rng: random.Random) -> int:
    return int(_pick(rng, ((0, 0.05), (1, 0.36), (2, 0.33), (3, 0.15), (4, 0.11))))


def _select(rng: random.Random, fields: dict[str, tuple[int, Any]], target: int) -> dict[str, Any]:
    """Keep every field up to the target level, some of the next level (partial data), and
    for level 0 drop one or two level-1 fields."""
    out: dict[str, Any] = {}
    lvl1 = [k for k, (lv, _) in fields.items() if lv == 1]
    dropped: set[str] = set()
    if target == 0:
        dropped = set(rng.sample(lvl1, k=min(len(lvl1), rng.choice((1, 1, 2)))))
    for key, (lv, value) in fields.items():
        if key in dropped:
            continue
        if lv <= max(target, 1) or (lv == target + 1 and rng.random() < 0.35):
            out[key] = value
    return out


def _doc(rng: random.Random, kind: str, t: dt.datetime) -> str:
    return f"doc_{kind}_{t:%Y%m}_{rng.randrange(10000):04d}"


def _plastic_fields(
    rng: random.Random,
    p: Plastic,
    form: str,
    colour: str,
    source: str,
    seller: SellerProfile,
    t: dt.datetime,
    family: str,
) -> dict[str, tuple[int, Any]]:
    kind, temp, load, median, spread = p.visc
    filler = None
    if p.fillers and rng.random() < 0.25:
        filler = (
            rng.choice(p.fillers),
            float(rng.choice((10, 15, 20, 30 if p.polymer == "PA6" else 20))),
        )
    if kind == "MFR":
        mfr = median * math.exp(rng.gauss(0, spread))
        visc: dict[str, Any] = {
            "value": _round(mfr, 1 if mfr >= 1 else 2),
            "unit": "g/10min",
            "method": "ISO 1133-1",
            "conditions": {"temperature_c": temp, "load_kg": load},
        }
    elif kind == "IV":
        visc = {
            "value": _round(median + rng.gauss(0, spread), 3),
            "unit": "dL/g",
            "method": "ISO 1628-5",
        }
    else:  # VN
        visc = {
            "value": _round(median * math.exp(rng.gauss(0, spread)), 0),
            "unit": "mL/g",
            "method": "ISO 1628-2",
        }
    if rng.random() < 0.4:
        visc["lot_specific"] = True
    lo, hi = p.density
    base_density = rng.uniform(lo, hi)
    density = base_density
    ash = rng.uniform(0.2, 2.5) if source != "post_industrial" else rng.uniform(0.05, 1.2)
    if filler is not None:
        w = filler[1] / 100
        density = 1 / (w / 2.7 + (1 - w) / base_density)
        ash += filler[1] * rng.uniform(0.95, 1.02)
    hygroscopic = p.polymer in ("PET", "PA6", "PC")
    moisture = (
        {"value": _round(rng.uniform(0.05, 0.4), 2), "unit": "%", "method": "ISO 15512"}
        if hygroscopic
        else {"value": int(rng.uniform(150, 2500)), "unit": "ppm", "method": "ISO 15512"}
    )
    density_m: dict[str, Any] = (
        {
            "mean": _round(density, 3),
            "sd": _round(rng.uniform(0.001, 0.006), 3),
            "n": rng.choice((3, 5, 5, 10)),
            "unit": "g/cm3",
            "method": "ISO 1183-1",
        }
        if rng.random() < 0.4
        else {"value": _round(density, 3), "unit": "g/cm3", "method": "ISO 1183-1"}
    )
    packaging = {
        "film": "bale",
        "bales": "bale",
        "regranulate": _pick(rng, (("octabin", 2), ("big_bag", 3), ("silo", 1))),
    }.get(form) or _pick(rng, (("big_bag", 4), ("octabin", 2), ("bulk", 1)))
    recycled = 100 if rng.random() < 0.7 else int(rng.uniform(70, 99))
    main_content = rng.uniform(93, 99.5) if source == "post_industrial" else rng.uniform(88, 98.5)
    lot_no = f"{seller.short}-{t:%y%m}-{rng.randrange(10000):04d}"
    bulk_density = {
        "regranulate": (520, 600),
        "regrind": (300, 520),
        "flakes": (250, 400),
        "agglomerate": (300, 450),
        "powder": (450, 600),
        "film": (60, 150),
        "bales": (350, 500),
    }.get(form, (300, 500))
    size_mm = {"regranulate": (3, 4.5), "powder": (0.2, 0.6), "flakes": (8, 14)}.get(form, (5, 12))
    modulus = {
        "PP": 1300,
        "PE-HD": 900,
        "PE-LD": 220,
        "PE-LLD": 280,
        "PET": 2700,
        "PS": 3000,
        "ABS": 2300,
        "PA6": 2800,
        "PC": 2350,
        "PVC": 3000,
    }[p.polymer]
    if filler is not None:
        modulus = int(modulus * (1 + filler[1] / 25))
    certs = seller.certs
    attribution = "mass_balance" if "ISCC PLUS" in certs and rng.random() < 0.3 else "segregated"
    fields: dict[str, tuple[int, Any]] = {
        "MainMaterialType": (1, p.polymer),
        "TypeOfPackaging": (1, packaging),
        "ColorByVisualInspection": (1, colour),
        "Form": (1, form),
        "TradeName": (1, f"{seller.short}-Re {p.polymer} {form} {colour}"),
        "RecycledContent": (1, {"value": recycled, "unit": "%"}),
        "Viscosity": (1, visc),
        "ChainOfCustody": (
            2,
            {"AttributionModel": attribution, "RelevantEuropeanOrInternationalNorm": "ISO 22095"},
        ),
        "RecyclingMethod": (2, "mechanical" if rng.random() < 0.97 else "solvent_based"),
        "Source": (2, source),
        "TypesOfFillers": (
            2,
            [{"Filler": filler[0], "FillerMassPercentage": filler[1]}] if filler else [],
        ),
        "LotNumber": (2, lot_no),
        "CertificateOfAnalysis": (
            2,
            {
                "TypeOfInspectionCertificate": _pick(rng, (("3.1", 5), ("2.2", 3), ("2.1", 1))),
                "Documentation": _doc(rng, "coa", t),
            },
        ),
        "PresenceOfModifyingAdditives": (
            2,
            []
            if rng.random() < 0.7
            else [
                _pick(
                    rng,
                    (
                        (
                            {
                                "ModifyingAdditiveName": "Irganox 1010",
                                "ModifyingAdditiveCASNumber": "6683-19-8",
                            },
                            2,
                        ),
                        (
                            {
                                "ModifyingAdditiveName": "Irgafos 168",
                                "ModifyingAdditiveCASNumber": "31570-04-4",
                            },
                            2,
                        ),
                        (
                            {
                                "ModifyingAdditiveName": "Carbon black",
                                "ModifyingAdditiveCASNumber": "1333-86-4",
                            },
                            1,
                        ),
                    ),
                )
            ],
        ),
        "AshContent": (2, {"value": _round(ash, 2), "unit": "%", "method": "ISO 3451-1"}),
        "ResidualHumidity": (2, moisture),
        "Density": (2, density_m),
        "ContentOfTheMainPlasticType": (3, {"value": _round(main_content, 1), "unit": "%"}),
        "PercentConfidenceOfCertificateOfAnalysis": (
            3,
            {"value": rng.choice((90, 95, 95, 99)), "unit": "%"},
        ),
        "CoefficientOfVariationWRTCertificateOfAnalysis": (
            3,
            {"value": _round(rng.uniform(1.5, 9), 1), "unit": "%"},
        ),
        "BulkDensity": (
            3,
            {"value": int(rng.uniform(*bulk_density)), "unit": "kg/m3", "method": "ISO 60"},
        ),
        "OriginalUseOfMaterial": (4, rng.choice(p.uses)),
        "RecyclingFeedstockConversionTechnology": (
            4,
            _pick(
                rng,
                (
                    ("Shredding, wet sorting by density, grinding, washing", 3),
                    ("NIR sorting, grinding, hot wash, melt filtration and regranulation", 3),
                    ("Grinding of clean production scrap, no washing", 2),
                ),
            ),
        ),
        "ParticleSizeDistribution": (
            4,
            {
                "value": _round(rng.uniform(*size_mm), 1),
                "unit": "mm",
                "method": "ISO 22498",
                "conditions": {"statistic": "d50"},
            },
        ),
        "TensileProperties": (
            4,
            {
                "method": "ISO 527-2",
                "values": {
                    "tensile_modulus": {
                        "value": int(modulus * rng.uniform(0.85, 1.1)),
                        "unit": "MPa",
                    },
                    "yield_stress": {
                        "value": _round(modulus / 45 * rng.uniform(0.8, 1.15), 1),
                        "unit": "MPa",
                    },
                },
            },
        ),
        "MaterialIdentification": (
            4,
            {"FTIR": {"Documentation": _doc(rng, "ftir", t), "result": p.polymer}},
        ),
    }
    if family == "plastic_waste":
        # waste bales: little lab data beyond what sorting plants declare
        for key in ("TensileProperties", "ParticleSizeDistribution"):
            fields.pop(key, None)
        if rng.random() < 0.4:
            fields.pop("Viscosity")
    extras: dict[str, tuple[int, Any]] = {}
    if rng.random() < 0.25:
        extras["x-Odour"] = (
            2,
            {
                "value": _round(rng.uniform(2.5, 4.5), 1),
                "method": "VDA 270",
                "conditions": {"variant": "C3"},
            },
        )
    if rng.random() < 0.15:
        extras["x-ReachSvhcDeclaration"] = (2, True)
    if p.polymer == "PET" and rng.random() < 0.2:
        extras["x-FoodContact"] = (3, {"status": "authorised_process"})
    fields.update(extras)
    return fields


def _pct(rng: random.Random, lo: float, hi: float, method: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"value": _round(rng.uniform(lo, hi), 2), "unit": "%"}
    if method:
        d["method"] = method
    return d


def _ppm(rng: random.Random, lo: float, hi: float) -> dict[str, Any]:
    return {
        "value": int(rng.uniform(lo, hi)),
        "unit": "ppm",
        "method": "manual sorting of a 100 kg sample",
    }


def _eow_fields(rng: random.Random, seller: SellerProfile, t: dt.datetime) -> dict[str, Any]:
    return {
        "StatementOfConformity": (4, _doc(rng, "soc", t)),
        "QualityManagementCertificate": (4, f"doc_qms_{seller.short.lower()}_iso9001"),
    }


# --- one lot ------------------------------------------------------------------------------------


@dataclass
class _Stream:
    """A recurring supply stream: same seller, site and material, one posting per period."""

    id: int
    seller: int
    site: _Site
    material: str
    spec: dict[str, Any]  # fixed choices (form, colour, source...)
    every_days: int
    qty_t: float
    declared: bool  # posted as supply type "recurring" (else repeated spot lots)
    target_level: int
    price_factor: float


@dataclass
class _Ctx:
    rng: random.Random
    start: dt.datetime
    end: dt.datetime
    sites: list[list[_Site]] = field(default_factory=list)


def _material_spec(rng: random.Random, material: str) -> dict[str, Any]:
    if material.startswith("pw_"):
        return {"polymer": material[3:]}
    if material in PLASTICS:
        p = PLASTICS[material]
        return {
            "form": _pick(rng, p.forms),
            "colour": _pick(rng, p.colours),
            "source": _pick(rng, p.sources),
        }
    if material == "paper":
        return {"grade": _pick(rng, [(k, v[3]) for k, v in PAPER_GRADES.items()])}
    if material == "ferrous":
        return {"grade": _pick(rng, [(k, v[2]) for k, v in FERROUS_GRADES.items()])}
    if material == "aluminium":
        return {"grade": _pick(rng, [(k, v[2]) for k, v in ALU_GRADES.items()])}
    if material == "copper":
        return {"grade": _pick(rng, [(k, v[2]) for k, v in COPPER_GRADES.items()])}
    if material == "glass":
        return {"colour": _pick(rng, GLASS_COLOURS)}
    raise ValueError(material)


def _typical_qty_t(material: str) -> tuple[float, float]:
    if material in PLASTICS:
        return PLASTICS[material].qty_t
    return {
        "paper": (60.0, 0.7),
        "ferrous": (250.0, 0.8),
        "aluminium": (22.0, 0.6),
        "copper": (8.0, 0.7),
        "glass": (300.0, 0.6),
    }.get(material, (22.0, 0.3))


def _build_body(
    ctx: _Ctx,
    seller_idx: int,
    material: str,
    spec: dict[str, Any],
    site: _Site,
    t: dt.datetime,
    qty_t: float,
    target: int,
    price_factor: float,
    recurring: dict[str, Any] | None,
) -> dict[str, Any]:
    rng = ctx.rng
    seller = SELLER_PROFILES[seller_idx]
    cycle = _price_cycle(t, ctx.start) * price_factor
    legal: dict[str, Any]
    title: str
    family: str
    scheme: str | None = "EN 18065"
    edition: str | None = "2025"
    price: float
    if material in PLASTICS or material.startswith("pw_"):
        if material.startswith("pw_"):
            polymer = spec["polymer"]
            p = PLASTICS[polymer]
            family = "plastic_waste"
            desc, price_range, wcode = WASTE_BALES[polymer]
            form, colour, source = "bales", "mixed colours", "post_consumer"
            if polymer == "PET":
                colour = "clear/light blue"
            price = rng.uniform(*price_range)
        else:
            p = PLASTICS[material]
            family = "plastic_recyclate"
            form, colour, source = spec["form"], spec["colour"], spec["source"]
            price = rng.uniform(*p.price) * (1.35 if form == "regranulate" else 1.0)
            if colour in ("black", "mixed colours", "grey"):
                price *= 0.85
        fields = _plastic_fields(rng, p, form, colour, source, seller, t, family)
        attrs = _select(rng, fields, target)
        if rng.random() < 0.2:
            scheme, edition = ("DIN SPEC 91446", "2021") if rng.random() < 0.3 else (None, None)
        product = form == "regranulate"
        if product:
            legal = {"hs_code": p.hs_primary, "end_of_waste_status": "product"}
        else:
            if family == "plastic_waste":
                waste_code = wcode
            elif p.polymer == "PVC" and source == "post_consumer":
                waste_code = "17 02 03"
            elif p.polymer in ("ABS", "PC", "PS") and source == "post_consumer":
                waste_code = "16 01 19" if rng.random() < 0.4 else "19 12 04"
            elif source == "post_industrial":
                waste_code = _pick(rng, (("07 02 13", 3), ("12 01 05", 1), ("02 01 04", 0.3)))
            else:
                waste_code = _pick(rng, (("15 01 02", 3), ("19 12 04", 3), ("20 01 39", 1)))
            basel = (
                "EU48"
                if p.polymer == "PVC" or (family == "plastic_waste" and polymer == "PE-LD")
                else _pick(rng, (("EU3011", 6), ("B3011", 1)))
            )
            legal = {
                "waste_code": waste_code,
                "basel_code": basel,
                "hs_code": p.hs_scrap,
                "end_of_waste_status": "waste",
            }
        if family == "plastic_waste":
            title = f"{polymer} {desc}"
        else:
            src = {"post_consumer": "PCR", "post_industrial": "PIR", "mixed": "PCR/PIR"}[source]
            title = f"{p.polymer} {form} {colour}, {src}"
        polymer_for_cert = True
    else:
        polymer_for_cert = False
        scheme, edition = None, None
        eow_level4 = False
        fields_o: dict[str, tuple[int, Any]]
        if material == "paper":
            family = "paper"
            code = spec["grade"]
            name, hs, price_range, _w = PAPER_GRADES[code]
            price = rng.uniform(*price_range)
            occ = code == "1.05.00"
            fields_o = {
                "GradeCode": (1, code),
                "Form": (1, "bales" if rng.random() < 0.85 else "loose"),
                "Source": (1, "post_industrial" if occ and rng.random() < 0.4 else "post_consumer"),
                "NonPaperComponents": (2, _pct(rng, 0.3, 1.4 if occ else 2.5)),
                "TotalUnwantedMaterials": (2, _pct(rng, 0.8, 2.4 if occ else 4.0)),
                "Moisture": (2, _pct(rng, 6, 12)),
                "ProhibitedMaterialsPresent": (3, False),
                "LotNumber": (3, f"{seller.short}-P{t:%y%m}-{rng.randrange(1000):03d}"),
                "InspectionReport": (3, _doc(rng, "inspection", t)),
                "QualityControlCertificate": (4, _doc(rng, "qc", t)),
            }
            legal = {
                "waste_code": _pick(rng, (("15 01 01", 3), ("20 01 01", 2), ("19 12 01", 1))),
                "basel_code": "B3020",
                "hs_code": hs,
                "end_of_waste_status": "waste",
            }
            title = f"EN 643 {code} {name}"
        elif material == "glass":
            family = "glass_cullet"
            colour = spec["colour"]
            price = rng.uniform(25, 95) * (1.3 if colour == "flint" else 1.0)
            fields_o = {
                "Colour": (1, colour),
                "GlassType": (1, "container" if rng.random() < 0.85 else "flat"),
                "Form": (1, "cullet"),
                "Source": (1, "post_consumer" if rng.random() < 0.8 else "post_industrial"),
                "FerrousMetals": (2, _ppm(rng, 5, 60)),
                "NonFerrousMetals": (2, _ppm(rng, 5, 70)),
                "NonMetallicNonGlassInorganics": (2, _ppm(rng, 20, 120)),
                "Organics": (2, _ppm(rng, 300, 2400)),
                "ParticleSize": (
                    3,
                    {"value": int(rng.uniform(10, 60)), "unit": "mm", "method": "sieving"},
                ),
                "NoHazardousProperties": (3, True),
                "LotNumber": (3, f"{seller.short}-G{t:%y%m}-{rng.randrange(1000):03d}"),
                "InspectionReport": (3, _doc(rng, "inspection", t)),
                **_eow_fields(rng, seller, t),
            }
            legal = {
                "waste_code": _pick(rng, (("15 01 07", 3), ("20 01 02", 2), ("19 12 05", 1))),
                "basel_code": "B2020",
                "hs_code": "7001.00",
                "end_of_waste_status": "waste",
            }
            eow_level4 = True
            title = f"Glass cullet {colour}, {fields_o['GlassType'][1]}"
        else:
            grades: dict[str, Any] = {
                "ferrous": FERROUS_GRADES,
                "aluminium": ALU_GRADES,
                "copper": COPPER_GRADES,
            }[material]
            code = spec["grade"]
            form, price_range, _w = grades[code]
            price = rng.uniform(*price_range)
            family = f"{material}_scrap"
            fields_o = {
                "GradeCode": (1, code),
                "Form": (1, form),
                "Source": (1, _pick(rng, (("post_consumer", 3), ("post_industrial", 2)))),
                "ForeignMaterials": (2, _pct(rng, 0.2, 2.4, "visual sorting analysis")),
            }
            if material == "ferrous":
                fields_o["Steriles"] = (2, _pct(rng, 0.1, 1.4))
                waste = _pick(rng, (("19 12 02", 2), ("17 04 05", 2), ("19 10 01", 1)))
                if form == "turnings":
                    waste = "12 01 01"
                hs = "7204.41" if form == "turnings" else "7204.49"
                legal_reg = "333/2011"
                title = f"Steel scrap EFR {code} ({form})"
            elif material == "aluminium":
                fields_o["OilContent"] = (2, _pct(rng, 0.1, 1.2))
                fields_o["NonFerrousMetalContent"] = (2, _pct(rng, 90, 99))
                fields_o["TaleContent"] = (3, _pct(rng, 1, 9))
                fields_o["MetalYield"] = (3, _pct(rng, 88, 97))
                waste = _pick(rng, (("17 04 02", 3), ("19 12 03", 2), ("12 01 03", 1)))
                hs = "7602.00"
                legal_reg = "333/2011"
                title = f"Aluminium scrap {code} ({form})"
            else:
                fields_o["CopperContent"] = (2, _pct(rng, 92, 99.9))
                waste = _pick(rng, (("17 04 01", 3), ("12 01 03", 1), ("17 04 11", 1)))
                hs = "7404.00"
                legal_reg = "715/2013"
                title = f"Copper scrap ISRI {code}"
            fields_o.update(
                {
                    "FreeOfVisibleOil": (3, rng.random() < 0.95),
                    "RadioactivityChecked": (3, True),
                    "NoHazardousProperties": (3, True),
                    "LotNumber": (3, f"{seller.short}-M{t:%y%m}-{rng.randrange(1000):03d}"),
                    **_eow_fields(rng, seller, t),
                }
            )
            legal = {
                "waste_code": waste,
                "basel_code": "B1115" if waste == "17 04 11" else "B1010",
                "hs_code": hs,
                "end_of_waste_status": "waste",
            }
            legal["_reg"] = legal_reg
            eow_level4 = True
        attrs = _select(rng, fields_o, target)
        reg = legal.pop("_reg", {"glass": "1179/2012"}.get(material))
        if eow_level4 and "StatementOfConformity" in attrs and rng.random() < 0.6:
            legal = {
                "hs_code": legal["hs_code"],
                "end_of_waste_status": "end_of_waste",
                "end_of_waste_regulation": reg,
            }
    # defects: a measurement without its conditions or method (lowers the computed level)
    visc = attrs.get("Viscosity")
    if isinstance(visc, dict) and rng.random() < 0.03:
        attrs["Viscosity"] = {k: v for k, v in visc.items() if k != "conditions"} | (
            {} if "conditions" in visc else {"method": "in-house"}
        )
    dens = attrs.get("Density")
    if isinstance(dens, dict) and rng.random() < 0.02:
        attrs["Density"] = {k: v for k, v in dens.items() if k != "method"}
    # claims: most sellers state the level they aimed for, some overclaim, some say nothing
    claim_draw = rng.random()
    claimed: int | None
    if claim_draw < 0.55:
        claimed = target
    elif claim_draw < 0.68:
        claimed = min(4, target + 1)
    else:
        claimed = None
    grade: dict[str, Any] = {"family": family, "attributes": attrs}
    if scheme:
        grade["scheme"] = scheme
        grade["edition"] = edition
    if claimed is not None:
        grade["claimed_dql"] = claimed
    qty_value: float
    if qty_t < 2 and rng.random() < 0.7:
        unit = "kg"
        qty_value = float(int(qty_t * 1000 / 25) * 25 or 25)
    else:
        unit = "t"
        qty_value = _round(qty_t, 1 if qty_t < 100 else 0) or 0.5
    body: dict[str, Any] = {
        "title": f"{title}, {qty_value:g} {unit}"
        + (
            f" every {recurring['frequency'][:-2]}"
            if recurring and recurring["frequency"] in ("weekly", "monthly")
            else ""
        ),
        "family": family,
        "grade": grade,
        "quantity": {"value": qty_value, "unit": unit},
        "location": site.location(rng),
        "legal": legal,
    }
    if recurring is not None:
        body["supply"] = recurring
    else:
        body["supply"] = {"type": "spot"}
    if rng.random() < 0.86:
        body["asking_price"] = {"amount": _money(price * cycle), "currency": "EUR"}
        if rng.random() < 0.3:
            body["price_floor"] = {
                "amount": _money(price * cycle * rng.uniform(0.88, 0.97)),
                "currency": "EUR",
            }
    if rng.random() < 0.25:
        body["description"] = _pick(
            rng,
            (
                ("Loading Mon-Fri 7-15 h, walking floor or tautliner. Samples on request.", 2),
                ("Stable quality from a continuous source; CoA with every delivery.", 2),
                ("Stored indoors. Photos and data sheet available.", 1),
                ("Ex works; delivery within 300 km can be arranged.", 1),
            ),
        )
    if rng.random() < 0.15:
        body["internal_notes"] = _pick(
            rng,
            (
                ("Keep for regular customers first.", 1),
                ("Storage full by end of month: accept floor price.", 1),
                ("Check moisture before shipping.", 1),
            ),
        )
    if rng.random() < 0.35:
        body["available_from"] = (
            (t + dt.timedelta(days=rng.choice((0, 3, 7, 14)))).date().isoformat()
        )
    certs = []
    for scheme_name in seller.certs:
        if not polymer_for_cert and scheme_name in ("RecyClass", "ISCC PLUS", "EN 15343"):
            continue
        if rng.random() < 0.75:
            certs.append(_cert(seller, scheme_name, t))
    if certs:
        body["certifications"] = certs
    return body


def _cert(seller: SellerProfile, scheme: str, t: dt.datetime) -> dict[str, Any]:
    """The seller's certificate valid at ``t``: 3-year cycles starting at a seller-specific
    date, renewed with a new number."""
    anchor = dt.date(2019, 1 + (sum(map(ord, seller.slug + scheme)) % 12), 1)
    years = (t.date() - anchor).days // int(365.25 * CERT_VALIDITY_YEARS)
    valid_from = anchor.replace(year=anchor.year + CERT_VALIDITY_YEARS * years)
    valid_until = valid_from.replace(year=valid_from.year + CERT_VALIDITY_YEARS) - dt.timedelta(
        days=1
    )
    tag = scheme.replace(" ", "").upper()
    return {
        "scheme": scheme,
        "certificate_id": f"{tag}-{seller.country}-{seller.short}-{valid_from.year}",
        "valid_from": valid_from.isoformat(),
        "valid_until": valid_until.isoformat(),
    }


# --- timeline -----------------------------------------------------------------------------------


def _outcome(
    rng: random.Random, t: dt.datetime, end: dt.datetime, recurring_end: dt.date | None
) -> tuple[str, float, dt.datetime | None]:
    """What became of a lot posted at ``t``, seen at ``end``."""
    age_days = (end - t).total_seconds() / 86400
    if recurring_end is not None:
        if recurring_end >= end.date():
            return "active", rng.uniform(0.3, 1.0), None
        closed = dt.datetime.combine(recurring_end, dt.time(17), tzinfo=dt.UTC)
        return ("sold_out" if rng.random() < 0.85 else "withdrawn"), 0.0, min(closed, end)
    if age_days > 70:
        probs = (("sold_out", 0.80), ("withdrawn", 0.17), ("active", 0.03))
    elif age_days > 21:
        probs = (("sold_out", 0.50), ("withdrawn", 0.10), ("active", 0.40))
    else:
        probs = (("sold_out", 0.12), ("withdrawn", 0.03), ("active", 0.85))
    status = str(_pick(rng, probs))
    if status == "active":
        frac = 1.0 if rng.random() < 0.7 else _round(rng.uniform(0.2, 0.9), 2)
        return status, frac, None
    days = min(age_days, rng.expovariate(1 / (12 if status == "sold_out" else 30)))
    return status, 0.0, t + dt.timedelta(days=days)


def _sample_time(ctx: _Ctx, cum: list[float], days: int) -> dt.datetime:
    rng = ctx.rng
    x = rng.random() * cum[-1]
    d = bisect.bisect_left(cum, x)
    day = ctx.start + dt.timedelta(days=min(d, days - 1))
    # business hours, weekdays mostly
    if day.weekday() >= 5 and rng.random() < 0.85:
        day -= dt.timedelta(days=day.weekday() - 4)
        day = max(day, ctx.start)
    return day + dt.timedelta(seconds=int(rng.uniform(6.5, 18.5) * 3600))


def generate_lot_bodies(
    n: int,
    *,
    seed: int = DEMO_SEED,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> Iterator[GeneratedLot]:
    """Yield ``n`` generated postings between ``start`` and ``end`` (default: the 156 weeks
    before today 00:00 UTC), in posting order. Deterministic for the same arguments.

    About 40 % of postings come from recurring streams (a seller posting the same material
    from the same site every week, fortnight, month or quarter, some as declared recurring
    supply); the rest are spot lots whose posting times follow a growth trend and seasonality.
    Memory stays small: only the timeline is held, bodies are built one by one.
    """
    if n <= 0:
        return
    if end is None:
        end = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if start is None:
        start = end - dt.timedelta(weeks=WEEKS)
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError("start and end must be timezone-aware with start < end")
    rng = random.Random(seed)
    ctx = _Ctx(rng, start, end)
    ctx.sites = [_sites(p) for p in SELLER_PROFILES]
    days = max(1, (end - start).days)
    # posting intensity per day: growth (the platform gains users) x seasonality
    cum: list[float] = []
    acc = 0.0
    for d in range(days):
        day = start + dt.timedelta(days=d)
        acc += (0.55 + 0.9 * d / days) * _season(day.timetuple().tm_yday)
        cum.append(acc)

    seller_weights = [(i, p.activity) for i, p in enumerate(SELLER_PROFILES)]
    # recurring streams until ~40 % of n postings are covered
    events: list[tuple[dt.datetime, int, int]] = []  # (time, stream id or -1, seq)
    streams: list[_Stream] = []
    target_recurring = int(n * 0.4)
    covered = 0
    guard = 0
    while covered < target_recurring and guard < n + 100:
        guard += 1
        s_idx = int(_pick(rng, seller_weights))
        profile = SELLER_PROFILES[s_idx]
        material = str(_pick(rng, profile.mix))
        every = int(_pick(rng, ((7, 1.0), (14, 2.0), (30, 4.0), (91, 1.0))))
        # streams start and stop at various times (customers come and go)
        span = days * rng.uniform(0.25, 1.0)
        first = rng.uniform(0, max(1.0, days - span))
        med, spread = _typical_qty_t(material)
        qty = med * math.exp(rng.gauss(0, spread * 0.6)) * (every / 30) ** 0.5
        stream = _Stream(
            id=len(streams),
            seller=s_idx,
            site=rng.choice(ctx.sites[s_idx]),
            material=material,
            spec=_material_spec(rng, material),
            every_days=every,
            qty_t=qty,
            declared=rng.random() < 0.3,
            target_level=min(4, _level_mix(rng) + (1 if rng.random() < 0.3 else 0)),
            price_factor=rng.uniform(0.9, 1.1),
        )
        streams.append(stream)
        # declared streams post one recurring-supply lot per contract of 3-12 deliveries
        period = every * int(rng.choice((3, 6, 6, 12))) if stream.declared else every
        step = first
        while step < first + span and step < days and covered < target_recurring:
            if rng.random() > 0.08:  # a skipped delivery now and then
                when = start + dt.timedelta(days=step + rng.uniform(-1.5, 1.5) * (every > 7))
                when = min(max(when, start), end - dt.timedelta(hours=1))
                when = when.replace(hour=0, minute=0, second=0, microsecond=0)
                when += dt.timedelta(seconds=int(rng.uniform(7, 16) * 3600))
                events.append((when, stream.id, len(events)))
                covered += 1
            step += period
    for _ in range(n - len(events)):
        events.append((_sample_time(ctx, cum, days), -1, len(events)))
    heapq.heapify(events)

    while events:
        t, sid, _seq = heapq.heappop(events)
        if sid >= 0:
            st = streams[sid]
            spec, material, s_idx, site = st.spec, st.material, st.seller, st.site
            med, spread = st.qty_t, 0.12
            qty = med * math.exp(rng.gauss(0, spread))
            target = st.target_level if rng.random() < 0.9 else _level_mix(rng)
            price_factor = st.price_factor
            recurring = None
            rec_end = None
            if st.declared:
                freq = {7: "weekly", 14: "biweekly", 30: "monthly", 91: "quarterly"}[st.every_days]
                deliveries = rng.choice((3, 6, 6, 12))
                rec_end = (t + dt.timedelta(days=st.every_days * deliveries)).date()
                unit_t = _round(qty, 1) or 0.5
                recurring = {
                    "type": "recurring",
                    "frequency": freq,
                    "quantity_per_delivery": {"value": unit_t, "unit": "t"},
                    "start": t.date().isoformat(),
                    "end": rec_end.isoformat(),
                }
                qty = unit_t * deliveries
        else:
            s_idx = int(_pick(rng, seller_weights))
            profile = SELLER_PROFILES[s_idx]
            material = str(_pick(rng, profile.mix))
            spec = _material_spec(rng, material)
            site = rng.choice(ctx.sites[s_idx]) if rng.random() < 0.85 else _random_site(rng)
            med, spread = _typical_qty_t(material)
            qty = med * math.exp(rng.gauss(0, spread))
            target = _level_mix(rng)
            price_factor = rng.uniform(0.92, 1.08)
            recurring = None
            rec_end = None
        body = _build_body(
            ctx, s_idx, material, spec, site, t, qty, target, price_factor, recurring
        )
        status, frac, closed = _outcome(rng, t, end, rec_end)
        yield GeneratedLot(
            body=body,
            posted_at=t,
            seller=s_idx,
            status=status,
            available_fraction=frac,
            closed_at=closed,
            stream=sid if sid >= 0 else None,
        )


# --- loading into a database --------------------------------------------------------------------

DEMO_LOT_COUNT: Final = 3000
DEMO_NOTE_PREFIX: Final = "[demo]"


def demo_lots_loaded(session: Session) -> bool:
    """True when the demo lots are already in the database (their owner notes carry a marker)."""
    marker = select(Lot.id).where(Lot.internal_notes.like(f"{DEMO_NOTE_PREFIX}%")).limit(1)
    return session.scalar(marker) is not None


def load_demo_lots(
    session: Session,
    sellers: Mapping[str, str],
    *,
    n: int = DEMO_LOT_COUNT,
    seed: int = DEMO_SEED,
    end: dt.datetime | None = None,
    batch: int = 500,
) -> int:
    """Create the demo lot history once (idempotent). ``sellers`` maps profile slug ->
    organisation id. Every lot is built by the service layer exactly like an API post
    (validation, DQL, derived columns, warnings), then backdated: id, posted/created/updated
    times, status, availability. Returns the number of lots created (0 when already loaded)."""
    if demo_lots_loaded(session):
        return 0
    missing = [p.slug for p in SELLER_PROFILES if p.slug not in sellers]
    if missing:
        raise ValueError(f"no organisation for demo sellers {missing}")
    principals = {
        p.slug: Principal(
            organization_id=sellers[p.slug],
            organization_role="recycler",
            credential_id="demo",
            credential_kind="api_key",
            scopes=frozenset(),
        )
        for p in SELLER_PROFILES
    }
    if end is None:
        end = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    id_rng = random.Random(seed + 1)
    pending: list[Lot] = []
    created = 0
    for item in generate_lot_bodies(n, seed=seed, end=end):
        body = LotCreate.model_validate(item["body"])
        body.internal_notes = f"{DEMO_NOTE_PREFIX} {body.internal_notes or ''}".rstrip()
        posted = item["posted_at"]
        principal = principals[SELLER_PROFILES[item["seller"]].slug]
        lot = lot_service.build_lot(session, principal, body, now=posted)
        lot.id = lot_id_at(posted, id_rng)
        lot.warnings = [
            {"code": w["code"], "field": w.get("field"), "detail": w["detail"]}
            for w in lot.assessment.get("warnings", [])
        ] + lot_service._consistency_warnings(lot)
        lot.status = item["status"]
        lot.available_kg = _round(lot.quantity_kg * item["available_fraction"], 3)
        closed = item["closed_at"]
        if closed is not None:
            lot.updated_at = closed
            if item["status"] == LotStatus.WITHDRAWN:
                lot.withdrawn_at = closed
        elif lot.available_kg < lot.quantity_kg:
            lot.updated_at = posted + (end - posted) * id_rng.uniform(0.1, 0.9)
        pending.append(lot)
        if len(pending) >= batch:
            session.add_all(pending)
            session.flush()
            created += len(pending)
            pending = []
    session.add_all(pending)
    session.flush()
    return created + len(pending)
