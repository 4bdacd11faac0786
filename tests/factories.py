"""Factories for request bodies used across API tests."""

from __future__ import annotations

import copy
from typing import Any

from app.grades.catalogue import get_catalogue


def grade_attributes(level: int, family: str = "plastic_recyclate") -> dict[str, Any]:
    """Valid attributes reaching exactly ``level`` (from the rule table's own examples)."""
    cat = get_catalogue(family, None, None)
    return {
        f.id_short: copy.deepcopy(f.raw["example"])
        for f in cat.fields
        if f.level is not None and f.level <= level
    }


def lot_body(**overrides: Any) -> dict[str, Any]:
    level = overrides.pop("level", 2)
    body: dict[str, Any] = {
        "title": "PP regrind natural, post-industrial",
        "family": "plastic_recyclate",
        "grade": {"attributes": grade_attributes(level)},
        "quantity": {"value": 24, "unit": "t"},
        "supply": {"type": "spot"},
        "location": {"country": "DE", "postcode": "47059"},
        "legal": {"waste_code": "150102", "basel_code": "B3011", "hs_code": "391590"},
        "asking_price": {"amount": "420.00", "currency": "EUR"},
        "price_floor": {"amount": "380.00", "currency": "EUR"},
        "internal_notes": "call Jana before accepting below 400",
        "certifications": [
            {
                "scheme": "EN 15343",
                "certificate_id": "EN15343-DE-0042",
                "valid_from": "2026-01-01",
                "valid_until": "2027-12-31",
            }
        ],
    }
    body.update(overrides)
    return body
