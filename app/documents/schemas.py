from __future__ import annotations

import datetime as dt

from app.kit.schemas import ResponseSchema


class DocumentOut(ResponseSchema):
    model_config = {
        "from_attributes": True,
        "json_schema_extra": {
            "examples": [
                {
                    "id": "doc_01jd3m9x5q8v2r7k4t6w1y0z3a",
                    "filename": "coa-L-2025-0412.pdf",
                    "content_type": "application/pdf",
                    "size_bytes": 183220,
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "kind": "certificate_of_analysis",
                    "created_at": "2026-11-22T10:00:00Z",
                }
            ]
        },
    }

    id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    kind: str
    created_at: dt.datetime
