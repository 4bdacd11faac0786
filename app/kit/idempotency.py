"""Idempotency-Key for creating POSTs.

The key, a hash of the request and the stored response live in the same transaction as the
write: the key row is inserted before the endpoint writes and completed with the response just
before commit. A retry replays the stored response (``Idempotent-Replayed: true``); the same key
with a different request is 422; a concurrent duplicate (unique-key collision) is 409.
Keys are scoped per organisation and expire after ``idempotency_ttl_hours``.
"""

import datetime as dt
import hashlib
import re
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from sqlalchemy import Index, Integer, LargeBinary, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from starlette.concurrency import run_in_threadpool

from app.kit.db import Base, utcnow
from app.kit.problems import ProblemError

KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
_REPLAY_HEADERS = ("location", "etag", "content-type", "link")


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        Index("uq_idempotency_keys_org_key", "organization_id", "key", unique=True),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2048))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict[str, Any] | None]
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class IdempotentReplay(Exception):  # noqa: N818 (control flow, not an error)
    """Raised to answer with the stored response (plain data: the session is rolled back)."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__("idempotent replay")
        self.status = status
        self.headers = headers
        self.body = body


def replay_response(replay: IdempotentReplay) -> Response:
    headers = dict(replay.headers)
    headers["Idempotent-Replayed"] = "true"
    media_type = headers.pop("content-type", None)
    return Response(
        content=replay.body, status_code=replay.status, headers=headers, media_type=media_type
    )


def _request_hash(request: Request, body: bytes) -> str:
    h = hashlib.sha256()
    h.update(request.method.encode())
    h.update(b"\n")
    h.update(request.url.path.encode())
    h.update(b"\n")
    h.update(request.url.query.encode())
    h.update(b"\n")
    h.update(body)
    return h.hexdigest()


def _begin(
    session: Session, organization_id: str, key: str, digest: str, request: Request, ttl_h: int
) -> IdempotencyRecord:
    now = utcnow()
    existing = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.organization_id == organization_id, IdempotencyRecord.key == key
        )
    )
    if existing is not None and existing.expires_at <= now:
        session.delete(existing)
        session.flush()
        existing = None
    if existing is not None:
        if existing.request_hash != digest:
            raise ProblemError(
                422,
                "idempotency_key_reused",
                "This Idempotency-Key was used with a different request.",
            )
        if existing.response_status is None:
            raise ProblemError(
                409,
                "idempotency_in_flight",
                "A request with this Idempotency-Key is still in flight.",
                headers={"Retry-After": "1"},
            )
        raise IdempotentReplay(
            existing.response_status,
            {str(k): str(v) for k, v in (existing.response_headers or {}).items()},
            existing.response_body or b"",
        )
    record = IdempotencyRecord(
        organization_id=organization_id,
        key=key,
        request_hash=digest,
        method=request.method,
        path=request.url.path,
        created_at=now,
        expires_at=now + dt.timedelta(hours=ttl_h),
    )
    session.add(record)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ProblemError(
            409,
            "idempotency_in_flight",
            "A concurrent request with this Idempotency-Key is in flight; retry to get its result.",
            headers={"Retry-After": "1"},
        ) from exc
    return record


def finish_idempotent_request(session: Session, request: Request, response: Response) -> None:
    record: IdempotencyRecord | None = getattr(request.state, "idempotency_record", None)
    if record is None:
        return
    record.response_status = response.status_code
    record.response_headers = {
        k: v for k, v in response.headers.items() if k.lower() in _REPLAY_HEADERS
    }
    record.response_body = bytes(response.body)


def purge_expired(session: Session) -> int:
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def make_idempotency_dependency(principal_dependency: Any, session_dependency: Any) -> Any:
    """Build the dependency once auth exists (avoids a kit -> auth import)."""

    async def idempotency(
        request: Request,
        principal: Annotated[Any, Depends(principal_dependency)],
        session: Annotated[Session, Depends(session_dependency)],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                description=(
                    "Unique key (1-255 visible ASCII chars) that makes this POST safe to retry "
                    "for 24 h: a retry replays the first response."
                ),
                examples=["3f1c2a9e-6b1d-4f0e-9a51-8d2c7e4b1a00"],
            ),
        ] = None,
    ) -> None:
        if idempotency_key is None:
            return
        if not KEY_RE.match(idempotency_key):
            raise ProblemError(
                400,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1-255 visible ASCII characters.",
            )
        body = await request.body()
        digest = _request_hash(request, body)
        ttl = request.app.state.settings.idempotency_ttl_hours
        record = await run_in_threadpool(
            _begin, session, principal.organization_id, idempotency_key, digest, request, ttl
        )
        request.state.idempotency_record = record

    return idempotency
