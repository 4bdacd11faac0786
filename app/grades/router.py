from __future__ import annotations

from fastapi import APIRouter

from app.auth.dependencies import LotsReader
from app.grades.schemas import AssessmentOut, GradeIn, assess_grade
from app.kit.problems import problem_responses
from app.kit.routing import TransactionalRoute

router = APIRouter(prefix="/v1/grades", tags=["grades"], route_class=TransactionalRoute)


@router.post(
    "/assess",
    response_model=AssessmentOut,
    responses=problem_responses(400, 401, 403, 415, 422),
)
def assess(body: GradeIn, principal: LotsReader) -> AssessmentOut:
    """Run the DQL classifier on a grade without creating a lot: see what a lab test would
    gain before paying for it. Returns the level reached, whether a claim exceeds it, and
    exactly which fields are missing or invalid for the next level."""
    return assess_grade(body)
