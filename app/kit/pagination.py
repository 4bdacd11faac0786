"""Keyset (cursor) pagination over a stable, unique order.

A cursor is opaque to clients: base64url of a small JSON document holding the sort key of the
last row and the name of the order it belongs to. Malformed or foreign cursors are a 400.
Responses carry ``{data, has_more, next_cursor}`` and a ``Link: <...>; rel="next"`` header.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlencode

import orjson
from fastapi import Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, and_, bindparam, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.kit.problems import ProblemError

T = TypeVar("T")
ItemT = TypeVar("ItemT")

MAX_LIMIT = 100
DEFAULT_LIMIT = 25

LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description="Page size (1-100).", examples=[25])
]
CursorQuery = Annotated[
    str | None,
    Query(
        max_length=512,
        description="Opaque cursor from a previous page's `next_cursor`.",
    ),
]


class Page(BaseModel, Generic[T]):
    data: list[T]
    has_more: bool = Field(description="True when another page follows.")
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page."
    )


@dataclass(frozen=True)
class SortKey:
    """An ordered list of columns ending in a unique column; ``descending`` applies to all."""

    name: str
    columns: tuple[ColumnElement[Any] | InstrumentedAttribute[Any], ...]
    descending: bool = True


def _encode_value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return {"t": v.isoformat()}
    if isinstance(v, (int, str, float)) or v is None:
        return v
    return str(v)


def _decode_value(v: Any) -> Any:
    if isinstance(v, dict) and "t" in v:
        return dt.datetime.fromisoformat(str(v["t"]))
    return v


def encode_cursor(sort: SortKey, values: Sequence[Any]) -> str:
    raw = orjson.dumps({"o": sort.name, "k": [_encode_value(v) for v in values]})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(sort: SortKey, cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        doc = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(doc, dict) or doc.get("o") != sort.name:
            raise ValueError("cursor belongs to another order")
        keys = doc.get("k")
        if not isinstance(keys, list) or len(keys) != len(sort.columns):
            raise ValueError("wrong key length")
        values = [_decode_value(v) for v in keys]
        for v in values:
            if isinstance(v, str) and len(v) > 256:
                raise ValueError("key too long")
            if isinstance(v, int) and abs(v) > 2**62:
                raise ValueError("key out of range")
        return values
    except (ValueError, UnicodeError, binascii.Error, orjson.JSONDecodeError, TypeError) as exc:
        raise ProblemError(
            400,
            "invalid_cursor",
            "The cursor is malformed or belongs to another listing; start again without it.",
        ) from exc


def _after(sort: SortKey, values: Sequence[Any]) -> ColumnElement[bool]:
    """(c1, c2, ...) strictly after (v1, v2, ...) in the sort direction, as OR-expanded terms."""
    terms: list[ColumnElement[bool]] = []
    for i, col in enumerate(sort.columns):
        eqs = [sort.columns[j] == values[j] for j in range(i)]
        cmp = col < values[i] if sort.descending else col > values[i]
        terms.append(and_(*eqs, cmp) if eqs else cmp)
    return or_(*terms)


def after_clause(sort: SortKey) -> ColumnElement[bool]:
    """The keyset condition on bound parameters ``after_0``, ... (see ``after_values``)."""
    return _after(sort, [bindparam(f"after_{i}", type_=c.type) for i, c in enumerate(sort.columns)])


def after_values(values: Sequence[Any]) -> dict[str, Any]:
    """The values ``after_clause`` binds: a decoded cursor's sort key."""
    return {f"after_{i}": v for i, v in enumerate(values)}


def keyset_page(
    stmt: Select[Any], sort: SortKey, *, after: ColumnElement[bool] | None, limit: Any
) -> Select[Any]:
    """``stmt`` in ``sort`` order after a keyset condition, one row more than ``limit``
    (``limit`` may be a bound parameter carrying that count)."""
    if after is not None:
        stmt = stmt.where(after)
    order = [c.desc() if sort.descending else c.asc() for c in sort.columns]
    return stmt.order_by(*order).limit(limit)


def paginate(
    session: Session,
    stmt: Select[Any],
    sort: SortKey,
    *,
    cursor: str | None,
    limit: int,
    key_of: Callable[[Any], Sequence[Any]] | None = None,
    rows: bool = False,
) -> tuple[list[Any], str | None]:
    """Run ``stmt`` one page at a time: ORM entities, or with ``rows=True`` plain rows (the
    statement must then select the sort columns). Returns (items, next_cursor)."""
    after = _after(sort, decode_cursor(sort, cursor)) if cursor else None
    page = keyset_page(stmt, sort, after=after, limit=limit + 1)
    items = list(session.execute(page).all() if rows else session.scalars(page))
    return cut_page(items, sort, limit, key_of)


def cut_page(
    rows: list[Any], sort: SortKey, limit: int, key_of: Callable[[Any], Sequence[Any]] | None
) -> tuple[list[Any], str | None]:
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if has_more and rows:
        last = rows[-1]
        values = key_of(last) if key_of else [getattr(last, str(c.key)) for c in sort.columns]
        next_cursor = encode_cursor(sort, values)
    return rows, next_cursor


def set_link_header(request: Request, response: Response, next_cursor: str | None) -> None:
    if next_cursor is None:
        return
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    query.append(("cursor", next_cursor))
    base = str(request.url).partition("?")[0]
    response.headers["Link"] = f'<{base}?{urlencode(query)}>; rel="next"'


def page_of(items: list[ItemT], next_cursor: str | None) -> dict[str, Any]:
    return {"data": items, "has_more": next_cursor is not None, "next_cursor": next_cursor}


def page_bytes(items: list[bytes], next_cursor: str | None) -> bytes:
    """The same page as ``page_of`` for items that are already JSON."""
    more = b"true" if next_cursor is not None else b"false"
    return (
        b'{"data":['
        + b",".join(items)
        + b'],"has_more":'
        + more
        + b',"next_cursor":'
        + orjson.dumps(next_cursor)
        + b"}"
    )
