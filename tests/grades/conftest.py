from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from app.grades.catalogue import Catalogue, get_catalogue

# The IDTA 02080 template lives in shared/ beside the repository (CI clones it there too).
_NAME = "IDTA_02080_Material_Data_for_Plastic_Waste_1-0.json"
TEMPLATE = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[3] / "shared" / "standards" / _NAME,
            Path("/work/shared/standards") / _NAME,
        )
        if p.exists()
    ),
    Path(__file__).resolve().parents[3] / "shared" / "standards" / _NAME,
)


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
