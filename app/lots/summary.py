"""List items as stored JSON: a page of lots costs one narrow query and a few byte joins.

A list item (``LotSummary``) is mostly made of fields that change only when the seller edits
the lot. Those are rendered once, on write, into ``lots.summary`` (a JSON object as text). The
four fields that move without an edit - ``status``, ``available_kg``, ``version`` and
``updated_at``, changed by the guarded quantity statements of orders in plain SQL - stay
columns and are spliced in when a page is read. So a list page never builds ORM objects,
dictionaries or models per item, which is what made lists slow (benchmarks/README.md).

Every ORM insert and update of a lot re-renders the stored part (mapper events below), so the
service, the bulk path, the demo loader and test factories cannot forget it; the statements
that bypass the ORM touch only the four spliced columns. ``render_static_row`` works on plain
column values too, for the migration that fills existing rows.

Each worker also keeps the rendered items of the lots it listed (``ItemCache``), keyed by lot
id and ``version``: every write of a lot bumps its version (the ORM's version counter, and the
quantity statements of orders), so an item rendered for (id, version) stays right until the
version moves. A page then reads only the narrow columns, and the stored part only for lots
whose (id, version) the worker has not rendered yet.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper

from app.kit.db import utcnow
from app.kit.ids import new_id
from app.lots.models import Lot
from app.lots.schemas import money_out

VOLATILE = ("status", "available_kg", "updated_at", "version")

# Columns the stored part is rendered from (the migration selects exactly these).
SOURCE_COLUMNS = (
    "id",
    "organization_id",
    "title",
    "family",
    "polymer",
    "form",
    "color",
    "source",
    "dql",
    "claimed_dql",
    "quality_scheme",
    "mfr_g_10min",
    "mfr_temperature_c",
    "mfr_load_kg",
    "density_g_cm3",
    "ash_pct",
    "moisture_pct",
    "quantity_kg",
    "supply_type",
    "country",
    "postcode",
    "latitude",
    "longitude",
    "region_code",
    "location_approximate",
    "price_per_t_minor",
    "currency",
    "certifications",
    "posted_at",
)


def render_static_row(row: Mapping[Any, Any]) -> str:
    """The stored part of a list item (every LotSummary field but the volatile ones)."""
    certifications = row["certifications"] or []
    if isinstance(certifications, str | bytes):  # raw JSON text (migration on plain rows)
        certifications = orjson.loads(certifications)
    item = {
        "id": row["id"],
        "organization_id": row["organization_id"],
        "title": row["title"],
        "family": row["family"],
        "polymer": row["polymer"],
        "form": row["form"],
        "color": row["color"],
        "source": row["source"],
        "dql": row["dql"],
        "claimed_dql": row["claimed_dql"],
        "quality_scheme": row["quality_scheme"],
        "properties": {
            "mfr_g_10min": row["mfr_g_10min"],
            "mfr_temperature_c": row["mfr_temperature_c"],
            "mfr_load_kg": row["mfr_load_kg"],
            "density_g_cm3": row["density_g_cm3"],
            "ash_pct": row["ash_pct"],
            "moisture_pct": row["moisture_pct"],
        },
        "quantity_kg": row["quantity_kg"],
        "supply_type": row["supply_type"],
        "location": {
            "country": row["country"],
            "postcode": row["postcode"],
            "latitude": row["latitude"],
            "longitude": row["longitude"],
            "region_code": row["region_code"],
            "approximate": bool(row["location_approximate"]),
        },
        "asking_price": money_out(row["price_per_t_minor"], row["currency"]),
        "certification_schemes": sorted({c.get("scheme", "") for c in certifications}),
        "posted_at": stored_datetime(row["posted_at"]),
    }
    return orjson.dumps(item, option=orjson.OPT_UTC_Z).decode()


def render_static(lot: Lot) -> str:
    return render_static_row({c: getattr(lot, c) for c in SOURCE_COLUMNS})


def stored_datetime(value: str | dt.datetime) -> dt.datetime:
    """A UTC datetime as the driver returns it (SQLite: naive UTC text; PostgreSQL: aware)
    or as the ORM holds it."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _iso_z(value: str | dt.datetime) -> str:
    """RFC 3339 UTC text as the API writes it everywhere (orjson's OPT_UTC_Z form)."""
    if isinstance(value, str) and len(value) >= 19:  # SQLite: "YYYY-MM-DD HH:MM:SS.ffffff"
        fraction = value[19:]
        return f"{value[:10]}T{value[11:19]}{'' if fraction in ('', '.000000') else fraction}Z"
    return stored_datetime(value).isoformat().replace("+00:00", "Z")


def render_item(
    static: str, status: str, available_kg: float, updated_at: str | dt.datetime, version: int
) -> bytes:
    """One list item: the stored part with the volatile fields spliced in. ``status`` is one
    of the LotStatus values (no escaping needed); ``updated_at`` is as stored."""
    tail = (
        f',"status":"{status}","available_kg":{float(available_kg)!r},'
        f'"updated_at":"{_iso_z(updated_at)}","version":{int(version)}}}'
    )
    return (static[:-1] + tail).encode()


class ItemChangedError(Exception):
    """A lot changed between a page's read and the read of its stored part."""


class ItemCache:
    """Rendered list items by (lot id, version), per worker, at most ``maxsize`` of them (the
    oldest go first; ~1 KB each). ``maxsize`` 0 turns it off."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: dict[tuple[str, int], bytes] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def items(
        self,
        rows: Sequence[Sequence[Any]],
        stored: Callable[[list[str]], Mapping[str, Sequence[Any]]],
    ) -> list[bytes]:
        """The items of ``rows`` = (id, version, ...). For lots not rendered yet,
        ``stored(ids)`` gives {id: (version, stored part, status, available_kg, updated_at)};
        a version other than the row's (the lot changed between the two reads) raises
        ItemChangedError."""
        cache = self._items
        out: list[bytes | None] = [cache.get((r[0], r[1])) for r in rows]
        missing = [i for i, item in enumerate(out) if item is None]
        if missing:
            found = stored([rows[i][0] for i in missing])
            fresh: dict[tuple[str, int], bytes] = {}
            for i in missing:
                lot_id, version = rows[i][0], rows[i][1]
                part = found.get(lot_id)
                if part is None or part[0] != version:
                    raise ItemChangedError(lot_id)
                item = render_item(part[1], part[2], part[3], part[4], version)
                out[i] = item
                fresh[(lot_id, version)] = item
            self._keep(fresh)
        return cast("list[bytes]", out)

    def _keep(self, fresh: dict[tuple[str, int], bytes]) -> None:
        if len(fresh) > self.maxsize:
            return
        with self._lock:
            cache = self._items
            overflow = len(cache) + len(fresh) - self.maxsize
            if overflow > 0:  # oldest first (dicts keep insertion order)
                for key in list(itertools.islice(cache, overflow)):
                    del cache[key]
            cache.update(fresh)


def _fill(_mapper: Mapper[Lot], _connection: Connection, lot: Lot) -> None:
    # Python-side column defaults are applied after this hook: set the ones the item shows.
    if lot.id is None:
        lot.id = new_id("lot")
    if lot.posted_at is None:
        lot.posted_at = utcnow()
    if lot.dql is None:
        lot.dql = 0
    if lot.location_approximate is None:
        lot.location_approximate = False
    if lot.certifications is None:
        lot.certifications = []
    lot.summary = render_static(lot)


def _refill(_mapper: Mapper[Lot], _connection: Connection, lot: Lot) -> None:
    lot.summary = render_static(lot)


event.listen(Lot, "before_insert", _fill)
event.listen(Lot, "before_update", _refill)
