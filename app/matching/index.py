"""Per-process columnar snapshot of the active lots, for fast matching (no HTTP).

The snapshot holds the columns that hard criteria and scores depend on as numpy arrays (small
integer codes for strings, NaN for unknown numbers). It is built lazily by one bulk read and
refreshed incrementally at the start of every match: ``SELECT ... FROM lots WHERE updated_at >=
:since`` (index ``ix_lots_updated_at_id``), where ``since`` is the wall time of the previous
refresh minus :data:`REFRESH_MARGIN` (covers clock skew between hosts and the time between a
writer's ``updated_at = now()`` and its commit). A lot that is no longer active is dropped.

What the columns can say about a lot is turned, per criterion, into a *necessary* condition for
eligibility and an *upper bound* of the score (``scan``). Both are deliberately conservative:

* every value the columns cannot decide (a measurement whose method or conditions are not
  denormalised, food contact, REACH, ...) counts as "could pass, could score 1";
* a denormalised measurement is treated as "this value, or missing/incomparable";
* window scores are bounded with the denormalised standard deviation (``lots.mfr_sd``...,
  a hair smaller), or ``sd = 0`` where there is none (a standard deviation only lowers it);
* distances and prices get a small tolerance against floating point differences.

So the vectorised filter is never stricter than the exact scorer (``app.matching.scoring``),
and the bound never lower than the exact score. The service then scores exactly, in bound order,
only until no unscored lot can still enter the top K (``app.matching.search``).

Layout: the build orders rows by (family, polymer text, DQL), so each group is a contiguous
range and a scan works on column slices of the groups a hard polymer criterion and a hard
minimum DQL allow; a scan runs in three phases (``_evaluate_rows``).

Thread safety: one lock guards refresh and scan (both short, numpy-bound); the exact phase works
on copies. The exact facts of lots (``lots.match_facts`` -> ``LotFacts``) are cached per (id,
version).

Exact facts in memory (``match_facts_in_memory``, the default): each row also holds the lot's
title and stored match facts (one bytes object, ~370 bytes), and its organisation and
certificates as codes, so ``SnapshotRows.facts`` gives the exact facts a database read would
(tested) and a match reads from the database only the state of its final top K, through an
index. Reads of facts from a 5.8 GB SQLite file went to the disk whenever the OS had evicted
its pages (p99 of new specs at 1M lots 17-107 ms against 11.9 ms from memory).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, overload

import numpy as np
import numpy.typing as npt
import orjson
from sqlalchemy import Select, String, bindparam, cast, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from app.geo.distance import EARTH_RADIUS_KM
from app.kit.rawquery import CompiledQueries, session_raw
from app.lots.models import Lot, LotStatus
from app.matching import scoring
from app.matching.facts import canonical_polymer, certificates, decode_match_facts
from app.matching.scoring import Certificate

__all__ = [
    "MATCH_COLUMNS",
    "REFRESH_MARGIN",
    "Candidates",
    "LotIndex",
    "index_for",
    "reset",
    "warm",
]

REFRESH_MARGIN: Final = dt.timedelta(seconds=5)
BUILD_FETCH_ROWS: Final = 10_000
FACTS_CACHE_SIZE: Final = 20_000
# Hold every active lot's title and stored match facts in the snapshot (``SnapshotRows.facts``):
# a match then reads no facts from the database, only the state of its final top K
# (``configure``, from the setting ``match_facts_in_memory``; read when a snapshot is created).
FACTS_IN_MEMORY = True
SCAN_MEMO_SPECS: Final = 16
MAX_INCREMENTAL: Final = 20_000  # changed rows beyond which a memoised scan is redone

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BoolA = npt.NDArray[np.bool_]
Part = slice | I64  # a contiguous range of snapshot rows, or some rows

# Columns loaded for matching (no ORM identity map, no unused columns).
MATCH_COLUMNS = (
    Lot.id,
    Lot.organization_id,
    Lot.title,
    Lot.family,
    Lot.polymer,
    Lot.form,
    Lot.color,
    Lot.source,
    Lot.dql,
    Lot.available_kg,
    Lot.latitude,
    Lot.longitude,
    Lot.price_per_t_minor,
    Lot.currency,
    Lot.available_from,
    Lot.end_of_waste_status,
    Lot.certifications,
    Lot.match_facts,
)

SNAPSHOT_COLUMNS = (
    Lot.id,
    Lot.status,
    Lot.version,
    Lot.family,
    Lot.polymer,
    Lot.form,
    Lot.color,
    Lot.source,
    Lot.end_of_waste_status,
    Lot.currency,
    Lot.dql,
    Lot.available_kg,
    Lot.latitude,
    Lot.longitude,
    Lot.price_per_t_minor,
    Lot.available_from,
    Lot.mfr_g_10min,
    Lot.mfr_temperature_c,
    Lot.mfr_load_kg,
    Lot.density_g_cm3,
    Lot.ash_pct,
    Lot.moisture_pct,
    Lot.mfr_sd,
    Lot.density_sd,
    Lot.ash_sd,
    Lot.moisture_sd,
    # what the exact facts need besides the columns above (``SnapshotRows.facts``)
    Lot.organization_id,
    Lot.title,
    Lot.match_facts,
    Lot.certifications,  # last: the build reads it as text (BUILD_COLUMNS)
)


def _changed_since() -> Select[str, int, str, float]:
    """The refresh's first read, run on every match: compiled once (``CompiledQueries``;
    through the expression layer, building and wrapping cost more than running it)."""
    return select(Lot.id, Lot.version, Lot.status, Lot.available_kg).where(
        Lot.updated_at >= bindparam("since", type_=Lot.__table__.c.updated_at.type)
    )


_QUERIES: Final = CompiledQueries(maxsize=8)


def precompile_refresh(dialect: Dialect) -> None:
    """Compile the refresh read ahead of the first match (a worker's start-up)."""
    _QUERIES.prepare(dialect, "changed_since", _changed_since)


# The first build reads certifications as text and parses only the non-empty ones.
BUILD_COLUMNS = (
    *SNAPSHOT_COLUMNS[:-1],
    cast(Lot.certifications, String).label("certifications"),
)
_CODED = (
    "family",
    "polymer",
    "form",
    "color",
    "source",
    "end_of_waste_status",
    "currency",
    "mfr_cond",  # the MFR's (temperature, load) pair
    "organization_id",
    "certs",  # the certifications as JSON text (``SnapshotRows.facts`` parses each text once)
)
_CODED_VALUES: Final = ("form", "color", "source", "end_of_waste_status")  # ValuesCriterion
_SDS = ("mfr_sd", "density_sd", "ash_sd", "moisture_sd")  # 0 where unknown (the bound's sd)
_FLOATS = (
    "dql",
    "available_kg",
    "latitude",
    "longitude",
    "ux",  # the position as a unit vector (distances without trigonometry per row)
    "uy",
    "uz",
    "price",
    "mfr",
    "density",
    "ash",
    "moisture",
    "mfr_sd",
    "density_sd",
    "ash_sd",
    "moisture_sd",
    # mean - k sd + tol and mean + k sd - tol (NaN without a value): a hard window's test is
    # then two comparisons per row instead of ten array operations (``_derive_windows``)
    "mfr_lo",
    "mfr_hi",
    "density_lo",
    "density_hi",
    "ash_lo",
    "ash_hi",
    "moisture_lo",
    "moisture_hi",
)
_INTS = ("version", "available_from", "certmask")
# property -> (value column, canonical unit of the column, standard deviation column)
_WINDOW_COLUMNS: Final = {
    "Viscosity": ("mfr", "g/10min", "mfr_sd"),
    "Density": ("density", "g/cm3", "density_sd"),
    "AshContent": ("ash", "%", "ash_sd"),
    "ResidualHumidity": ("moisture", "%", "moisture_sd"),
}
_NO_DATE: Final = -1
_CERT_UNKNOWN: Final = -1  # certificates present but not representable as a bitmask
_MAX_SCHEMES: Final = 62


Group = tuple[int, int, int]  # (family code, polymer code, DQL)


class _Vocab:
    """Value (a string, or a tuple of numbers) | None <-> small int (0 is None)."""

    def __init__(self) -> None:
        self.values: list[Any] = [None]
        self.codes: dict[Any, int] = {None: 0}

    def code(self, value: Any) -> int:
        c = self.codes.get(value)
        if c is None:
            c = len(self.values)
            self.values.append(value)
            self.codes[value] = c
        return c

    def table(self, pred: Any) -> BoolA:
        """Boolean lookup table code -> pred(value) (pred is never called for None)."""
        return np.array([v is not None and bool(pred(v)) for v in self.values], dtype=np.bool_)


def configure(*, facts_in_memory: bool) -> None:
    """Process-wide matching options (the app's start-up; snapshots created afterwards)."""
    global FACTS_IN_MEMORY
    FACTS_IN_MEMORY = facts_in_memory


_NO_BLOB: Final = b""


def _blob(title: str, match_facts: str | bytes | None) -> bytes:
    """A row's title and stored match facts as one bytes object (about 375 bytes per lot; a
    str and a bytes object apiece would cost 40-80 bytes more), or _NO_BLOB for a lot without
    stored facts (its facts are read from the database)."""
    if not match_facts:
        return _NO_BLOB
    t = title.encode()
    f = match_facts if isinstance(match_facts, bytes) else match_facts.encode()
    return len(t).to_bytes(2, "little") + t + f


def _certs_text(raw: Any) -> str | None:
    """The certifications as JSON text: as read by the build (text), or of a refreshed row
    (parsed by the driver)."""
    if raw is None or isinstance(raw, str):
        return raw
    return orjson.dumps(raw).decode()


_UNPARSED: Final = object()


class SnapshotRows:
    """The snapshot's rows as a scan saw them, for the exact facts of its candidates, read
    outside the lock. A rebuild makes new containers, so these stay the scan's; a refresh
    changes a row in place, between its blob's ``None`` and its new blob (``_put``)."""

    __slots__ = ("_ix", "blobs", "codes", "floats", "ints", "vocab")

    def __init__(self, ix: LotIndex) -> None:
        self._ix = ix
        self.blobs = ix.blobs
        self.codes = ix.codes
        self.floats = ix.floats
        self.ints = ix.ints
        self.vocab = ix.vocab

    def facts(self, row: int, lot_id: str, version: int) -> scoring.LotFacts | None:
        """The lot's exact facts at ``version`` from memory, equal to ``lot_facts`` of its
        database row (tested); None if not held, or the row has moved on."""
        blob = self.blobs[row]
        if not blob or int(self.ints["version"][row]) != version:
            return None
        c, f, v = self.codes, self.floats, self.vocab
        family = v["family"].values[int(c["family"][row])]
        polymer = v["polymer"].values[int(c["polymer"][row])]
        form = v["form"].values[int(c["form"][row])]
        color = v["color"].values[int(c["color"][row])]
        source = v["source"].values[int(c["source"][row])]
        eow = v["end_of_waste_status"].values[int(c["end_of_waste_status"][row])]
        currency = v["currency"].values[int(c["currency"][row])]
        org = v["organization_id"].values[int(c["organization_id"][row])]
        certs_code = int(c["certs"][row])
        dql = int(f["dql"][row])
        available = float(f["available_kg"][row])
        lat, lon, price = float(f["latitude"][row]), float(f["longitude"][row]), f["price"][row]
        af = int(self.ints["available_from"][row])
        if self.blobs[row] is not blob:
            return None  # changed while read
        certs = self._ix.parsed_certs.get(certs_code, _UNPARSED)
        if certs is _UNPARSED:
            text = v["certs"].values[certs_code]
            certs = self._ix.parsed_certs[certs_code] = certificates(
                None if text is None else orjson.loads(text)
            )
        n = int.from_bytes(blob[:2], "little")
        food, reach, measurements = decode_match_facts(blob[2 + n :])
        return scoring.LotFacts(
            id=lot_id,
            organization_id=org,
            title=blob[2 : 2 + n].decode(),
            family=family,
            polymer=polymer,
            form=form,
            color=color,
            source=source,
            dql=dql,
            available_kg=available,
            latitude=None if math.isnan(lat) else lat,
            longitude=None if math.isnan(lon) else lon,
            price_per_t=None if math.isnan(price) else float(price),
            currency=currency,
            available_from=None if af == _NO_DATE else dt.date.fromordinal(af),
            end_of_waste_status=eow,
            certifications=certs,  # type: ignore[arg-type]
            food_contact=food,
            reach_declaration=reach,
            measurements=measurements,
        )


@dataclass(frozen=True)
class Candidates:
    """Lots that may be eligible (or all lots of the family), with their bounds (copies)."""

    ids: Sequence[str]
    versions: I64
    cap: F64  # upper bound of the exact score, in [0, 1]
    d_lb: F64  # lower bound of the distance in km (inf without a delivery location)
    maybe_eligible: BoolA
    generation: int  # of the snapshot the scan saw
    rows: I64  # the candidates' snapshot rows, in ``source``
    source: SnapshotRows


@dataclass
class _Outcome:
    """Possible outcomes of one criterion for the scanned rows."""

    pv: BoolA | bool  # a value outcome (pass/fail) is possible
    passv: BoolA | bool  # ... and it can pass
    ubv: F64 | float  # ... upper bound of its score
    pa: BoolA | bool  # a missing/incomparable outcome is possible


def _unknown() -> _Outcome:
    return _Outcome(True, True, 1.0, True)


class LotIndex:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.built = False
        self.since: dt.datetime | None = None
        self.n = 0
        self.dead = 0
        self.cap_rows = 0
        self.ids: list[str] = []
        # per row: the title and stored match facts (``_blob``), or _NO_BLOB (not held)
        self.blobs: list[bytes | None] = []
        self.facts_in_memory = FACTS_IN_MEMORY
        self.parsed_certs: dict[int, tuple[Certificate, ...] | None] = {}  # by "certs" code
        self.row_of: dict[str, int] = {}
        self.vocab = {name: _Vocab() for name in _CODED}
        self.schemes: dict[str, int] = {}
        self.codes: dict[str, npt.NDArray[np.int32]] = {}
        self.floats: dict[str, F64] = {}
        self.ints: dict[str, I64] = {}
        self.alive: BoolA = np.zeros(0, dtype=np.bool_)
        self._facts: OrderedDict[tuple[str, int], scoring.LotFacts] = OrderedDict()
        self._facts_lock = threading.Lock()
        self._cert_memo: dict[str, int] = {}
        # The contiguous row range [start, end) of each (family, polymer, DQL) group: the first
        # cut of a scan (the build orders rows by group). Rows added or moved later are listed
        # in ``_extra`` (a moved row stays in its old range too, so scans re-check the codes).
        self._groups: dict[Group, tuple[int, int]] = {}
        # Rows changed by refreshes (a changelog), and memoised scans with their position in it.
        self._changes: list[int] = []
        self.generation = 0  # +1 per applied change and per build
        self._answers: OrderedDict[Any, tuple[int, Any]] = OrderedDict()
        self._scans: OrderedDict[tuple[scoring.Spec, bool, bool], tuple[int, Any]] = OrderedDict()
        self._extra: dict[Group, list[int]] = {}
        self.build_seconds = 0.0
        self._alloc(0)

    # --- storage ------------------------------------------------------------------------------

    def _alloc(self, capacity: int) -> None:
        old_n = self.n

        def grow(a: Any, dtype: Any, fill: Any) -> Any:
            out = np.full(capacity, fill, dtype=dtype)
            if a is not None and old_n:
                out[:old_n] = a[:old_n]
            return out

        for name in _CODED:
            self.codes[name] = grow(self.codes.get(name), np.int32, 0)
        for name in _FLOATS:
            self.floats[name] = grow(self.floats.get(name), np.float64, np.nan)
        for name in _INTS:
            self.ints[name] = grow(self.ints.get(name), np.int64, 0)
        self.alive = grow(self.alive if old_n else None, np.bool_, False)
        self.cap_rows = capacity

    def _certmask_text(self, raw: str) -> int:
        # A recycler's certificates repeat across its lots: parse each distinct text once.
        mask = self._cert_memo.get(raw)
        if mask is None:
            if len(self._cert_memo) > 100_000:
                self._cert_memo.clear()
            mask = self._cert_memo[raw] = self._certmask(json.loads(raw))
        return mask

    def _certmask(self, raw: Any) -> int:
        certs = certificates(raw)
        if not certs:
            return 0
        mask = 0
        for c in certs:
            bit = self.schemes.get(c.scheme)
            if bit is None:
                if len(self.schemes) >= _MAX_SCHEMES:
                    return _CERT_UNKNOWN
                bit = self.schemes[c.scheme] = len(self.schemes)
            mask |= 1 << bit
        return mask | (1 << _MAX_SCHEMES)  # top bit: the lot declares certificates

    def _put(self, i: int, r: Any, *, new: bool) -> None:
        # None while the row's columns change: a reader outside the lock that saw the row's
        # blob before and after reading them knows they belong together (SnapshotRows.facts)
        self.blobs[i] = None
        v = self.vocab
        fam = v["family"].code(r.family)
        poly = v["polymer"].code(canonical_polymer(r.polymer))
        dql = int(r.dql or 0)
        group = (fam, poly, dql)
        if new or self._group_of(i) != group:
            self._extra.setdefault(group, []).append(i)
        self.codes["family"][i] = fam
        self.codes["polymer"][i] = poly
        self.codes["form"][i] = v["form"].code(r.form)
        self.codes["color"][i] = v["color"].code(r.color)
        self.codes["source"][i] = v["source"].code(r.source)
        self.codes["end_of_waste_status"][i] = v["end_of_waste_status"].code(r.end_of_waste_status)
        self.codes["currency"][i] = v["currency"].code(r.currency)
        self.codes["mfr_cond"][i] = v["mfr_cond"].code(_pair(r.mfr_temperature_c, r.mfr_load_kg))
        self.codes["organization_id"][i] = v["organization_id"].code(r.organization_id)
        self.codes["certs"][i] = v["certs"].code(_certs_text(r.certifications))
        f = self.floats
        nan = math.nan
        f["dql"][i] = dql
        f["available_kg"][i] = float(r.available_kg)
        f["latitude"][i] = r.latitude
        f["longitude"][i] = r.longitude
        ux, uy, uz = _unit_vector(f["latitude"][i : i + 1], f["longitude"][i : i + 1])
        f["ux"][i], f["uy"][i], f["uz"][i] = ux[0], uy[0], uz[0]
        f["price"][i] = nan if r.price_per_t_minor is None else r.price_per_t_minor / 100.0
        for name, val in (
            ("mfr", r.mfr_g_10min),
            ("density", r.density_g_cm3),
            ("ash", r.ash_pct),
            ("moisture", r.moisture_pct),
            ("mfr_sd", r.mfr_sd),
            ("density_sd", r.density_sd),
            ("ash_sd", r.ash_sd),
            ("moisture_sd", r.moisture_sd),
        ):
            f[name][i] = (0.0 if name in _SDS else nan) if val is None else val
        self._derive_windows(slice(i, i + 1))
        self.ints["version"][i] = int(r.version or 0)
        af = r.available_from
        self.ints["available_from"][i] = _NO_DATE if af is None else af.toordinal()
        self.ints["certmask"][i] = self._certmask(r.certifications)
        self.alive[i] = True
        self.blobs[i] = _blob(r.title, r.match_facts) if self.facts_in_memory else _NO_BLOB

    def _group_of(self, i: int) -> Group:
        return (
            int(self.codes["family"][i]),
            int(self.codes["polymer"][i]),
            int(self.floats["dql"][i]),
        )

    def _upsert(self, r: Any) -> None:
        i = self.row_of.get(r.id)
        active = r.status == LotStatus.ACTIVE.value
        if i is not None:
            if int(self.ints["version"][i]) > int(r.version or 0):
                return  # an older view of the row (a transaction that began earlier)
            if not active:
                if self.alive[i]:
                    self.alive[i] = False
                    self.dead += 1
                    self._changes.append(i)
                    self.generation += 1
                return
            if not self.alive[i]:
                self.dead -= 1
            self._put(i, r, new=False)
            self._changes.append(i)
            self.generation += 1
            return
        if not active:
            return
        if self.n >= self.cap_rows:
            self._alloc(max(1024, self.cap_rows * 2))
        i = self.n
        self.n += 1
        self.ids.append(r.id)
        self.blobs.append(None)
        self.row_of[r.id] = i
        self._put(i, r, new=True)
        self._changes.append(i)
        self.generation += 1

    # --- build and refresh --------------------------------------------------------------------

    def refresh(self, session: Session) -> None:
        """Bring the snapshot up to date (call with ``lock`` held)."""
        started = dt.datetime.now(dt.UTC)
        if not self.built or (self.dead > 10_000 and self.dead > self.n // 4):
            t0 = time.perf_counter()
            self.__init_storage()
            result = session.connection().execute(
                select(*BUILD_COLUMNS).where(Lot.status == LotStatus.ACTIVE.value)
            )
            # Fetched (and converted by the driver) in parts: one fetchall of 1M rows held
            # the interpreter lock for seconds, so the worker's other threads (its requests,
            # uvicorn's health check) stalled until the supervisor killed it.
            active_rows: list[Any] = []
            for part in result.partitions(BUILD_FETCH_ROWS):
                active_rows.extend(part)
            self._bulk_load(active_rows)
            self.built = True
            self.generation += 1
            # The snapshot's Python objects (ids, id->row map) live as long as the process:
            # move them (and everything older) out of the cyclic GC's reach. Measured: full
            # collections over ~1M tracked objects took 100-150 ms, the p99 of new-spec matches.
            gc.freeze()
            self.build_seconds = time.perf_counter() - t0
        else:
            assert self.since is not None
            # Narrow read first; the full columns only of rows that changed.
            changed: list[str] = []
            rows = _QUERIES.rows(
                session_raw(session), "changed_since", _changed_since, {"since": self.since}
            )
            active = LotStatus.ACTIVE.value
            for lot_id, version, status, available_kg in rows:
                i = self.row_of.get(lot_id)
                if i is None:
                    if status == active:
                        changed.append(lot_id)
                elif (
                    int(self.ints["version"][i]) != int(version or 0)
                    or bool(self.alive[i]) != (status == active)
                    or float(self.floats["available_kg"][i]) != float(available_kg)
                ):
                    changed.append(lot_id)
            for start in range(0, len(changed), 500):
                full = select(*SNAPSHOT_COLUMNS).where(Lot.id.in_(changed[start : start + 500]))
                for r in session.connection().execute(full):
                    self._upsert(r)
        if len(self._changes) > 500_000:  # forget the changelog and the scans built on it
            self._changes = []
            self._scans.clear()
        self.since = started - REFRESH_MARGIN

    def _bulk_load(self, rows: Sequence[Any]) -> None:
        """Column-wise load of the active lots (the first build; a few seconds at 1M lots)."""
        n = len(rows)
        self._alloc(max(1024, n + n // 8))
        if not n:
            return
        names = [c.key for c in SNAPSHOT_COLUMNS]
        cols = dict(zip(names, zip(*rows, strict=True), strict=True))
        self.ids = list(cols["id"])
        if self.facts_in_memory:
            self.blobs = list(map(_blob, cols["title"], cols["match_facts"]))
        else:
            self.blobs = [_NO_BLOB] * n
        self.n = n
        for name in _CODED:
            vocab = self.vocab[name]
            get = vocab.codes.get
            out = self.codes[name]
            if name == "polymer":
                values: Iterable[Any] = [canonical_polymer(v) for v in cols[name]]
            elif name == "mfr_cond":
                values = map(_pair, cols["mfr_temperature_c"], cols["mfr_load_kg"])
            elif name == "certs":
                values = map(_certs_text, cols["certifications"])
            else:
                values = cols[name]
            out[:n] = np.fromiter(
                (c if (c := get(v)) is not None else vocab.code(v) for v in values),
                np.int32,
                n,
            )

        def floats(values: Iterable[Any]) -> F64:
            return np.fromiter((math.nan if v is None else v for v in values), np.float64, n)

        f = self.floats
        f["dql"][:n] = floats(int(v or 0) for v in cols["dql"])
        f["available_kg"][:n] = floats(cols["available_kg"])
        f["latitude"][:n] = floats(cols["latitude"])
        f["longitude"][:n] = floats(cols["longitude"])
        f["ux"][:n], f["uy"][:n], f["uz"][:n] = _unit_vector(f["latitude"][:n], f["longitude"][:n])
        f["price"][:n] = floats(None if v is None else v / 100.0 for v in cols["price_per_t_minor"])
        for name, col in (
            ("mfr", "mfr_g_10min"),
            ("density", "density_g_cm3"),
            ("ash", "ash_pct"),
            ("moisture", "moisture_pct"),
            ("mfr_sd", "mfr_sd"),
            ("density_sd", "density_sd"),
            ("ash_sd", "ash_sd"),
            ("moisture_sd", "moisture_sd"),
        ):
            f[name][:n] = floats(cols[col])
        for name in _SDS:
            np.nan_to_num(f[name][:n], copy=False, nan=0.0)
        self._derive_windows(slice(0, n))
        self.ints["version"][:n] = np.fromiter((int(v or 0) for v in cols["version"]), np.int64, n)
        self.ints["available_from"][:n] = np.fromiter(
            (_NO_DATE if v is None else v.toordinal() for v in cols["available_from"]),
            np.int64,
            n,
        )
        masks = self.ints["certmask"]
        for i, raw in enumerate(cols["certifications"]):
            if raw and raw not in ("[]", "null"):
                masks[i] = self._certmask_text(raw) if isinstance(raw, str) else self._certmask(raw)
        self.alive[:n] = True
        self._order_by_group(n)

    def _derive_windows(self, part: slice) -> None:
        """The window columns' ``_lo`` / ``_hi``: the value minus / plus k standard deviations
        (a hair less than the exact scorer's), moved inward by the bound's tolerance, so that
        ``lo >= minimum`` and ``hi <= maximum`` are exactly the tests the scan used to compute
        per row (same operations in the same order: the same floating point results)."""
        f = self.floats
        for col, _, sd in _WINDOW_COLUMNS.values():
            v = f[col][part]
            ksd = f[sd][part] * (scoring.K_SIGMA * (1 - 1e-9))
            tol = 1e-9 * (1.0 + np.abs(v) + ksd)
            f[f"{col}_lo"][part] = v - ksd + tol
            f[f"{col}_hi"][part] = v + ksd - tol

    def _order_by_group(self, n: int) -> None:
        """Reorder the first n rows by (family, polymer text, DQL): every (family, polymer,
        DQL) group is then one contiguous range, the levels of a polymer in a row and subtypes
        next to their base polymer (``PP``, ``PP-H``, ``PP-R``), so a scan reads column slices
        (views) instead of gathering rows, and a hard minimum DQL skips the lower levels."""
        fam_rank = _text_rank(self.vocab["family"])
        poly_rank = _text_rank(self.vocab["polymer"])
        fam = fam_rank[self.codes["family"][:n]]
        poly = poly_rank[self.codes["polymer"][:n]]
        dql = self.floats["dql"][:n].astype(np.int64)
        order = np.lexsort((dql, poly, fam))
        for arrays in (self.codes, self.floats, self.ints):
            for column in arrays.values():
                column[:n] = column[:n][order]
        positions = order.tolist()
        self.ids = [self.ids[i] for i in positions]
        self.blobs = [self.blobs[i] for i in positions]
        self.row_of = {lot_id: i for i, lot_id in enumerate(self.ids)}
        key = (fam[order].astype(np.int64) << 40) | (poly[order].astype(np.int64) << 8) | dql[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]).tolist()
        ends = [*starts[1:], n]
        for a, b in zip(starts, ends, strict=True):
            self._groups[self._group_of(a)] = (a, b)

    def __init_storage(self) -> None:
        self.n = 0
        self.dead = 0
        self.ids = []
        self.blobs = []
        self.row_of = {}
        self.alive = np.zeros(0, dtype=np.bool_)
        self.codes, self.floats, self.ints = {}, {}, {}
        self._groups, self._extra = {}, {}
        self._changes = []
        self._scans.clear()
        self._alloc(0)

    # --- exact facts cache --------------------------------------------------------------------

    def cached_facts(self, key: tuple[str, int]) -> scoring.LotFacts | None:
        with self._facts_lock:
            facts = self._facts.get(key)
            if facts is not None:
                self._facts.move_to_end(key)
            return facts

    def cache_facts(self, key: tuple[str, int], facts: scoring.LotFacts) -> None:
        with self._facts_lock:
            self._facts[key] = facts
            while len(self._facts) > FACTS_CACHE_SIZE:
                self._facts.popitem(last=False)

    def refreshed_generation(self, session: Session) -> int:
        with self.lock:
            self.refresh(session)
            return self.generation

    def answer(self, key: Any, generation: int) -> Any:
        """A memoised final answer, if computed on this very snapshot generation."""
        with self._facts_lock:
            hit = self._answers.get(key)
            return hit[1] if hit is not None and hit[0] == generation else None

    def keep_answer(self, key: Any, generation: int, value: Any) -> None:
        with self._facts_lock:
            self._answers[key] = (generation, value)
            self._answers.move_to_end(key)
            while len(self._answers) > SCAN_MEMO_SPECS:
                self._answers.popitem(last=False)

    # --- vectorised scan ----------------------------------------------------------------------

    def compatible_polymers(self, crit: scoring.PolymerCriterion) -> BoolA:
        """Lookup table polymer code -> compatible with the criterion (None: False)."""
        return self.vocab["polymer"].table(
            lambda p: any(
                scoring.polymer_compatible(p, v, crit.include_subtypes) for v in crit.values
            )
        )

    def wanted_values(self, crit: scoring.ValuesCriterion) -> BoolA:
        """Lookup table code -> one of the criterion's values (a denormalised attribute)."""
        wanted = {v.lower() for v in crit.values}
        return self.vocab[crit.attribute].table(lambda s: s.lower() in wanted)

    def _cut(self, spec: scoring.Spec, eligible_only: bool) -> tuple[int | None, set[int] | None]:
        """The family code and, with a hard polymer criterion, the compatible polymer codes."""
        fam = self.vocab["family"].codes.get(spec.family)
        crit = next((c for c in spec.criteria if isinstance(c, scoring.PolymerCriterion)), None)
        if fam is None or not eligible_only or crit is None or not crit.hard:
            return fam, None
        polymers = set(np.flatnonzero(self.compatible_polymers(crit)).tolist())
        if crit.if_missing != "fail":
            polymers.add(0)
        return fam, polymers

    @staticmethod
    def _min_dql(spec: scoring.Spec, eligible_only: bool) -> int:
        """The lowest DQL an eligible lot can have (a hard DQL criterion's minimum; a lot's
        DQL is never missing, so its missing-value policy does not matter)."""
        if not eligible_only:
            return 0
        return max(
            (c.minimum for c in spec.criteria if isinstance(c, scoring.DqlCriterion) and c.hard),
            default=0,
        )

    def _cut_rows(self, spec: scoring.Spec, rows: I64, eligible_only: bool) -> I64:
        """Of ``rows``: active, of the family, with quantity (and a compatible polymer)."""
        fam, polymers = self._cut(spec, eligible_only)
        if fam is None:
            return np.zeros(0, dtype=np.int64)
        keep = self.alive[rows] & (self.codes["family"][rows] == fam)
        keep &= self.floats["available_kg"][rows] > 0
        if polymers is not None:
            keep &= np.isin(self.codes["polymer"][rows], np.fromiter(polymers, np.int32))
        out: I64 = rows[keep]
        return out

    def _first_cut(self, spec: scoring.Spec, *, eligible_only: bool) -> list[Part]:
        """The parts of the snapshot a scan reads: the contiguous ranges of the family's
        (family, polymer, DQL) groups, only the compatible polymers with a hard polymer
        criterion and the levels from a hard minimum DQL up, merged where adjacent, plus the
        rows added or moved since the build (``_extra``)."""
        fam, polymers = self._cut(spec, eligible_only)
        if fam is None:
            return []
        min_dql = self._min_dql(spec, eligible_only)
        wanted = [
            key
            for key in {*self._groups, *self._extra}
            if key[0] == fam and (polymers is None or key[1] in polymers) and key[2] >= min_dql
        ]
        merged: list[list[int]] = []
        for a, b in sorted(self._groups[key] for key in wanted if key in self._groups):
            if merged and merged[-1][1] == a:
                merged[-1][1] = b
            else:
                merged.append([a, b])
        parts: list[Part] = [slice(a, b) for a, b in merged]
        extra = [i for key in wanted for i in self._extra.get(key, ())]
        if extra:
            rows = np.unique(np.asarray(extra, dtype=np.int64))
            if merged:  # a moved row stays in its old range too: read it once
                starts = np.asarray([m[0] for m in merged], dtype=np.int64)
                ends = np.asarray([m[1] for m in merged], dtype=np.int64)
                at = np.searchsorted(starts, rows, side="right") - 1
                inside = (at >= 0) & (rows < ends[np.maximum(at, 0)])
                rows = rows[~inside]
            if len(rows):
                parts.append(rows)
        return parts

    def scan(
        self,
        session: Session,
        spec: scoring.Spec,
        *,
        eligible_only: bool,
        skip_quantity: bool,
        refresh: bool = True,
    ) -> Candidates:
        """Refresh, then the lots that may be eligible (``eligible_only``; with
        ``skip_quantity`` the quantity criterion is not applied as a filter) or all active lots
        of the family with quantity, each with an upper bound of its score.

        Scans are memoised per spec and kept up to date incrementally: only the rows changed
        since (the refresh's changelog) are evaluated again."""
        with self.lock:
            if refresh:  # (the caller may have refreshed in this transaction a moment ago)
                self.refresh(session)
            key = (spec, eligible_only, skip_quantity)
            memo = self._scans.get(key)
            changed = len(self._changes) - memo[0] if memo is not None else 0
            if memo is None or changed > MAX_INCREMENTAL:
                pieces = [
                    self._evaluate_rows(spec, p, eligible_only, skip_quantity)
                    for p in self._first_cut(spec, eligible_only=eligible_only)
                ]
                if len(pieces) == 1:
                    part = pieces[0]
                else:
                    part = tuple(  # type: ignore[assignment]
                        np.concatenate(cols) if pieces else np.zeros(0, dtype=dtype)
                        for cols, dtype in zip(
                            zip(*pieces, strict=True) if pieces else ((),) * 4,
                            (np.int64, np.float64, np.float64, np.bool_),
                            strict=True,
                        )
                    )
            else:
                _, old = memo
                delta = np.unique(np.asarray(self._changes[memo[0] :], dtype=np.int64))
                if len(delta):
                    fresh = self._evaluate_rows(
                        spec,
                        self._cut_rows(spec, delta, eligible_only),
                        eligible_only,
                        skip_quantity,
                    )
                    stay = ~np.isin(old[0], delta, assume_unique=True)
                    part = tuple(
                        np.concatenate([o[stay], f]) for o, f in zip(old, fresh, strict=True)
                    )  # type: ignore[assignment]
                else:
                    part = old
            self._scans[key] = (len(self._changes), part)
            self._scans.move_to_end(key)
            while len(self._scans) > SCAN_MEMO_SPECS:
                self._scans.popitem(last=False)
            rows, cap, d_lb, maybe = part
            return Candidates(
                ids=_Ids(self.ids, rows),
                versions=self.ints["version"][rows],
                cap=cap,
                d_lb=d_lb,
                maybe_eligible=maybe,
                generation=self.generation,
                rows=rows,
                source=SnapshotRows(self),
            )

    def _evaluate_rows(
        self, spec: scoring.Spec, part: Part, eligible_only: bool, skip_quantity: bool
    ) -> tuple[I64, F64, F64, BoolA]:
        """Candidates of one part with their bounds, in three phases: (A) the hard criteria
        that need no distance, on the part as it is (column slices for a range: no copies),
        combined into one mask, plus a bounding box for a hard maximum distance; (B) hard
        distance and price, only for the rows that survived A; (C) the soft criteria, which
        only bound the score, for the final rows."""
        if isinstance(part, slice):
            start, n = part.start, part.stop - part.start
        else:
            start, n = 0, len(part)
        shared: dict[str, Any] = {}
        plan = [(c, _Evaluator(self, spec, c, shared)) for c in spec.criteria]
        fam = self.vocab["family"].codes.get(spec.family, -1)
        keep: BoolA = (
            self.alive[part]
            & (self.codes["family"][part] == fam)
            & (self.floats["available_kg"][part] > 0)
        )
        maybe = np.ones(n, dtype=np.bool_)
        outcomes: list[_Outcome | None] = [None] * len(plan)

        def applies(crit: scoring.Criterion) -> bool:
            return crit.hard and not (skip_quantity and isinstance(crit, scoring.QuantityCriterion))

        for i, (crit, ev) in enumerate(plan):
            if isinstance(crit, _LATE) or not applies(crit):
                continue
            nb = ev.nonblocking(part)
            if nb is None:  # no short form: the general outcome (kept for phase C)
                o = outcomes[i] = ev.outcome(part)
                nb = _nonblocking(crit, o)
            if eligible_only:
                keep &= nb
            else:
                maybe &= nb
        if eligible_only:
            keep &= self._bounding_box(spec, part)
        sel = np.flatnonzero(keep)
        rows: I64 = sel + start if isinstance(part, slice) else part[sel]
        maybe = maybe[sel]
        outcomes = [None if o is None else _take(o, sel) for o in outcomes]
        for i, (crit, ev) in sorted(
            enumerate(plan), key=lambda ie: _LATE_ORDER.get(type(ie[1][0]), 0)
        ):
            if not isinstance(crit, _LATE) or not applies(crit):
                continue
            o = outcomes[i] = ev.outcome(rows)
            nb = _nonblocking(crit, o)
            if not eligible_only:
                maybe &= nb
                continue
            k = np.broadcast_to(nb, rows.shape)
            if k.all():
                continue
            sel = np.flatnonzero(k)
            rows, maybe = rows[sel], maybe[sel]
            outcomes = [None if o is None else _take(o, sel) for o in outcomes]
            hit = shared.get("distance")
            if hit is not None:  # distances already computed stay aligned with the rows
                shared["distance"] = (rows, hit[1][sel])
        # (C) the criteria that filter nothing only bound the score: the final rows only.
        # num / den, den a scalar unless some criterion is ignored when missing; scalar
        # outcomes stay scalars (most criteria: no per-row array at all).
        num = np.zeros(len(rows))
        den: F64 | float = 0.0
        const = 0.0  # the part of num that is the same for every row
        for (crit, ev), done in zip(plan, outcomes, strict=True):
            w = float(crit.weight)
            if done is None and eligible_only and applies(crit) and _passing_scores_one(crit):
                # every row passed this hard criterion with a value: it scores 1
                const += w
                den += w
                continue
            if done is None:
                done = ev.outcome(rows, need_pass=False)
            ubv = done.ubv
            if isinstance(ubv, np.ndarray):
                ubv = np.minimum(ubv, 1.0)
                np.maximum(ubv, 0.0, out=ubv)
            else:
                ubv = min(1.0, max(0.0, float(ubv)))
            if crit.if_missing != "ignore":
                den += w
                if done.pv is True:
                    value: F64 | float = ubv
                elif done.pv is False:
                    continue
                else:
                    value = np.where(done.pv, ubv, 0.0)
            else:
                pv, pa = done.pv, done.pa
                known = np.logical_and(pv, np.logical_not(pa))
                uncertain = np.logical_and(pv, pa)
                value = np.where(known, ubv, 0.0) + uncertain
                den = den + w * np.logical_or(known, uncertain)
            if isinstance(value, np.ndarray):
                value *= w  # (a new array: np.minimum / np.where made it)
                num += value
            else:
                const += w * value
        if const:
            num += const
        with np.errstate(invalid="ignore", divide="ignore"):
            if isinstance(den, np.ndarray):
                ub = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)
            elif den > 0:
                ub = num / den
            else:
                ub = np.ones(len(rows))
        cap = np.minimum(1.0, ub + 1e-7)
        d = plan[0][1].distance_lb(rows) if plan else None
        d_lb = np.full(len(rows), np.inf) if d is None else d
        return rows, cap, d_lb, maybe

    def _bounding_box(self, spec: scoring.Spec, part: Part) -> BoolA | bool:
        """Rows that a hard maximum distance cannot rule out by a bounding box (rows without
        coordinates stay: the distance criterion decides them). With h the haversine term,
        h >= sin^2(dphi/2) and h >= cos(phi1) cos(phi2) sin^2(dlambda/2), so the distance is
        at least R |dphi|, and within the latitude band at least
        2R asin(sqrt(cos(phi1) cos(phi_far)) |sin(dlambda/2)|), phi_far being the band's
        latitude farthest from the equator."""
        crit = next((c for c in spec.criteria if isinstance(c, scoring.DistanceCriterion)), None)
        if crit is None or not crit.hard or crit.max_km is None or spec.origin is None:
            return True
        lat0, lon0 = spec.origin
        reach_km = crit.max_km * (1 + 1e-9) + 1e-6
        reach = reach_km / _KM_PER_DEGREE
        f = self.floats
        lat = f["latitude"][part]
        with np.errstate(invalid="ignore"):
            out: BoolA = ~(np.abs(lat - lat0) > reach)
            far = min(90.0, max(abs(lat0 - reach), abs(lat0 + reach)))
            cos_far = math.cos(math.radians(lat0)) * math.cos(math.radians(far))
            half = reach_km / (2.0 * EARTH_RADIUS_KM)
            if cos_far > 1e-12 and half < math.pi / 2:
                s = math.sin(half) / math.sqrt(cos_far)
                if s < 1.0:
                    dlon = math.degrees(2.0 * math.asin(s)) * (1 + 1e-9) + 1e-9
                    delta = np.abs(f["longitude"][part] - lon0)
                    if not -180.0 <= lon0 - dlon <= lon0 + dlon <= 180.0:
                        delta = np.abs((delta + 180.0) % 360.0 - 180.0)  # across +-180 degrees
                    out &= ~(delta > dlon)
        return out


def _unit_vector(lat: F64, lon: F64) -> tuple[F64, F64, F64]:
    phi, lam = np.radians(lat), np.radians(lon)
    cos_phi = np.cos(phi)
    return cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)


def distance_lb_km(ux: F64, uy: F64, uz: F64, lat0: float, lon0: float) -> F64:
    """A hair below the haversine distance from (lat0, lon0) to the unit vectors' points,
    through the chord: d = 2R asin(|u - u0| / 2). No trigonometry per row but one asin; the
    absolute error (~1e-12 km) is far inside the margin of 1e-9 relative plus 1 mm, except
    within ~600 km of the antipode, where asin (here and in the haversine) is ill-conditioned:
    1 km less there."""
    x0, y0, z0 = (float(a[0]) for a in _unit_vector(np.array([lat0]), np.array([lon0])))
    chord2 = (ux - x0) ** 2 + (uy - y0) ** 2 + (uz - z0) ** 2
    half = np.minimum(np.sqrt(chord2) * 0.5, 1.0)
    d = (2.0 * EARTH_RADIUS_KM) * np.arcsin(half)
    margin = np.where(half > 0.999, 1.0, 1e-6)
    out: F64 = np.maximum(0.0, d * (1 - 1e-9) - margin)
    return out


def _pair(t: float | None, load: float | None) -> tuple[float | None, float | None] | None:
    return None if t is None and load is None else (t, load)


def _text_rank(vocab: _Vocab) -> I64:
    """code -> rank of the code's text (None first)."""
    order = sorted(range(len(vocab.values)), key=lambda c: vocab.values[c] or "")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank


def _take(o: _Outcome, sel: npt.NDArray[np.intp]) -> _Outcome:
    """The outcome for the selected rows (scalars stay scalars)."""

    def t(x: Any) -> Any:
        return x[sel] if isinstance(x, np.ndarray) and x.ndim else x

    return _Outcome(t(o.pv), t(o.passv), t(o.ubv), t(o.pa))


class _Ids(Sequence[str]):
    """Lot ids of candidate rows, looked up lazily (the snapshot's id list is append-only)."""

    def __init__(self, ids: list[str], rows: I64) -> None:
        self._ids = ids
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self._ids[r] for r in self._rows[i].tolist()]
        return self._ids[int(self._rows[i])]


# Criteria that need distances (haversine) run in phase B, on the rows that survived the rest:
# the distance first (it filters), then the price (a landed price adds transport).
_LATE: Final = (scoring.DistanceCriterion, scoring.PriceCriterion)
_LATE_ORDER: Final[dict[type, int]] = {scoring.DistanceCriterion: 0, scoring.PriceCriterion: 1}
_KM_PER_DEGREE: Final = EARTH_RADIUS_KM * math.pi / 180.0


def _passing_scores_one(crit: scoring.Criterion) -> bool:
    """A hard criterion whose rows left after the filter certainly have a value that passes
    (value possible, never absent), and a passing value scores 1 (the short filters' types)."""
    if isinstance(
        crit,
        scoring.FamilyCriterion
        | scoring.DqlCriterion
        | scoring.QuantityCriterion
        | scoring.DeliveryWindowCriterion,
    ):
        return True
    if isinstance(crit, scoring.PolymerCriterion):
        return crit.if_missing == "fail"
    if isinstance(crit, scoring.ValuesCriterion):
        return crit.if_missing == "fail" and crit.attribute in _CODED_VALUES
    return False


def _nonblocking(crit: scoring.Criterion, o: _Outcome) -> BoolA | bool:
    fail_if_absent = crit.hard and crit.if_missing == "fail"
    value_ok = np.logical_and(o.pv, np.logical_or(o.passv, not crit.hard))
    absent_ok = np.logical_and(o.pa, not fail_if_absent)
    out: BoolA | bool = np.logical_or(value_ok, absent_ok)
    return out


class _Evaluator:
    """Vectorised outcome bounds of one criterion over snapshot rows."""

    def __init__(
        self,
        index: LotIndex,
        spec: scoring.Spec,
        crit: scoring.Criterion,
        shared: dict[str, Any],
    ) -> None:
        self.ix = index
        self.spec = spec
        self.crit = crit
        self.shared = shared  # per scan: distances of the current rows

    def outcome(self, rows: Part, *, need_pass: bool = True) -> _Outcome:
        """The criterion's possible outcomes over ``rows``; without ``need_pass`` the
        ``passv`` field may be left at True (the bound-only use of phase C)."""
        return self._compute(rows, need_pass)

    def nonblocking(self, rows: Part) -> BoolA | bool | None:
        """The rows this hard criterion cannot make ineligible, in as few array operations as
        possible: the same rows as ``_nonblocking(crit, outcome(rows))`` (a test compares
        them), or None where only that general form applies."""
        c = self.crit
        ix = self.ix
        f = ix.floats
        absent_ok = c.if_missing != "fail"
        if isinstance(c, scoring.FamilyCriterion):
            return True  # the part's rows are checked for the family already
        if isinstance(c, scoring.PolymerCriterion):
            lut = ix.compatible_polymers(c)
            lut[0] = absent_ok
            out: BoolA = np.take(lut, ix.codes["polymer"][rows])  # (about twice lut[codes])
            return out
        if isinstance(c, scoring.ValuesCriterion):
            if c.attribute not in _CODED_VALUES:
                return True
            lut = ix.wanted_values(c)
            lut[0] = absent_ok
            out = np.take(lut, ix.codes[c.attribute][rows])
            return out
        if isinstance(c, scoring.DqlCriterion):
            return True if c.minimum <= 0 else f["dql"][rows] >= c.minimum
        if isinstance(c, scoring.QuantityCriterion):
            return True if c.min_kg is None else f["available_kg"][rows] >= c.min_kg
        if isinstance(c, scoring.DeliveryWindowCriterion):
            if c.end is None:
                return True
            # _NO_DATE (-1) is before every date: "available now" passes
            out = ix.ints["available_from"][rows] <= c.end.toordinal()
            return out
        if isinstance(c, scoring.WindowCriterion) and not absent_ok:
            return self._window_nonblocking(c, rows)
        return None

    def _window_nonblocking(self, c: scoring.WindowCriterion, rows: Part) -> BoolA | bool:
        """Hard window, missing = fail: a value, comparable as far as the columns tell, whose
        mean +- k sd can lie inside (as ``_window``: value possible and passing)."""
        col = _WINDOW_COLUMNS.get(c.prop)
        if col is None or col[1] != c.canonical_unit:
            return True
        f = self.ix.floats
        if c.prop == "Viscosity" and c.quantity != "MFR":
            out: BoolA = np.isnan(f["mfr"][rows])
            return out
        if c.minimum is None and c.maximum is None:
            ok: BoolA = ~np.isnan(f[col[0]][rows])
        else:
            with np.errstate(invalid="ignore"):  # NaN (no value) compares False: blocked
                if c.minimum is not None:
                    ok = f[f"{col[0]}_lo"][rows] >= c.minimum
                if c.maximum is not None:
                    high = f[f"{col[0]}_hi"][rows] <= c.maximum
                    ok = high if c.minimum is None else ok & high
        tables = self._condition_tables(c)
        if tables is not None:  # a required condition surely differs: blocked
            ok &= np.take(~tables[1], self.ix.codes["mfr_cond"][rows])
        return ok

    def _condition_tables(self, c: scoring.WindowCriterion) -> tuple[BoolA, BoolA] | None:
        """Lookup tables MFR (temperature, load) code -> (every required numeric condition is
        stated and the same, some stated condition surely differs), per distinct pair instead
        of per row; the exact scorer's ``_same_condition`` is the relative 1e-3 test in
        between. None without numeric MFR conditions."""
        if c.prop != "Viscosity":
            return None
        wanted = [
            (0 if name == "temperature_c" else 1, float(w))
            for name, w in c.conditions
            if name in ("temperature_c", "load_kg") and not isinstance(w, str)
        ]
        if not wanted:
            return None

        def gaps(pair: tuple[float | None, float | None]) -> list[tuple[float, float] | None]:
            out: list[tuple[float, float] | None] = []
            for at, w in wanted:
                have = pair[at]
                if have is None or math.isnan(have):
                    out.append(None)
                else:
                    out.append((abs(have - w), max(1e-3 * max(abs(have), abs(w)), 1e-9)))
            return out

        vocab = self.ix.vocab["mfr_cond"]
        same = vocab.table(lambda p: all(g is not None and g[0] <= 0.5 * g[1] for g in gaps(p)))
        other = vocab.table(lambda p: any(g is not None and g[0] > 2.0 * g[1] for g in gaps(p)))
        return same, other

    def distance_lb(self, rows: Part) -> F64 | None:
        """Distances (a hair below the haversine); phase B only (cached for these rows)."""
        if self.spec.origin is None:
            return None
        hit = self.shared.get("distance")
        if hit is not None and hit[0] is rows:
            return hit[1]  # type: ignore[no-any-return]
        f = self.ix.floats
        out = distance_lb_km(f["ux"][rows], f["uy"][rows], f["uz"][rows], *self.spec.origin)
        self.shared["distance"] = (rows, out)
        return out

    def _compute(self, rows: Part, need_pass: bool = True) -> _Outcome:
        c = self.crit
        ix = self.ix
        f = ix.floats
        if isinstance(c, scoring.FamilyCriterion):
            return _Outcome(True, True, 1.0, False)  # rows are of the family already
        if isinstance(c, scoring.PolymerCriterion):
            code = ix.codes["polymer"][rows]
            ok = ix.compatible_polymers(c)[code]
            return _Outcome(code != 0, ok, ok.astype(np.float64), code == 0)
        if isinstance(c, scoring.ValuesCriterion):
            if c.attribute not in _CODED_VALUES:
                return _unknown()  # food contact: from the grade, not denormalised
            code = ix.codes[c.attribute][rows]
            ok = ix.wanted_values(c)[code]
            return _Outcome(code != 0, ok, ok.astype(np.float64), code == 0)
        if isinstance(c, scoring.DqlCriterion):
            dql = f["dql"][rows]
            if c.minimum <= 0:
                return _Outcome(True, True, 1.0, False)
            ok = dql >= c.minimum
            return _Outcome(True, ok, np.where(ok, 1.0, dql / c.minimum), False)
        if isinstance(c, scoring.QuantityCriterion):
            if c.min_kg is None:
                return _Outcome(True, True, 1.0, False)
            avail = f["available_kg"][rows]
            with np.errstate(over="ignore"):  # a tiny minimum: an infinite bound is still a bound
                ratio = avail / c.min_kg
            return _Outcome(True, avail >= c.min_kg, ratio, False)
        if isinstance(c, scoring.DeliveryWindowCriterion):
            if c.end is None:
                return _Outcome(True, True, 1.0, False)
            af = ix.ints["available_from"][rows]
            ok = (af == _NO_DATE) | (af <= c.end.toordinal())
            return _Outcome(True, ok, ok.astype(np.float64), False)
        if isinstance(c, scoring.DistanceCriterion):
            d = self.distance_lb(rows)
            if d is None:
                return _Outcome(False, False, 0.0, True)
            if c.max_km is None:
                return _Outcome(True, True, 1.0 / (1.0 + d / 500.0), False)
            with np.errstate(over="ignore"):  # a tiny max distance: -inf means "cannot pass"
                bound = 1.0 - d / (2.0 * c.max_km)
            return _Outcome(True, d <= c.max_km, bound, False)
        if isinstance(c, scoring.PriceCriterion):
            return self._price(c, rows)
        if isinstance(c, scoring.CertificationCriterion):
            return self._certs(c, rows)
        if isinstance(c, scoring.WindowCriterion):
            return self._window(c, rows, need_pass)
        return _unknown()  # ReachCriterion and anything new: decided by the exact scorer

    def _price(self, c: scoring.PriceCriterion, rows: Part) -> _Outcome:
        ix = self.ix
        price = ix.floats["price"][rows]
        cur = ix.codes["currency"][rows]
        want = ix.vocab["currency"].codes.get(c.currency, -1)
        value_possible = ~np.isnan(price) & (cur == want)
        value = price
        if c.basis == "landed":
            if c.currency != "EUR":
                return _Outcome(False, False, 0.0, True)
            d = self.distance_lb(rows)
            rate = self.spec.transport_eur_per_t_km
            value = price + rate * (d if d is not None else 0.0)
        value = value - 1e-9 * np.abs(value) - 1e-9
        with np.errstate(invalid="ignore"):
            ok = value <= c.max_per_t
            ub = 1.0 - value / (2.0 * c.max_per_t) if c.max_per_t > 0 else ok.astype(np.float64)
        return _Outcome(value_possible, ok, np.nan_to_num(ub, nan=0.0), ~value_possible)

    def _certs(self, c: scoring.CertificationCriterion, rows: Part) -> _Outcome:
        ix = self.ix
        mask = ix.ints["certmask"][rows]
        unknown = mask == _CERT_UNKNOWN
        has = unknown | (mask != 0)
        count = np.zeros(mask.shape)
        for s in c.schemes:
            bit = ix.schemes.get(s)
            if bit is not None:
                count += (mask >> bit) & 1
        count = np.where(unknown, len(c.schemes), count)
        ok = count == len(c.schemes) if c.mode == "all" else count > 0
        ub = np.where(ok, 1.0, count / len(c.schemes))
        return _Outcome(has, ok, ub, ~has)

    def _window(self, c: scoring.WindowCriterion, rows: Part, need_pass: bool) -> _Outcome:
        col = _WINDOW_COLUMNS.get(c.prop)
        if col is None or col[1] != c.canonical_unit:
            return _unknown()
        f = self.ix.floats
        if c.prop == "Viscosity" and c.quantity != "MFR":
            # The column holds MFR only: a lot with an MFR is incomparable with this window.
            has = ~np.isnan(f["mfr"][rows])
            return _Outcome(~has, True, 1.0, True)
        # lo / hi: mean -+ k sd (a hair narrower than the exact scorer's), moved inward by the
        # tolerance (``_derive_windows``); NaN without a value (both, or neither). Only the
        # sides the window uses are read.
        below = c.minimum is not None or c.target is not None
        above = c.maximum is not None or c.target is not None
        lo = f[f"{col[0]}_lo"][rows] if below else None
        hi = f[f"{col[0]}_hi"][rows] if above or lo is None else None
        either = lo if lo is not None else hi
        assert either is not None
        has = ~np.isnan(either)
        # Comparable for sure (given the value) only if the method and every condition can be
        # read from the columns: the MFR's temperature and load, per distinct pair.
        sure = not c.methods and all(
            c.prop == "Viscosity"
            and name in ("temperature_c", "load_kg")
            and not isinstance(wanted, str)
            for name, wanted in c.conditions
        )
        tables = self._condition_tables(c)
        # The exact facts may still lack the value (e.g. no unit): "value or absent".
        pv: BoolA
        pa: BoolA | bool
        if tables is None:
            pv = has  # incomparable only without a value
            pa = ~has if sure else True  # not surely comparable: absent stays possible
        else:
            same, other = tables
            code = self.ix.codes["mfr_cond"][rows]
            pv = has & ~np.take(other, code)
            pa = ~(has & np.take(same, code)) if sure else True
        with np.errstate(invalid="ignore"):  # NaN (no value): pv is False there
            inside: BoolA | bool = True
            if need_pass:
                if lo is not None and c.minimum is not None:
                    inside = lo >= c.minimum
                if hi is not None and c.maximum is not None:
                    high = hi <= c.maximum
                    inside = high if inside is True else inside & high
                if inside is not True:
                    inside = np.where(has, inside, True)
            if c.target is not None:
                assert lo is not None
                assert hi is not None
                t = c.target
                # |v - t| + k sd - tol, which is hi - t above the target and t - lo below it
                dist = np.maximum(hi - t, t - lo)
                np.maximum(dist, 0.0, out=dist)
                ub = 1.0 - dist / (2.0 * c.reach())
            else:
                over: F64 | float = 0.0
                if hi is not None and c.maximum is not None:
                    over = np.maximum(hi - c.maximum, 0.0)
                if lo is not None and c.minimum is not None:
                    over = np.maximum(over, c.minimum - lo)
                ub = 1.0 - np.asarray(over) / c.width()
        # ub is NaN where there is no value: every use masks it by pv (False there)
        return _Outcome(pv, inside, ub, pa)


# --- registry -----------------------------------------------------------------------------------

_indexes: dict[str, LotIndex] = {}
_registry_lock = threading.Lock()


def _key(session: Session) -> str:
    bind = session.get_bind()
    engine: Any = getattr(bind, "engine", bind)
    return str(engine.url)


def index_for(session: Session) -> LotIndex:
    """The process-wide snapshot of the session's database."""
    key = _key(session)
    with _registry_lock:
        ix = _indexes.get(key)
        if ix is None:
            ix = _indexes[key] = LotIndex()
        return ix


def warm(database: Any, then: Callable[[Session], object] | None = None) -> threading.Thread:
    """Build the snapshot in the background (call at worker start-up: a 1M-lot build takes
    20-30 s, which the first match request would otherwise wait for), then run ``then``.
    ``database`` is an ``app.kit.db.Database``."""

    def build() -> None:
        with database.transaction(write=False) as session:
            index_for(session).refreshed_generation(session)
            if then is not None:
                then(session)

    thread = threading.Thread(target=build, name="lot-index-warmup", daemon=True)
    thread.start()
    return thread


def reset(keys: Iterable[str] | None = None) -> None:
    """Forget snapshots (tests: each test runs in a rolled-back transaction)."""
    with _registry_lock:
        if keys is None:
            _indexes.clear()
        else:
            for k in keys:
                _indexes.pop(k, None)
