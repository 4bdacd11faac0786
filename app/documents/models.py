from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, utcnow
from app.kit.ids import new_id


class Document(Base):
    """An uploaded evidence document (lab report, certificate of analysis, photo).

    The bytes live in content-addressed storage (``<upload_dir>/<sha[:2]>/<sha>``); the row
    keeps type, size and SHA-256 so integrity can be checked on download.
    """

    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_org_id", "organization_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("doc"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
