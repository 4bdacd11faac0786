"""Matches always agree with the database, whatever the per-process snapshot holds: a lot
withdrawn, sold or reserved a moment ago is never offered, also when another worker (another
engine, its own connections) made the change, and also when the change is invisible to the
incremental refresh (an ``updated_at`` far in the past, or a statement that did not bump it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from app.auth.service import Principal
from app.kit.db import Database, utcnow
from app.kit.rawquery import CompiledQueries
from app.lots import service as lot_service
from app.lots.models import Lot
from app.lots.schemas import LotCreate
from app.matching import index, scoring, search, service
from app.orders.service import return_quantity, take_quantity
from app.orgs.models import OrgRole
from app.orgs.service import create_organization
from app.requirements.schemas import RequirementSpec
from app.requirements.service import resolve_spec
from tests.conftest import committed_databases
from tests.matching.helpers import lot, spec

pytestmark = pytest.mark.db


@pytest.fixture
def two_workers() -> Iterator[tuple[Database, Database]]:
    """A committed database and two independent Database objects (engines) on it."""
    with committed_databases() as pair:
        try:
            yield pair
        finally:
            index.reset()


def _spec(**overrides: Any) -> scoring.Spec:
    model = RequirementSpec.model_validate(spec(**overrides))
    resolved = RequirementSpec.model_validate(resolve_spec(model, ""), strict=False)
    return service.build_spec(resolved, transport_eur_per_t_km=0.12, today=utcnow().date())


def _offered(db: Database, s: scoring.Spec, *, ineligible: bool = False) -> dict[str, Any]:
    with db.transaction(write=False) as session:
        out = service.match(session, s, limit=100, include_ineligible=ineligible)
        exact = service.match_exact(session, s, limit=100, include_ineligible=ineligible)
    assert [(r.lot.id, r.score) for r in out.results] == [
        (r.lot.id, r.score) for r in exact.results
    ]
    return {r.lot.id: r for r in out.results}


def _seed(writer: Database, n: int) -> list[str]:
    with writer.transaction() as s:
        org = create_organization(s, name="Seller", role=OrgRole.RECYCLER, country="DE")
        principal = Principal(org.id, "recycler", "test", "api_key", frozenset())
        ids = []
        for _ in range(n):
            row = lot_service.build_lot(s, principal, LotCreate.model_validate(lot()), now=utcnow())
            s.add(row)
            s.flush()
            ids.append(row.id)
    return ids


def test_changes_by_another_worker_are_seen_at_once(two_workers) -> None:  # type: ignore[no-untyped-def]
    matcher, writer = two_workers
    gone, sold, reserved, past, silent, kept = _seed(writer, 6)
    s = _spec()
    assert set(_offered(matcher, s)) == {gone, sold, reserved, past, silent, kept}

    # withdrawn through the lots service, sold out and partly reserved through the guarded
    # quantity statements of the orders service: all on the other engine, committed
    with writer.transaction() as w:
        lot_service.withdraw_lot(w, w.get_one(Lot, gone))
        take_quantity(w, sold, 24_000)
        take_quantity(w, reserved, 20_000)  # 4 t left, the spec needs 10 t
    offered = _offered(matcher, s)
    assert set(offered) == {past, silent, kept}
    with_short = _offered(matcher, s, ineligible=True)
    assert with_short[reserved].failed == ["quantity"]
    assert gone not in with_short
    assert sold not in with_short

    # changes the incremental refresh cannot see: updated_at long before the snapshot's
    # watermark (a late commit, a skewed clock) and a statement that did not bump it at all
    long_ago = utcnow() - dt.timedelta(hours=1)
    with writer.transaction() as w:
        w.execute(
            update(Lot)
            .where(Lot.id == past)
            .values(status="withdrawn", version=Lot.version + 1, updated_at=long_ago)
        )
        w.execute(update(Lot).where(Lot.id == silent).values(available_kg=1_000))
    assert set(_offered(matcher, s)) == {kept}
    assert _offered(matcher, s, ineligible=True)[silent].failed == ["quantity"]

    # quantity coming back (a cancelled reservation) is offered again
    with writer.transaction() as w:
        return_quantity(w, reserved, 20_000)
    assert set(_offered(matcher, s)) == {reserved, kept}


def test_new_lots_of_another_worker_are_offered(two_workers) -> None:  # type: ignore[no-untyped-def]
    matcher, writer = two_workers
    first = _seed(writer, 2)
    s = _spec()
    assert set(_offered(matcher, s)) == set(first)
    later = _seed(writer, 3)
    assert set(_offered(matcher, s)) == set(first) | set(later)
    with matcher.transaction(write=False) as session:
        ix = index.index_for(session)
        assert ix.built
        assert ix.n == 5


def test_each_worker_process_has_its_own_snapshot(two_workers) -> None:  # type: ignore[no-untyped-def]
    """Two snapshots (as two uvicorn workers hold) agree after a change by either side."""
    matcher, writer = two_workers
    ids = _seed(writer, 3)
    s = _spec()
    other = index.LotIndex()
    with matcher.transaction(write=False) as session:
        assert len(other.scan(session, s, eligible_only=True, skip_quantity=False).ids) == 3
    _offered(matcher, s)
    with writer.transaction() as w:
        take_quantity(w, ids[0], 24_000)
    assert set(_offered(matcher, s)) == set(ids[1:])
    with matcher.transaction(write=False) as session:
        cands = other.scan(session, s, eligible_only=True, skip_quantity=False)
        assert sorted(cands.ids) == sorted(ids[1:])
        assert session.scalar(select(Lot.status).where(Lot.id == ids[0])) == "sold_out"


def test_warm_builds_the_snapshot_then_compiles_the_facts_read(two_workers, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A worker's start-up (``service.warm``, in the background): the snapshot, then every
    padded shape of the facts read, so no request pays for compiling one."""
    matcher, writer = two_workers
    ids = _seed(writer, 2)
    monkeypatch.setattr(search, "_FACTS_QUERIES", CompiledQueries(maxsize=512))
    monkeypatch.setattr(index, "_QUERIES", CompiledQueries(maxsize=8))
    service.warm(matcher).join(timeout=60)
    dialect = matcher.engine.dialect
    with matcher.transaction(write=False) as session:
        ix = index.index_for(session)
        assert ix.built
        assert sorted(ix.ids) == sorted(ids)
    shapes = {shape for name, shape in search._FACTS_QUERIES._cache if name == dialect.name}
    assert {(1, 0), (64, 0), (256, 0)} <= shapes
    if dialect.name != "sqlite":  # the facts read also carries the state of other lots there
        assert {(64, 1), (64, 64), (256, 256)} <= shapes

    def no_compile(*_args: object) -> None:
        raise AssertionError("a shape was compiled during a request")

    monkeypatch.setattr(CompiledQueries, "_compile", no_compile)
    with matcher.transaction(write=False) as session:
        rows, state = search.facts_rows(session, ids[:1], ids[1:])
        assert [r.id for r in rows] == ids[:1]
        assert set(state) == set(ids[1:])
        # and a whole match, with its refresh read (compiled at start-up too)
        out = service.match(session, _spec(), limit=10, include_ineligible=False)
    assert {r.lot.id for r in out.results} == set(ids)


def test_the_state_recheck_reads_only_the_covering_index(two_workers) -> None:  # type: ignore[no-untyped-def]
    """The re-check every match ends with (``search.current_state``) answers from the index
    ``ix_lots_id_state`` (migration 0012) instead of reading each wide lot row."""
    matcher, writer = two_workers
    ids = _seed(writer, 3)
    sql = search._state_sql(matcher.engine.dialect.name, len(ids))
    if matcher.is_sqlite:
        with matcher.engine.connect() as conn:
            plan = " ".join(
                str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", tuple(ids))
            )
        assert "COVERING INDEX ix_lots_id_state" in plan
    else:
        auto = matcher.engine.execution_options(isolation_level="AUTOCOMMIT")
        with auto.connect() as conn:
            # 3,000 rows (copies under other ids) so that the planner costs it like a table,
            # and a visibility map for an index-only scan: VACUUM sets it once the inserts'
            # commits are flushed (the test cluster commits asynchronously: CHECKPOINT)
            conn.exec_driver_sql(
                "INSERT INTO lots SELECT (jsonb_populate_record(l, jsonb_build_object("
                "'id', 'lot_c' || md5(g::text || l.id)))).* "
                "FROM lots l, generate_series(1, 1000) g"
            )
            conn.exec_driver_sql("CHECKPOINT")
            conn.exec_driver_sql("VACUUM ANALYZE lots")
            # a table this small could as well be scanned; at 1M lots the planner takes the
            # index-only scan by itself (measured, benchmarks/matching/README.md)
            conn.exec_driver_sql("SET enable_seqscan = off")
            conn.exec_driver_sql("SET enable_bitmapscan = off")
            plan = " ".join(str(r[0]) for r in conn.exec_driver_sql(f"EXPLAIN {sql}", tuple(ids)))
        assert "Index Only Scan using ix_lots_id_state" in plan
        assert "Index Cond: (id = ANY" in plan
    with matcher.transaction(write=False) as session:
        state = search.current_state(session, [*ids, "lot_missing"])
    assert state == dict.fromkeys(ids, ("active", 24000.0))


def test_facts_and_state_of_cached_lots_come_in_one_read(two_workers) -> None:  # type: ignore[no-untyped-def]
    """``search.facts_rows``: the facts of lots not cached and the state of cached ones (one
    statement on PostgreSQL), as committed by another worker a moment ago."""
    matcher, writer = two_workers
    loaded, cached, withdrawn, reserved = _seed(writer, 4)
    with writer.transaction() as w:
        lot_service.withdraw_lot(w, w.get_one(Lot, withdrawn))
        take_quantity(w, reserved, 20_000)
    with matcher.transaction(write=False) as session:
        # 3 and 3 ids: each list padded to 4 with an id no lot has
        rows, state = search.facts_rows(
            session, [loaded, "lot_gone", "lot_gone_too"], [cached, withdrawn, reserved]
        )
        assert [r.id for r in rows] == [loaded]
        assert rows[0].status == "active"
        assert rows[0].available_kg == 24_000
        assert rows[0].match_facts
        assert state == {
            cached: ("active", 24_000.0),
            withdrawn: ("withdrawn", 24_000.0),
            reserved: ("active", 4_000.0),
        }
        assert search.facts_rows(session, [], [cached]) == ([], {cached: ("active", 24_000.0)})
        rows, state = search.facts_rows(session, [cached], [])
        assert [r.id for r in rows] == [cached]
        assert state == {}
