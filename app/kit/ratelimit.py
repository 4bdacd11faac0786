"""Rate limits per credential: a fixed window of ``limit`` requests per ``window_s`` seconds,
shared by every API worker through the database, with almost no database work per request.

How the workers share one budget (token leases):

* The database holds one counter row per (credential, window): how many requests of that
  window the workers have *reserved* so far. It never exceeds the limit.
* A worker serves a request from tokens it reserved earlier, in memory: no I/O.
* When it has none left, it reserves a block of tokens in one short write transaction
  (``DatabaseCounterStore.reserve``: the row is locked, the grant is at most what is left).
  The block is a quarter of what was left at its last reservation, at most 2 % of the limit:
  far from the limit a worker touches the database about once per 2 % of the limit; near it,
  once per request, so the last requests of a window are counted exactly.
* No grant: 429 with ``Retry-After`` (seconds to the next window).

So the workers together **never serve more than the limit** in a window. They can serve less:
tokens a worker reserved and did not spend are lost when the window ends (at most 2 % of the
limit per worker). Both are stated in the README. When the database cannot be reached, the
limiter lets requests through (they then meet the database error themselves), asking the
database again after a block of requests, not on every one.

Headers (draft-ietf-httpapi-ratelimit-headers, version 10): every authenticated response
carries ``RateLimit-Policy: "default";q=<limit>;w=<window>`` and
``RateLimit: "default";r=<remaining>;t=<seconds to reset>``, where ``remaining`` is this
worker's view (the quota left at its last reservation plus its unspent tokens).

The limiter itself (``RateLimiter``) has no database import: it takes a ``CounterStore``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog
from sqlalchemy import Integer, String, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, Database

log = structlog.get_logger("app.ratelimit")

POLICY_NAME = "default"
MAX_BLOCK_SHARE = 0.02  # a worker reserves at most this share of the limit at a time
MAX_TRACKED = 100_000  # credentials a worker keeps lease state for (oldest dropped)

# OpenAPI: the headers of a 429 (every authenticated response carries the first two)
RATE_LIMIT_HEADERS = {
    "RateLimit-Policy": {
        "description": 'The quota: `"default";q=<requests>;w=<window seconds>` '
        "(draft-ietf-httpapi-ratelimit-headers)",
        "schema": {"type": "string", "example": '"default";q=6000;w=60'},
    },
    "RateLimit": {
        "description": 'What is left: `"default";r=<remaining>;t=<seconds until reset>`',
        "schema": {"type": "string", "example": '"default";r=0;t=17'},
    },
    "Retry-After": {
        "description": "Seconds until the next window",
        "schema": {"type": "integer", "example": 17},
    },
}


class RateLimitCounter(Base):
    """Requests reserved by the API workers for one credential in one window."""

    __tablename__ = "rate_limit_counters"

    credential_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    window_start: Mapped[int] = mapped_column(Integer, primary_key=True)  # epoch seconds
    reserved: Mapped[int] = mapped_column(Integer)


class CounterStore(Protocol):
    def reserve(
        self, credential_id: str, window_start: int, want: int, limit: int
    ) -> tuple[int, int]:
        """Reserve up to ``want`` more requests of the window, never past ``limit``: the
        number granted (0: the window's budget is spent) and the window's reserved total."""
        ...


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    window_s: int
    remaining: int
    reset_s: int  # seconds until the window ends

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = [
            (b"ratelimit-policy", f'"{POLICY_NAME}";q={self.limit};w={self.window_s}'.encode()),
            (b"ratelimit", f'"{POLICY_NAME}";r={self.remaining};t={self.reset_s}'.encode()),
        ]
        if not self.allowed:
            out.append((b"retry-after", str(self.reset_s).encode()))
        return out


@dataclass(slots=True)
class _Lease:
    window_start: int
    tokens: int = 0  # reserved by this worker, not yet spent
    reserved: int = 0  # the window's reserved total at this worker's last reservation
    exhausted: bool = False  # the last reservation got nothing: 429 until the window ends


class RateLimiter:
    """One per worker process. ``take`` answers from memory when this worker holds tokens;
    otherwise ``None``, and the caller runs ``take_reserving`` (database I/O) off the event
    loop."""

    def __init__(
        self,
        store: CounterStore,
        *,
        limit: int,
        window_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if limit < 1 or window_s < 1:
            raise ValueError("limit and window_s must be >= 1")
        self.store = store
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self.max_block = max(1, int(limit * MAX_BLOCK_SHARE))
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every lease (tests: their credentials and counters are rolled back)."""
        with self._lock:
            self._leases.clear()

    def _window(self) -> tuple[int, int]:
        now = self.clock()
        start = int(now // self.window_s) * self.window_s
        return start, max(1, math.ceil(start + self.window_s - now))

    def _lease(self, credential_id: str, start: int) -> _Lease:
        lease = self._leases.get(credential_id)
        if lease is None or lease.window_start != start:
            if lease is None and len(self._leases) >= MAX_TRACKED:
                self._leases.pop(next(iter(self._leases)))
            lease = self._leases[credential_id] = _Lease(start)
        return lease

    def _spend(self, lease: _Lease, reset_s: int) -> Decision:
        lease.tokens -= 1
        remaining = max(0, self.limit - lease.reserved + lease.tokens)
        return Decision(True, self.limit, self.window_s, remaining, reset_s)

    def _denied(self, reset_s: int) -> Decision:
        return Decision(False, self.limit, self.window_s, 0, reset_s)

    def _in_memory(self, lease: _Lease, reset_s: int) -> Decision | None:
        """(lock held) The decision from this worker's tokens, or from a budget known to be
        spent; ``None`` when a reservation is needed."""
        if lease.tokens > 0:
            return self._spend(lease, reset_s)
        if lease.exhausted:
            return self._denied(reset_s)
        return None

    def take(self, credential_id: str) -> Decision | None:
        """The decision when it needs no database (tokens in hand, or the window's budget
        known to be spent); ``None`` when a reservation is needed."""
        start, reset_s = self._window()
        with self._lock:
            return self._in_memory(self._lease(credential_id, start), reset_s)

    def take_reserving(self, credential_id: str) -> Decision:
        """``take``, reserving a block of tokens first when this worker has none (blocking
        I/O: call it on a thread)."""
        start, reset_s = self._window()
        with self._lock:
            lease = self._lease(credential_id, start)
            known = self._in_memory(lease, reset_s)
            if known is not None:  # another request of this worker reserved meanwhile
                return known
            want = max(1, min(self.max_block, (self.limit - lease.reserved) // 4))
        try:
            granted, total = self.store.reserve(credential_id, start, want, self.limit)
        except SQLAlchemyError as exc:
            # Fail open: the request meets the database itself. The worker lets the next
            # ``max_block`` requests through without asking the store again (they are not
            # counted), so an outage costs one failed reservation per block, not per request.
            log.warning("rate_limit_store_failed", error=str(exc)[:200])
            with self._lock:
                lease = self._lease(credential_id, start)
                lease.tokens += self.max_block
                return self._spend(lease, reset_s)
        with self._lock:
            lease = self._lease(credential_id, start)
            lease.reserved = max(lease.reserved, total)
            if granted <= 0:
                lease.exhausted = True
                return self._denied(reset_s)
            lease.tokens += granted
            return self._spend(lease, reset_s)


class DatabaseCounterStore:
    """Counters in the ``rate_limit_counters`` table, one short write transaction per
    reservation (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the row is locked ``FOR UPDATE``;
    two workers inserting a window's row at once: the loser retries and locks it)."""

    def __init__(self, database: Callable[[], Database]) -> None:
        self.database = database  # looked up per reservation (tests swap the app's database)

    def reserve(
        self, credential_id: str, window_start: int, want: int, limit: int
    ) -> tuple[int, int]:
        try:
            return self._reserve(credential_id, window_start, want, limit)
        except IntegrityError:  # another worker inserted the window's row first: lock it
            return self._reserve(credential_id, window_start, want, limit)

    def _reserve(
        self, credential_id: str, window_start: int, want: int, limit: int
    ) -> tuple[int, int]:
        row = RateLimitCounter
        key = (row.credential_id == credential_id) & (row.window_start == window_start)
        with self.database().transaction(write=True) as session:
            current = session.execute(
                select(row.reserved).where(key).with_for_update()
            ).scalar_one_or_none()
            if current is None:
                grant = min(want, limit)
                session.execute(
                    insert(row).values(
                        credential_id=credential_id, window_start=window_start, reserved=grant
                    )
                )
                # the credential's earlier windows are done with
                session.execute(
                    delete(row).where(
                        (row.credential_id == credential_id) & (row.window_start < window_start)
                    )
                )
                return grant, grant
            grant = min(want, limit - current)
            if grant <= 0:
                return 0, current
            session.execute(update(row).where(key).values(reserved=current + grant))
            return grant, current + grant
