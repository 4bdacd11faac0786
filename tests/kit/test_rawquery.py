from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, column, select, table
from sqlalchemy.exc import DBAPIError

from app.kit.rawquery import CompiledQueries
from app.lots.models import Lot
from app.lots.service import LOTS


def test_compiles_once_per_shape_and_binds_values(db, recycler):
    queries = CompiledQueries()
    calls = []

    def build():
        calls.append(1)
        return select(LOTS.c.id, LOTS.c.updated_at).where(
            LOTS.c.organization_id == bindparam("org"), LOTS.c.updated_at >= bindparam("since")
        )

    since = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    with db.raw_read() as conn:
        for org in ("org_none", recycler.id):
            rows = queries.rows(conn, "by-org", build, {"org": org, "since": since})
            assert rows == []  # the recycler has no lots yet
        assert len(calls) == 1
        assert len(queries) == 1


def test_datetimes_are_bound_and_read_as_utc(db, client, recycler):
    from tests.factories import lot_body

    r = client.post("/v1/lots", json=lot_body(), headers=recycler.headers)
    assert r.status_code == 201
    queries = CompiledQueries()
    with db.transaction() as s:
        lot = s.get(Lot, r.json()["id"])
        assert lot is not None
    with db.raw_read() as conn:

        def build():
            return select(LOTS.c.id, LOTS.c.updated_at).where(LOTS.c.updated_at == bindparam("at"))

        rows = queries.rows(conn, "at", build, {"at": lot.updated_at})
        assert [row[0] for row in rows] == [lot.id]
        assert rows[0][1] == lot.updated_at
        assert rows[0][1].tzinfo is not None


def test_database_errors_surface_as_sqlalchemy_errors(db):
    queries = CompiledQueries()
    missing = table("no_such_table", column("x"))
    with db.raw_read() as conn, pytest.raises(DBAPIError):
        queries.rows(conn, "missing", lambda: select(missing.c.x), {})


SLOW = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) "


def test_inline_budget_interrupts_a_slow_statement_on_both_databases(database_url):
    """What run_raw_read relies on: a statement over the budget fails and says so."""
    from app.kit.db import Database

    database = Database(database_url)
    slow = (
        "SELECT pg_sleep(0.2)"
        if database_url.startswith("postgresql")
        else SLOW + "SELECT count(*) FROM n"
    )
    try:
        error = database.engine.dialect.loaded_dbapi.Error
        expected = pytest.raises(error, match=r"interrupted|statement timeout")
        with expected, database.raw_read(budget_s=0.002) as conn:
            conn.dbapi.cursor().execute(slow).fetchall()
        assert conn.interrupted
        # a timed-out PostgreSQL connection stays in the pool, usable (no reconnect per slow read)
        with database.raw_read(budget_s=0.002) as again:
            assert again.dbapi.cursor().execute("SELECT 2").fetchall() == [(2,)]
        with database.raw_read(budget_s=0.5) as conn:  # a fast statement is untouched
            assert conn.dbapi.cursor().execute("SELECT 1").fetchall() == [(1,)]
            assert not conn.interrupted
    finally:
        database.dispose()


def test_a_cold_inline_connection_is_not_held_to_the_inline_timeout(database_url, monkeypatch):
    """The dialect's first-connect queries on a new inline connection (a cold backend: server
    version, type lookups) are not held to the 5 ms inline statement timeout; only the reads
    are. Before, a slow first connect failed the worker's first list request with a 500."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: the inline pool and its statement timeout")
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    from app.kit.db import PG_INLINE_TIMEOUT_MS, Database

    original = PGDialect_psycopg.initialize

    def slow_initialize(self, connection):  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("SELECT pg_sleep(0.05)")
        original(self, connection)

    monkeypatch.setattr(PGDialect_psycopg, "initialize", slow_initialize)
    database = Database(database_url)
    try:
        with database.raw_read(budget_s=0.005) as conn:
            timeout = conn.dbapi.cursor().execute("SHOW statement_timeout").fetchone()[0]
        assert timeout == f"{PG_INLINE_TIMEOUT_MS}ms"
        error = database.engine.dialect.loaded_dbapi.Error
        with (
            pytest.raises(error, match="statement timeout"),
            database.raw_read(budget_s=0.005) as conn,
        ):
            conn.dbapi.cursor().execute("SELECT pg_sleep(0.05)").fetchall()
    finally:
        database.dispose()


def test_a_read_reruns_on_a_thread_when_the_inline_pool_fails(database_url, monkeypatch):
    """A failed checkout from the inline pool (a connect error, or anything before the
    statement) is not the request's failure: the read re-runs on a thread with the main pool."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite reads inline on its main pool")
    import asyncio
    from types import SimpleNamespace

    from app.kit.db import Database
    from app.kit.routing import run_raw_read

    database = Database(database_url)
    error = database.engine.dialect.loaded_dbapi.OperationalError

    def refuse() -> None:
        raise error("connection refused (simulated)")

    monkeypatch.setattr(database.inline_engine, "raw_connection", refuse)
    settings = SimpleNamespace(inline_read_budget_ms=1.0)
    state = SimpleNamespace(db=database, settings=settings)
    request = SimpleNamespace(app=SimpleNamespace(state=state))
    try:
        rows = asyncio.run(
            run_raw_read(request, lambda conn: conn.dbapi.cursor().execute("SELECT 7").fetchall())  # type: ignore[arg-type]
        )
    finally:
        database.dispose()
    assert rows == [(7,)]


def test_sqlite_time_budget_interrupts_a_slow_statement(db):
    if not db.is_sqlite:
        pytest.skip("SQLite only: the test connection's own progress handler")
    with db.raw_read(budget_s=0.002) as conn:
        cur = conn.dbapi.cursor()
        with pytest.raises(Exception, match="interrupted"):
            cur.execute(SLOW + "SELECT count(*) FROM n").fetchall()
        assert conn.interrupted
    with db.raw_read(budget_s=5) as conn:  # a fast statement is untouched
        assert conn.dbapi.cursor().execute("SELECT 1").fetchall() == [(1,)]
        assert not conn.interrupted


def test_an_interrupted_list_read_reruns_on_a_thread(client, app, recycler, manufacturer):
    from tests.factories import lot_body

    ids = {client.post("/v1/lots", json=lot_body(), headers=recycler.headers).json()["id"]}
    ids.add(client.post("/v1/lots", json=lot_body(), headers=recycler.headers).json()["id"])
    settings = app.state.settings
    original = settings.inline_read_budget_ms
    try:
        # a budget nothing fits in: every inline attempt is interrupted and re-run
        object.__setattr__(settings, "inline_read_budget_ms", 1e-6)
        r = client.get("/v1/lots", headers=manufacturer.headers)
    finally:
        object.__setattr__(settings, "inline_read_budget_ms", original)
    assert r.status_code == 200, r.text
    assert {x["id"] for x in r.json()["data"]} == ids


def test_numeric_columns_on_the_production_database(database_url):
    """Float/number columns through a real pooled connection (PostgreSQL needs the type code
    from the cursor to pick a result processor; this once failed there with a 500)."""
    from app.kit.db import Database

    database = Database(database_url)
    queries = CompiledQueries()
    try:
        with database.raw_read() as conn:
            rows = queries.rows(
                conn,
                "floats",
                lambda: select(LOTS.c.available_kg, LOTS.c.latitude, LOTS.c.dql).where(
                    LOTS.c.id == bindparam("lot_id")
                ),
                {"lot_id": "lot_none"},
            )
            assert list(rows) == []
            rows = queries.rows(
                conn,
                "literal",
                lambda: select(
                    (LOTS.c.available_kg * 1.5).label("x"),
                    LOTS.c.updated_at,
                ).limit(1),
                {},
            )
            for x, updated in rows:
                assert isinstance(x, float)
                assert updated.tzinfo is not None
    finally:
        database.dispose()
