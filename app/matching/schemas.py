"""Match, proposal and demand responses (with the explanation per criterion)."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import Field
from pydantic_core import to_jsonable_python

from app.kit.schemas import ResponseSchema
from app.matching import scoring

Verdict = Literal["pass", "fail", "missing", "incomparable"]


class CriterionOut(ResponseSchema):
    criterion: str = Field(examples=["properties/0:Viscosity"])
    hard: bool
    weight: float
    verdict: Verdict
    lot_value: Any = Field(default=None, description="The lot's value (in the spec's unit)")
    requirement: Any = None
    score: float = Field(ge=0, le=1, description="This criterion's score in [0, 1]")
    contribution: float = Field(description="Its share of the overall score")
    counted: bool = Field(description="False when ignored (missing with if_missing=ignore)")
    blocking: bool = Field(description="True when it makes the lot ineligible")
    detail: str | None = None


class PriceOut(ResponseSchema):
    amount: str = Field(examples=["420.00"])
    currency: str
    per: Literal["t"] = "t"


class LandedCostOut(PriceOut):
    transport_eur_per_t_km: float
    distance_km: float | None


class MatchOut(ResponseSchema):
    lot_id: str
    seller_id: str
    title: str
    eligible: bool
    score: float = Field(ge=0, le=1)
    distance_km: float | None
    available_kg: float
    offered_kg: float = Field(description="min(available, the requirement's max quantity)")
    price: PriceOut | None
    landed_cost: LandedCostOut | None = Field(
        description="Price plus transport (EUR per t*km x distance); EUR-priced lots only"
    )
    failed: list[str] = Field(description="Criteria that make the lot ineligible")
    explanation: list[CriterionOut]


class ProposalLotOut(ResponseSchema):
    lot_id: str
    title: str
    allocated_kg: float
    available_kg: float
    distance_km: float | None
    score: float


class ProposalOut(ResponseSchema):
    lots: list[ProposalLotOut]
    total_kg: float
    score: float = Field(description="Allocation-weighted mean score of the lots")
    max_distance_km: float | None


class MatchesOut(ResponseSchema):
    requirement_id: str | None
    k_sigma: float = Field(description="Uncertainty factor: mean +- k*sd must fit the window")
    candidates: int = Field(
        description="Lots that passed the prefilter on the hard criteria (each could be eligible)"
    )
    data: list[MatchOut]
    proposals: list[ProposalOut] = Field(
        description="When no single lot has the minimum quantity: small sets that cover it"
    )


class MissingDataOut(ResponseSchema):
    criterion: str
    verdict: Verdict
    requirement: Any = None
    detail: str | None = None


class DemandOut(ResponseSchema):
    ref: str = Field(description="Anonymous reference (per lot and requirement)")
    eligible: bool
    score: float
    failed: list[str]
    missing_data: list[MissingDataOut] = Field(
        description="Data the lot does not give (or gives incomparably) that blocks it"
    )
    explanation: list[CriterionOut]


class DemandPage(ResponseSchema):
    lot_id: str
    data: list[DemandOut]


def _money(amount: float, currency: str) -> dict[str, Any]:
    return {"amount": f"{amount:.2f}", "currency": currency, "per": "t"}


def explanation(result: scoring.Result, *, redact: frozenset[str] = frozenset()) -> list[Any]:
    out = []
    for e in result.explanation:
        chk = e.check
        out.append(
            CriterionOut(
                criterion=chk.criterion,
                hard=e.hard,
                weight=e.weight,
                verdict=chk.verdict,
                lot_value=None if chk.criterion in redact else chk.lot_value,
                requirement=None if chk.criterion in redact else chk.requirement,
                score=round(chk.score, 6),
                contribution=round(e.contribution, 6),
                counted=e.counted,
                blocking=e.blocking,
                detail=chk.detail,
            )
        )
    return out


def present_match(result: scoring.Result, spec: scoring.Spec) -> MatchOut:
    lot = result.lot
    offered = lot.available_kg if spec.max_kg is None else min(lot.available_kg, spec.max_kg)
    landed = None
    if result.landed_per_t is not None:
        landed = LandedCostOut(
            **_money(result.landed_per_t, "EUR"),
            transport_eur_per_t_km=spec.transport_eur_per_t_km,
            distance_km=None if result.distance_km is None else round(result.distance_km, 1),
        )
    return MatchOut(
        lot_id=lot.id,
        seller_id=lot.organization_id,
        title=lot.title,
        eligible=result.eligible,
        score=round(result.score, 6),
        distance_km=None if result.distance_km is None else round(result.distance_km, 1),
        available_kg=lot.available_kg,
        offered_kg=offered,
        price=PriceOut(**_money(lot.price_per_t, lot.currency))
        if lot.price_per_t is not None and lot.currency
        else None,
        landed_cost=landed,
        failed=result.failed,
        explanation=explanation(result),
    )


def present_proposal(p: scoring.Proposal) -> ProposalOut:
    return ProposalOut(
        lots=[
            ProposalLotOut(
                lot_id=r.lot.id,
                title=r.lot.title,
                allocated_kg=a,
                available_kg=r.lot.available_kg,
                distance_km=None if r.distance_km is None else round(r.distance_km, 1),
                score=round(r.score, 6),
            )
            for r, a in zip(p.lots, p.allocations_kg, strict=True)
        ],
        total_kg=p.total_kg,
        score=round(p.score, 6),
        max_distance_km=None if p.max_distance_km is None else round(p.max_distance_km, 1),
    )


# What a seller must not learn about a buyer's requirement.
DEMAND_REDACTED = frozenset({"price", "distance"})


def present_demand(ref: str, result: scoring.Result) -> DemandOut:
    missing = [
        MissingDataOut(
            criterion=e.check.criterion,
            verdict=e.check.verdict,
            requirement=None if e.check.criterion in DEMAND_REDACTED else e.check.requirement,
            detail=e.check.detail,
        )
        for e in result.explanation
        if e.check.verdict in ("missing", "incomparable")
    ]
    return DemandOut(
        ref=ref,
        eligible=result.eligible,
        score=round(result.score, 6),
        failed=result.failed,
        missing_data=missing,
        explanation=explanation(result, redact=DEMAND_REDACTED),
    )


# --- fast path: the same JSON as the models above, without building them per criterion ------


def _explanation_dict(result: scoring.Result) -> list[dict[str, Any]]:
    # hard / counted / blocking are Python bools already (scoring.combine); a score of 0 or 1
    # (most criteria) needs no rounding
    out = []
    for e in result.explanation:
        c = e.check
        score = c.score
        part = e.contribution
        out.append(
            {
                "criterion": c.criterion,
                "hard": e.hard,
                "weight": float(e.weight),
                "verdict": c.verdict,
                "lot_value": c.lot_value,
                "requirement": c.requirement,
                "score": score if score == 1.0 or score == 0.0 else round(score, 6),
                "contribution": part if part == 0.0 else round(part, 6),
                "counted": e.counted,
                "blocking": e.blocking,
                "detail": c.detail,
            }
        )
    return out


def _km(d: float | None) -> float | None:
    return None if d is None else round(d, 1)


def match_dict(result: scoring.Result, spec: scoring.Spec) -> dict[str, Any]:
    """``present_match(result, spec).model_dump(mode="json")``, about 5x faster (tested)."""
    lot = result.lot
    avail = float(lot.available_kg)
    landed = None
    if result.landed_per_t is not None:
        landed = {
            **_money(result.landed_per_t, "EUR"),
            "transport_eur_per_t_km": float(spec.transport_eur_per_t_km),
            "distance_km": _km(result.distance_km),
        }
    return {
        "lot_id": lot.id,
        "seller_id": lot.organization_id,
        "title": lot.title,
        "eligible": bool(result.eligible),
        "score": round(result.score, 6),
        "distance_km": _km(result.distance_km),
        "available_kg": avail,
        "offered_kg": float(avail if spec.max_kg is None else min(avail, spec.max_kg)),
        "price": _money(lot.price_per_t, lot.currency)
        if lot.price_per_t is not None and lot.currency
        else None,
        "landed_cost": landed,
        "failed": result.failed,
        "explanation": _explanation_dict(result),
    }


def matches_dict(
    requirement_id: str | None,
    candidates: int,
    results: list[scoring.Result],
    proposals: list[scoring.Proposal],
    spec: scoring.Spec,
) -> dict[str, Any]:
    """The ``MatchesOut`` document as plain JSON data."""
    return {
        "requirement_id": requirement_id,
        "k_sigma": float(scoring.K_SIGMA),
        "candidates": int(candidates),
        "data": [match_dict(r, spec) for r in results],
        "proposals": [present_proposal(p).model_dump(mode="json") for p in proposals],
    }


def encode_json(doc: dict[str, Any]) -> bytes:
    """A response document (``matches_dict``) as JSON bytes, as the router sends it. orjson
    encodes the 50-result match document in about a third of the time of
    ``pydantic_core.to_json`` (0.23 against 0.82 ms at 1M lots); the bytes are the same as the
    response models' (tested). A value orjson does not know (none today) goes through
    pydantic's encoder rather than failing."""
    return orjson.dumps(doc, default=to_jsonable_python)
