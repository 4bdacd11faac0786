"""Database engines, sessions and the declarative base.

SQLite is the embedded default, PostgreSQL the production database. On SQLite we take the
write lock up front (``BEGIN IMMEDIATE``) for requests that write, so two writers never both
read first and then deadlock on the lock upgrade; read requests use a deferred ``BEGIN`` and
run concurrently thanks to WAL mode.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSONType}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Page cache per SQLite connection, filled as pages are read (SQLite's default is 2 MiB). It
# is the process's own memory: this machine's OS page cache does not keep a large database's
# pages for long (benchmarks/matching/README.md), and at 1M lots the hot index of the match
# re-check alone (``ix_lots_id_state``) is ~60 MB.
SQLITE_CACHE_MB = 128


def _configure_sqlite(
    engine: Engine, *, immediate: bool, busy_timeout_ms: int, cache_mb: int = SQLITE_CACHE_MB
) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy (not pysqlite) control transactions, so SAVEPOINT works.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        # Page cache per connection (SQLITE_CACHE_MB): random reads by id (a match
        # re-checks and loads its top lots) were ~25 us a row from the OS cache at 1M lots,
        # half that from this one, and milliseconds when the OS had dropped the page.
        cur.execute(f"PRAGMA cache_size=-{int(cache_mb) * 1024}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, *, immediate: bool = False, **kwargs: Any) -> Engine:
    """Create an engine. For SQLite, ``immediate`` makes every transaction take the write lock.
    JSON columns use orjson (reading JSON was ~40 % of loading a page of lots with json)."""
    busy_timeout_ms = int(kwargs.pop("busy_timeout_ms", 10_000))
    cache_mb = int(kwargs.pop("sqlite_cache_mb", SQLITE_CACHE_MB))
    statement_timeout_ms = int(kwargs.pop("statement_timeout_ms", 15_000))
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            **kwargs,
        )
        _configure_sqlite(
            engine, immediate=immediate, busy_timeout_ms=busy_timeout_ms, cache_mb=cache_mb
        )
        return engine
    connect_args = {
        "connect_timeout": 5,
        "options": f"-c statement_timeout={statement_timeout_ms}",
    }
    ping_idle_s = kwargs.pop("ping_idle_s", PING_IDLE_S)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    if ping_idle_s is not None and not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, ping_idle_s)
    return engine


# A pooled PostgreSQL connection idle for longer than this is pinged before use; one used a
# moment ago is not. SQLAlchemy's pool_pre_ping pings on every checkout: one round trip per
# request (0.3 ms here) to guard against a server restart that a connection busy within the
# last second would have noticed too.
PING_IDLE_S = 1.0


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Pessimistic disconnect handling, only for connections idle for ``idle_s`` or more:
    a failed ping raises ``DisconnectionError``, on which the pool discards the connection
    and checks out another (up to three times). A connection that died within ``idle_s`` of
    its last use fails its first statement instead, which is then invalidated like any
    disconnect (the request gets a 503 problem, app/kit/problems.py)."""
    clock = time.monotonic
    dbapi_error = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = clock()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and clock() - since < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except dbapi_error as exc:
            raise DisconnectionError("the pooled connection failed its ping") from exc


@dataclass
class RawConnection:
    dbapi: Any
    dialect: Dialect
    interrupted: bool = False  # the time budget of ``raw_read`` ran out mid-statement


@contextmanager
def sqlite_time_budget(conn: RawConnection, seconds: float | None) -> Iterator[None]:
    """Interrupt a SQLite statement that runs longer than ``seconds`` (it then raises
    ``OperationalError: interrupted`` and ``conn.interrupted`` is set)."""
    if seconds is None or conn.dialect.name != "sqlite":
        yield
        return
    deadline = time.perf_counter() + seconds
    clock = time.perf_counter

    def check() -> int:
        if clock() > deadline:
            conn.interrupted = True
            return 1
        return 0

    conn.dbapi.set_progress_handler(check, 500)
    try:
        yield
    finally:
        conn.dbapi.set_progress_handler(None, 0)


PG_INLINE_TIMEOUT_MS = 5
QUERY_CANCELED = "57014"  # PostgreSQL: statement timeout (the connection stays usable)


class InlinePoolUnavailableError(Exception):
    """The inline pool gave no connection (``raw_read`` with a budget on PostgreSQL): the
    caller runs the read on a thread with the main pool instead."""


def _statement_timeout_after_connect(engine: Engine, timeout_ms: int) -> None:
    """Give each new connection of ``engine`` a statement timeout once it is connected. Not
    as a connect option: the dialect's first-connect queries on a cold backend (server
    version, type lookups) can take longer than a few milliseconds, and failing them failed
    the worker's first hot read. Appended to the connect event, so it runs after them."""

    @event.listens_for(engine, "connect")
    def _set_timeout(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET statement_timeout = {int(timeout_ms)}")
        dbapi_conn.commit()


class Database:
    """Owns the engines and hands out sessions: a write session or a read session."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        busy_timeout_ms: int = 10_000,
        statement_timeout_ms: int = 15_000,
        sqlite_cache_mb: int = SQLITE_CACHE_MB,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            sqlite = {"busy_timeout_ms": busy_timeout_ms, "sqlite_cache_mb": sqlite_cache_mb}
            self.engine = make_engine(url, immediate=False, **sqlite)
            self.write_engine = make_engine(url, immediate=True, **sqlite)
        else:
            self.engine = make_engine(
                url,
                pool_size=pool_size,
                max_overflow=max_overflow,
                statement_timeout_ms=statement_timeout_ms,
            )
            self.write_engine = self.engine
            # Hot single-statement reads that run on the event loop (raw_read with a budget):
            # a statement timeout bounds how long the loop can wait, and no pre-ping round
            # trip (a dead connection fails the read, is invalidated, and the read re-runs on
            # a thread with the main pool).
            self.inline_engine = make_engine(
                url,
                # used by the event loop thread only, one statement at a time
                pool_size=1,
                max_overflow=1,
                ping_idle_s=None,
            )
            _statement_timeout_after_connect(self.inline_engine, PG_INLINE_TIMEOUT_MS)
        # PostgreSQL read sessions run in autocommit: under READ COMMITTED every statement
        # takes its own snapshot inside a transaction too, so BEGIN and COMMIT only cost two
        # round trips per read (measured: 0.55 ms for a transaction around SELECT 1, against
        # 0.16 ms for the SELECT). SQLite keeps its read transaction: there it is the snapshot.
        read_engine = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._read = sessionmaker(read_engine, expire_on_commit=False, autoflush=True)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False, autoflush=True)

    def session(self, *, write: bool) -> Session:
        return (self._write if write else self._read)()

    @contextmanager
    def raw_read(self, *, budget_s: float | None = None) -> Iterator[RawConnection]:
        """A pooled DBAPI connection for single-statement reads on hot paths: no session, and
        on SQLite no explicit BEGIN/ROLLBACK pair (one statement is its own snapshot).
        ``budget_s`` interrupts a SQLite statement that takes longer (sqlite_time_budget)."""
        inline = budget_s is not None and not self.is_sqlite
        try:
            proxied = (self.inline_engine if inline else self.engine).raw_connection()
        except (DBAPIError, self.engine.dialect.loaded_dbapi.Error) as exc:
            if inline:  # a connect error or a failed ping: no statement ran, re-run elsewhere
                raise InlinePoolUnavailableError from exc
            raise
        dbapi = proxied.dbapi_connection
        # PostgreSQL: one statement needs no transaction; autocommit saves the BEGIN and the
        # ROLLBACK round trips around it
        autocommit = not self.is_sqlite and not dbapi.autocommit  # type: ignore[union-attr]
        invalidated = False
        try:
            if autocommit:
                dbapi.autocommit = True  # type: ignore[union-attr]
            conn = RawConnection(dbapi, self.engine.dialect)
            with sqlite_time_budget(conn, budget_s):
                try:
                    yield conn
                except (DBAPIError, self.engine.dialect.loaded_dbapi.Error) as exc:
                    if inline:
                        # over the statement timeout, or a dead connection: either way the
                        # caller re-runs the read on a thread
                        conn.interrupted = True
                        orig = getattr(exc, "orig", exc)
                        if getattr(orig, "sqlstate", None) != QUERY_CANCELED:
                            invalidated = True
                            proxied.invalidate()  # never reuse a connection in doubt
                    raise
        finally:
            if autocommit and not invalidated:
                dbapi.autocommit = False  # type: ignore[union-attr]
            proxied.close()  # back to the pool (which rolls back anything left open)

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """A unit of work outside HTTP (CLI, workers): commit on success, roll back on error."""
        session = self.session(write=write)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if not self.is_sqlite:
            self.inline_engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()
