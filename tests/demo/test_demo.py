"""Demo data: `recyclate demo load` creates a realistic three-year lot history once."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import func, select

from app.demo.lots import DEMO_LOT_COUNT, SELLER_PROFILES, generate_lot_bodies
from app.demo.seed import DEMO_ORGS, load
from app.grades.catalogue import FAMILIES
from app.lots.models import Lot
from app.lots.schemas import LotCreate

END = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def test_generator_is_deterministic_and_every_body_validates() -> None:
    first = list(generate_lot_bodies(1500, seed=7, end=END))
    again = list(generate_lot_bodies(1500, seed=7, end=END))
    assert [g["body"] for g in first] == [g["body"] for g in again]
    assert len(first) == 1500
    for g in first:
        LotCreate.model_validate(g["body"])  # raises on any invalid body
        assert g["posted_at"] <= END
        assert 0 <= g["seller"] < len(SELLER_PROFILES)
    times = [g["posted_at"] for g in first]
    assert times == sorted(times)
    assert sum(g["stream"] is not None for g in first) > 300  # recurring streams


def test_demo_sellers_are_demo_organisations() -> None:
    slugs = {d.slug for d in DEMO_ORGS}
    assert {p.slug for p in SELLER_PROFILES} <= slugs
    for kept in ("rhein_recycling", "elbe_kunststoff", "alpen_compounds", "ruhr_automotive"):
        assert kept in slugs


def test_demo_load_is_realistic_and_idempotent(db) -> None:
    with db.transaction() as s:
        load(s)
    with db.transaction() as s:
        load(s)  # second run adds nothing
        total = s.scalar(select(func.count()).select_from(Lot))
        assert total == DEMO_LOT_COUNT
        dql = Counter(dict(s.execute(select(Lot.dql, func.count()).group_by(Lot.dql)).all()))
        families = {f for (f,) in s.execute(select(Lot.family).distinct())}
        statuses = Counter(
            dict(s.execute(select(Lot.status, func.count()).group_by(Lot.status)).all())
        )
        first, last = s.execute(select(func.min(Lot.posted_at), func.max(Lot.posted_at))).one()
        polymers = {p for (p,) in s.execute(select(Lot.polymer).distinct()) if p}
        overclaims = s.scalar(
            select(func.count()).select_from(Lot).where(Lot.claimed_dql > Lot.dql)
        )
        countries = {c for (c,) in s.execute(select(Lot.country).distinct())}
        recurring = s.scalar(
            select(func.count()).select_from(Lot).where(Lot.supply_type == "recurring")
        )
        newest = s.scalars(select(Lot).order_by(Lot.id.desc()).limit(20)).all()
    assert set(dql) == {0, 1, 2, 3, 4}
    assert dql[1] + dql[2] > dql[3] + dql[4] > dql[0] > 0
    assert families == set(FAMILIES)
    assert {"PP", "PE-HD", "PE-LD", "PE-LLD", "PET", "PS", "ABS", "PA6", "PC", "PVC"} <= polymers
    assert {"DE", "AT", "NL", "BE", "PL", "FR", "CZ", "IT"} <= countries
    assert overclaims
    assert recurring
    assert statuses["active"] > 0
    assert statuses["sold_out"] > statuses["withdrawn"] > 0
    span = last - first
    assert dt.timedelta(weeks=150) < span <= dt.timedelta(weeks=156)
    # ids carry the backdated posting time, so "newest first" (id order) follows posted_at
    assert [lot.posted_at for lot in newest] == sorted(
        (lot.posted_at for lot in newest), reverse=True
    )
