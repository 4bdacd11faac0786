"""The snapshot-validated cache of hot reads (app/kit/pagecache.py), without a database."""

from __future__ import annotations

import pytest

from app.kit import pagecache
from app.kit.pagecache import SnapshotCache


def test_a_value_is_served_only_under_the_snapshot_it_was_stored_with() -> None:
    cache: SnapshotCache[str] = SnapshotCache(4)
    assert cache.get("page", "10:12:10") is None
    cache.put("page", "10:12:10", "first")
    assert cache.get("page", "10:12:10") == "first"
    assert cache.get("page", "10:13:10") is None  # a transaction started since
    assert cache.get("page", "12:12:") is None  # one ended since
    cache.put("page", "12:12:", "second")
    assert cache.get("page", "12:12:") == "second"
    assert cache.get("page", "10:12:10") is None  # the old entry is gone
    assert (cache.hits, cache.misses) == (2, 4)


def test_the_oldest_entry_goes_first() -> None:
    cache: SnapshotCache[int] = SnapshotCache(2)
    cache.put("a", "s", 1)
    cache.put("b", "s", 2)
    cache.put("a", "t", 3)  # stored again: now the newest
    cache.put("c", "t", 4)
    assert len(cache) == 2
    assert cache.get("b", "s") is None
    assert cache.get("a", "t") == 3
    assert cache.get("c", "t") == 4
    cache.clear()
    assert len(cache) == 0


def test_a_size_of_zero_is_refused() -> None:
    with pytest.raises(ValueError):
        SnapshotCache(0)


def test_a_probe_with_too_few_hits_pauses_the_cache_then_it_probes_again() -> None:
    cache: SnapshotCache[int] = SnapshotCache(8)
    # a probe with just enough hits keeps the cache on
    cache.put("p", "s", 1)
    for i in range(pagecache.PROBE):
        assert cache.wanted()
        cache.get("p", "s" if i < pagecache.MIN_HITS else f"moved{i}")
    assert cache.wanted()
    # a probe where every lookup misses (the database changes faster than pages repeat)
    for i in range(pagecache.PROBE - 1):
        cache.get("p", f"other{i}")
    assert cache.wanted()  # the probe is not over yet
    cache.get("p", "last")
    assert [cache.wanted() for _ in range(pagecache.PAUSE)] == [False] * pagecache.PAUSE
    assert cache.wanted()  # probing again
