"""Hot read paths: a Core statement compiled once per shape, run on a raw DBAPI connection.

SQLAlchemy already caches compiled SQL, but building the statement, computing its cache key
and wrapping each result row cost more than the query itself for a small indexed page (about
0.4 ms against 0.1 ms on SQLite; benchmarks/README.md). For the few queries that every client
polls, ``CompiledQueries`` builds the statement only the first time a *shape* is seen (which
filters are present, which order, cursor or not), keeps the SQL text, its parameter order
and the bind processors of its parameters (UTC datetimes), and afterwards only processes the
parameter values and executes, on a connection from ``Database.raw_read`` (one statement, no
session, no BEGIN/ROLLBACK round on SQLite; in tests, the test's own connection).

Values always travel as bound parameters, never in the SQL text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CompoundSelect, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.kit.db import RawConnection


def session_raw(session: Session) -> RawConnection:
    """The session's own DBAPI connection, in its transaction (the hot reads of a request
    that also uses the ORM: they see what the session's other statements see)."""
    conn = session.connection()
    return RawConnection(conn.connection.dbapi_connection, conn.dialect)


AnySelect = Select[*tuple[Any, ...]] | CompoundSelect[*tuple[Any, ...]]  # of any columns


def run_sql(conn: RawConnection, sql: str, args: Any) -> tuple[Sequence[tuple[Any, ...]], Any]:
    """Execute ``sql`` on a DBAPI cursor of ``conn``: (rows as the driver returns them, the
    cursor's description). Driver errors come out as SQLAlchemy's, so they get the same
    problem responses as the ORM's."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor = conn.dbapi.cursor()
    try:
        cursor.execute(sql, args)
        return cursor.fetchall(), cursor.description
    except dbapi_error as exc:
        raise DBAPIError.instance(sql, args, exc, dbapi_error, dialect=conn.dialect) from exc
    finally:
        cursor.close()


SNAPSHOT_SQL = "SELECT pg_current_snapshot()::text"


def snapshot_token(conn: RawConnection) -> str | None:
    """PostgreSQL's current snapshot as text, the validity token of ``SnapshotCache``
    (app/kit/pagecache.py). None where it proves nothing: on SQLite, and on a connection inside
    a transaction (which sees its own uncommitted writes, and those do not move the
    snapshot); ``Database.raw_read`` connections on PostgreSQL are in autocommit."""
    if conn.dialect.name != "postgresql" or not conn.dbapi.autocommit:
        return None
    rows, _ = run_sql(conn, SNAPSHOT_SQL, ())
    return cast("str", rows[0][0])


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # parameter names in order, for positional paramstyles
    defaults: Mapping[str, Any]  # values embedded in the statement (e.g. OFFSET 0)
    processors: Mapping[str, Callable[[Any], Any]]
    column_types: tuple[Any, ...]  # SQLAlchemy types of the selected columns
    # (column index, result processor), resolved at the first execution: some drivers' types
    # need the column's type code from the cursor description (PostgreSQL numerics)
    results: list[tuple[tuple[int, Callable[[Any], Any]], ...]]


def _result_processors(
    entry: _Compiled, dialect: Dialect, description: Sequence[Any]
) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    found = []
    for i, (type_, desc) in enumerate(zip(entry.column_types, description, strict=True)):
        proc = type_.result_processor(dialect, desc[1])
        if proc is not None:
            found.append((i, proc))
    return tuple(found)


class CompiledQueries:
    def __init__(self, maxsize: int = 512) -> None:
        self.maxsize = maxsize
        self._cache: dict[tuple[str, Hashable], _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self, dialect: Dialect, build: Callable[[], AnySelect]) -> _Compiled:
        stmt = build()
        compiled = stmt.compile(dialect=dialect)
        processors: dict[str, Callable[[Any], Any]] = {}
        for bind in compiled.binds.values():
            proc = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                processors[bind.key] = proc
        types = tuple(column.type.dialect_impl(dialect) for column in stmt.selected_columns)
        defaults = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        positional = tuple(compiled.positiontup or ()) if compiled.positional else None
        return _Compiled(str(compiled), positional, defaults, processors, types, [])

    def prepare(self, dialect: Dialect, shape: Hashable, build: Callable[[], AnySelect]) -> None:
        """Compile ``shape`` ahead of its first use (start-up), unless it is compiled."""
        self._entry(dialect, shape, build)

    def _entry(
        self, dialect: Dialect, shape: Hashable, build: Callable[[], AnySelect]
    ) -> _Compiled:
        key = (dialect.name, shape)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._compile(dialect, build)
            with self._lock:
                if len(self._cache) >= self.maxsize:
                    self._cache.clear()
                self._cache[key] = entry
        return entry

    def rows(
        self,
        conn: RawConnection,
        shape: Hashable,
        build: Callable[[], AnySelect],
        params: Mapping[str, Any],
    ) -> Sequence[tuple[Any, ...]]:
        """Run the statement ``build()`` makes for ``shape`` with ``params``: rows as tuples,
        their values converted by the column types as SQLAlchemy would (UTC datetimes)."""
        dialect = conn.dialect
        entry = self._entry(dialect, shape, build)
        values = {**entry.defaults, **params}
        for name, proc in entry.processors.items():
            if values.get(name) is not None:
                values[name] = proc(values[name])
        args: Any = [values[n] for n in entry.positional] if entry.positional else values
        rows, description = run_sql(conn, entry.sql, args)
        if not entry.results:
            entry.results.append(_result_processors(entry, dialect, description))
        results = entry.results[0]
        if not results:
            return cast("list[tuple[Any, ...]]", rows)  # the drivers return tuples
        out = []
        for r in rows:
            row = list(r)
            for i, rproc in results:
                row[i] = rproc(row[i])
            out.append(tuple(row))
        return out

    def __len__(self) -> int:
        return len(self._cache)
