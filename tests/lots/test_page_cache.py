"""List pages kept per worker (app/kit/pagecache.py): on PostgreSQL a page is served again only
while the database's snapshot is unchanged, so a change made by another worker shows at the
next read, whether it was committed before the kept page was read or was in progress then and
committed later. On SQLite the cache is never used (one statement costs no round trip there)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from app.auth.service import Principal
from app.kit.db import Database, RawConnection, utcnow
from app.kit.pagecache import SnapshotCache
from app.kit.rawquery import snapshot_token
from app.lots import service as lot_service
from app.lots.models import Lot
from app.lots.schemas import LotCreate
from app.lots.summary import ItemCache
from app.main import create_app
from app.orders.service import take_quantity
from app.orgs.models import OrgRole
from app.orgs.service import create_organization
from tests.conftest import _make_org, committed_databases, make_settings
from tests.factories import lot_body

pytestmark = pytest.mark.db

Page = tuple[list[bytes], str | None]


@pytest.fixture
def two_workers() -> Iterator[tuple[Database, Database]]:
    with committed_databases() as pair:
        yield pair


def _seed(writer: Database, n: int) -> tuple[Principal, list[str]]:
    with writer.transaction() as s:
        org = create_organization(s, name="Seller", role=OrgRole.RECYCLER, country="DE")
        principal = Principal(org.id, "recycler", "test", "api_key", frozenset())
        ids = []
        for _ in range(n):
            row = lot_service.build_lot(
                s, principal, LotCreate.model_validate(lot_body()), now=utcnow()
            )
            s.add(row)
            s.flush()
            ids.append(row.id)
    return principal, ids


def _page(
    db: Database, principal: Principal, pages: SnapshotCache[Page] | None, limit: int = 50
) -> list[dict[str, Any]]:
    with db.raw_read() as conn:
        items, _ = lot_service.list_lot_items(
            conn,
            principal,
            lot_service.LotFilters(),
            sort="newest",
            cursor=None,
            limit=limit,
            cache=ItemCache(1000),
            pages=pages,
        )
    return [orjson.loads(item) for item in items]


def _available(page: list[dict[str, Any]]) -> dict[str, float]:
    return {item["id"]: item["available_kg"] for item in page}


def test_a_kept_page_is_served_until_another_worker_commits(two_workers) -> None:  # type: ignore[no-untyped-def]
    reader, writer = two_workers
    principal, (a, b, c) = _seed(writer, 3)
    pages: SnapshotCache[Page] = SnapshotCache(16)
    first = _page(reader, principal, pages)
    assert _available(first) == {a: 24_000.0, b: 24_000.0, c: 24_000.0}
    again = _page(reader, principal, pages)
    assert again == first
    if reader.is_sqlite:
        assert len(pages) == 0
        assert pages.hits == pages.misses == 0
        return
    assert (pages.hits, pages.misses) == (1, 1)

    with writer.transaction() as w:  # another engine: another worker
        take_quantity(w, a, 10_000)
        lot_service.withdraw_lot(w, w.get_one(Lot, b))
    after = _page(reader, principal, pages)
    assert after == _page(reader, principal, None)  # the database's own answer
    assert _available(after) == {a: 14_000.0, c: 24_000.0}
    assert pages.misses == 2


def test_a_transaction_in_progress_while_the_page_was_read_shows_once_committed(
    two_workers,
) -> None:  # type: ignore[no-untyped-def]
    """The older of two writing transactions commits last: no transaction id is assigned or
    completed beyond the snapshot's xmax then, only its in-progress list changes."""
    reader, writer = two_workers
    if writer.is_sqlite:
        pytest.skip("SQLite has one writer at a time, and the cache is not used there")
    principal, (a, b) = _seed(writer, 2)
    pages: SnapshotCache[Page] = SnapshotCache(16)
    older, younger = writer.session(write=True), writer.session(write=True)
    try:
        take_quantity(older, a, 4_000)  # written, not committed: the page must not show it
        take_quantity(younger, b, 1_000)
        younger.commit()
        before = _page(reader, principal, pages)
        assert _available(before) == {a: 24_000.0, b: 23_000.0}
        assert _page(reader, principal, pages) == before  # nothing ended meanwhile
        assert pages.hits == 1
        older.commit()
    finally:
        older.close()
        younger.close()
    after = _page(reader, principal, pages)
    assert _available(after) == {a: 20_000.0, b: 23_000.0}
    assert after == _page(reader, principal, None)


def test_pages_are_kept_per_query(two_workers) -> None:  # type: ignore[no-untyped-def]
    reader, writer = two_workers
    principal, ids = _seed(writer, 3)
    pages: SnapshotCache[Page] = SnapshotCache(16)
    one = _page(reader, principal, pages, limit=1)
    three = _page(reader, principal, pages, limit=3)
    newest_first = sorted(ids, reverse=True)  # ids made in one millisecond sort at random
    assert [item["id"] for item in one] == newest_first[:1]
    assert [item["id"] for item in three] == newest_first
    assert _page(reader, principal, pages, limit=1) == one


def test_no_snapshot_token_inside_a_transaction_or_on_sqlite(two_workers) -> None:  # type: ignore[no-untyped-def]
    reader, _writer = two_workers
    with reader.raw_read() as conn:
        token = snapshot_token(conn)
        assert (token is None) == reader.is_sqlite
    with reader.engine.connect() as c:
        c.begin()  # its own writes would be visible to it without moving the snapshot
        raw = RawConnection(c.connection.dbapi_connection, reader.engine.dialect)
        assert snapshot_token(raw) is None


def test_the_list_endpoint_uses_the_cache_and_shows_changes(two_workers) -> None:  # type: ignore[no-untyped-def]
    reader, writer = two_workers
    app = create_app(make_settings(reader.url), db=reader)
    seller = _make_org(writer, "recycler", "Seller")
    with TestClient(app) as client:
        made = client.post("/v1/lots", json=lot_body(), headers=seller.headers)
        assert made.status_code == 201, made.text
        lot_id = made.json()["id"]
        first = client.get("/v1/lots", headers=seller.headers)
        second = client.get("/v1/lots", headers=seller.headers)
        assert first.status_code == second.status_code == 200
        assert second.json() == first.json()
        with writer.transaction() as w:
            take_quantity(w, lot_id, 5_000)
        third = client.get("/v1/lots", headers=seller.headers).json()
    assert [item["available_kg"] for item in third["data"]] == [19_000.0]
    cache = app.state.page_cache
    if reader.is_sqlite:
        assert len(cache) == 0
    else:
        assert cache.hits >= 1
        assert len(cache) >= 1
