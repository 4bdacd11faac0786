"""The fast path (columnar snapshot + bounds + exact scoring of the few) returns exactly what
the reference path (SQL prefilter + every candidate scored) returns: same lots, order, scores,
explanations and proposals; and its vectorised filter never drops an eligible lot."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import to_json
from sqlalchemy import select

from app.auth.service import Principal
from app.geo import haversine_km
from app.lots import service as lot_service
from app.lots.models import Lot
from app.lots.schemas import LotCreate
from app.matching import index, scoring, search, service
from app.matching.facts import lot_facts
from app.matching.index import MATCH_COLUMNS
from app.matching.schemas import (
    MatchesOut,
    encode_json,
    matches_dict,
    present_match,
    present_proposal,
)
from app.requirements.schemas import RequirementSpec
from app.requirements.service import resolve_spec
from tests.matching.helpers import MFR_230, lot

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
POLYMERS = ["PP", "PE", "PE-LD", "PE-HD", "PET", "PS", "PVC", "PA6", "ABS"]
FORMS = ["regrind", "regranulate", "flakes", "bales", "pellets", "agglomerate"]
COLORS = ["natural", "black", "mixed", "white", "grey", "transparent"]
SOURCES = ["post-industrial", "post-consumer", "mixed"]
CERTS = ["EN 15343", "ISCC PLUS", "RecyClass"]


def _pp_variant(rng: random.Random) -> dict[str, Any]:
    mfr: dict[str, Any] = {
        "unit": rng.choice(["g/10min", "g/10 min"]),
        "method": rng.choice(["ISO 1133-1", "ISO 1133", "ASTM D1238"]),
        "conditions": {"temperature_c": rng.choice([230, 190]), "load_kg": 2.16},
    }
    value = round(rng.uniform(2, 40), 2)
    if rng.random() < 0.4:
        mfr |= {"mean": value, "sd": round(rng.uniform(0, 3), 2)}
    else:
        mfr["value"] = value
    attrs: dict[str, Any] = {"Viscosity": mfr}
    if rng.random() < 0.3:
        attrs["Density"] = None
    if rng.random() < 0.3:
        attrs["Viscosity"] = None
    body = lot(level=rng.choice([1, 2, 3]), attrs=attrs)
    body["location"] = {
        "country": "DE",
        "latitude": round(rng.uniform(47.5, 54.5), 4),
        "longitude": round(rng.uniform(6.5, 14.5), 4),
    }
    body["quantity"] = {"value": rng.choice([3, 8, 12, 24, 40]), "unit": "t"}
    body["asking_price"] = {
        "amount": f"{rng.uniform(200, 1200):.2f}",
        "currency": rng.choice(["EUR", "EUR", "USD"]),
    }
    body.pop("price_floor", None)
    if rng.random() < 0.3:
        body["certifications"] = []
    return body


@pytest.fixture
def pool(db, recycler) -> list[str]:  # type: ignore[no-untyped-def]
    """About 250 lots: the demo generator's realistic mix plus PP variants around the
    windows; random status, availability and position."""
    rng = random.Random(42)
    principal = Principal(recycler.id, "recycler", "test", "api_key", frozenset())
    try:  # the demo generator's realistic mix of families, polymers and grades
        from app.demo.lots import generate_lot_bodies

        bodies = [g["body"] for g in generate_lot_bodies(150, seed=5)]
    except ImportError:  # pragma: no cover - generator not available
        bodies = []
    bodies += [_pp_variant(rng) for _ in range(100)]
    ids = []
    with db.transaction() as s:
        for body in bodies:
            try:
                created = LotCreate.model_validate(body)
            except ValidationError:
                continue
            row = lot_service.build_lot(s, principal, created, now=NOW)
            r = rng.random()
            row.status = "active" if r < 0.8 else ("sold_out" if r < 0.9 else "withdrawn")
            row.available_kg = round(row.quantity_kg * rng.choice([0.0, 0.2, 0.5, 1.0]), 1)
            row.latitude = max(-89.0, min(89.0, row.latitude + rng.uniform(-1, 1)))
            s.add(row)
            s.flush()
            ids.append(row.id)
    return ids


def pool_org(db: Any) -> str:
    with db.transaction(write=False) as s:
        org = s.scalar(select(Lot.organization_id).limit(1))
    assert org is not None
    return str(org)


def _window(draw: Any) -> dict[str, Any]:
    prop = draw(st.sampled_from(["Viscosity", "Density", "AshContent", "ResidualHumidity"]))
    lo = draw(st.none() | st.floats(0, 20))
    span = draw(st.floats(0.5, 30))
    w: dict[str, Any] = {"property": prop}
    if prop == "Viscosity":
        w["unit"] = "g/10min"
        w["conditions"] = draw(st.sampled_from([MFR_230, {"temperature_c": 190, "load_kg": 2.16}]))
        if draw(st.booleans()):
            w["methods"] = ["ISO 1133"]
    elif prop == "Density":
        w["unit"] = draw(st.sampled_from(["kg/m3", "g/cm3"]))
        lo = None if lo is None else (lo * 50 + 850 if w["unit"] == "kg/m3" else 0.85 + lo / 100)
        span = span * 5 if w["unit"] == "kg/m3" else span / 200
    else:
        w["unit"] = "%"
    hi = None if lo is not None and draw(st.booleans()) else (lo or 0) + span
    assume(lo is not None or hi is not None)
    if lo is not None:
        w["min"] = round(lo, 4)
    if hi is not None:
        w["max"] = round(hi, 4)
    if draw(st.booleans()) and lo is not None and hi is not None:
        w["target"] = round(lo + (hi - lo) * draw(st.floats(0, 1)), 4)
    return w | _rule(draw)


def _rule(draw: Any) -> dict[str, Any]:
    return {
        "hard": draw(st.booleans()),
        "weight": draw(st.sampled_from([0, 0.5, 1, 2, 3])),
        "if_missing": draw(st.sampled_from(["fail", "zero", "ignore"])),
    }


@st.composite
def specs(draw: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "family": draw(st.sampled_from(["plastic_recyclate"] * 4 + ["paper", "plastic_waste"]))
    }
    opt = st.booleans()
    if draw(opt):
        spec["polymers"] = {
            "values": draw(st.lists(st.sampled_from(POLYMERS), min_size=1, max_size=3)),
            "include_subtypes": draw(st.booleans()),
        } | _rule(draw)
    for key, values in (("forms", FORMS), ("colors", COLORS), ("sources", SOURCES)):
        if draw(st.integers(0, 3)) == 0:
            chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3))
            spec[key] = {"values": chosen} | _rule(draw)
    if draw(opt):
        spec["min_dql"] = {"min": draw(st.integers(1, 4))} | _rule(draw)
    spec["properties"] = [_window(draw) for _ in range(draw(st.integers(0, 3)))]
    if draw(st.integers(0, 3)) == 0:
        spec["certifications"] = {
            "schemes": draw(st.lists(st.sampled_from(CERTS), min_size=1, max_size=2)),
            "mode": draw(st.sampled_from(["all", "any"])),
            "valid_on": draw(st.sampled_from(["2026-06-01", "2024-01-01"])),
        } | _rule(draw)
    if draw(st.integers(0, 4)) == 0:
        spec["food_contact"] = _rule(draw)
    if draw(st.integers(0, 4)) == 0:
        spec["reach_declaration"] = _rule(draw)
    if draw(st.integers(0, 3)) == 0:
        spec["end_of_waste"] = {
            "statuses": draw(st.sampled_from([["end_of_waste"], ["waste", "product"]]))
        } | _rule(draw)
    if draw(opt):
        spec["quantity"] = {
            "min": {"value": draw(st.sampled_from([1, 5, 10, 30, 60])), "unit": "t"}
        }
        spec["quantity"] |= _rule(draw)
    if draw(st.integers(0, 3)) == 0:
        spec["delivery_window"] = {"end": draw(st.sampled_from(["2026-01-01", "2027-12-31"]))}
    if draw(opt):
        spec["delivery_location"] = {
            "country": "DE",
            "latitude": draw(st.floats(47.5, 54.5)),
            "longitude": draw(st.floats(6.5, 14.5)),
            "max_distance_km": draw(st.none() | st.sampled_from([50, 150, 300, 800])),
        } | _rule(draw)
    if draw(opt):
        spec["max_price"] = {
            "amount": draw(st.sampled_from(["300.00", "600.00", "900.00", "2000.00"])),
            "currency": draw(st.sampled_from(["EUR", "EUR", "USD"])),
            "basis": draw(st.sampled_from(["ex_works", "landed"])),
        } | _rule(draw)
    return spec


def _build(body: dict[str, Any]) -> scoring.Spec:
    try:
        model = RequirementSpec.model_validate(body)
    except ValidationError:
        assume(False)
        raise
    resolved = RequirementSpec.model_validate(resolve_spec(model, ""), strict=False)
    return service.build_spec(resolved, transport_eur_per_t_km=0.12, today=NOW.date())


def _shown(outcome: service.MatchOutcome, spec: scoring.Spec) -> Any:
    return (
        [present_match(r, spec).model_dump() for r in outcome.results],
        [present_proposal(p).model_dump() for p in outcome.proposals],
    )


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=specs(), limit=st.sampled_from([1, 3, 10, 50]), ineligible=st.booleans())
def test_fast_path_equals_exact_scoring(db, pool, body, limit, ineligible) -> None:  # type: ignore[no-untyped-def]
    spec = _build(body)
    with db.transaction(write=False) as s:
        fast = service.match(s, spec, limit=limit, include_ineligible=ineligible)
        exact = service.match_exact(s, spec, limit=limit, include_ineligible=ineligible)
    assert _shown(fast, spec) == _shown(exact, spec)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=specs())
def test_vectorised_filter_never_drops_an_eligible_lot(db, pool, body) -> None:  # type: ignore[no-untyped-def]
    """Over every active lot of the pool: exactly eligible => in the candidate set, and the
    vectorised upper bound is never below the exact score."""
    spec = _build(body)
    with db.transaction(write=False) as s:
        ix = index.index_for(s)
        cands = ix.scan(s, spec, eligible_only=True, skip_quantity=False)
        every = ix.scan(s, spec, eligible_only=False, skip_quantity=False)
        rows = s.execute(
            select(*MATCH_COLUMNS).where(
                Lot.status == "active", Lot.family == spec.family, Lot.available_kg > 0
            )
        ).all()
    assert len(rows) == len(every.ids)
    bound = dict(zip(every.ids, every.cap.tolist(), strict=True))
    maybe = dict(zip(every.ids, every.maybe_eligible.tolist(), strict=True))
    in_candidates = set(cands.ids)
    for row in rows:
        result = scoring.evaluate(spec, lot_facts(row))
        assert bound[row.id] >= result.score, (row.id, bound[row.id], result.score)
        if result.eligible:
            assert row.id in in_candidates
            assert maybe[row.id]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=specs())
def test_short_filters_equal_the_general_form(db, pool, body) -> None:  # type: ignore[no-untyped-def]
    """The scan filters with short forms (lookup tables, one comparison): on every row of
    the snapshot, range or index rows, they block exactly the rows the general outcome does."""
    spec = _build(body)
    with db.transaction(write=False) as s:
        ix = index.index_for(s)
        ix.refreshed_generation(s)
    every = np.arange(ix.n, dtype=np.int64)
    shared: dict[str, Any] = {}
    checked = 0
    for crit in spec.criteria:
        if not crit.hard:
            continue
        ev = index._Evaluator(ix, spec, crit, shared)
        for rows in (every, slice(0, ix.n)):
            short = ev.nonblocking(rows)
            if short is None:
                continue
            general = index._nonblocking(crit, ev.outcome(rows))
            want = np.broadcast_to(general, (ix.n,))
            assert np.array_equal(np.broadcast_to(short, (ix.n,)), want), crit.name
            checked += 1
    assume(checked)


def test_bounds_are_exact_where_the_columns_hold_everything(db, pool) -> None:  # type: ignore[no-untyped-def]
    """For a spec whose criteria are all denormalised (polymer, DQL, MFR window with
    conditions, density, ash, quantity, distance, landed price), the upper bound equals the
    exact score, also for lots whose measurements carry a standard deviation: so a new spec
    scores about K lots exactly, not hundreds (benchmarks/matching)."""
    spec = _build(FIXED_SPECS["bench_like"])
    with db.transaction(write=False) as s:
        ix = index.index_for(s)
        every = ix.scan(s, spec, eligible_only=False, skip_quantity=False)
        rows = {
            r.id: r for r in s.execute(select(*MATCH_COLUMNS).where(Lot.id.in_(list(every.ids))))
        }
    with_sd = 0
    for lot_id, cap in zip(every.ids, every.cap.tolist(), strict=True):
        facts = lot_facts(rows[lot_id])
        result = scoring.evaluate(spec, facts)
        assert result.score <= cap <= result.score + 1e-6, (lot_id, cap, result.score)
        with_sd += any(m.sd for m in facts.measurements.values())
    assert with_sd >= 10, "the pool should hold lots with a standard deviation"


@settings(max_examples=300, deadline=None)
@given(
    origin=st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
    points=st.lists(st.tuples(st.floats(-90, 90), st.floats(-180, 180)), min_size=1),
    near=st.floats(0, 1e-3),
)
def test_chord_distance_is_a_tight_lower_bound_of_the_haversine(origin, points, near) -> None:  # type: ignore[no-untyped-def]
    """The scan's distances (unit vectors, no trigonometry per row) never exceed the exact
    scorer's haversine and stay within 1e-6 relative + 1 m of it (1 km near the antipode)."""
    points = [*points, (origin[0], origin[1] + near), (-origin[0], origin[1] + 180.0 - near)]
    lat = np.array([p[0] for p in points])
    lon = np.array([(p[1] + 180.0) % 360.0 - 180.0 for p in points])
    lb = index.distance_lb_km(*index._unit_vector(lat, lon), *origin)
    for d, la, lo in zip(lb.tolist(), lat.tolist(), lon.tolist(), strict=True):
        exact = haversine_km(origin[0], origin[1], la, lo)
        assert d <= exact
        assert exact - d <= 1e-6 * exact + (1.0 if exact > 19_000 else 1e-3)


def test_stored_match_facts_equal_the_facts_from_the_grade(db, pool) -> None:  # type: ignore[no-untyped-def]
    """Matching reads ``lots.match_facts`` (compact, written with the grade) instead of the
    grade and assessment: for every lot, both give the same facts."""
    with db.transaction(write=False) as s:
        lots = s.scalars(select(Lot)).all()
        assert all(lot.match_facts for lot in lots)
        with_measurements = 0
        for lot in lots:
            stored = lot_facts(lot)
            lot.match_facts = None  # (not flushed: the transaction is read-only)
            from_grade = lot_facts(lot)
            assert stored == from_grade, lot.id
            with_measurements += bool(stored.measurements)
        s.expunge_all()
    assert with_measurements > 100


FIXED_SPECS: dict[str, dict[str, Any]] = {
    # only multi-lot proposals can cover the quantity
    "proposals": {
        "family": "plastic_recyclate",
        "polymers": {"values": ["PP"]},
        "quantity": {"min": {"value": 30, "unit": "t"}},
        "delivery_location": {
            "country": "ES",
            "latitude": 40.4,
            "longitude": -3.7,
            "max_distance_km": 250,
        },
    },
    # every eligible lot scores 1.0: ties broken by distance, then by id
    "ties": {"family": "plastic_recyclate"},
    "ties_distance": {
        "family": "plastic_recyclate",
        "delivery_location": {"country": "DE", "latitude": 50.0, "longitude": 9.0, "hard": False},
    },
    "bench_like": {
        "family": "plastic_recyclate",
        "polymers": {"values": ["PP"], "include_subtypes": True},
        "min_dql": {"min": 2},
        "properties": [
            {
                "property": "Viscosity",
                "unit": "g/10min",
                "min": 4,
                "max": 30,
                "target": 12,
                "conditions": dict(MFR_230),
                "weight": 3,
            },
            {
                "property": "Density",
                "unit": "kg/m3",
                "max": 960,
                "hard": False,
                "if_missing": "zero",
            },
            {"property": "AshContent", "unit": "%", "max": 5, "hard": False, "if_missing": "zero"},
        ],
        "quantity": {"min": {"value": 5, "unit": "t"}},
        "delivery_location": {
            "country": "DE",
            "latitude": 48.78,
            "longitude": 9.18,
            "max_distance_km": 400,
        },
        "max_price": {
            "amount": "900.00",
            "currency": "EUR",
            "basis": "landed",
            "hard": False,
            "weight": 2,
        },
    },
}


@pytest.mark.parametrize("name", sorted(FIXED_SPECS))
@pytest.mark.parametrize("ineligible", [False, True])
def test_fast_path_equals_exact_on_fixed_specs(db, pool, name, ineligible) -> None:  # type: ignore[no-untyped-def]
    if name == "proposals":  # six lots of 8-14 t around Madrid: no single one has 30 t
        principal = Principal(pool_org(db), "recycler", "test", "api_key", frozenset())
        with db.transaction() as s:
            for i, (tonnes, lat) in enumerate(
                [(8, 40.1), (14, 40.6), (9, 41.0), (12, 39.9), (10, 40.45), (11, 40.2)]
            ):
                body = lot(quantity={"value": tonnes, "unit": "t"})
                body["location"] = {"country": "ES", "latitude": lat, "longitude": -3.5 - i / 10}
                s.add(lot_service.build_lot(s, principal, LotCreate.model_validate(body), now=NOW))
    spec = _build(FIXED_SPECS[name])
    with db.transaction(write=False) as s:
        for limit in (1, 7, 50):
            fast = service.match(s, spec, limit=limit, include_ineligible=ineligible)
            exact = service.match_exact(s, spec, limit=limit, include_ineligible=ineligible)
            assert _shown(fast, spec) == _shown(exact, spec)
    if name.startswith("proposals"):
        assert exact.proposals, "the pool should need a multi-lot proposal here"
    else:
        assert exact.results


@pytest.mark.parametrize("name", ["bench_like", "proposals", "ties_distance"])
def test_response_document_equals_the_models(db, pool, name) -> None:  # type: ignore[no-untyped-def]
    """The router encodes plain data (fast); it must equal what the response models give."""
    spec = _build(FIXED_SPECS[name])
    with db.transaction(write=False) as s:
        out = service.match(s, spec, limit=50, include_ineligible=True)
    fast = matches_dict("req_x", out.candidates, out.results, out.proposals, spec)
    models = MatchesOut(
        requirement_id="req_x",
        k_sigma=scoring.K_SIGMA,
        candidates=out.candidates,
        data=[present_match(r, spec) for r in out.results],
        proposals=[present_proposal(p) for p in out.proposals],
    )
    assert to_json(fast) == models.model_dump_json().encode()
    # the bytes the router sends (orjson): the same as the models', byte for byte
    encoded = encode_json(fast)
    assert encoded == models.model_dump_json().encode()
    assert fast["data"]


def test_incremental_refresh_and_memoised_scans_stay_exact(db, pool) -> None:  # type: ignore[no-untyped-def]
    """Scans are memoised per spec and patched with the changed rows only: after random
    changes (status, quantity, DQL, position, polymer, new lots) they still equal the
    reference path."""
    rng = random.Random(7)
    specs_ = [_build(FIXED_SPECS[n]) for n in ("bench_like", "ties_distance", "ties")]

    def same() -> None:
        with db.transaction(write=False) as s:
            for sp in specs_:
                for ineligible in (False, True):
                    fast = service.match(s, sp, limit=20, include_ineligible=ineligible)
                    exact = service.match_exact(s, sp, limit=20, include_ineligible=ineligible)
                    assert _shown(fast, sp) == _shown(exact, sp)

    same()
    for _ in range(3):
        with db.transaction() as s:
            for lot_id in rng.sample(pool, 40):
                row = s.get_one(Lot, lot_id)
                change = rng.choice(["status", "available", "dql", "position", "polymer"])
                if change == "status":
                    row.status = rng.choice(["active", "withdrawn", "sold_out"])
                elif change == "available":
                    row.available_kg = rng.choice([0.0, 500.0, 6000.0, 30000.0])
                elif change == "dql":
                    row.dql = rng.choice([0, 1, 2, 3, 4])
                elif change == "position":
                    row.latitude, row.longitude = rng.uniform(47, 55), rng.uniform(6, 15)
                else:
                    row.polymer = rng.choice(["PP", "PE-HD", "PET", None])
                row.updated_at = dt.datetime.now(dt.UTC)
            s.flush()
        same()


def test_scans_follow_lots_that_change_group(db, pool) -> None:  # type: ignore[no-untyped-def]
    """The build orders rows by (family, polymer, DQL) and a scan reads only the groups a
    hard polymer criterion and a hard minimum DQL allow: a lot whose DQL or polymer changes
    after the build is still found, and one that drops out is not offered, exactly as the
    reference path decides (memoised scans and scans of the groups alike)."""
    rng = random.Random(11)
    spec = _build({k: v for k, v in FIXED_SPECS["bench_like"].items() if k != "delivery_location"})
    blocker = {type(c): c.name for c in spec.criteria}
    dql_name = blocker[scoring.DqlCriterion]
    polymer_name = blocker[scoring.PolymerCriterion]

    def verdicts() -> dict[str, list[str]]:
        """Lot id -> the criteria it fails (exact), checked against both kinds of scan."""
        with db.transaction(write=False) as s:
            ix = index.index_for(s)
            memoised = set(ix.scan(s, spec, eligible_only=True, skip_quantity=False).ids)
            ix._scans.clear()  # a scan of the groups (the first cut), not a patched memo
            fresh = set(ix.scan(s, spec, eligible_only=True, skip_quantity=False).ids)
            rows = s.execute(select(*MATCH_COLUMNS).where(Lot.status == "active")).all()
        out = {}
        for row in rows:
            result = scoring.evaluate(spec, lot_facts(row))
            if result.eligible:
                assert row.id in memoised, row.id
                assert row.id in fresh, row.id
            out[row.id] = result.failed
        return out

    before = verdicts()
    # lots the build put in a group the scan skips, that become eligible by one change
    raise_dql = [i for i, f in before.items() if f == [dql_name]]
    set_polymer = [i for i, f in before.items() if f == [polymer_name]]
    drop = rng.sample([i for i, f in before.items() if not f], 3)
    assert raise_dql, "the pool should hold lots that fail on their DQL only"
    with db.transaction() as s:
        for lot_id in raise_dql + set_polymer + drop:
            row = s.get_one(Lot, lot_id)
            if lot_id in drop:
                row.dql = 1
            elif lot_id in raise_dql:
                row.dql = 4
            else:
                row.polymer = "PP"
            row.updated_at = dt.datetime.now(dt.UTC)
    after = verdicts()
    assert all(not after[i] for i in raise_dql + set_polymer)
    assert all(after[i] == [dql_name] for i in drop)


def _snapshot_facts_equal_database_facts(db: Any) -> int:
    """For every active lot: the snapshot's facts at the row's version equal ``lot_facts`` of
    the database row, and an older version gives None. Returns the number of lots."""
    with db.transaction(write=False) as s:
        ix = index.index_for(s)
        ix.refreshed_generation(s)
        held = index.SnapshotRows(ix)
        rows = s.execute(select(*MATCH_COLUMNS, Lot.version).where(Lot.status == "active")).all()
        for r in rows:
            at = ix.row_of[r.id]
            assert held.facts(at, r.id, int(r.version)) == lot_facts(r), r.id
            assert held.facts(at, r.id, int(r.version) - 1) is None
    return len(rows)


def test_snapshot_facts_equal_the_database_facts(db, pool) -> None:  # type: ignore[no-untyped-def]
    """With ``match_facts_in_memory`` (the default) a match takes the exact facts of its lots
    from the snapshot: built, and after refreshes that change any of their sources, they equal
    the facts of the database row."""
    rng = random.Random(11)
    assert _snapshot_facts_equal_database_facts(db) > 150
    with db.transaction(write=False) as s:
        facts_texts = [t for t in s.scalars(select(Lot.match_facts)) if t]
    for _ in range(2):
        with db.transaction() as s:
            for lot_id in rng.sample(pool, 60):
                row = s.get_one(Lot, lot_id)
                change = rng.choice(
                    ["title", "certs", "facts", "price", "position", "from", "status", "org"]
                )
                if change == "title":
                    row.title = rng.choice(["PP schwarz, Ø 3 mm, Körnung", "PE-LD film, 12 t"])
                elif change == "certs":
                    row.certifications = rng.choice(
                        [
                            [],
                            [
                                {
                                    "scheme": "ISCC PLUS",
                                    "valid_from": "2026-01-01",
                                    "valid_until": "2027-06-30",
                                }
                            ],
                        ]
                    )
                elif change == "facts":
                    row.match_facts = rng.choice(facts_texts)
                elif change == "price":
                    row.price_per_t_minor = rng.choice([None, 45_050, 99_999])
                elif change == "position":
                    row.latitude, row.longitude = rng.uniform(47, 55), rng.uniform(6, 15)
                elif change == "from":
                    row.available_from = rng.choice([None, dt.date(2026, 9, 1)])
                elif change == "status":
                    row.status = "active"
                    row.available_kg = 1234.5
                else:
                    row.organization_id = pool_org(db)
                row.updated_at = dt.datetime.now(dt.UTC)
            s.flush()
        assert _snapshot_facts_equal_database_facts(db) > 150


@pytest.fixture
def facts_from_database():  # type: ignore[no-untyped-def]
    """Snapshots created in the test do not hold the facts (``match_facts_in_memory=false``)."""
    index.configure(facts_in_memory=False)
    index.reset()
    yield
    index.configure(facts_in_memory=True)
    index.reset()


def test_a_match_reads_no_facts_from_the_database_when_the_snapshot_holds_them(  # type: ignore[no-untyped-def]
    db, pool, monkeypatch
) -> None:
    monkeypatch.setattr(search, "facts_rows", _no_facts_read)
    spec = _build(FIXED_SPECS["bench_like"])
    with db.transaction(write=False) as s:
        fast = service.match(s, spec, limit=50, include_ineligible=True)
        exact = service.match_exact(s, spec, limit=50, include_ineligible=True)
    assert _shown(fast, spec) == _shown(exact, spec)
    assert exact.results


def _no_facts_read(*_: Any) -> Any:
    raise AssertionError("facts read from the database")


@pytest.mark.parametrize("name", ["bench_like", "proposals", "ties_distance"])
def test_fast_path_equals_exact_with_facts_read_from_the_database(  # type: ignore[no-untyped-def]
    db, pool, facts_from_database, monkeypatch, name
) -> None:
    reads = []
    real = search.facts_rows
    monkeypatch.setattr(search, "facts_rows", lambda *a: reads.append(1) or real(*a))
    spec = _build(FIXED_SPECS[name])
    with db.transaction(write=False) as s:
        for ineligible in (False, True):
            fast = service.match(s, spec, limit=20, include_ineligible=ineligible)
            exact = service.match_exact(s, spec, limit=20, include_ineligible=ineligible)
            assert _shown(fast, spec) == _shown(exact, spec)
    assert reads
