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
    with db.transaction() as s:
        for org in ("org_none", recycler.id):
            rows = queries.rows(s, "by-org", build, {"org": org, "since": since})
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

        def build():
            return select(LOTS.c.id, LOTS.c.updated_at).where(LOTS.c.updated_at == bindparam("at"))

        rows = queries.rows(s, "at", build, {"at": lot.updated_at})
        assert [row[0] for row in rows] == [lot.id]
        assert rows[0][1] == lot.updated_at
        assert rows[0][1].tzinfo is not None


def test_database_errors_surface_as_sqlalchemy_errors(db):
    queries = CompiledQueries()
    missing = table("no_such_table", column("x"))
    with db.transaction() as s, pytest.raises(DBAPIError):
        queries.rows(s, "missing", lambda: select(missing.c.x), {})
