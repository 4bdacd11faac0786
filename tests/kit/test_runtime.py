"""Worker start-up tuning (app.kit.runtime)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app.kit.runtime import tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restore_gc")
def test_tune_gc_raises_the_young_threshold_and_freezes_start_up_objects() -> None:
    _, gen1, gen2 = gc.get_threshold()
    gc.unfreeze()
    tune_gc(50_000)
    assert gc.get_threshold() == (50_000, gen1, gen2)
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restore_gc")
def test_tune_gc_zero_keeps_pythons_settings() -> None:
    gc.unfreeze()
    before = gc.get_threshold()
    tune_gc(0)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
