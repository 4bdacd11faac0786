"""Pure scoring of a lot against a requirement: plain dataclasses in, verdicts out.

No HTTP, no database. The service turns a stored requirement into a :class:`Spec` and a lot row
into :class:`LotFacts` (``app.matching.facts``); this module decides, per criterion, a verdict
and a score in [0, 1], and combines them.

Model
-----
* Every criterion has ``hard`` (a failure makes the lot ineligible), ``weight`` (>= 0) and
  ``if_missing`` (what a value the lot does not give means):

  - ``fail``: the criterion counts as failed (hard: ineligible; score 0 with its weight);
  - ``zero``: the lot stays eligible, the criterion scores 0 with its weight;
  - ``ignore``: the lot stays eligible, the criterion leaves the score (weight dropped).

* Verdicts: ``pass``, ``fail``, ``missing`` (the lot does not give the value), ``incomparable``
  (the lot gives it, but by another method, under other conditions, as another quantity or in
  another currency). An incomparable value is never compared: it follows ``if_missing`` like a
  missing one, so an MFR at 230 degC/2.16 kg never satisfies a window at 190 degC/2.16 kg.
* Numeric windows use the measurement uncertainty: with a standard deviation ``sd`` (given by
  the lot, or ``cv % x mean`` from its coefficient of variation) the value passes only when the
  whole band ``mean +- K_SIGMA * sd`` sits inside ``[min, max]``. ``K_SIGMA = 2`` (about 97.7 %
  of a normal distribution lies below mean + 2 sd). With a target, the window's score is
  ``1 - (|mean - target| + K_SIGMA * sd) / (2 * reach)`` clipped to [0, 1], where ``reach`` is the
  distance from the target to the farther bound; so a lot that is likely to drift ranks lower
  and moving a value toward the target never lowers the score. Without a target the score is 1
  when the band is inside and falls with the overshoot relative to the window width.
* The overall score is the weighted mean of the criterion scores (ignored criteria left out),
  so it lies in [0, 1]; ``contribution`` is each criterion's share of it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from app.geo import haversine_km
from app.grades.methods import MethodKey, method_key

__all__ = [
    "K_SIGMA",
    "Certificate",
    "Check",
    "Criterion",
    "LotFacts",
    "Measurement",
    "Result",
    "Spec",
    "evaluate",
]

K_SIGMA = 2.0
Verdict = Literal["pass", "fail", "missing", "incomparable"]
MissingPolicy = Literal["fail", "zero", "ignore"]
LotAttribute = Literal["form", "color", "source", "end_of_waste_status", "food_contact"]
_REL_TOL = 1e-6


# --- lot facts ----------------------------------------------------------------------------------


# _PER_LOT: Check, Context, Explained and Result are built for every lot scored (about 20 per
# lot), LotFacts, Measurement and Certificate for every lot loaded, so they are plain slotted
# dataclasses: building a frozen one costs 1.8 us against 0.24 (measured), most of the exact
# scoring time. Nothing mutates them once built (a changed quantity is a copy: replace()).


@dataclass(slots=True, kw_only=True)  # see _PER_LOT
class Measurement:
    """A lot's measured value in the canonical unit of its dimension."""

    value: float
    unit: str
    sd: float | None = None
    method: str | None = None
    conditions: Mapping[str, float | str] = field(default_factory=dict)
    quantity: str | None = None  # Viscosity: MFR | MVR | IV | VN


@dataclass(slots=True)  # see _PER_LOT
class Certificate:
    scheme: str
    valid_from: dt.date
    valid_until: dt.date


@dataclass(slots=True, kw_only=True)  # see _PER_LOT
class LotFacts:
    id: str
    family: str
    organization_id: str = ""
    title: str = ""
    polymer: str | None = None
    form: str | None = None
    color: str | None = None
    source: str | None = None
    dql: int = 0
    available_kg: float = 0.0
    latitude: float | None = None
    longitude: float | None = None
    price_per_t: float | None = None  # major units of ``currency``
    currency: str | None = None
    available_from: dt.date | None = None
    end_of_waste_status: str | None = None
    certifications: tuple[Certificate, ...] | None = None  # None: the lot declares none
    food_contact: str | None = None
    reach_declaration: bool | None = None
    measurements: Mapping[str, Measurement] = field(default_factory=dict)


# --- criteria -----------------------------------------------------------------------------------


@dataclass(slots=True)  # see _PER_LOT
class Check:
    """One criterion's outcome for one lot."""

    criterion: str
    verdict: Verdict
    score: float  # [0, 1]
    lot_value: Any = None
    requirement: Any = None
    detail: str | None = None


@dataclass(slots=True)  # see _PER_LOT
class Context:
    distance_km: float | None
    landed_per_t: float | None  # EUR per t incl. transport, when the lot prices in EUR


@dataclass(frozen=True, slots=True, kw_only=True)
class Criterion:
    name: str
    hard: bool = True
    weight: float = 1.0
    if_missing: MissingPolicy = "fail"
    # The requirement every check of this criterion shows: constant, so built once
    # (``_requirement``) and shared by the checks, which nothing mutates (hot path of matching:
    # a dict per criterion per lot was a sixth of the exact scoring).
    _req: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_req", self._requirement())

    def _requirement(self) -> Any:
        return None

    def check(self, lot: LotFacts, ctx: Context) -> Check:  # pragma: no cover - abstract
        raise NotImplementedError

    def _out(
        self,
        verdict: Verdict,
        score: float,
        lot_value: Any = None,
        requirement: Any = None,
        detail: str | None = None,
    ) -> Check:
        return Check(self.name, verdict, min(1.0, max(0.0, score)), lot_value, requirement, detail)


@dataclass(frozen=True, slots=True, kw_only=True)
class FamilyCriterion(Criterion):
    family: str

    def _requirement(self) -> Any:
        return self.family

    def check(self, lot: LotFacts, ctx: Context) -> Check:
        ok = lot.family == self.family
        return self._out("pass" if ok else "fail", float(ok), lot.family, self._req)


def polymer_compatible(lot_polymer: str, allowed: str, include_subtypes: bool) -> bool:
    """``PE`` admits ``PE`` and, only when asked, its subtypes ``PE-HD``, ``PE-LD``...; a
    subtype in the spec never admits the unqualified base polymer."""
    if lot_polymer == allowed:
        return True
    return include_subtypes and lot_polymer.startswith(allowed + "-")


@dataclass(frozen=True, slots=True, kw_only=True)
class PolymerCriterion(Criterion):
    values: tuple[str, ...]
    include_subtypes: bool = False

    def _requirement(self) -> Any:
        return {"values": list(self.values), "include_subtypes": self.include_subtypes}

    def check(self, lot: LotFacts, ctx: Context) -> Check:
        req = self._req
        if lot.polymer is None:
            return self._out("missing", 0.0, None, req)
        ok = any(polymer_compatible(lot.polymer, v, self.include_subtypes) for v in self.values)
        return self._out("pass" if ok else "fail", float(ok), lot.polymer, req)


@dataclass(frozen=True, slots=True, kw_only=True)
class ValuesCriterion(Criterion):
    attribute: LotAttribute
    values: tuple[str, ...]

    def _requirement(self) -> Any:
        return list(self.values)

    def check(self, lot: LotFacts, ctx: Context) -> Check:
        value = getattr(lot, self.attribute)
        req = self._req
        if value is None:
            return self._out("missing", 0.0, None, req)
        ok = value.lower() in {v.lower() for v in self.values}
        return self._out("pass" if ok else "fail", float(ok), value, req)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReachCriterion(Criterion):
    def check(self, lot: LotFacts, ctx: Context) -> Check:
        if lot.reach_declaration is None:
            return self._out("missing", 0.0, None, True)
        ok = lot.reach_declaration
        return self._out("pass" if ok else "fail", float(ok), ok, True)


@dataclass(frozen=True, slots=True, kw_only=True)
class DqlCriterion(Criterion):
    minimum: int

    def _requirement(self) -> Any:
        return {"min": self.minimum}

    def check(self, lot: LotFacts, ctx: Context) -> Check:
        ok = lot.dql >= self.minimum
        score = 1.0 if ok else lot.dql / self.minimum
        return self._out("pass" if ok else "fail", score, lot.dql, self._req)


@dataclass(frozen=True, slots=True, kw_only=True)
class QuantityCriterion(Criterion):
    min_kg: float | None = None
    max_kg: float | None = None

    def _requirement(self) -> Any:
        return {"min_kg": self.min_kg, "max_kg": self.max_kg}

    def check(self, lot: LotFacts, ctx: Context) -> Check:
        req = self._req
        if self.min_kg is None:
            return self._out("pass", 1.0, lot.available_kg, req)
        ok = lot.available_kg >= self.min_kg
        return self._out(
            "pass" if ok else "fail", lot.available_kg / self.min_kg, lot.available_kg, req
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryWindowCriterion(Criterion):
    start: dt.date | None = None
    end: dt.date | None = None

    def _requirement(self) -> Any:
        return {"start": _iso(self.start), "end": _iso(self.end)}

    def check(self, lot: LotFacts, ctx: Context) -> Check:
        req = self._req
        shown = _iso(lot.available_from) or "now"
        if self.end is None or lot.available_from is None or lot.available_from <= self.end:
            return self._out("pass", 1.0, shown, req)
        return self._out("fail", 0.0, shown, req, "available only after the delivery window")


@dataclass(frozen=True, slots=True, kw_only=True)
class DistanceCriterion(Criterion):
    latitude: float
    longitude: float
    max_km: float | None = None

    def _requirement(self) -> Any:
        return {"max_km": self.max_km}

    def check(self, lot: LotFacts, ctx: Context) -> Check:
        req = self._req
        d = ctx.distance_km
        if d is None:
            return self._out("missing", 0.0, None, req)
        shown = round(d, 1)
        if self.max_km is None:
            return self._out("pass", 1.0 / (1.0 + d / 500.0), shown, req)
        ok = d <= self.max_km
        return self._out("pass" if ok else "fail", 1.0 - d / (2.0 * self.max_km), shown, req)


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceCriterion(Criterion):
    max_per_t: float
    currency: str
    basis: Literal["ex_works", "landed"] = "ex_works"

    def _requirement(self) -> Any:
        return {"max": self.max_per_t, "currency": self.currency, "basis": self.basis}

    def check(self, lot: LotFacts, ctx: Context) -> Check:
        req = self._req
        if lot.price_per_t is None or lot.currency is None:
            return self._out("missing", 0.0, None, req)
        if lot.currency != self.currency:
            return self._out(
                "incomparable", 0.0, lot.currency, req, f"lot is priced in {lot.currency}"
            )
        value = lot.price_per_t
        if self.basis == "landed":
            if ctx.landed_per_t is None or self.currency != "EUR":
                return self._out("missing", 0.0, None, req, "no landed cost for this lot")
            value = ctx.landed_per_t
        ok = value <= self.max_per_t
        score = 1.0 - value / (2.0 * self.max_per_t) if self.max_per_t > 0 else float(ok)
        return self._out("pass" if ok else "fail", score, round(value, 2), req)


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificationCriterion(Criterion):
    schemes: tuple[str, ...]
    on: dt.date
    mode: Literal["all", "any"] = "all"

    def _requirement(self) -> Any:
        return {"schemes": list(self.schemes), "mode": self.mode, "valid_on": self.on.isoformat()}

    def check(self, lot: LotFacts, ctx: Context) -> Check:
        req = self._req
        if not lot.certifications:
            return self._out("missing", 0.0, None, req)
        held = sorted(
            {c.scheme for c in lot.certifications if c.valid_from <= self.on <= c.valid_until}
        )
        have = [s for s in self.schemes if s in held]
        ok = len(have) == len(self.schemes) if self.mode == "all" else bool(have)
        score = 1.0 if ok else len(have) / len(self.schemes)
        detail = None
        if not ok:
            lacking = [s for s in self.schemes if s not in held]
            detail = "not valid on the delivery date: " + ", ".join(lacking)
        return self._out("pass" if ok else "fail", score, held, req, detail)


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowCriterion(Criterion):
    """A numeric window on a measured property, in canonical units.

    ``unit`` is the spec's own unit; ``to_unit`` converts a canonical value to it for display.
    """

    prop: str
    dimension: str
    canonical_unit: str
    unit: str
    scale: float = 1.0  # spec unit = canonical / scale (linear units only)
    offset: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    target: float | None = None
    quantity: str | None = None
    methods: tuple[MethodKey, ...] = ()
    method_names: tuple[str, ...] = ()
    conditions: tuple[tuple[str, float | str], ...] = ()

    def _show(self, canonical: float) -> float:
        return round((canonical - self.offset) / self.scale, 6)

    def reach(self) -> float:
        """With a target: the distance from it at which the score falls to 0.5 (the farther
        window edge; ``|target|``, or 1, without one)."""
        t = self.target if self.target is not None else 0.0
        reach = max(
            t - self.minimum if self.minimum is not None else 0.0,
            self.maximum - t if self.maximum is not None else 0.0,
        )
        if reach <= 0:
            reach = abs(t) if t != 0 else 1.0
        return reach

    def width(self) -> float:
        """Without a target: how far outside the window the score falls to 0 (the window's
        width; ``|bound|``, or 1, for a one-sided window)."""
        if self.minimum is not None and self.maximum is not None:
            width = self.maximum - self.minimum
        else:
            bound = self.maximum if self.maximum is not None else self.minimum
            width = abs(bound) if bound else 1.0
        return width if width > 0 else 1.0

    def _requirement(self) -> Any:
        req: dict[str, Any] = {"unit": self.unit}
        for key, v in (("min", self.minimum), ("max", self.maximum), ("target", self.target)):
            if v is not None:
                req[key] = self._show(v)
        if self.quantity:
            req["quantity"] = self.quantity
        if self.method_names:
            req["methods"] = list(self.method_names)
        if self.conditions:
            req["conditions"] = dict(self.conditions)
        return req

    def check(self, lot: LotFacts, ctx: Context) -> Check:
        req = self._req
        m = lot.measurements.get(self.prop)
        if m is None:
            return self._out("missing", 0.0, None, req)
        shown: dict[str, Any] = {"value": self._show(m.value), "unit": self.unit}
        if m.sd is not None:
            shown["sd"] = round(m.sd / self.scale, 6)
        if m.method:
            shown["method"] = m.method
        if m.conditions:
            shown["conditions"] = dict(m.conditions)
        if m.quantity:
            shown["quantity"] = m.quantity
        why = self._incomparable(m)
        if why is not None:
            return self._out("incomparable", 0.0, shown, req, why)
        return self._score(m.value, m.sd or 0.0, shown, req)

    def _incomparable(self, m: Measurement) -> str | None:
        if self.quantity is not None and m.quantity != self.quantity:
            return f"lot gives {m.quantity or 'another quantity'}, the window is on {self.quantity}"
        if m.unit != self.canonical_unit:
            return "lot value is in another dimension"
        if self.methods:
            key = method_key(m.method) if m.method else None
            if key is None or not any(_method_ok(key, k) for k in self.methods):
                return f"method {m.method or 'not stated'} is not among the accepted methods"
        for name, wanted in self.conditions:
            have = m.conditions.get(name)
            if have is None:
                return f"condition {name} not stated by the lot"
            if not _same_condition(have, wanted):
                return f"{name} {have} differs from the required {wanted}"
        return None

    def _score(self, v: float, sd: float, shown: Any, req: Any) -> Check:
        lo, hi = v - K_SIGMA * sd, v + K_SIGMA * sd
        inside = (self.minimum is None or lo >= self.minimum) and (
            self.maximum is None or hi <= self.maximum
        )
        if self.target is not None:
            score = 1.0 - (abs(v - self.target) + K_SIGMA * sd) / (2.0 * self.reach())
        else:
            over = max(
                0.0,
                hi - self.maximum if self.maximum is not None else 0.0,
                self.minimum - lo if self.minimum is not None else 0.0,
            )
            score = 1.0 - over / self.width()
        detail = None
        if not inside:
            centre_in = (self.minimum is None or v >= self.minimum) and (
                self.maximum is None or v <= self.maximum
            )
            detail = (
                f"mean inside, but mean +- {K_SIGMA:g} sd leaves the window"
                if centre_in
                else "outside the window"
            )
        return self._out("pass" if inside else "fail", score, shown, req, detail)


def _method_ok(have: MethodKey, accepted: MethodKey) -> bool:
    # An accepted reference without a part (``ISO 1133``) admits every part (``ISO 1133-1``).
    return have == accepted or (accepted[2] is None and have[:2] == accepted[:2])


def _same_condition(have: float | str, wanted: float | str) -> bool:
    if isinstance(wanted, str) or isinstance(have, str):
        return str(have).strip().lower() == str(wanted).strip().lower()
    return math.isclose(float(have), float(wanted), rel_tol=1e-3, abs_tol=1e-9)


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d is not None else None


# --- spec and evaluation ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    family: str
    criteria: tuple[Criterion, ...]
    origin: tuple[float, float] | None = None
    transport_eur_per_t_km: float = 0.12
    min_kg: float | None = None
    max_kg: float | None = None


@dataclass(slots=True)  # see _PER_LOT
class Explained:
    check: Check
    hard: bool
    weight: float
    counted: bool  # False when ignored (missing/incomparable with if_missing=ignore)
    blocking: bool  # makes the lot ineligible
    contribution: float


@dataclass(slots=True)  # see _PER_LOT
class Result:
    lot: LotFacts
    eligible: bool
    score: float
    distance_km: float | None
    landed_per_t: float | None
    explanation: tuple[Explained, ...]

    @property
    def failed(self) -> list[str]:
        return [e.check.criterion for e in self.explanation if e.blocking]

    @property
    def blocked_only_by_missing_data(self) -> bool:
        blockers = [e for e in self.explanation if e.blocking]
        return bool(blockers) and all(
            e.check.verdict in ("missing", "incomparable") for e in blockers
        )


def distance_to(spec: Spec, lot: LotFacts) -> float | None:
    if spec.origin is None or lot.latitude is None or lot.longitude is None:
        return None
    return haversine_km(spec.origin[0], spec.origin[1], lot.latitude, lot.longitude)


def landed_cost(spec: Spec, lot: LotFacts, distance_km: float | None) -> float | None:
    """Price per tonne plus transport (rate in EUR per t*km); only for lots priced in EUR."""
    if lot.price_per_t is None or lot.currency != "EUR":
        return None
    return lot.price_per_t + spec.transport_eur_per_t_km * (distance_km or 0.0)


def evaluate(spec: Spec, lot: LotFacts, *, distance_km: float | None = None) -> Result:
    """Score one lot against a spec (``distance_km`` may be passed when already computed)."""
    d = distance_km if distance_km is not None else distance_to(spec, lot)
    ctx = Context(d, landed_cost(spec, lot, d))
    checks = [c.check(lot, ctx) for c in spec.criteria]
    return combine(spec.criteria, checks, lot, ctx)


def combine(
    criteria: Sequence[Criterion], checks: Sequence[Check], lot: LotFacts, ctx: Context
) -> Result:
    # (criterion, check, absent, counted, blocking) per criterion
    flags: list[tuple[Criterion, Check, bool, bool, bool]] = []
    total_w = 0.0
    eligible = True
    for crit, chk in zip(criteria, checks, strict=True):
        v = chk.verdict
        if v == "missing" or v == "incomparable":
            policy = crit.if_missing
            counted = policy != "ignore"
            blocking = policy == "fail" and crit.hard
            flags.append((crit, chk, True, counted, blocking))
        else:
            counted = True
            blocking = v == "fail" and crit.hard
            flags.append((crit, chk, False, True, blocking))
        if counted:
            total_w += crit.weight
        if blocking:
            eligible = False
    score_sum = 0.0
    explained: list[Explained] = []
    for crit, chk, absent, counted, blocking in flags:
        if counted and not absent and total_w > 0:
            part = crit.weight * chk.score / total_w
            score_sum += part
        else:
            part = 0.0
        explained.append(Explained(chk, crit.hard, crit.weight, counted, blocking, part))
    score = 1.0 if total_w <= 0 else min(1.0, max(0.0, score_sum))
    return Result(lot, eligible, score, ctx.distance_km, ctx.landed_per_t, tuple(explained))


def rank(results: Sequence[Result]) -> list[Result]:
    """Eligible first, then score, then distance (unknown last), then lot id (stable)."""
    return sorted(
        results,
        key=lambda r: (
            not r.eligible,
            -r.score,
            r.distance_km if r.distance_km is not None else math.inf,
            r.lot.id,
        ),
    )


# --- multi-lot proposals ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Proposal:
    lots: tuple[Result, ...]
    allocations_kg: tuple[float, ...]
    total_kg: float
    score: float  # allocation-weighted mean of the lots' scores
    max_distance_km: float | None


def propose(
    candidates: Sequence[Result],
    min_kg: float,
    *,
    max_lots: int = 4,
    pool: int = 16,
    limit: int = 3,
) -> list[Proposal]:
    """Small sets of lots that together cover ``min_kg``: fewest lots first, then nearest (the
    farthest lot of the set), then the higher combined score. ``candidates`` must already be
    eligible on every criterion but quantity. Searches the ``pool`` nearest candidates."""
    from itertools import combinations

    if min_kg <= 0:
        return []
    near = sorted(
        (c for c in candidates if c.lot.available_kg > 0),
        key=lambda r: (r.distance_km if r.distance_km is not None else math.inf, -r.score),
    )[:pool]
    if not near:
        return []
    by_size = sorted((c.lot.available_kg for c in near), reverse=True)
    k_min = None
    acc = 0.0
    for i, q in enumerate(by_size, start=1):
        acc += q
        if acc >= min_kg:
            k_min = i
            break
    if k_min is None or k_min > max_lots:
        return []
    found: list[Proposal] = []
    for combo in combinations(near, k_min):
        total = sum(r.lot.available_kg for r in combo)
        if total < min_kg:
            continue
        # Allocate nearest first; the last lot supplies the remainder.
        order = sorted(
            combo, key=lambda r: r.distance_km if r.distance_km is not None else math.inf
        )
        remaining = min_kg
        alloc: list[float] = []
        for r in order:
            take = min(r.lot.available_kg, remaining)
            alloc.append(take)
            remaining -= take
        used = [(r, a) for r, a in zip(order, alloc, strict=True) if a > 0]
        score = sum(r.score * a for r, a in used) / min_kg
        dists = [r.distance_km for r, _ in used if r.distance_km is not None]
        found.append(
            Proposal(
                tuple(r for r, _ in used),
                tuple(a for _, a in used),
                sum(a for _, a in used),
                min(1.0, score),
                max(dists) if dists else None,
            )
        )
    found.sort(
        key=lambda p: (
            len(p.lots),
            p.max_distance_km if p.max_distance_km is not None else math.inf,
            -p.score,
            [r.lot.id for r in p.lots],
        )
    )
    out: list[Proposal] = []
    seen: set[tuple[str, ...]] = set()
    for p in found:
        key = tuple(sorted(r.lot.id for r in p.lots))
        if key not in seen:
            seen.add(key)
            out.append(p)
        if len(out) >= limit:
            break
    return out
