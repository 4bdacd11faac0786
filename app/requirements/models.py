"""Requirements (a manufacturer's procurement spec), saved-search state and match events."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, utcnow
from app.kit.ids import new_id


class RequirementStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Requirement(Base):
    """The spec is stored as validated JSON (``RequirementSpec``); columns hold what queries
    filter on (owner, status, family, saved search)."""

    __tablename__ = "requirements"
    __table_args__ = (
        Index("ix_requirements_org_id", "organization_id", "id"),
        Index("ix_requirements_status_family_id", "status", "family", "id"),
        Index("ix_requirements_saved_family", "saved_search", "status", "family"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("req"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=RequirementStatus.OPEN.value)
    family: Mapped[str] = mapped_column(String(24))
    saved_search: Mapped[bool] = mapped_column(default=False)
    spec: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class RequirementHit(Base):
    """Saved-search state: does this lot currently match this requirement? An event is
    recorded when a lot goes from not matching (or never seen) to matching."""

    __tablename__ = "requirement_hits"

    requirement_id: Mapped[str] = mapped_column(
        ForeignKey("requirements.id", ondelete="CASCADE"), primary_key=True
    )
    lot_id: Mapped[str] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), primary_key=True)
    matched: Mapped[bool]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RequirementEvent(Base):
    """``requirement.matched``: a lot newly matches a saved search (consumed by webhooks and the
    change feed)."""

    __tablename__ = "requirement_events"
    __table_args__ = (Index("ix_requirement_events_requirement_id", "requirement_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("evt"))
    requirement_id: Mapped[str] = mapped_column(ForeignKey("requirements.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    type: Mapped[str] = mapped_column(String(40))
    lot_id: Mapped[str] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"))
    score: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
