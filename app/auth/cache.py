"""A per-process cache of resolved bearer tokens.

Resolving a credential costs a database round trip on every request; an ERP polling a list or
a buyer's screen paging through lots sends the same token many times a second. The cache keeps
what ``authenticate`` resolved, keyed by the token's SHA-256 (the secret itself is never kept),
for a few seconds. Unknown tokens are never cached, so random tokens cannot fill it.

Consistency: expiry dates are checked on every hit. A revocation takes effect at once on the
worker that handled it (the router clears this cache after the revoke) and within ``ttl``
seconds on the other workers. ``ttl=0`` turns the cache off.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import replace

from app.auth.service import Credential


class CredentialCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Credential]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> Credential | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            with self._lock:
                self._entries.pop(digest, None)
            return None
        return entry[1]

    def put(self, digest: str, credential: Credential) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                now = time.monotonic()
                for k in [k for k, (until, _) in self._entries.items() if until <= now]:
                    del self._entries[k]
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
            self._entries[digest] = (time.monotonic() + self.ttl, credential)

    def mark_used(self, digest: str, when: dt.datetime) -> None:
        """Remember that a last-use write was scheduled, so it is not scheduled again."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None:
                self._entries[digest] = (entry[0], replace(entry[1], last_used_at=when))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
