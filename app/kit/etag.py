"""ETags from a version column; If-None-Match -> 304, If-Match -> 412, missing -> 428."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Header, Request, Response

from app.kit.problems import ProblemError

IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="Required: the ETag from your last GET. 428 when missing, 412 when stale.",
        examples=['"5bdfc2bf2ea2878027d1"'],
        max_length=200,
    ),
]


def make_etag(kind: str, ident: str, version: int, variant: str = "") -> str:
    digest = hashlib.blake2b(
        f"{kind}:{ident}:{version}:{variant}".encode(), digest_size=10
    ).hexdigest()
    return f'"{digest}"'


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = _tags(header)
    return "*" in tags or etag in tags


def not_modified_response(etag: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag})


def check_if_match(request: Request, current: str, *, required: bool) -> None:
    header = request.headers.get("if-match")
    if header is None:
        if required:
            raise ProblemError(
                428,
                "precondition_required",
                "Send If-Match with the ETag from your last GET of this resource.",
            )
        return
    tags = [t.strip() for t in header.split(",") if t.strip()]
    if "*" in tags or current in tags:
        return
    raise ProblemError(
        412,
        "precondition_failed",
        "The resource changed since you read it (ETag mismatch); GET it again.",
        headers={"ETag": current},
    )
