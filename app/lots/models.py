from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, utcnow
from app.kit.ids import new_id


class LotStatus(StrEnum):
    ACTIVE = "active"
    SOLD_OUT = "sold_out"
    WITHDRAWN = "withdrawn"


class Lot(Base):
    """A lot of recyclate offered by a recycler.

    Fields that lists filter or sort on are columns (denormalised from the grade where they
    live there: polymer, form, colour, key properties); the grade itself and its computed
    assessment are JSON.
    """

    __tablename__ = "lots"
    __table_args__ = (
        # Wide on purpose: SQLite tests the common filters on the index entry and reads only
        # matching rows ("newest first" with filters at 1M lots: 300 ms -> 28 ms worst case;
        # benchmarks/README.md).
        Index(
            "ix_lots_status_id_filters",
            "status",
            "id",
            "family",
            "polymer",
            "dql",
            "country",
            "region_code",
            "supply_type",
            "form",
            "color",
            "available_kg",
            "mfr_g_10min",
            "density_g_cm3",
        ),
        Index("ix_lots_status_family_polymer_id", "status", "family", "polymer", "id"),
        Index("ix_lots_status_dql_id", "status", "dql", "id"),
        Index("ix_lots_status_country_region_id", "status", "country", "region_code", "id"),
        Index("ix_lots_status_available_id", "status", "available_kg", "id"),
        Index("ix_lots_org_id", "organization_id", "id"),
        Index("ix_lots_updated_at_id", "updated_at", "id"),
        # covering: a match's re-check of its top lots' state reads only the index (0012)
        Index("ix_lots_id_state", "id", "status", "available_kg"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("lot"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[str] = mapped_column(String(16), default=LotStatus.ACTIVE.value)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)

    family: Mapped[str] = mapped_column(String(24))
    polymer: Mapped[str | None] = mapped_column(String(24))
    form: Mapped[str | None] = mapped_column(String(32))
    color: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(24))
    dql: Mapped[int] = mapped_column(Integer, default=0)
    quality_scheme: Mapped[str] = mapped_column(String(40))
    claimed_dql: Mapped[int | None] = mapped_column(Integer)

    # Key measured properties in canonical units, for range filters (None = not valid/absent).
    mfr_g_10min: Mapped[float | None] = mapped_column(Float)
    mfr_temperature_c: Mapped[float | None] = mapped_column(Float)
    mfr_load_kg: Mapped[float | None] = mapped_column(Float)
    density_g_cm3: Mapped[float | None] = mapped_column(Float)
    ash_pct: Mapped[float | None] = mapped_column(Float)
    moisture_pct: Mapped[float | None] = mapped_column(Float)
    # Their standard deviations in the same units (the measurement's sd, or the lot's CV x the
    # value), as matching sees them (app.matching.facts): the matching snapshot bounds a
    # window's score with them (mean +- k sd) instead of assuming sd = 0.
    mfr_sd: Mapped[float | None] = mapped_column(Float)
    density_sd: Mapped[float | None] = mapped_column(Float)
    ash_sd: Mapped[float | None] = mapped_column(Float)
    moisture_sd: Mapped[float | None] = mapped_column(Float)
    # What matching reads from the grade (canonical measurements, food contact, REACH) as
    # compact JSON (app.matching.facts.encode_match_facts): a match loads this instead of the
    # whole grade and assessment.
    match_facts: Mapped[str | None] = mapped_column(Text)

    quantity_kg: Mapped[float] = mapped_column(Float)
    available_kg: Mapped[float] = mapped_column(Float)
    quantity_unit: Mapped[str] = mapped_column(String(8))
    supply_type: Mapped[str] = mapped_column(String(12))
    recurrence: Mapped[dict[str, Any] | None]

    country: Mapped[str] = mapped_column(String(2))
    postcode: Mapped[str | None] = mapped_column(String(16))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    region_code: Mapped[str | None] = mapped_column(String(8))
    location_approximate: Mapped[bool] = mapped_column(default=False)

    waste_code: Mapped[str | None] = mapped_column(String(12))
    waste_hazardous: Mapped[bool | None]
    basel_code: Mapped[str | None] = mapped_column(String(12))
    hs_code: Mapped[str | None] = mapped_column(String(12))
    end_of_waste_status: Mapped[str | None] = mapped_column(String(16))
    end_of_waste_regulation: Mapped[str | None] = mapped_column(String(32))

    price_per_t_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    price_floor_per_t_minor: Mapped[int | None] = mapped_column(BigInteger)
    internal_notes: Mapped[str | None] = mapped_column(Text)

    certifications: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    grade: Mapped[dict[str, Any]]
    assessment: Mapped[dict[str, Any]]
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    posted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    available_from: Mapped[dt.date | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The list item's fields that only an edit changes, as JSON text (app/lots/summary.py
    # renders it on every ORM insert and update).
    summary: Mapped[str] = mapped_column(Text, server_default="", deferred=True)

    __mapper_args__ = {"version_id_col": version}
