from __future__ import annotations

import hashlib

import pytest

from app.documents.models import Document
from tests.factories import grade_attributes, lot_body

PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _upload_dir(app, tmp_path):
    original = app.state.settings.upload_dir
    app.state.settings.upload_dir = tmp_path / "uploads"
    yield
    app.state.settings.upload_dir = original


def _upload(client, org, content, ctype="application/pdf", name="coa.pdf", kind="lab_report"):
    return client.post(
        "/v1/documents",
        files={"file": (name, content, ctype)},
        data={"kind": kind},
        headers=org.headers,
    )


def _docs(db):
    with db.transaction() as s:
        return s.query(Document).count()


def test_upload_stores_checksum_and_downloads(client, recycler, recycler2):
    r = _upload(client, recycler, PDF)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert doc["size_bytes"] == len(PDF)
    got = client.get(f"/v1/documents/{doc['id']}/content", headers=recycler.headers)
    assert got.status_code == 200
    assert got.content == PDF
    assert got.headers["repr-digest"].startswith("sha-256=:")
    # another organisation cannot see it
    assert client.get(f"/v1/documents/{doc['id']}", headers=recycler2.headers).status_code == 404


@pytest.mark.parametrize(
    ("content", "ctype", "status", "code"),
    [
        (b"not a pdf at all", "application/pdf", 422, "content_mismatch"),
        (b"", "application/pdf", 422, "empty_file"),
        (b"MZ\x90\x00", "application/x-msdownload", 415, "unsupported_media_type"),
        (b"a,b\n\xff\xfe\x00\x00garbage" * 10, "text/csv", 422, "content_mismatch"),
    ],
)
def test_bad_uploads_are_rejected_and_leave_nothing(
    client, recycler, db, app, content, ctype, status, code
):
    before = _docs(db)
    r = _upload(client, recycler, content, ctype=ctype)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code
    assert _docs(db) == before
    stored = [p for p in app.state.settings.upload_dir.rglob("*") if p.is_file()]
    assert stored == []


def test_oversized_upload_is_413(client, recycler, app):
    app.state.settings.max_upload_bytes, original = 1024, app.state.settings.max_upload_bytes
    try:
        r = _upload(client, recycler, PDF + b"0" * 4096)
    finally:
        app.state.settings.max_upload_bytes = original
    assert r.status_code == 413


def test_broken_multipart_is_400(client, recycler):
    r = client.post(
        "/v1/documents",
        content=(
            b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n%PDF'
        ),
        headers={**recycler.headers, "content-type": "multipart/form-data; boundary=xyz"},
    )
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"] == "application/problem+json"


def test_measurement_evidence_must_exist_and_be_own(client, recycler, recycler2):
    doc = _upload(client, recycler, PDF).json()
    attrs = grade_attributes(2)
    attrs["Density"] = {**attrs["Density"], "evidence_id": doc["id"]}
    ok = client.post(
        "/v1/lots", json=lot_body(grade={"attributes": attrs}), headers=recycler.headers
    )
    assert ok.status_code == 201, ok.text
    foreign = client.post(
        "/v1/lots", json=lot_body(grade={"attributes": attrs}), headers=recycler2.headers
    )
    assert foreign.status_code == 422
    assert "/grade/attributes/Density/evidence_id" in [
        e["pointer"] for e in foreign.json()["errors"]
    ]
