from __future__ import annotations

import copy
from typing import Any

import pytest

from app.grades.catalogue import Catalogue, get_catalogue


def examples(cat: Catalogue, max_level: int | None = None) -> dict[str, Any]:
    """Valid attributes from the rule table's own examples, for fields up to max_level."""
    return {
        f.id_short: copy.deepcopy(f.raw["example"])
        for f in cat.fields
        if max_level is None or (f.level or 0) <= max_level
    }


@pytest.fixture(scope="session")
def plastic() -> Catalogue:
    return get_catalogue("plastic_recyclate", "EN 18065", "2025")
