"""Matching: requirement -> ranked lots, lot -> open demand, saved-search events.

Flow of a match request (:func:`match`; details in ``app.matching.index`` and ``.search``):

1. The worker's columnar snapshot of the active lots is refreshed incrementally (lots changed
   since the previous request, by ``updated_at``).
2. A vectorised filter on the hard criteria (never stricter than the exact scorer) and an
   upper bound of each lot's score; memoised per spec and patched with the changed rows.
3. Exact scoring with the pure ``app.matching.scoring`` in bound order, only until no other lot
   can enter the top K; multi-lot proposals when no single eligible lot has the quantity.
4. The lots shown are re-read in the request's transaction: a lot withdrawn or reserved a
   moment ago (by any worker) is never offered; a changed quantity is re-scored.

:func:`match_exact` is the reference (SQL prefilter + every candidate scored): the tests and the
benchmark check that both return the same lots, order, scores and explanations.

Never commits; never imports a router.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from app.grades import units
from app.grades.methods import method_key
from app.grades.validation import polymer_vocab
from app.kit.db import Database, utcnow
from app.lots.models import Lot, LotStatus
from app.matching import index, scoring
from app.matching.facts import lot_facts, property_dimension
from app.matching.index import MATCH_COLUMNS, index_for
from app.matching.search import TopK, current_state, precompile
from app.requirements.models import (
    Requirement,
    RequirementEvent,
    RequirementHit,
    RequirementStatus,
)
from app.requirements.schemas import RequirementSpec
from app.requirements.service import stored_spec
from app.settings import get_settings

EVENT_MATCHED = "requirement.matched"


def _values(
    name: str, attr: scoring.LotAttribute, values: Sequence[str], r: dict[str, Any]
) -> scoring.Criterion:
    return scoring.ValuesCriterion(name=name, attribute=attr, values=tuple(values), **r)


# --- spec -> scoring.Spec -------------------------------------------------------------------------


def build_spec(
    spec: RequirementSpec, *, transport_eur_per_t_km: float, today: dt.date
) -> scoring.Spec:
    """Turn a validated spec into the pure scoring model (units normalised to canonical)."""
    c: list[scoring.Criterion] = [scoring.FamilyCriterion(name="family", family=spec.family)]

    def rules(r: Any) -> dict[str, Any]:
        return {"hard": r.hard, "weight": r.weight, "if_missing": r.if_missing}

    if spec.polymers:
        c.append(
            scoring.PolymerCriterion(
                name="polymer",
                values=tuple(spec.polymers.values),
                include_subtypes=spec.polymers.include_subtypes,
                **rules(spec.polymers),
            )
        )
    if spec.forms:
        c.append(_values("form", "form", spec.forms.values, rules(spec.forms)))
    if spec.colors:
        c.append(_values("color", "color", spec.colors.values, rules(spec.colors)))
    if spec.sources:
        c.append(_values("source", "source", spec.sources.values, rules(spec.sources)))
    if spec.min_dql:
        c.append(scoring.DqlCriterion(name="dql", minimum=spec.min_dql.min, **rules(spec.min_dql)))
    for i, w in enumerate(spec.properties):
        dim = property_dimension(w.property, w.quantity)
        assert dim is not None
        canonical = units.canonical_unit(dim)
        offset = units.convert(0.0, w.unit, canonical)
        scale = units.convert(1.0, w.unit, canonical) - offset

        def canon(v: float | None) -> float | None:
            return None if v is None else v * scale + offset  # noqa: B023

        keys = tuple(k for k in (method_key(m) for m in w.methods) if k is not None)
        c.append(
            scoring.WindowCriterion(
                name=f"properties/{i}:{w.property}",
                prop=w.property,
                dimension=dim,
                canonical_unit=canonical,
                unit=w.unit,
                scale=scale,
                offset=offset,
                minimum=canon(w.min),
                maximum=canon(w.max),
                target=canon(w.target),
                quantity=w.quantity,
                methods=keys,
                method_names=tuple(w.methods),
                conditions=tuple(sorted(w.conditions.items())),
                **rules(w),
            )
        )
    delivery_day = (
        spec.delivery_window.start if spec.delivery_window and spec.delivery_window.start else today
    )
    if spec.certifications:
        c.append(
            scoring.CertificationCriterion(
                name="certifications",
                schemes=tuple(spec.certifications.schemes),
                on=spec.certifications.valid_on or delivery_day,
                mode=spec.certifications.mode,
                **rules(spec.certifications),
            )
        )
    if spec.food_contact:
        c.append(
            scoring.ValuesCriterion(
                name="food_contact",
                attribute="food_contact",
                values=tuple(spec.food_contact.statuses),
                **rules(spec.food_contact),
            )
        )
    if spec.reach_declaration:
        c.append(scoring.ReachCriterion(name="reach_declaration", **rules(spec.reach_declaration)))
    if spec.end_of_waste:
        c.append(
            scoring.ValuesCriterion(
                name="end_of_waste",
                attribute="end_of_waste_status",
                values=tuple(spec.end_of_waste.statuses),
                **rules(spec.end_of_waste),
            )
        )
    min_kg = max_kg = None
    if spec.quantity:
        min_kg = spec.quantity.min.kg if spec.quantity.min else None
        max_kg = spec.quantity.max.kg if spec.quantity.max else None
        c.append(
            scoring.QuantityCriterion(
                name="quantity", min_kg=min_kg, max_kg=max_kg, **rules(spec.quantity)
            )
        )
    if spec.delivery_window:
        c.append(
            scoring.DeliveryWindowCriterion(
                name="delivery_window",
                start=spec.delivery_window.start,
                end=spec.delivery_window.end,
                **rules(spec.delivery_window),
            )
        )
    origin = None
    loc = spec.delivery_location
    if loc is not None and loc.latitude is not None and loc.longitude is not None:
        origin = (loc.latitude, loc.longitude)
        c.append(
            scoring.DistanceCriterion(
                name="distance",
                latitude=loc.latitude,
                longitude=loc.longitude,
                max_km=loc.max_distance_km,
                **rules(loc),
            )
        )
    if spec.max_price:
        c.append(
            scoring.PriceCriterion(
                name="price",
                max_per_t=float(Decimal(spec.max_price.amount)),
                currency=spec.max_price.currency,
                basis=spec.max_price.basis,
                **rules(spec.max_price),
            )
        )
    return scoring.Spec(
        family=spec.family,
        criteria=tuple(c),
        origin=origin,
        transport_eur_per_t_km=transport_eur_per_t_km,
        min_kg=min_kg,
        max_kg=max_kg,
    )


# --- candidate query ------------------------------------------------------------------------------


def _polymer_condition(values: Sequence[str], include_subtypes: bool) -> ColumnElement[bool]:
    vocab = polymer_vocab()
    raw: set[str] = set(values)
    for alias, code in vocab.aliases.items():
        if code in values or (include_subtypes and any(code.startswith(v + "-") for v in values)):
            raw.add(alias)
    conds: list[ColumnElement[bool]] = [Lot.polymer.in_(sorted(raw))]
    if include_subtypes:
        conds.extend(Lot.polymer.like(f"{v}-%") for v in values)
    return or_(*conds)


def _bbox(lat: float, lon: float, km: float) -> ColumnElement[bool]:
    dlat = km / 111.0 + 0.01
    coslat = math.cos(math.radians(min(89.0, abs(lat) + dlat)))
    dlon = 180.0 if coslat <= 1e-6 else min(180.0, km / (111.32 * coslat) + 0.01)
    cond = and_(Lot.latitude >= lat - dlat, Lot.latitude <= lat + dlat)
    if lon - dlon >= -180 and lon + dlon <= 180:
        return and_(cond, Lot.longitude >= lon - dlon, Lot.longitude <= lon + dlon)
    return cond  # the box wraps the antimeridian: latitude only (scoring checks exactly)


def _hard(crit: scoring.Criterion) -> bool:
    """A hard criterion whose missing value also fails: safe to prefilter on in SQL."""
    return crit.hard and crit.if_missing == "fail"


def candidate_conditions(
    spec: scoring.Spec, *, eligible_only: bool, with_quantity: bool
) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [
        Lot.status == LotStatus.ACTIVE.value,
        Lot.family == spec.family,
        Lot.available_kg > 0,
    ]
    if not eligible_only:
        return conds
    for crit in spec.criteria:
        if not _hard(crit):
            continue
        if isinstance(crit, scoring.PolymerCriterion):
            conds.append(_polymer_condition(crit.values, crit.include_subtypes))
        elif isinstance(crit, scoring.DqlCriterion) and crit.minimum > 0:
            conds.append(Lot.dql >= crit.minimum)
        elif isinstance(crit, scoring.DistanceCriterion) and crit.max_km is not None:
            conds.append(_bbox(crit.latitude, crit.longitude, crit.max_km))
        elif (
            isinstance(crit, scoring.QuantityCriterion)
            and with_quantity
            and crit.min_kg is not None
        ):
            conds.append(Lot.available_kg >= crit.min_kg)
    return conds


def load_candidates(
    session: Session, spec: scoring.Spec, *, eligible_only: bool, with_quantity: bool
) -> list[scoring.LotFacts]:
    """Every lot passing the SQL prefilter, as facts (the reference path; no cap)."""
    stmt = (
        select(*MATCH_COLUMNS)
        .where(
            *candidate_conditions(spec, eligible_only=eligible_only, with_quantity=with_quantity)
        )
        .order_by(Lot.id.desc())
    )
    return [lot_facts(row) for row in session.execute(stmt)]


# --- matching -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchOutcome:
    results: list[scoring.Result]
    proposals: list[scoring.Proposal]
    candidates: int


def _needs_quantity(spec: scoring.Spec) -> bool:
    q = next((c for c in spec.criteria if isinstance(c, scoring.QuantityCriterion)), None)
    return q is not None and q.hard and q.min_kg is not None


def match_exact(
    session: Session,
    spec: scoring.Spec,
    *,
    limit: int,
    include_ineligible: bool,
) -> MatchOutcome:
    """Reference implementation: SQL prefilter, then every candidate scored in Python.

    Slow at scale (about 1.6 ms per candidate); :func:`match` must return the same results.
    """
    lots = load_candidates(
        session, spec, eligible_only=not include_ineligible, with_quantity=not include_ineligible
    )
    results = [scoring.evaluate(spec, lot) for lot in lots]
    ranked = scoring.rank(results)
    eligible = [r for r in ranked if r.eligible]
    proposals: list[scoring.Proposal] = []
    if _needs_quantity(spec) and not eligible and spec.min_kg is not None:
        if not include_ineligible:
            more = load_candidates(session, spec, eligible_only=True, with_quantity=False)
            results = [scoring.evaluate(spec, lot) for lot in more]
            ranked = scoring.rank(results)
        short = [r for r in ranked if r.failed == ["quantity"]]
        proposals = scoring.propose(short, spec.min_kg)
    shown = ranked if include_ineligible else eligible
    return MatchOutcome(shown[:limit], proposals, len(results))


PROPOSAL_POOL = 16  # scoring.propose searches this many nearest lots


def match(
    session: Session,
    spec: scoring.Spec,
    *,
    limit: int,
    include_ineligible: bool,
) -> MatchOutcome:
    """Fast path: the same results as :func:`match_exact` (see ``app.matching.search``)."""
    if session.new or session.dirty or session.deleted:
        session.flush()  # the snapshot reads through the connection (no autoflush)
    ix = index_for(session)
    key = (spec, limit, include_ineligible)
    # The same question on the same snapshot generation has the same answer: reuse it once its
    # lots are re-checked in this transaction (the same check the search ends with).
    cached = ix.answer(key, ix.refreshed_generation(session))
    if isinstance(cached, MatchOutcome) and _still_valid(session, cached):
        return cached
    cands = ix.scan(
        session, spec, eligible_only=not include_ineligible, skip_quantity=False, refresh=False
    )
    ranked = TopK(session, ix, spec, cands).top(
        limit, mode="rank", accept=None if include_ineligible else _eligible
    )
    proposals: list[scoring.Proposal] = []
    if _needs_quantity(spec) and spec.min_kg is not None and not any(r.eligible for r in ranked):
        more = ix.scan(session, spec, eligible_only=True, skip_quantity=True, refresh=False)
        near = TopK(session, ix, spec, more).top(PROPOSAL_POOL, mode="near", accept=_short)
        proposals = scoring.propose(near, spec.min_kg, pool=PROPOSAL_POOL)
    outcome = MatchOutcome(ranked, proposals, len(cands.ids))
    ix.keep_answer(key, cands.generation, outcome)
    return outcome


def _still_valid(session: Session, outcome: MatchOutcome) -> bool:
    """Every lot of a memoised answer is still active with the quantity it was scored with."""
    lots = {r.lot.id: r.lot.available_kg for r in outcome.results}
    for p in outcome.proposals:
        lots.update((r.lot.id, r.lot.available_kg) for r in p.lots)
    if not lots:
        return True
    state = current_state(session, list(lots))
    return all(
        (now := state.get(lot_id)) is not None and now[0] == LotStatus.ACTIVE.value and now[1] == kg
        for lot_id, kg in lots.items()
    )


def _eligible(r: scoring.Result) -> bool:
    return r.eligible


def _short(r: scoring.Result) -> bool:
    return r.failed == ["quantity"] and r.lot.available_kg > 0


# --- reverse view: demand for a lot -------------------------------------------------------


@dataclass(frozen=True)
class Demand:
    ref: str
    requirement: Requirement
    result: scoring.Result


def demand_for_lot(
    session: Session, lot: Lot, *, transport_eur_per_t_km: float, max_blockers: int, limit: int
) -> list[Demand]:
    """Open requirements of other organisations that the lot meets, or misses by at most
    ``max_blockers`` criteria. The buyer stays anonymous (``ref`` is per lot and requirement)."""
    facts = lot_facts(lot)
    reqs = session.scalars(
        select(Requirement)
        .where(
            Requirement.status == RequirementStatus.OPEN.value,
            Requirement.family == lot.family,
            Requirement.organization_id != lot.organization_id,
        )
        .order_by(Requirement.id.desc())
        .limit(2000)
    )
    today = utcnow().date()
    out: list[Demand] = []
    for req in reqs:
        spec = build_spec(
            stored_spec(req), transport_eur_per_t_km=transport_eur_per_t_km, today=today
        )
        result = scoring.evaluate(spec, facts)
        if result.eligible or len(result.failed) <= max_blockers:
            ref = hashlib.blake2b(f"{req.id}:{lot.id}".encode(), digest_size=8).hexdigest()
            out.append(Demand(f"dem_{ref}", req, result))
    out.sort(key=lambda d: (not d.result.eligible, len(d.result.failed), -d.result.score, d.ref))
    return out[:limit]


# --- saved searches -----------------------------------------------------------------------


def on_lots_changed(
    session: Session, lots: Sequence[Lot], *, transport_eur_per_t_km: float | None = None
) -> int:
    """Saved-search hook, called by the lots service after a lot is created or updated.

    For every open saved-search requirement of the lots' families (other organisations only),
    evaluate the lot: when it matches now and did not before (or was never seen), record a
    ``requirement.matched`` event; when it no longer matches, remember that, so a later match
    is new again. Runs in the caller's transaction. Returns the number of events recorded."""
    if not lots:
        return 0
    families = sorted({lot.family for lot in lots})
    reqs = list(
        session.scalars(
            select(Requirement).where(
                Requirement.saved_search.is_(True),
                Requirement.status == RequirementStatus.OPEN.value,
                Requirement.family.in_(families),
            )
        )
    )
    if not reqs:
        return 0
    lot_ids = [lot.id for lot in lots]
    hits = {
        (h.requirement_id, h.lot_id): h
        for h in session.scalars(
            select(RequirementHit).where(
                RequirementHit.requirement_id.in_([r.id for r in reqs]),
                RequirementHit.lot_id.in_(lot_ids),
            )
        )
    }
    rate = (
        get_settings().transport_eur_per_t_km
        if transport_eur_per_t_km is None
        else transport_eur_per_t_km
    )
    now = utcnow()
    today = now.date()
    facts = {lot.id: lot_facts(lot) for lot in lots}
    recorded = 0
    for req in reqs:
        spec = build_spec(stored_spec(req), transport_eur_per_t_km=rate, today=today)
        for lot in lots:
            if lot.family != req.family or lot.organization_id == req.organization_id:
                continue
            result = scoring.evaluate(spec, facts[lot.id])
            matched = lot.status == LotStatus.ACTIVE.value and result.eligible
            hit = hits.get((req.id, lot.id))
            if matched and (hit is None or not hit.matched):
                session.add(
                    RequirementEvent(
                        requirement_id=req.id,
                        organization_id=req.organization_id,
                        type=EVENT_MATCHED,
                        lot_id=lot.id,
                        score=round(result.score, 6),
                        created_at=now,
                    )
                )
                recorded += 1
            if hit is None:
                if matched:
                    hits[(req.id, lot.id)] = RequirementHit(
                        requirement_id=req.id, lot_id=lot.id, matched=True, updated_at=now
                    )
                    session.add(hits[(req.id, lot.id)])
            elif hit.matched != matched:
                hit.matched = matched
                hit.updated_at = now
    session.flush()
    return recorded


def warm(database: Database) -> threading.Thread:
    """A worker's start-up, in the background: its matching snapshot, then the facts read's
    statement shapes (``search.precompile``)."""
    return index.warm(database, then=lambda session: precompile(session.get_bind().dialect))
