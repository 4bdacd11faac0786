"""Exact top K over the snapshot's candidates, scoring as few lots as possible (no HTTP).

``LotIndex.scan`` gives every lot that may be eligible with an upper bound ``cap`` of its exact
score and a lower bound ``d_lb`` of its distance. Lots are scored exactly (the pure
``app.matching.scoring``, the source of truth) in bound order, chunk by chunk, until no unscored
lot can still beat the K-th best exact result: its bound key is then no better than the K-th
key. That is a branch-and-bound, so the top K equals that of scoring every candidate.

Consistency: the final top K are re-read in the request's transaction (``SELECT id, status,
available_kg FROM lots WHERE id IN (...)``; a lot whose facts were read from the database in
this request already carries the state of that read). A lot gone, no longer active or without
quantity is dropped; a changed quantity is re-scored; and the search goes on until every lot
of the final top K has been checked. So a lot withdrawn or reserved a moment ago, by any
worker, is never offered, whatever the snapshot says.

Facts: from the worker's cache, else from the snapshot (``SnapshotRows.facts``) when it holds
the lot at the scanned version, else from the database (``facts_rows``).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy import bindparam, cast, null, select, union_all
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from app.kit.rawquery import AnySelect, CompiledQueries, run_sql, session_raw
from app.lots.models import Lot, LotStatus
from app.matching import scoring
from app.matching.facts import lot_facts
from app.matching.index import MATCH_COLUMNS, Candidates, LotIndex, precompile_refresh

__all__ = ["TopK", "current_state", "facts_rows", "precompile"]

Mode = Literal["rank", "near"]
Key = tuple[Any, ...]
FIRST_CHUNK = 2  # bounds are exact for denormalised criteria: the best k + 2 usually suffice
CHUNK = 64


def current_state(session: Session, lot_ids: list[str]) -> dict[str, tuple[str, float]]:
    """(status, available kg) of these lots as the session's transaction sees them; a lot
    that does not exist is absent. One driver-level statement (about half the time of the
    same SELECT through the expression layer, measured at 1M lots): the statement text is
    cached per number of ids. It reads only the covering index ``ix_lots_id_state``
    (migration 0012; SQLite's planner is told so, it would take the primary key's)."""
    if not lot_ids:
        return {}
    raw = session_raw(session)
    # on the DBAPI cursor: through ``exec_driver_sql`` the same read cost 100-160 against
    # 50-60 us (SQLite, 50 ids)
    rows, _ = run_sql(raw, _state_sql(raw.dialect.name, len(lot_ids)), tuple(lot_ids))
    return {lot_id: (str(status), float(kg)) for lot_id, status, kg in rows}


@functools.lru_cache(maxsize=256)
def _state_sql(dialect: str, n: int) -> str:
    sqlite = dialect == "sqlite"
    mark = "?" if sqlite else "%s"  # sqlite3 and psycopg paramstyles
    table = "lots INDEXED BY ix_lots_id_state" if sqlite else "lots"
    return f"SELECT id, status, available_kg FROM {table} WHERE id IN ({', '.join([mark] * n)})"


# The facts read of lots not in the worker's cache: compiled once per shape (the padded numbers
# of ids) and run on the session's DBAPI connection (in its transaction). Through the expression
# layer the same SELECT of 52 lots took 1.3 ms on PostgreSQL against 0.7 ms (1M lots, cached).
_FACTS_QUERIES = CompiledQueries(maxsize=512)
_FACTS_SELECT = (*MATCH_COLUMNS, Lot.version, Lot.status)
FactsRow = collections.namedtuple("FactsRow", [c.key for c in _FACTS_SELECT])  # type: ignore[misc]
_STATUS = [c.key for c in _FACTS_SELECT].index("status")
_AVAILABLE = [c.key for c in _FACTS_SELECT].index("available_kg")


_NO_ID = ""  # never a lot id (ids are prefixed: lot_...)


def _padded(k: int) -> int:
    return 1 << (k - 1).bit_length() if k > 0 else 0


def _facts_select(n: int, m: int) -> AnySelect:
    """The facts of ``n`` lots (parameters i0..), and with ``m`` > 0 the state of ``m`` more
    (s0..) in the same statement."""
    full = select(*_FACTS_SELECT).where(Lot.id.in_([bindparam(f"i{j}") for j in range(n)]))
    if not m:
        return full
    state = select(
        *(
            c if c.key in ("id", "status", "available_kg") else cast(null(), c.type)
            for c in _FACTS_SELECT
        )
    ).where(Lot.id.in_([bindparam(f"s{j}") for j in range(m)]))
    return union_all(full, state)


MAX_PRECOMPILED: Final = 256  # ids per list: a chunk is at most CHUNK + limit (<= 100) lots


def precompile(dialect: Dialect) -> int:
    """Compile the facts read for every padded shape up to ``MAX_PRECOMPILED`` ids (the
    worker's start-up, after its snapshot build): a first use of a shape otherwise cost the
    request 1.3-3.4 ms, in about one new spec in a hundred at 1M lots (12 of 900 on
    PostgreSQL). Returns the number of shapes."""
    precompile_refresh(dialect)
    sizes = [1 << e for e in range(MAX_PRECOMPILED.bit_length())]
    others = [0] if dialect.name == "sqlite" else [0, *sizes]
    for n in sizes:
        for m in others:
            _FACTS_QUERIES.prepare(dialect, (n, m), functools.partial(_facts_select, n, m))
    return len(sizes) * len(others)


def facts_rows(
    session: Session, lot_ids: list[str], state_of: list[str] | None = None
) -> tuple[list[Any], dict[str, tuple[str, float]]]:
    """Rows of ``MATCH_COLUMNS`` + version + status (attribute access, values converted as
    the ORM would) for ``lot_ids``, and the state (``current_state``) of the lots
    ``state_of``, as the session's transaction sees them. On PostgreSQL both come in one
    statement (``UNION ALL``: one round trip); on SQLite, where a statement costs no round
    trip, the state is read from the covering index by ``current_state``."""
    state_of = state_of or []
    if not lot_ids:
        return [], current_state(session, state_of)
    joined = bool(state_of) and session.connection().dialect.name != "sqlite"
    # Id lists padded to a power of two with an id no lot has: a few dozen statement shapes
    # (each compiled once, and prepared by PostgreSQL after a few uses) instead of one per
    # pair of lengths.
    n, m = _padded(len(lot_ids)), _padded(len(state_of)) if joined else 0
    ids = [*lot_ids, *[_NO_ID] * (n - len(lot_ids))]
    others = [*state_of, *[_NO_ID] * (m - len(state_of))] if joined else []

    params = {f"i{j}": lot_id for j, lot_id in enumerate(ids)}
    params |= {f"s{j}": lot_id for j, lot_id in enumerate(others)}
    rows = _FACTS_QUERIES.rows(
        session_raw(session), (n, m), functools.partial(_facts_select, n, m), params
    )
    wanted = set(lot_ids)
    facts = [FactsRow._make(r) for r in rows if r[0] in wanted]
    if not joined:
        return facts, current_state(session, state_of)
    state = {r[0]: (str(r[_STATUS]), float(r[_AVAILABLE])) for r in rows if r[0] not in wanted}
    return facts, state


class TopK:
    def __init__(
        self, session: Session, index: LotIndex, spec: scoring.Spec, cands: Candidates
    ) -> None:
        self.session = session
        self.ix = index
        self.spec = spec
        self.c = cands
        self.n = len(cands.ids)
        self.facts: dict[int, scoring.LotFacts | None] = {}
        self.fresh: dict[str, tuple[str, float] | None] = {}  # checked in this transaction
        self.evaluated = 0
        self.memo: dict[tuple[str, int, float], scoring.Result] = {}  # this request only

    # --- exact evaluation ---------------------------------------------------------------------

    def _load(self, positions: list[int]) -> None:
        missing: dict[str, int] = {}
        source, at = self.c.source, self.c.rows
        for p in positions:
            key = (self.c.ids[p], int(self.c.versions[p]))
            facts = self.ix.cached_facts(key)
            if facts is None:
                facts = source.facts(int(at[p]), *key)  # held in the snapshot
                if facts is not None:
                    self.ix.cache_facts(key, facts)
            if facts is None:
                missing[key[0]] = p
            else:
                self.facts[p] = facts
        if not missing:
            return  # the final re-check reads their state
        # lots whose facts come from the cache have their state read in the same statement:
        # the final re-check then has nothing left to read (one round trip less)
        ids = (self.c.ids[p] for p in positions)
        stale = [i for i in ids if i not in missing and i not in self.fresh]
        rows, state = facts_rows(self.session, list(missing), stale)
        for lot_id in stale:
            self.fresh[lot_id] = state.get(lot_id)
        for row in rows:
            p = missing.pop(row.id)
            facts = lot_facts(row)
            self.ix.cache_facts((row.id, int(row.version)), facts)
            # read in this transaction: the state a re-check would give (one round trip less)
            self.fresh[row.id] = (str(row.status), float(row.available_kg))
            self.facts[p] = facts
        for lot_id, p in missing.items():  # no longer in the database
            self.fresh[lot_id] = None
            self.facts[p] = None

    def _evaluate(self, p: int) -> scoring.Result | None:
        facts = self.facts.get(p)
        if facts is None:
            return None
        lot_id = self.c.ids[p]
        if lot_id in self.fresh:
            state = self.fresh[lot_id]
            if state is None or state[0] != LotStatus.ACTIVE.value or state[1] <= 0:
                return None
            if state[1] != facts.available_kg:
                facts = dataclasses.replace(facts, available_kg=state[1])
        key = (lot_id, int(self.c.versions[p]), facts.available_kg)
        r = self.memo.get(key)
        if r is None or r.lot is not facts:
            self.evaluated += 1
            r = self.memo[key] = scoring.evaluate(self.spec, facts)
        return r

    def _recheck(self, lot_ids: list[str]) -> None:
        state = current_state(self.session, lot_ids)
        for lot_id in lot_ids:
            self.fresh[lot_id] = state.get(lot_id)

    # --- search ---------------------------------------------------------------------------------

    def _key(self, r: scoring.Result, mode: Mode) -> Key:
        d = r.distance_km if r.distance_km is not None else math.inf
        if mode == "rank":
            return (not r.eligible, -r.score, d, r.lot.id)
        return (d, -r.score, r.lot.id)

    def _violators(self, idx: npt.NDArray[np.intp], kth: Key, mode: Mode) -> npt.NDArray[np.intp]:
        """Unscored candidates that might still beat the K-th key (conservative)."""
        cap = self.c.cap[idx]
        d_lb = self.c.d_lb[idx]
        if mode == "rank":
            e_k, s_k, d_k, id_k = int(kth[0]), -kth[1], kth[2], kth[3]
            e_lb = (~self.c.maybe_eligible[idx]).astype(np.int64)
            higher = cap > s_k
            tie = (cap >= s_k) & ~higher
            nearer = tie & (d_lb < d_k)
            same = tie & ~nearer & (d_lb <= d_k)
            beats = higher | nearer
            viol = (e_lb < e_k) | ((e_lb == e_k) & beats)
            maybe_tie = (e_lb == e_k) & same & ~viol
        else:
            d_k, s_k, id_k = kth[0], -kth[1], kth[2]
            nearer = d_lb < d_k
            same_d = ~nearer & (d_lb <= d_k)
            viol = nearer | (same_d & (cap > s_k))
            maybe_tie = same_d & ~viol & (cap >= s_k)
        if maybe_tie.any():
            ids = self.c.ids
            for j in np.flatnonzero(maybe_tie).tolist():
                if ids[int(idx[j])] < id_k:
                    viol[j] = True
        out: npt.NDArray[np.intp] = idx[viol]
        return out

    def _may_violate(self, remaining: npt.NDArray[np.bool_], kth: Key, mode: Mode) -> Any:
        """A superset of ``_violators`` over all candidates in two or three array operations
        (the full test then runs on these few rows only): a violator's bound reaches the K-th
        score (rank; or it may be eligible where the K-th is not), or its distance bound the
        K-th distance (near)."""
        if mode == "rank":
            reach = self.c.cap >= -kth[1]
            if int(kth[0]):  # the K-th is ineligible: every maybe-eligible row beats it
                reach |= self.c.maybe_eligible
            return reach & remaining
        return (self.c.d_lb <= kth[0]) & remaining

    def _order_key(self, idx: npt.NDArray[np.intp], mode: Mode) -> npt.NDArray[np.float64]:
        cap = self.c.cap[idx]
        d = np.where(np.isinf(self.c.d_lb[idx]), 1e7, self.c.d_lb[idx])
        if mode == "rank":
            e = (~self.c.maybe_eligible[idx]).astype(np.float64)
            out: npt.NDArray[np.float64] = 4.0 * e - cap + d * 1e-9
            return out
        return d + (1.0 - cap) * 1e-6

    def top(
        self, k: int, *, mode: Mode, accept: Callable[[scoring.Result], bool] | None
    ) -> list[scoring.Result]:
        """The first ``k`` accepted results in exact key order (all lots re-checked)."""
        remaining = np.ones(self.n, dtype=np.bool_)
        best: dict[int, tuple[Key, scoring.Result]] = {}
        chunk = FIRST_CHUNK + k
        while True:
            ordered = sorted(best.items(), key=lambda kv: kv[1][0])
            if len(ordered) >= k:
                kth = ordered[k - 1][1][0]
                idx = np.flatnonzero(self._may_violate(remaining, kth, mode))
                todo = self._violators(idx, kth, mode) if len(idx) else idx
            else:
                todo = np.flatnonzero(remaining)
            if len(todo) == 0:
                top = [p for p, _ in ordered[:k]]
                unchecked = [self.c.ids[p] for p in top if self.c.ids[p] not in self.fresh]
                if not unchecked:
                    return [best[p][1] for p in top]
                self._recheck(unchecked)
                for p in top:
                    r = self._evaluate(p)
                    if r is None or (accept is not None and not accept(r)):
                        del best[p]
                    else:
                        best[p] = (self._key(r, mode), r)
                continue
            if len(todo) > chunk:
                keys = self._order_key(todo, mode)
                part = np.argpartition(keys, chunk - 1)[:chunk]
                todo = todo[part]
            todo = todo[np.argsort(self._order_key(todo, mode), kind="stable")]
            positions = [int(p) for p in todo.tolist()]
            remaining[todo] = False
            self._load(positions)
            for p in positions:
                r = self._evaluate(p)
                if r is not None and (accept is None or accept(r)):
                    best[p] = (self._key(r, mode), r)
            chunk = CHUNK + k
