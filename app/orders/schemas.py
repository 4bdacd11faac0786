from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from app.kit.schemas import RequestSchema, ResponseSchema
from app.lots.schemas import Money, MoneyOut, Quantity, money_out


class ReservationCreate(RequestSchema):
    """Reserve a quantity (spot) or the next N deliveries (recurring supply)."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"quantity": {"value": 10, "unit": "t"}},
                {
                    "quantity": {"value": 10, "unit": "t"},
                    "offer_price": {"amount": "395.00", "currency": "EUR"},
                },
                {"deliveries": 3, "note": "next quarter"},
            ]
        }
    }

    quantity: Quantity | None = None
    deliveries: int | None = Field(default=None, ge=1, le=52)
    offer_price: Money | None = Field(default=None, description="Per tonne; default: asking price")
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _one_of(self) -> ReservationCreate:
        if (self.quantity is None) == (self.deliveries is None):
            raise PydanticCustomError(
                "quantity_or_deliveries", "give exactly one of quantity or deliveries"
            )
        return self


class ShipBody(RequestSchema):
    model_config = {"json_schema_extra": {"examples": [{"shipped": {"value": 9.6, "unit": "t"}}]}}

    shipped: Quantity | None = Field(
        default=None, description="Quantity actually shipped; default: the ordered quantity"
    )


class DeliverBody(RequestSchema):
    model_config = {
        "json_schema_extra": {"examples": [{"delivered": {"value": 9.58, "unit": "t"}}]}
    }

    delivered: Quantity | None = Field(
        default=None, description="Quantity received; default: the shipped quantity"
    )


class ReservationOut(ResponseSchema):
    model_config = {
        "from_attributes": True,
        "json_schema_extra": {
            "examples": [
                {
                    "id": "res_01jd3m9x5q8v2r7k4t6w1y0z3a",
                    "lot_id": "lot_01jd3m9x5q8v2r7k4t6w1y0z3b",
                    "buyer_org_id": "org_01jd3m9x5q8v2r7k4t6w1y0z3c",
                    "seller_org_id": "org_01jd3m9x5q8v2r7k4t6w1y0z3d",
                    "status": "pending",
                    "quantity_kg": 10000,
                    "deliveries": 1,
                    "price": {"amount": "395.00", "currency": "EUR", "per": "t"},
                    "is_offer": True,
                    "note": None,
                    "expires_at": "2026-11-24T10:00:00Z",
                    "decided_at": None,
                    "created_at": "2026-11-22T10:00:00Z",
                    "updated_at": "2026-11-22T10:00:00Z",
                    "version": 1,
                    "order_ids": [],
                }
            ]
        },
    }

    id: str
    lot_id: str
    buyer_org_id: str
    seller_org_id: str
    status: str
    quantity_kg: float
    deliveries: int
    price: MoneyOut | None
    is_offer: bool
    note: str | None
    expires_at: dt.datetime
    decided_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    order_ids: list[str] = Field(default_factory=list)


class OrderOut(ResponseSchema):
    id: str
    reservation_id: str
    lot_id: str
    buyer_org_id: str
    seller_org_id: str
    status: str
    quantity_kg: float
    shipped_kg: float | None
    delivered_kg: float | None
    price: MoneyOut | None
    delivery_index: int
    delivery_due: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime
    shipped_at: dt.datetime | None
    delivered_at: dt.datetime | None
    closed_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    version: int


class AuditEventOut(ResponseSchema):
    seq: int
    entity_type: str
    entity_id: str
    lot_id: str | None
    action: str
    actor_org_id: str | None
    before: dict[str, object] | None
    after: dict[str, object] | None
    created_at: dt.datetime


def money(minor: int | None, currency: str | None) -> MoneyOut | None:
    out = money_out(minor, currency)
    return MoneyOut.model_validate(out) if out is not None else None
