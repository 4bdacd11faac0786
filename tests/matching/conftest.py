"""Matching tests: a fresh in-process lot snapshot per test (each test rolls back its data)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.matching import index


@pytest.fixture(autouse=True)
def _fresh_lot_index() -> Iterator[None]:
    index.reset()
    yield
    index.reset()
