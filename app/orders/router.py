from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.audit.service import events_visible_to
from app.auth.dependencies import Idempotent, OrdersReader, OrdersWriter
from app.kit.etag import (
    IfMatchHeader,
    check_if_match,
    make_etag,
    not_modified,
    not_modified_response,
)
from app.kit.pagination import (
    CursorQuery,
    LimitQuery,
    Page,
    SortKey,
    page_of,
    paginate,
    set_link_header,
)
from app.kit.problems import problem_responses
from app.kit.routing import TransactionalRoute, get_session
from app.orders import service
from app.orders.models import Order, Reservation
from app.orders.schemas import (
    AuditEventOut,
    DeliverBody,
    OrderOut,
    ReservationCreate,
    ReservationOut,
    ShipBody,
    money,
)

router = APIRouter(tags=["orders"], route_class=TransactionalRoute)
SessionDep = Annotated[Session, Depends(get_session)]
RES_ORDER = SortKey("id_desc", (Reservation.id,))
ORDER_ORDER = SortKey("id_desc", (Order.id,))
AUDIT_ORDER = SortKey("seq_asc", (AuditEvent.seq,), descending=False)
TRANSITION_ERRORS = problem_responses(401, 403, 404, 409, 412, 415, 422, 428)


def _res_etag(res: Reservation) -> str:
    return make_etag("reservation", res.id, res.version)


def _order_etag(order: Order) -> str:
    return make_etag("order", order.id, order.version)


def _res_out(res: Reservation, order_ids: list[str] | None = None) -> ReservationOut:
    return ReservationOut.model_validate(
        {
            **{k: getattr(res, k) for k in ReservationOut.model_fields if hasattr(res, k)},
            "price": money(res.price_per_t_minor, res.currency),
            "order_ids": order_ids or [],
        }
    )


def _order_out(order: Order) -> OrderOut:
    return OrderOut.model_validate(
        {
            **{k: getattr(order, k) for k in OrderOut.model_fields if hasattr(order, k)},
            "price": money(order.price_per_t_minor, order.currency),
        }
    )


@router.post(
    "/v1/lots/{lot_id}/reservations",
    status_code=201,
    response_model=ReservationOut,
    responses=problem_responses(400, 401, 403, 404, 409, 415, 422),
    dependencies=[Idempotent],
)
def reserve(
    request: Request,
    lot_id: str,
    body: ReservationCreate,
    principal: OrdersWriter,
    session: SessionDep,
    response: Response,
) -> ReservationOut:
    """Reserve a quantity of a lot at the asking price or with an offer. The quantity is held
    until the seller accepts or rejects, you cancel, or the reservation expires. 409 when the
    lot does not have that much available: a lot is never oversold."""
    settings = request.app.state.settings
    req = service.ReserveRequest(
        quantity_kg=body.quantity.kg if body.quantity else None,
        deliveries=body.deliveries,
        offer_price_minor=body.offer_price.minor if body.offer_price else None,
        currency=body.offer_price.currency if body.offer_price else None,
        note=body.note,
    )
    res = service.reserve(
        session, principal, lot_id, req, ttl=dt.timedelta(hours=settings.reservation_ttl_hours)
    )
    response.headers["Location"] = f"/v1/reservations/{res.id}"
    response.headers["ETag"] = _res_etag(res)
    return _res_out(res)


@router.get(
    "/v1/reservations",
    response_model=Page[ReservationOut],
    responses=problem_responses(400, 401, 403, 422),
)
def list_reservations(
    request: Request,
    response: Response,
    principal: OrdersReader,
    session: SessionDep,
    role: Literal["buyer", "seller"] | None = None,
    status: Literal["pending", "accepted", "rejected", "cancelled", "expired"] | None = None,
    lot_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: LimitQuery = 25,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """Reservations you are a party to, newest first."""
    stmt = service.reservations_of(principal.organization_id)
    if role == "buyer":
        stmt = stmt.where(Reservation.buyer_org_id == principal.organization_id)
    elif role == "seller":
        stmt = stmt.where(Reservation.seller_org_id == principal.organization_id)
    if status:
        stmt = stmt.where(Reservation.status == status)
    if lot_id:
        stmt = stmt.where(Reservation.lot_id == lot_id)
    rows, next_cursor = paginate(session, stmt, RES_ORDER, cursor=cursor, limit=limit)
    set_link_header(request, response, next_cursor)
    return page_of([_res_out(r) for r in rows], next_cursor)


@router.get(
    "/v1/reservations/{res_id}",
    response_model=ReservationOut,
    responses={304: {"description": "Not modified"}, **problem_responses(401, 403, 404)},
)
def get_reservation(
    request: Request, res_id: str, principal: OrdersReader, session: SessionDep, response: Response
) -> Any:
    res = service.get_reservation(session, principal, res_id)
    etag = _res_etag(res)
    if not_modified(request, etag):
        return not_modified_response(etag)
    response.headers["ETag"] = etag
    orders = service.orders_for_reservation(session, res.id)
    return _res_out(res, [o.id for o in orders])


def _decide(action: str) -> Any:
    def endpoint(
        request: Request,
        res_id: str,
        principal: OrdersWriter,
        session: SessionDep,
        response: Response,
        if_match: IfMatchHeader = None,
    ) -> ReservationOut:
        res = service.get_reservation(session, principal, res_id)
        check_if_match(request, _res_etag(res), required=True)
        res, orders = service.decide_reservation(
            session, principal, res_id, action, expected_version=res.version
        )
        response.headers["ETag"] = _res_etag(res)
        return _res_out(res, [o.id for o in orders])

    return endpoint


_DECISION_DOCS = {
    "accept": "Seller: accept; the reservation becomes an order (one per delivery when recurring).",
    "reject": "Seller: reject; the quantity returns to the lot.",
    "cancel": "Buyer: cancel a pending reservation; the quantity returns to the lot.",
}
for _action, _doc in _DECISION_DOCS.items():
    router.add_api_route(
        f"/v1/reservations/{{res_id}}/{_action}",
        _decide(_action),
        methods=["POST"],
        response_model=ReservationOut,
        responses=TRANSITION_ERRORS,
        summary=f"{_action.title()} a reservation",
        description=_doc + " Requires If-Match; 409 when the transition is not allowed.",
        name=f"{_action}_reservation",
    )


@router.get(
    "/v1/orders", response_model=Page[OrderOut], responses=problem_responses(400, 401, 403, 422)
)
def list_orders(
    request: Request,
    response: Response,
    principal: OrdersReader,
    session: SessionDep,
    role: Literal["buyer", "seller"] | None = None,
    status: Literal["confirmed", "shipped", "delivered", "closed", "cancelled"] | None = None,
    limit: LimitQuery = 25,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """Orders you are a party to, newest first."""
    stmt = service.orders_of(principal.organization_id)
    if role == "buyer":
        stmt = stmt.where(Order.buyer_org_id == principal.organization_id)
    elif role == "seller":
        stmt = stmt.where(Order.seller_org_id == principal.organization_id)
    if status:
        stmt = stmt.where(Order.status == status)
    rows, next_cursor = paginate(session, stmt, ORDER_ORDER, cursor=cursor, limit=limit)
    set_link_header(request, response, next_cursor)
    return page_of([_order_out(o) for o in rows], next_cursor)


@router.get(
    "/v1/orders/{order_id}",
    response_model=OrderOut,
    responses={304: {"description": "Not modified"}, **problem_responses(401, 403, 404)},
)
def get_order(
    request: Request,
    order_id: str,
    principal: OrdersReader,
    session: SessionDep,
    response: Response,
) -> Any:
    order = service.get_order(session, principal, order_id)
    etag = _order_etag(order)
    if not_modified(request, etag):
        return not_modified_response(etag)
    response.headers["ETag"] = etag
    return _order_out(order)


def _transition(action: str, body_model: type[ShipBody] | type[DeliverBody] | None) -> Any:
    def apply(
        request: Request,
        order_id: str,
        principal: OrdersWriter,
        session: SessionDep,
        response: Response,
        kg: float | None,
    ) -> OrderOut:
        order = service.get_order(session, principal, order_id)
        check_if_match(request, _order_etag(order), required=True)
        order = service.transition_order(
            session, principal, order_id, action, expected_version=order.version, quantity_kg=kg
        )
        response.headers["ETag"] = _order_etag(order)
        return _order_out(order)

    if body_model is ShipBody:

        def ship(
            request: Request,
            order_id: str,
            principal: OrdersWriter,
            session: SessionDep,
            response: Response,
            body: ShipBody,
            if_match: IfMatchHeader = None,
        ) -> OrderOut:
            kg = body.shipped.kg if body.shipped else None
            return apply(request, order_id, principal, session, response, kg)

        return ship
    if body_model is DeliverBody:

        def deliver(
            request: Request,
            order_id: str,
            principal: OrdersWriter,
            session: SessionDep,
            response: Response,
            body: DeliverBody,
            if_match: IfMatchHeader = None,
        ) -> OrderOut:
            kg = body.delivered.kg if body.delivered else None
            return apply(request, order_id, principal, session, response, kg)

        return deliver

    def plain(
        request: Request,
        order_id: str,
        principal: OrdersWriter,
        session: SessionDep,
        response: Response,
        if_match: IfMatchHeader = None,
    ) -> OrderOut:
        return apply(request, order_id, principal, session, response, None)

    return plain


_ORDER_ACTIONS: dict[str, tuple[type[ShipBody] | type[DeliverBody] | None, str]] = {
    "ship": (
        ShipBody,
        "Seller: mark shipped with the shipped quantity; a shortfall returns to the lot.",
    ),
    "deliver": (DeliverBody, "Buyer: confirm receipt with the delivered quantity."),
    "close": (None, "Either party: close a delivered order."),
    "cancel": (None, "Either party: cancel a confirmed order; the quantity returns to the lot."),
}
for _action, (_model, _doc) in _ORDER_ACTIONS.items():
    router.add_api_route(
        f"/v1/orders/{{order_id}}/{_action}",
        _transition(_action, _model),
        methods=["POST"],
        response_model=OrderOut,
        responses=TRANSITION_ERRORS,
        summary=f"{_action.title()} an order",
        description=_doc + " Requires If-Match; 409 when the transition is not allowed.",
        name=f"{_action}_order",
    )


@router.get(
    "/v1/audit-events",
    response_model=Page[AuditEventOut],
    tags=["audit"],
    responses=problem_responses(400, 401, 403, 422),
)
def list_audit_events(
    request: Request,
    response: Response,
    principal: OrdersReader,
    session: SessionDep,
    entity_id: Annotated[str | None, Query(max_length=40)] = None,
    lot_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """The append-only trail of changes to lots, reservations and orders you are a party to
    (who, what, when, before and after), oldest first. Nobody can edit it."""
    stmt = events_visible_to(principal.organization_id)
    if entity_id:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    if lot_id:
        stmt = stmt.where(AuditEvent.lot_id == lot_id)
    rows, next_cursor = paginate(session, stmt, AUDIT_ORDER, cursor=cursor, limit=limit)
    set_link_header(request, response, next_cursor)
    return page_of([AuditEventOut.model_validate(r) for r in rows], next_cursor)
