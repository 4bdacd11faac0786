from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from app.auth.dependencies import LotsReader, LotsWriter
from app.documents import service
from app.documents.schemas import DocumentOut
from app.kit.problems import ProblemError, problem_responses
from app.kit.routing import TransactionalRoute, get_session

router = APIRouter(prefix="/v1/documents", tags=["documents"], route_class=TransactionalRoute)
SessionDep = Annotated[Session, Depends(get_session)]


@router.post(
    "",
    status_code=201,
    response_model=DocumentOut,
    responses=problem_responses(400, 401, 403, 413, 415, 422),
)
def upload_document(
    request: Request,
    response: Response,
    principal: LotsWriter,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="PDF, PNG, JPEG, CSV or JSON; max 20 MB")],
    kind: Annotated[str, Form(max_length=40, examples=["lab_report"])] = "lab_report",
) -> DocumentOut:
    """Upload evidence (lab report, certificate of analysis...). Link it from a measurement's
    `evidence_id` or a certification's `document_id`. Stored with its SHA-256."""
    settings = request.app.state.settings
    doc = service.store_upload(
        session,
        principal.organization_id,
        stream=file.file,
        filename=file.filename or "upload",
        content_type=file.content_type or "",
        kind=kind,
        root=settings.upload_dir,
        max_bytes=settings.max_upload_bytes,
    )
    response.headers["Location"] = f"/v1/documents/{doc.id}"
    return DocumentOut.model_validate(doc)


@router.get("/{doc_id}", response_model=DocumentOut, responses=problem_responses(401, 403, 404))
def get_document(doc_id: str, principal: LotsReader, session: SessionDep) -> DocumentOut:
    return DocumentOut.model_validate(
        service.get_document(session, principal.organization_id, doc_id)
    )


@router.get(
    "/{doc_id}/content",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        **problem_responses(401, 403, 404, 409),
    },
)
def download_document(
    request: Request, doc_id: str, principal: LotsReader, session: SessionDep
) -> FileResponse:
    """The stored bytes (owner only), with the checksum in `Digest`-style headers."""
    doc = service.get_document(session, principal.organization_id, doc_id)
    path = service.storage_path(request.app.state.settings.upload_dir, doc.sha256)
    if not path.exists():
        raise ProblemError(409, "content_missing", "The document's content is not in storage.")
    return FileResponse(
        path,
        media_type=doc.content_type,
        filename=doc.filename,
        headers={"Repr-Digest": f"sha-256=:{_b64(doc.sha256)}:"},
    )


def _b64(hexdigest: str) -> str:
    import base64

    return base64.b64encode(bytes.fromhex(hexdigest)).decode()
