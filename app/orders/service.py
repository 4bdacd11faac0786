"""Reservations and orders. Quantities never oversell:

* every decrement of a lot's available quantity is ONE guarded statement
  ``UPDATE lots SET available_kg = available_kg - :q WHERE id = :id AND status = 'active'
  AND available_kg >= :q`` whose row count decides (correct on SQLite and PostgreSQL alike);
* every state transition is ONE guarded statement on the status (and the version for If-Match),
  so of concurrent accept / cancel / reject / expire exactly one wins, and the quantity goes
  back to the lot exactly once, in the same transaction as the transition.

Never commits; never imports a router.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, or_, select, update
from sqlalchemy.orm import Session

from app.audit.service import record
from app.auth.service import Principal
from app.kit.db import utcnow
from app.kit.problems import ProblemError, not_found
from app.lots.models import Lot, LotStatus
from app.lots.service import get_visible_lot
from app.orders.models import Order, OrderStatus, Reservation, ReservationStatus

EPS = 1e-6


# --- scoped statements ----------------------------------------------------------------------


def reservations_of(organization_id: str) -> Select[Reservation]:
    """Reservations where the caller is buyer or seller (404 for everyone else)."""
    return select(Reservation).where(
        or_(
            Reservation.buyer_org_id == organization_id,
            Reservation.seller_org_id == organization_id,
        )
    )


def orders_of(organization_id: str) -> Select[Order]:
    return select(Order).where(
        or_(Order.buyer_org_id == organization_id, Order.seller_org_id == organization_id)
    )


def get_reservation(session: Session, principal: Principal, res_id: str) -> Reservation:
    res = session.scalar(reservations_of(principal.organization_id).where(Reservation.id == res_id))
    if res is None:
        raise not_found("Reservation")
    return res


def get_order(session: Session, principal: Principal, order_id: str) -> Order:
    order = session.scalar(orders_of(principal.organization_id).where(Order.id == order_id))
    if order is None:
        raise not_found("Order")
    return order


# --- lot quantity: the only two statements that move available_kg ---------------------------


def take_quantity(session: Session, lot_id: str, kg: float) -> tuple[float, str]:
    """Guarded decrement. Returns (available_after, status_after) or raises 409."""
    now = utcnow()
    row = session.execute(
        update(Lot)
        .where(Lot.id == lot_id, Lot.status == LotStatus.ACTIVE.value, Lot.available_kg >= kg - EPS)
        .values(
            available_kg=Lot.available_kg - kg,
            status=case((Lot.available_kg - kg <= EPS, LotStatus.SOLD_OUT.value), else_=Lot.status),
            version=Lot.version + 1,
            updated_at=now,
        )
        .returning(Lot.available_kg, Lot.status)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        current = session.execute(
            select(Lot.status, Lot.available_kg).where(Lot.id == lot_id)
        ).first()
        if current is None or current.status != LotStatus.ACTIVE.value:
            raise ProblemError(
                409, "lot_not_available", "The lot is not on offer (withdrawn or sold out)."
            )
        raise ProblemError(
            409,
            "insufficient_quantity",
            f"Only {current.available_kg:g} kg available; {kg:g} kg requested.",
            title="Insufficient quantity",
            extra={"available_kg": current.available_kg, "requested_kg": kg},
        )
    return float(row.available_kg), str(row.status)


def return_quantity(session: Session, lot_id: str, kg: float) -> None:
    """Give quantity back (called only inside a guarded transition, so exactly once)."""
    if kg <= EPS:
        return
    session.execute(
        update(Lot)
        .where(Lot.id == lot_id)
        .values(
            available_kg=Lot.available_kg + kg,
            status=case(
                (Lot.status == LotStatus.SOLD_OUT.value, LotStatus.ACTIVE.value),
                else_=Lot.status,
            ),
            version=Lot.version + 1,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )


# --- reservations -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReserveRequest:
    quantity_kg: float | None
    deliveries: int | None
    offer_price_minor: int | None
    currency: str | None
    note: str | None


def _res_snapshot(res: Reservation) -> dict[str, Any]:
    return {"status": res.status, "quantity_kg": res.quantity_kg, "version": res.version}


def reserve(
    session: Session,
    principal: Principal,
    lot_id: str,
    req: ReserveRequest,
    *,
    ttl: dt.timedelta,
) -> Reservation:
    if not principal.buys:
        raise ProblemError(403, "forbidden", "Only buyers (manufacturer or both) can reserve.")
    lot = get_visible_lot(session, lot_id)
    if lot.organization_id == principal.organization_id:
        raise ProblemError(403, "forbidden", "You cannot reserve your own lot.")
    deliveries = 1
    if req.deliveries is not None:
        if lot.supply_type != "recurring" or not lot.recurrence:
            raise ProblemError(
                422,
                "validation_failed",
                "deliveries applies to recurring supply only.",
                errors=[
                    {
                        "pointer": "/deliveries",
                        "code": "not_recurring",
                        "detail": "this lot is spot supply",
                    }
                ],
            )
        deliveries = req.deliveries
        kg = float(lot.recurrence["quantity_per_delivery_kg"]) * deliveries
    elif req.quantity_kg is not None:
        kg = req.quantity_kg
    else:
        raise ProblemError(
            422,
            "validation_failed",
            "Give quantity (spot) or deliveries (recurring).",
            errors=[{"pointer": "/quantity", "code": "missing", "detail": "quantity is required"}],
        )
    price: int | None
    currency: str | None
    if req.offer_price_minor is not None:
        price, currency, is_offer = req.offer_price_minor, req.currency, True
        if lot.currency and currency != lot.currency:
            raise ProblemError(
                422,
                "validation_failed",
                f"Offer in the lot's currency ({lot.currency}).",
                errors=[
                    {
                        "pointer": "/offer_price/currency",
                        "code": "currency_mismatch",
                        "detail": f"expected {lot.currency}",
                    }
                ],
            )
    else:
        price, currency, is_offer = lot.price_per_t_minor, lot.currency, False
    available_after, status_after = take_quantity(session, lot.id, kg)
    now = utcnow()
    res = Reservation(
        lot_id=lot.id,
        buyer_org_id=principal.organization_id,
        seller_org_id=lot.organization_id,
        status=ReservationStatus.PENDING.value,
        quantity_kg=kg,
        deliveries=deliveries,
        price_per_t_minor=price,
        currency=currency,
        is_offer=is_offer,
        note=req.note,
        expires_at=now + ttl,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(res)
    session.flush()
    record(
        session,
        actor=principal,
        entity_type="reservation",
        entity_id=res.id,
        action="reservation.created",
        lot_id=lot.id,
        seller_org_id=lot.organization_id,
        buyer_org_id=principal.organization_id,
        after=_res_snapshot(res),
    )
    record(
        session,
        actor=principal,
        entity_type="lot",
        entity_id=lot.id,
        action="lot.quantity_reserved",
        lot_id=lot.id,
        seller_org_id=lot.organization_id,
        buyer_org_id=principal.organization_id,
        before={"available_kg": available_after + kg},
        after={"available_kg": available_after, "status": status_after},
    )
    return res


RES_TRANSITIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    # action: (allowed from, to, who: buyer|seller|system)
    "accept": ((ReservationStatus.PENDING.value,), ReservationStatus.ACCEPTED.value, "seller"),
    "reject": ((ReservationStatus.PENDING.value,), ReservationStatus.REJECTED.value, "seller"),
    "cancel": ((ReservationStatus.PENDING.value,), ReservationStatus.CANCELLED.value, "buyer"),
    "expire": ((ReservationStatus.PENDING.value,), ReservationStatus.EXPIRED.value, "system"),
}


def _transition_reservation(
    session: Session,
    res_id: str,
    action: str,
    *,
    expected_version: int | None,
    now: dt.datetime,
) -> bool:
    allowed, target, _ = RES_TRANSITIONS[action]
    conds = [Reservation.id == res_id, Reservation.status.in_(allowed)]
    if expected_version is not None:
        conds.append(Reservation.version == expected_version)
    if action == "accept":
        conds.append(Reservation.expires_at > now)
    if action == "expire":
        conds.append(Reservation.expires_at <= now)
    result = session.execute(
        update(Reservation)
        .where(*conds)
        .values(status=target, version=Reservation.version + 1, updated_at=now, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def _explain_failed_transition(
    session: Session, res_id: str, action: str, expected_version: int | None
) -> ProblemError:
    row = session.execute(
        select(Reservation.status, Reservation.version, Reservation.expires_at).where(
            Reservation.id == res_id
        )
    ).first()
    if row is None:
        return not_found("Reservation")
    if expected_version is not None and row.version != expected_version:
        return ProblemError(412, "precondition_failed", "The reservation changed; GET it again.")
    if (
        action == "accept"
        and row.status == ReservationStatus.PENDING
        and row.expires_at <= utcnow()
    ):
        return ProblemError(409, "reservation_expired", "The reservation has expired.")
    return ProblemError(
        409,
        "invalid_transition",
        f"Cannot {action} a reservation that is {row.status}.",
        title="Transition not allowed",
        extra={"status": row.status},
    )


def _party_check(principal: Principal, res: Reservation, who: str) -> None:
    if who == "seller" and principal.organization_id != res.seller_org_id:
        raise ProblemError(403, "forbidden", "Only the seller can do this.")
    if who == "buyer" and principal.organization_id != res.buyer_org_id:
        raise ProblemError(403, "forbidden", "Only the buyer can do this.")


def _delivery_dates(lot: Lot, n: int, today: dt.date) -> list[dt.date | None]:
    rec = lot.recurrence or {}
    freq = rec.get("frequency")
    start_s = rec.get("start")
    if not freq or not start_s:
        return [None] * n
    step_days = {"weekly": 7, "biweekly": 14}.get(str(freq))
    months = {"monthly": 1, "quarterly": 3}.get(str(freq))
    current = dt.date.fromisoformat(str(start_s))
    out: list[dt.date | None] = []
    guard = 0
    while len(out) < n and guard < 10_000:
        guard += 1
        if current >= today:
            out.append(current)
        if step_days:
            current = current + dt.timedelta(days=step_days)
        else:
            assert months is not None
            m = current.month - 1 + months
            current = current.replace(
                year=current.year + m // 12, month=m % 12 + 1, day=min(current.day, 28)
            )
    return out


def decide_reservation(
    session: Session,
    principal: Principal,
    res_id: str,
    action: str,
    *,
    expected_version: int,
) -> tuple[Reservation, list[Order]]:
    res = get_reservation(session, principal, res_id)
    _party_check(principal, res, RES_TRANSITIONS[action][2])
    before = _res_snapshot(res)
    now = utcnow()
    if not _transition_reservation(
        session, res.id, action, expected_version=expected_version, now=now
    ):
        raise _explain_failed_transition(session, res.id, action, expected_version)
    orders: list[Order] = []
    if action == "accept":
        lot = session.get(Lot, res.lot_id)
        assert lot is not None
        per = res.quantity_kg / res.deliveries
        dates = _delivery_dates(lot, res.deliveries, now.date()) if res.deliveries > 1 else [None]
        for i, due in enumerate(dates, start=1):
            orders.append(
                Order(
                    reservation_id=res.id,
                    lot_id=res.lot_id,
                    buyer_org_id=res.buyer_org_id,
                    seller_org_id=res.seller_org_id,
                    status=OrderStatus.CONFIRMED.value,
                    quantity_kg=per,
                    price_per_t_minor=res.price_per_t_minor,
                    currency=res.currency,
                    delivery_index=i,
                    delivery_due=due,
                    created_at=now,
                    updated_at=now,
                    version=1,
                )
            )
        session.add_all(orders)
    else:
        return_quantity(session, res.lot_id, res.quantity_kg)
    session.flush()
    session.refresh(res)
    record(
        session,
        actor=principal,
        entity_type="reservation",
        entity_id=res.id,
        action=f"reservation.{RES_TRANSITIONS[action][1]}",
        lot_id=res.lot_id,
        seller_org_id=res.seller_org_id,
        buyer_org_id=res.buyer_org_id,
        before=before,
        after=_res_snapshot(res),
    )
    for order in orders:
        record(
            session,
            actor=principal,
            entity_type="order",
            entity_id=order.id,
            action="order.confirmed",
            lot_id=order.lot_id,
            seller_org_id=order.seller_org_id,
            buyer_org_id=order.buyer_org_id,
            after=_order_snapshot(order),
        )
    if action != "accept":
        record(
            session,
            actor=principal,
            entity_type="lot",
            entity_id=res.lot_id,
            action="lot.quantity_returned",
            lot_id=res.lot_id,
            seller_org_id=res.seller_org_id,
            buyer_org_id=res.buyer_org_id,
            after={"returned_kg": res.quantity_kg},
        )
    return res, orders


def find_due(session: Session, *, limit: int = 200, now: dt.datetime | None = None) -> list[str]:
    """Ids of pending reservations past their expiry, oldest first."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(Reservation.id)
            .where(
                Reservation.status == ReservationStatus.PENDING.value,
                Reservation.expires_at <= now,
            )
            .order_by(Reservation.expires_at)
            .limit(limit)
        )
    )


def expire_one(session: Session, res_id: str, *, now: dt.datetime | None = None) -> bool:
    """Expire one reservation and return its quantity, exactly once (guarded transition).

    Call it in a transaction of its own: a transaction that held one lot's row lock while
    waiting for another reservation's could deadlock with a concurrent cancel (the service
    always locks reservation/order first, lot second)."""
    now = now or utcnow()
    row = session.execute(
        select(
            Reservation.lot_id,
            Reservation.quantity_kg,
            Reservation.seller_org_id,
            Reservation.buyer_org_id,
        ).where(Reservation.id == res_id)
    ).first()
    if row is None:
        return False
    if not _transition_reservation(session, res_id, "expire", expected_version=None, now=now):
        return False
    return_quantity(session, row.lot_id, row.quantity_kg)
    record(
        session,
        actor=None,
        entity_type="reservation",
        entity_id=res_id,
        action="reservation.expired",
        lot_id=row.lot_id,
        seller_org_id=row.seller_org_id,
        buyer_org_id=row.buyer_org_id,
        after={"status": "expired", "returned_kg": row.quantity_kg},
    )
    return True


# --- orders ----------------------------------------------------------------------------------


def _order_snapshot(o: Order) -> dict[str, Any]:
    return {
        "status": o.status,
        "quantity_kg": o.quantity_kg,
        "shipped_kg": o.shipped_kg,
        "delivered_kg": o.delivered_kg,
        "version": o.version,
    }


ORDER_TRANSITIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "ship": ((OrderStatus.CONFIRMED.value,), OrderStatus.SHIPPED.value, "seller"),
    "deliver": ((OrderStatus.SHIPPED.value,), OrderStatus.DELIVERED.value, "buyer"),
    "close": ((OrderStatus.DELIVERED.value,), OrderStatus.CLOSED.value, "any"),
    "cancel": ((OrderStatus.CONFIRMED.value,), OrderStatus.CANCELLED.value, "any"),
}


def transition_order(
    session: Session,
    principal: Principal,
    order_id: str,
    action: str,
    *,
    expected_version: int,
    quantity_kg: float | None = None,
) -> Order:
    order = get_order(session, principal, order_id)
    allowed, target, who = ORDER_TRANSITIONS[action]
    if who == "seller" and principal.organization_id != order.seller_org_id:
        raise ProblemError(403, "forbidden", "Only the seller can do this.")
    if who == "buyer" and principal.organization_id != order.buyer_org_id:
        raise ProblemError(403, "forbidden", "Only the buyer can do this.")
    before = _order_snapshot(order)
    now = utcnow()
    values: dict[str, Any] = {"status": target, "version": Order.version + 1, "updated_at": now}
    if action == "ship":
        shipped = order.quantity_kg if quantity_kg is None else quantity_kg
        values.update(shipped_kg=shipped, shipped_at=now)
    elif action == "deliver":
        values.update(
            delivered_kg=order.shipped_kg if quantity_kg is None else quantity_kg,
            delivered_at=now,
        )
    elif action == "close":
        values.update(closed_at=now)
    elif action == "cancel":
        values.update(cancelled_at=now)
    result = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status.in_(allowed), Order.version == expected_version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        session.refresh(order)
        if order.version != expected_version:
            raise ProblemError(412, "precondition_failed", "The order changed; GET it again.")
        raise ProblemError(
            409,
            "invalid_transition",
            f"Cannot {action} an order that is {order.status}.",
            title="Transition not allowed",
            extra={"status": order.status},
        )
    # Quantity effects, exactly once (inside the guarded transition's transaction).
    if action == "cancel":
        return_quantity(session, order.lot_id, order.quantity_kg)
    elif action == "ship":
        shipped = values["shipped_kg"]
        if shipped < order.quantity_kg:
            return_quantity(session, order.lot_id, order.quantity_kg - shipped)
        elif shipped > order.quantity_kg:
            take_quantity(session, order.lot_id, shipped - order.quantity_kg)
    session.flush()
    session.refresh(order)
    record(
        session,
        actor=principal,
        entity_type="order",
        entity_id=order.id,
        action=f"order.{target}",
        lot_id=order.lot_id,
        seller_org_id=order.seller_org_id,
        buyer_org_id=order.buyer_org_id,
        before=before,
        after=_order_snapshot(order),
    )
    return order


def orders_for_reservation(session: Session, res_id: str) -> Sequence[Order]:
    return list(
        session.scalars(
            select(Order).where(Order.reservation_id == res_id).order_by(Order.delivery_index)
        )
    )
