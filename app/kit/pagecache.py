"""Results of hot reads kept per worker and served again only while the database is provably
unchanged: each use first asks PostgreSQL for its current snapshot, one small statement.

Why that is exact. A PostgreSQL snapshot (``pg_current_snapshot()``: xmin, xmax = one past
the latest completed transaction id, and the ids below xmax still in progress) determines
which transactions a statement sees. Every end of a transaction that holds an id (commit or
abort) changes it: an id at or above xmax moves xmax, an id below it leaves the in-progress
list. And it never returns to an earlier value (xmax only grows; at a fixed xmax the list only
shrinks). So if the snapshot read now equals the one read *before* a result was computed, no
transaction ended in between, and any statement run in between saw exactly what a statement
would see now: the kept result is the current one. A result is therefore stored under the
snapshot read before its statements ran (never after).
Any write anywhere in the database (a lot, a reservation, a rate-limit reservation) moves the
snapshot and so invalidates every kept result at once; nothing is ever served stale, also with
many workers on many hosts, because every use asks the database.

What it saves: the snapshot statement costs PostgreSQL about a third of a 51-row page statement
(``benchmarks/lots_page_cost.py``), and a hit skips the page's rows, the item cache and the
page assembly. What it costs: a miss runs one extra small statement. SQLite has no equivalent
(``PRAGMA data_version`` is per connection) and needs none: there a page costs no round trip.

When few lookups hit (writes faster than pages repeat, or pages that rarely repeat), the extra
statement buys nothing: after a probe of ``PROBE`` lookups with fewer than ``MIN_HITS`` hits,
``wanted()`` answers False for the next ``PAUSE`` requests (which then run as if there were
no cache), and the cache probes again.

The cache has no database import: the caller reads the snapshot
(``app.kit.rawquery.snapshot_token``) and passes it in.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Generic, TypeVar

from prometheus_client import Counter

V = TypeVar("V")

PROBE = 64  # lookups per probe
MIN_HITS = 8  # fewer hits than this in a probe pause the cache
PAUSE = 256  # requests served without the cache after a poor probe

LOOKUPS = Counter(
    "recyclate_snapshot_cache_lookups_total",
    "Uses of a snapshot-validated cache: hit, miss, or paused (not asked: too few hits lately)",
    ["cache", "outcome"],
)


class SnapshotCache(Generic[V]):
    """At most ``maxsize`` values by key, each with the snapshot it is valid for (the oldest
    entries go first)."""

    def __init__(self, maxsize: int, name: str = "default") -> None:
        if maxsize <= 0:
            raise ValueError("maxsize must be positive")
        self.maxsize = maxsize
        self._hit = LOOKUPS.labels(name, "hit")
        self._miss = LOOKUPS.labels(name, "miss")
        self._skip = LOOKUPS.labels(name, "paused")
        self._entries: dict[Hashable, tuple[str, V]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self._probe = 0  # lookups in the current probe
        self._probe_hits = 0
        self._paused = 0  # requests left to serve without the cache

    def wanted(self) -> bool:
        """Whether to use the cache for this request (False while paused after a probe
        with too few hits). Counters are per worker and need not be exact under threads."""
        if self._paused > 0:
            self._paused -= 1
            self._skip.inc()
            return False
        return True

    def get(self, key: Hashable, snapshot: str) -> V | None:
        """The value kept for ``key`` if it was stored under ``snapshot``, else None."""
        entry = self._entries.get(key)
        value = entry[1] if entry is not None and entry[0] == snapshot else None
        if value is not None:
            self.hits += 1
            self._probe_hits += 1
            self._hit.inc()
        else:
            self.misses += 1
            self._miss.inc()
        self._probe += 1
        if self._probe >= PROBE:
            if self._probe_hits < MIN_HITS:
                self._paused = PAUSE
            self._probe = self._probe_hits = 0
        return value

    def put(self, key: Hashable, snapshot: str, value: V) -> None:
        """Keep ``value``, computed by statements that all ran after ``snapshot`` was read."""
        with self._lock:
            entries = self._entries
            entries.pop(key, None)
            if len(entries) >= self.maxsize:
                del entries[next(iter(entries))]
            entries[key] = (snapshot, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
