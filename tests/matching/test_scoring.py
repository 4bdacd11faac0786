"""The pure scoring module: each criterion type, the comparability gate, uncertainty, missing
values, and property-based monotonicity (hypothesis)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.matching import scoring
from app.matching.scoring import (
    K_SIGMA,
    Certificate,
    LotFacts,
    Measurement,
    Spec,
    WindowCriterion,
    evaluate,
    propose,
)

TODAY = dt.date(2026, 11, 22)
MFR = {"temperature_c": 190.0, "load_kg": 2.16}


def mfr(value: float, sd: float | None = None, **cond: float) -> Measurement:
    return Measurement(
        value=value,
        unit="g/10min",
        sd=sd,
        method="ISO 1133-1",
        conditions=cond or dict(MFR),
        quantity="MFR",
    )


def facts(**kw) -> LotFacts:
    base: dict = {
        "id": "lot_a",
        "family": "plastic_recyclate",
        "polymer": "PE-HD",
        "form": "regranulate",
        "color": "natural",
        "source": "post_consumer",
        "dql": 2,
        "available_kg": 20_000.0,
        "latitude": 51.43,
        "longitude": 6.76,
        "price_per_t": 600.0,
        "currency": "EUR",
        "measurements": {"Viscosity": mfr(5.0)},
    }
    base.update(kw)
    return LotFacts(**base)


def window(**kw) -> WindowCriterion:
    base: dict = {
        "name": "mfr",
        "prop": "Viscosity",
        "dimension": "mass_flow_rate",
        "canonical_unit": "g/10min",
        "unit": "g/10min",
        "minimum": 2.0,
        "maximum": 8.0,
        "target": 5.0,
        "quantity": "MFR",
        "conditions": tuple(sorted(MFR.items())),
    }
    base.update(kw)
    return WindowCriterion(**base)


def spec(*criteria: scoring.Criterion, origin=None) -> Spec:
    return Spec(
        family="plastic_recyclate",
        criteria=(scoring.FamilyCriterion(name="family", family="plastic_recyclate"), *criteria),
        origin=origin,
    )


def verdict(result: scoring.Result, name: str) -> str:
    return next(e.check.verdict for e in result.explanation if e.check.criterion == name)


# --- criterion types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lot_polymer", "allowed", "subtypes", "expected"),
    [
        ("PE-HD", "PE", False, "fail"),
        ("PE-HD", "PE", True, "pass"),
        ("PE", "PE", False, "pass"),
        ("PE", "PE-HD", True, "fail"),
        ("PET", "PE", True, "fail"),
        (None, "PE", True, "missing"),
    ],
)
def test_polymer_compatibility_rule(lot_polymer, allowed, subtypes, expected):
    crit = scoring.PolymerCriterion(name="polymer", values=(allowed,), include_subtypes=subtypes)
    r = evaluate(spec(crit), facts(polymer=lot_polymer))
    assert verdict(r, "polymer") == expected
    assert r.eligible is (expected == "pass")


@pytest.mark.parametrize("attr", ["form", "color", "source", "end_of_waste_status"])
def test_value_lists(attr):
    crit = scoring.ValuesCriterion(name=attr, attribute=attr, values=("wanted",))
    assert evaluate(spec(crit), facts(**{attr: "wanted"})).eligible
    r = evaluate(spec(crit), facts(**{attr: "other"}))
    assert (r.eligible, r.failed) == (False, [attr])
    assert verdict(evaluate(spec(crit), facts(**{attr: None})), attr) == "missing"


def test_family_is_always_hard():
    r = evaluate(spec(), facts(family="paper"))
    assert not r.eligible
    assert r.failed == ["family"]


def test_min_dql():
    crit = scoring.DqlCriterion(name="dql", minimum=3)
    assert not evaluate(spec(crit), facts(dql=2)).eligible
    assert evaluate(spec(crit), facts(dql=3)).eligible


def test_quantity_min_and_offer():
    crit = scoring.QuantityCriterion(name="quantity", min_kg=25_000.0)
    r = evaluate(spec(crit), facts(available_kg=20_000.0))
    assert r.failed == ["quantity"]
    assert r.explanation[-1].check.score == pytest.approx(0.8)
    assert evaluate(spec(crit), facts(available_kg=25_000.0)).eligible


def test_certifications_valid_on_delivery_date():
    cert = Certificate("EN 15343", dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    crit = scoring.CertificationCriterion(
        name="certs", schemes=("EN 15343",), on=dt.date(2026, 12, 1)
    )
    assert evaluate(spec(crit), facts(certifications=(cert,))).eligible
    late = dataclasses.replace(crit, on=dt.date(2027, 1, 15))
    r = evaluate(spec(late), facts(certifications=(cert,)))
    assert r.failed == ["certs"]
    assert verdict(evaluate(spec(crit), facts(certifications=None)), "certs") == "missing"
    both = dataclasses.replace(crit, schemes=("EN 15343", "RecyClass"))
    assert not evaluate(spec(both), facts(certifications=(cert,))).eligible
    anyof = dataclasses.replace(both, mode="any")
    assert evaluate(spec(anyof), facts(certifications=(cert,))).eligible


def test_compliance_flags():
    food = scoring.ValuesCriterion(
        name="food", attribute="food_contact", values=("authorised_process",)
    )
    reach = scoring.ReachCriterion(name="reach")
    ok = facts(food_contact="authorised_process", reach_declaration=True)
    assert evaluate(spec(food, reach), ok).eligible
    r = evaluate(spec(food, reach), facts(food_contact="not_for_food_contact"))
    assert r.failed == ["food", "reach"]
    assert verdict(r, "reach") == "missing"
    assert verdict(evaluate(spec(reach), facts(reach_declaration=False)), "reach") == "fail"


def test_delivery_window():
    crit = scoring.DeliveryWindowCriterion(name="when", end=dt.date(2026, 12, 31))
    assert evaluate(spec(crit), facts(available_from=None)).eligible
    assert evaluate(spec(crit), facts(available_from=dt.date(2026, 12, 31))).eligible
    assert not evaluate(spec(crit), facts(available_from=dt.date(2027, 1, 2))).eligible


def test_distance_and_landed_cost():
    # Duisburg -> Stuttgart is about 330 km as the crow flies.
    crit = scoring.DistanceCriterion(name="distance", latitude=48.78, longitude=9.18, max_km=300)
    s = Spec(
        family="plastic_recyclate",
        criteria=(crit,),
        origin=(48.78, 9.18),
        transport_eur_per_t_km=0.1,
    )
    r = evaluate(s, facts())
    assert 300 < r.distance_km < 360
    assert r.failed == ["distance"]
    assert r.landed_per_t == pytest.approx(600.0 + 0.1 * r.distance_km)
    wider = dataclasses.replace(s, criteria=(dataclasses.replace(crit, max_km=400),))
    assert evaluate(wider, facts()).eligible
    assert evaluate(s, facts(currency="USD")).landed_per_t is None


def test_price_ex_works_landed_and_currency():
    crit = scoring.PriceCriterion(name="price", max_per_t=620.0, currency="EUR")
    origin = (48.78, 9.18)
    assert evaluate(spec(crit, origin=origin), facts()).eligible
    landed = dataclasses.replace(crit, basis="landed")
    assert not evaluate(spec(landed, origin=origin), facts()).eligible  # + ~33 EUR transport
    r = evaluate(spec(crit), facts(currency="PLN"))
    assert verdict(r, "price") == "incomparable"
    assert not r.eligible
    assert verdict(evaluate(spec(crit), facts(price_per_t=None)), "price") == "missing"


# --- comparability gate -----------------------------------------------------------------------


def test_mfr_at_other_temperature_never_satisfies_the_window():
    lot = facts(measurements={"Viscosity": mfr(5.0, temperature_c=230.0, load_kg=2.16)})
    r = evaluate(spec(window()), lot)
    assert verdict(r, "mfr") == "incomparable"
    assert not r.eligible
    # even a soft window gives it no score
    soft = evaluate(spec(window(hard=False)), lot)
    assert soft.eligible
    assert soft.explanation[-1].contribution == 0.0


def test_method_gate_and_quantity_gate():
    from app.grades.methods import method_key

    only_astm = window(methods=(method_key("ASTM D1238"),), method_names=("ASTM D1238",))
    assert verdict(evaluate(spec(only_astm), facts()), "mfr") == "incomparable"
    iso_any_part = window(methods=(method_key("ISO 1133"),), method_names=("ISO 1133",))
    assert evaluate(spec(iso_any_part), facts()).eligible
    iv = Measurement(value=80.0, unit="mL/g", method="ISO 1628-5", quantity="IV")
    assert verdict(evaluate(spec(window()), facts(measurements={"Viscosity": iv})), "mfr") == (
        "incomparable"
    )


def test_missing_value_policies():
    lot = facts(measurements={})
    fail = evaluate(spec(window()), lot)
    assert (fail.eligible, verdict(fail, "mfr")) == (False, "missing")
    zero = evaluate(spec(window(if_missing="zero")), lot)
    assert zero.eligible
    assert zero.score == pytest.approx(0.5)  # family 1, window 0
    ignore = evaluate(spec(window(if_missing="ignore")), lot)
    assert ignore.eligible
    assert ignore.score == pytest.approx(1.0)
    assert not ignore.explanation[-1].counted


# --- uncertainty --------------------------------------------------------------------------------


def test_uncertainty_band_must_fit_the_window():
    # mean 7.5 inside [2, 8]; with sd 0.4 the band 7.5 + 2*0.4 = 8.3 leaves it
    assert K_SIGMA == 2.0
    crisp = evaluate(spec(window()), facts(measurements={"Viscosity": mfr(7.5)}))
    drifty = evaluate(spec(window()), facts(measurements={"Viscosity": mfr(7.5, sd=0.4)}))
    assert crisp.eligible
    assert not drifty.eligible
    assert "sd" in (drifty.explanation[-1].check.detail or "")
    # as a soft criterion the drifting lot stays but ranks lower
    soft = window(hard=False)
    a = evaluate(spec(soft), facts(id="a", measurements={"Viscosity": mfr(6.0)}))
    b = evaluate(spec(soft), facts(id="b", measurements={"Viscosity": mfr(6.0, sd=0.5)}))
    assert a.score > b.score
    assert [r.lot.id for r in scoring.rank([b, a])] == ["a", "b"]


# --- proposals ----------------------------------------------------------------------------------


def test_proposals_fewest_lots_then_closest():
    q = scoring.QuantityCriterion(name="quantity", min_kg=30_000.0)
    origin = (51.43, 6.76)
    s = Spec(
        family="plastic_recyclate",
        criteria=(q, scoring.DistanceCriterion(name="distance", latitude=51.43, longitude=6.76)),
        origin=origin,
    )
    lots = [
        facts(id="near_small", available_kg=10_000.0, latitude=51.45, longitude=6.8),
        facts(id="near_mid", available_kg=18_000.0, latitude=51.5, longitude=6.9),
        facts(id="far_big", available_kg=25_000.0, latitude=53.5, longitude=10.0),
        facts(id="mid_mid", available_kg=15_000.0, latitude=52.0, longitude=7.5),
    ]
    results = [evaluate(s, lot) for lot in lots]
    assert not any(r.eligible for r in results)
    props = propose(results, 30_000.0)
    assert props
    best = props[0]
    assert len(best.lots) == 2
    assert {r.lot.id for r in best.lots} == {"near_mid", "mid_mid"}  # nearest pair that covers
    assert best.total_kg == pytest.approx(30_000.0)
    assert all(len(p.lots) == 2 for p in props)
    assert propose(results, 100_000.0) == []  # 68 t available in all


# --- properties (hypothesis) --------------------------------------------------------------------

finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
sds = st.one_of(st.none(), st.floats(min_value=0, max_value=100, allow_nan=False))


@st.composite
def windows(draw):
    a, b = sorted([draw(finite) + 0.0, draw(finite) + 0.0])  # + 0.0: no -0.0 (empty range)
    t = draw(st.floats(min_value=a, max_value=b, allow_nan=False))
    has_min, has_max = draw(st.booleans()), draw(st.booleans())
    return window(
        minimum=a if has_min else None,
        maximum=b if has_max else None,
        target=t if draw(st.booleans()) or not (has_min or has_max) else None,
        hard=draw(st.booleans()),
        weight=draw(st.floats(min_value=0, max_value=10)),
    )


@settings(max_examples=300, deadline=None)
@given(w=windows(), v=finite, sd=sds, step=st.floats(min_value=0, max_value=1))
def test_moving_toward_the_target_never_lowers_the_score(w, v, sd, step):
    if w.target is None:
        w = dataclasses.replace(w, target=(w.minimum if w.minimum is not None else w.maximum))
    closer = v + (w.target - v) * step
    s = spec(w, scoring.DqlCriterion(name="dql", minimum=2, hard=False))
    before = evaluate(s, facts(measurements={"Viscosity": mfr(v, sd)}))
    after = evaluate(s, facts(measurements={"Viscosity": mfr(closer, sd)}))
    assert after.score >= before.score - 1e-12
    assert 0.0 <= before.score <= 1.0


@settings(max_examples=300, deadline=None)
@given(w=windows(), v=finite, sd=sds, shrink=st.floats(min_value=0, max_value=1e3))
def test_tightening_a_window_never_adds_results(w, v, sd, shrink):
    w = dataclasses.replace(w, hard=True)
    tight = dataclasses.replace(
        w,
        minimum=None if w.minimum is None else w.minimum + shrink,
        maximum=None if w.maximum is None else w.maximum - shrink,
    )
    lot = facts(measurements={"Viscosity": mfr(v, sd)})
    if evaluate(spec(tight), lot).eligible:
        assert evaluate(spec(w), lot).eligible


lot_strategy = st.builds(
    facts,
    id=st.text("abcdef", min_size=1, max_size=4),
    polymer=st.sampled_from(["PE", "PE-HD", "PE-LD", "PP", None]),
    dql=st.integers(0, 4),
    available_kg=st.floats(min_value=0, max_value=1e6),
    latitude=st.floats(min_value=35, max_value=70),
    longitude=st.floats(min_value=-10, max_value=30),
    price_per_t=st.one_of(st.none(), st.floats(min_value=0, max_value=5000)),
)


@settings(max_examples=200, deadline=None)
@given(
    lots=st.lists(lot_strategy, max_size=8),
    min_dql=st.integers(0, 4),
    extra_dql=st.integers(0, 4),
    max_km=st.floats(min_value=1, max_value=3000),
    cut_km=st.floats(min_value=0, max_value=1),
    subtypes=st.booleans(),
    max_price=st.floats(min_value=1, max_value=5000),
)
def test_tightening_hard_constraints_never_adds_results(
    lots, min_dql, extra_dql, max_km, cut_km, subtypes, max_price
):
    def make(dql, km, sub, price):
        return Spec(
            family="plastic_recyclate",
            criteria=(
                scoring.PolymerCriterion(name="p", values=("PE",), include_subtypes=sub),
                scoring.DqlCriterion(name="dql", minimum=dql),
                scoring.DistanceCriterion(name="d", latitude=50.0, longitude=8.0, max_km=km),
                scoring.PriceCriterion(name="price", max_per_t=price, currency="EUR"),
            ),
            origin=(50.0, 8.0),
        )

    loose = make(min_dql, max_km, True, max_price)
    tight = make(
        min(4, min_dql + extra_dql), max(1e-3, max_km * (1 - cut_km)), subtypes, max_price * 0.9
    )
    loose_ids = {r.lot.id for r in (evaluate(loose, lot) for lot in lots) if r.eligible}
    tight_ids = {r.lot.id for r in (evaluate(tight, lot) for lot in lots) if r.eligible}
    assert tight_ids <= loose_ids
