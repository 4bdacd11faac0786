"""Test fixtures: a fresh database per test session, migrated with Alembic; one rolled-back
transaction per test; factories for organisations and credentials.

Run on SQLite (default) or PostgreSQL:
    RECYCLATE_TEST_DB=postgres RECYCLATE_TEST_POSTGRES_URL=postgresql+psycopg://u@host:port/postgres
(`make test` starts a throw-away PostgreSQL for the second run; see scripts/with-postgres.sh).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.auth.scopes import ALL_SCOPES
from app.auth.service import create_api_key
from app.kit.db import Database, RawConnection, make_engine, sqlite_time_budget
from app.kit.migrations import upgrade
from app.main import create_app
from app.orgs.models import OrgRole
from app.orgs.service import create_organization
from app.settings import Settings

DB_KIND = os.environ.get("RECYCLATE_TEST_DB", "sqlite")
DB_FIXTURES = {"database_url", "connection", "db", "app", "client"}


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {DB_KIND}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & DB_FIXTURES or item.get_closest_marker("concurrency"):
            item.add_marker(pytest.mark.db)


def create_test_database() -> tuple[str, object]:
    """Create an empty database and return (url, cleanup callable)."""
    if DB_KIND == "postgres":
        admin_url = os.environ.get("RECYCLATE_TEST_POSTGRES_URL")
        if not admin_url:
            pytest.exit("RECYCLATE_TEST_DB=postgres needs RECYCLATE_TEST_POSTGRES_URL", 2)
        name = f"rcy_test_{secrets.token_hex(4)}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)

        def cleanup() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

        return url, cleanup
    tmp = tempfile.mkdtemp(prefix="rcy-test-")
    url = f"sqlite:///{Path(tmp) / 'test.db'}"
    return url, lambda: None


@contextmanager
def committed_databases() -> Iterator[tuple[Database, Database]]:
    """A fresh, migrated, committed database and two independent Database objects (engines,
    pools) on it: two API workers, for tests of what one sees of the other's commits."""
    url, cleanup = create_test_database()
    upgrade(url)
    first, second = Database(url), Database(url)
    try:
        yield first, second
    finally:
        first.dispose()
        second.dispose()
        cleanup()  # type: ignore[operator]


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url, cleanup = create_test_database()
    upgrade(url)
    yield url
    cleanup()  # type: ignore[operator]


@pytest.fixture(scope="session")
def engine(database_url: str):  # type: ignore[no-untyped-def]
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


class BoundDatabase(Database):
    """A Database whose sessions all join one outer transaction (rolled back after the test)."""

    def __init__(self, connection: Connection, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = connection.engine
        self.write_engine = connection.engine
        self.connection = connection

    def session(self, *, write: bool) -> Session:
        return Session(
            bind=self.connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
        )

    @contextmanager
    def raw_read(self, *, budget_s: float | None = None) -> Iterator[RawConnection]:
        # the test's own connection: raw reads see the test's uncommitted rows
        conn = RawConnection(self.connection.connection.dbapi_connection, self.engine.dialect)
        with sqlite_time_budget(conn, budget_s):
            yield conn

    def dispose(self) -> None:
        pass


@pytest.fixture
def connection(engine) -> Iterator[Connection]:  # type: ignore[no-untyped-def]
    conn = engine.connect()
    trans = conn.begin()
    yield conn
    trans.rollback()
    conn.close()


@pytest.fixture
def db(connection: Connection, database_url: str) -> BoundDatabase:
    return BoundDatabase(connection, database_url)


def make_settings(database_url: str, **overrides: object) -> Settings:
    return Settings(database_url=database_url, env="test", access_log=False, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def _app(database_url: str) -> FastAPI:
    return create_app(make_settings(database_url), db=Database(database_url))


@pytest.fixture
def app(_app: FastAPI, db: BoundDatabase) -> Iterator[FastAPI]:
    original = _app.state.db
    _app.state.db = db
    _app.state.credential_cache.clear()  # credentials of rolled-back tests must not linger
    if _app.state.rate_limiter is not None:
        _app.state.rate_limiter.clear()  # so are their rate-limit counters
    if _app.state.auth_throttle is not None:
        _app.state.auth_throttle.clear()  # and their failed authentications
    yield _app
    _app.state.db = original


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=True) as c:
        yield c


@dataclass
class OrgCtx:
    id: str
    role: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def _make_org(db: Database, role: str, name: str, scopes: list[str] | None = None) -> OrgCtx:
    with db.transaction() as s:
        org = create_organization(s, name=name, role=OrgRole(role), country="DE")
        _, secret = create_api_key(s, org.id, name="test", scopes=scopes or sorted(ALL_SCOPES))
        return OrgCtx(org.id, role, secret)


@pytest.fixture
def make_org(db: BoundDatabase):  # type: ignore[no-untyped-def]
    counter = iter(range(1_000_000))

    def factory(role: str = "recycler", scopes: list[str] | None = None) -> OrgCtx:
        return _make_org(db, role, f"{role.title()} Test {next(counter)}", scopes)

    return factory


@pytest.fixture
def recycler(make_org) -> OrgCtx:  # type: ignore[no-untyped-def]
    return make_org("recycler")  # type: ignore[no-any-return]


@pytest.fixture
def recycler2(make_org) -> OrgCtx:  # type: ignore[no-untyped-def]
    return make_org("recycler")  # type: ignore[no-any-return]


@pytest.fixture
def manufacturer(make_org) -> OrgCtx:  # type: ignore[no-untyped-def]
    return make_org("manufacturer")  # type: ignore[no-any-return]


@pytest.fixture
def manufacturer2(make_org) -> OrgCtx:  # type: ignore[no-untyped-def]
    return make_org("manufacturer")  # type: ignore[no-any-return]
