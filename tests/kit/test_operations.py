from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app.auth.models import ApiKey
from app.kit.db import Database
from app.main import create_app
from tests.conftest import make_settings


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_when_ready(client):
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "ready"


def test_readyz_when_database_is_down(database_url):
    down = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    app = create_app(make_settings(database_url), db=Database(down))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/readyz")
        assert r.status_code == 503
        assert r.headers["retry-after"]
        assert r.json()["code"] == "database_unavailable"
        # any endpoint that needs the database answers 503 too, never 500
        r2 = c.get("/v1/organizations/me", headers={"Authorization": "Bearer rcy_sk_x"})
        assert r2.status_code == 503
        assert r2.headers["content-type"] == "application/problem+json"


def test_readyz_when_migrations_are_pending(tmp_path, database_url):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    app = create_app(make_settings(database_url), db=Database(url))
    with TestClient(app) as c:
        r = c.get("/readyz")
        assert r.status_code == 503


def test_metrics_exposes_request_counters(client):
    client.get("/healthz")
    text = client.get("/metrics").text
    assert "recyclate_http_requests_total" in text
    assert 'route="/healthz"' in text


def test_request_id_is_echoed_or_generated(client):
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r2 = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert r2.headers["x-request-id"].startswith("req_")


def test_failed_commit_is_an_error_not_a_201(client, recycler, db):
    """The session commits before the response is sent, so a failing commit is reported."""

    def boom(session):
        raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    event.listen(Session, "before_commit", boom)
    try:
        r = client.post("/v1/api-keys", json={"name": "ghost"}, headers=recycler.headers)
    finally:
        event.remove(Session, "before_commit", boom)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    with db.transaction() as s:
        assert s.query(ApiKey).filter_by(name="ghost").count() == 0


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_docs_are_served(client, path):
    assert client.get(path).status_code == 200


def test_read_sessions_run_without_a_transaction_only_on_postgresql(database_url):
    """PostgreSQL read sessions are in autocommit (READ COMMITTED gives every statement its own
    snapshot anyway: BEGIN and COMMIT were two round trips per read); SQLite keeps its read
    transaction, which is what makes several statements see one snapshot there. Writes always
    run in a transaction."""
    db = Database(database_url)
    try:
        for write in (False, True):
            with db.transaction(write=write) as s:
                s.execute(select(1)).one()
                dbapi = s.connection().connection.dbapi_connection
                if db.is_sqlite:
                    assert dbapi.in_transaction
                else:
                    assert dbapi.autocommit is (not write)
                    assert (dbapi.info.transaction_status == 0) is (not write)  # 0: idle
    finally:
        db.dispose()


def _backend_pid(db: Database) -> int:
    with db.transaction(write=False) as s:
        return int(s.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(database_url: str, pid: int) -> None:
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Each ping of a pooled PostgreSQL connection before its use (app.kit.db.PING_IDLE_S)."""
    seen: list[object] = []
    original = PGDialect_psycopg.do_ping

    def counting(self: PGDialect_psycopg, dbapi_connection: object) -> bool:
        seen.append(dbapi_connection)
        return bool(original(self, dbapi_connection))

    monkeypatch.setattr(PGDialect_psycopg, "do_ping", counting)
    return seen


@pytest.mark.db
def test_pooled_connections_are_pinged_only_after_being_idle(database_url, pings, monkeypatch):
    """A connection used a moment ago is not pinged (the ping was a round trip per request);
    one idle for PING_IDLE_S is, and if its server process is gone the pool replaces it."""
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: SQLite has no server connection")
    monkeypatch.setattr("app.kit.db.PING_IDLE_S", 0.2)
    db = Database(database_url, pool_size=1, max_overflow=0)
    try:
        pid = _backend_pid(db)  # a new connection: pinged once
        assert len(pings) == 1
        assert _backend_pid(db) == pid
        assert len(pings) == 1  # used a moment ago: no ping
        time.sleep(0.25)
        assert _backend_pid(db) == pid
        assert len(pings) == 2  # idle for longer: pinged, alive, kept
        _terminate(database_url, pid)
        time.sleep(0.25)
        assert _backend_pid(db) != pid  # the ping failed: a new connection, no error
    finally:
        db.dispose()


@pytest.mark.db
def test_a_connection_that_died_right_after_use_fails_once(database_url, pings, monkeypatch):
    """The cost of not pinging every checkout: a connection whose server process died less
    than PING_IDLE_S after its last use fails the next statement (a 503 problem in the API);
    it is invalidated, and the statement after works on a new connection."""
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: SQLite has no server connection")
    monkeypatch.setattr("app.kit.db.PING_IDLE_S", 60.0)
    db = Database(database_url, pool_size=1, max_overflow=0)
    try:
        pid = _backend_pid(db)
        _terminate(database_url, pid)
        with pytest.raises(OperationalError) as failed:
            _backend_pid(db)
        assert failed.value.connection_invalidated
        assert _backend_pid(db) != pid
    finally:
        db.dispose()


def test_sqlite_page_cache_per_connection_follows_the_setting(tmp_path) -> None:
    """SQLite read and write connections get the configured page cache (``cache_size`` in
    KiB, negative); the default is ``SQLITE_CACHE_MB``."""
    from app.kit.db import SQLITE_CACHE_MB

    url = f"sqlite:///{tmp_path / 'cache.db'}"
    for mb, want in ((None, SQLITE_CACHE_MB), (7, 7)):
        db = Database(url) if mb is None else Database(url, sqlite_cache_mb=mb)
        try:
            for engine in (db.engine, db.write_engine):
                with engine.connect() as conn:
                    assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -want * 1024
        finally:
            db.dispose()
