"""The per-worker cache of rendered list items (app/lots/summary.py ItemCache)."""

from __future__ import annotations

import orjson
import pytest

from app.lots.summary import ItemCache, ItemChangedError, render_item

STATIC = '{"id":"lot_a","title":"PP regrind"}'


UPDATED = "2026-11-22 10:00:00.250000"


def _row(lot_id: str, version: int) -> tuple:
    """A page row: the cache key (and, for some orders, a sort key)."""
    return (lot_id, version)


def _part(version: int, static: str = STATIC, available: float = 1000.0) -> tuple:
    """What the stored-part read gives for a lot."""
    return (version, static, "active", available, UPDATED)


def test_items_are_rendered_once_per_id_and_version():
    cache = ItemCache(100)
    calls: list[list[str]] = []

    def stored(ids):
        calls.append(ids)
        return {i: _part(1, STATIC.replace("lot_a", i)) for i in ids}

    first = cache.items([_row("lot_a", 1), _row("lot_b", 1)], stored)
    again = cache.items([_row("lot_b", 1), _row("lot_a", 1)], stored)
    assert calls == [["lot_a", "lot_b"]]  # the second page read nothing
    assert again == [first[1], first[0]]
    assert orjson.loads(first[0]) == {
        "id": "lot_a",
        "title": "PP regrind",
        "status": "active",
        "available_kg": 1000.0,
        "updated_at": "2026-11-22T10:00:00.250000Z",
        "version": 1,
    }
    assert first[0] == render_item(STATIC, "active", 1000.0, "2026-11-22 10:00:00.250000", 1)


def test_a_new_version_is_rendered_from_the_database_again():
    cache = ItemCache(100)
    cache.items([_row("lot_a", 1)], lambda ids: {"lot_a": _part(1)})
    moved = cache.items([_row("lot_a", 2)], lambda ids: {"lot_a": _part(2, available=600.0)})
    assert orjson.loads(moved[0])["available_kg"] == 600.0
    assert orjson.loads(moved[0])["version"] == 2


@pytest.mark.parametrize("found", [{}, {"lot_a": _part(3)}])
def test_a_lot_that_changed_between_the_two_reads_is_not_rendered(found):
    cache = ItemCache(100)
    with pytest.raises(ItemChangedError):
        cache.items([_row("lot_a", 2)], lambda ids: found)
    assert len(cache) == 0


def test_the_oldest_items_go_first_when_full():
    cache = ItemCache(3)
    for i in range(5):
        cache.items([_row(f"lot_{i}", 1)], lambda ids: {ids[0]: _part(1)})
    assert len(cache) == 3
    reads: list[list[str]] = []

    def stored(ids):
        reads.append(ids)
        return dict.fromkeys(ids, _part(1))

    cache.items([_row(f"lot_{i}", 1) for i in range(5)], stored)
    assert reads == [["lot_0", "lot_1"]]


def test_size_zero_keeps_nothing():
    cache = ItemCache(0)
    cache.items([_row("lot_a", 1)], lambda ids: {"lot_a": _part(1)})
    assert len(cache) == 0
