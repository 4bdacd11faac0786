"""Evidence documents: validated uploads stored content-addressed with a SHA-256 checksum."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.documents.models import Document
from app.kit.db import utcnow
from app.kit.problems import ProblemError, not_found

# Allowed types and the magic bytes their content must start with.
ALLOWED_TYPES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "text/csv": (),
    "application/json": (),
}
KINDS = ("lab_report", "certificate_of_analysis", "certificate", "photo", "datasheet", "other")
CHUNK = 1 << 16


def documents_of(organization_id: str) -> Select[Document]:
    return select(Document).where(Document.organization_id == organization_id)


def get_document(session: Session, organization_id: str, doc_id: str) -> Document:
    doc = session.scalar(documents_of(organization_id).where(Document.id == doc_id))
    if doc is None:
        raise not_found("Document")
    return doc


def storage_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


def _check_text(head: bytes, content_type: str) -> None:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character may be cut at the head boundary: allow a short tail
        if exc.start < len(head) - 4:
            raise ProblemError(
                422, "content_mismatch", f"The file is not UTF-8 text as {content_type} requires."
            ) from None
    if b"\x00" in head:
        raise ProblemError(422, "content_mismatch", "Text files must not contain NUL bytes.")


def store_upload(
    session: Session,
    organization_id: str,
    *,
    stream: BinaryIO,
    filename: str,
    content_type: str,
    kind: str,
    root: Path,
    max_bytes: int,
) -> Document:
    """Stream to a temp file while hashing; check size, type and magic bytes; then move into
    content-addressed storage. Nothing is kept when any check fails."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype not in ALLOWED_TYPES:
        raise ProblemError(
            415,
            "unsupported_media_type",
            f"Document type {ctype or 'unknown'} is not accepted; use one of "
            + ", ".join(ALLOWED_TYPES),
        )
    if kind not in KINDS:
        raise ProblemError(422, "validation_failed", f"kind must be one of {', '.join(KINDS)}")
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    head = b""
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ProblemError(
                        413, "payload_too_large", f"Documents are limited to {max_bytes} bytes."
                    )
                if len(head) < 4096:
                    head += chunk[: 4096 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise ProblemError(422, "empty_file", "The uploaded file is empty.")
        magics = ALLOWED_TYPES[ctype]
        if magics and not any(head.startswith(m) for m in magics):
            raise ProblemError(
                422, "content_mismatch", f"The file content does not look like {ctype}."
            )
        if not magics:
            _check_text(head, ctype)
        sha = digest.hexdigest()
        target = storage_path(root, sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    doc = Document(
        organization_id=organization_id,
        filename=os.path.basename(filename)[:255] or "upload",
        content_type=ctype,
        size_bytes=size,
        sha256=sha,
        kind=kind,
        created_at=utcnow(),
    )
    session.add(doc)
    session.flush()
    return doc
