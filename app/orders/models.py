from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, utcnow
from app.kit.ids import new_id


class ReservationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class OrderStatus(StrEnum):
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Reservation(Base):
    """A buyer's hold on a quantity of a lot, until the seller decides or it expires."""

    __tablename__ = "reservations"
    __table_args__ = (
        Index("ix_reservations_buyer", "buyer_org_id", "id"),
        Index("ix_reservations_seller", "seller_org_id", "id"),
        Index("ix_reservations_status_expires", "status", "expires_at"),
        Index("ix_reservations_lot", "lot_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("res"))
    lot_id: Mapped[str] = mapped_column(ForeignKey("lots.id"))
    buyer_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    seller_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[str] = mapped_column(String(16), default=ReservationStatus.PENDING.value)
    quantity_kg: Mapped[float] = mapped_column(Float)
    deliveries: Mapped[int] = mapped_column(Integer, default=1)
    price_per_t_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    is_offer: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime]
    decided_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)


class Order(Base):
    """A confirmed sale of a quantity of a lot (one per delivery for recurring supply)."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_buyer", "buyer_org_id", "id"),
        Index("ix_orders_seller", "seller_org_id", "id"),
        Index("ix_orders_lot", "lot_id", "id"),
        Index("ix_orders_status_delivered_at", "status", "delivered_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ord"))
    reservation_id: Mapped[str] = mapped_column(ForeignKey("reservations.id"))
    lot_id: Mapped[str] = mapped_column(ForeignKey("lots.id"))
    buyer_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    seller_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.CONFIRMED.value)
    quantity_kg: Mapped[float] = mapped_column(Float)
    shipped_kg: Mapped[float | None] = mapped_column(Float)
    delivered_kg: Mapped[float | None] = mapped_column(Float)
    price_per_t_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    delivery_index: Mapped[int] = mapped_column(Integer, default=1)
    delivery_due: Mapped[dt.date | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    shipped_at: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    cancelled_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
