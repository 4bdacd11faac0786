from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.audit.models import AuditEvent
from app.kit.db import utcnow
from app.lots.models import Lot
from app.orders.models import Reservation
from app.worker import expire_once
from tests.factories import lot_body


@pytest.fixture
def lot(client, recycler):
    r = client.post(
        "/v1/lots", json=lot_body(quantity={"value": 100, "unit": "t"}), headers=recycler.headers
    )
    assert r.status_code == 201
    return r.json()


def _reserve(client, buyer, lot_id, tonnes, **extra):
    return client.post(
        f"/v1/lots/{lot_id}/reservations",
        json={"quantity": {"value": tonnes, "unit": "t"}, **extra},
        headers=buyer.headers,
    )


def _available(db, lot_id):
    with db.transaction() as s:
        lot = s.get(Lot, lot_id)
        return lot.available_kg, lot.status


def _act(client, org, path):
    etag = client.get(path.rsplit("/", 1)[0], headers=org.headers).headers["etag"]
    return client.post(path, headers={**org.headers, "If-Match": etag})


def test_reserve_holds_quantity_and_never_oversells(client, lot, manufacturer, manufacturer2, db):
    a = _reserve(client, manufacturer, lot["id"], 60)
    assert a.status_code == 201, a.text
    assert a.json()["status"] == "pending"
    assert a.json()["price"] == {"amount": "420.00", "currency": "EUR", "per": "t"}
    assert _available(db, lot["id"]) == (40000, "active")
    b = _reserve(client, manufacturer2, lot["id"], 50)
    assert b.status_code == 409
    assert b.json()["code"] == "insufficient_quantity"
    assert b.json()["available_kg"] == 40000
    c = _reserve(client, manufacturer2, lot["id"], 40)
    assert c.status_code == 201
    assert _available(db, lot["id"]) == (0, "sold_out")
    d = _reserve(client, manufacturer2, lot["id"], 1)
    assert d.status_code == 409
    assert d.json()["code"] == "lot_not_available"


def test_lifecycle_accept_ship_deliver_close(client, lot, recycler, manufacturer, db):
    res = _reserve(
        client, manufacturer, lot["id"], 20, offer_price={"amount": "400.00", "currency": "EUR"}
    ).json()
    assert res["is_offer"] is True
    acc = _act(client, recycler, f"/v1/reservations/{res['id']}/accept")
    assert acc.status_code == 200, acc.text
    assert acc.json()["status"] == "accepted"
    [order_id] = acc.json()["order_ids"]
    order_url = f"/v1/orders/{order_id}"
    order = client.get(order_url, headers=manufacturer.headers).json()
    assert order["status"] == "confirmed"
    assert order["price"]["amount"] == "400.00"
    # buyer cannot ship; seller ships less than ordered, the shortfall returns to the lot
    etag = client.get(order_url, headers=recycler.headers).headers["etag"]
    wrong = client.post(
        f"{order_url}/ship", json={}, headers={**manufacturer.headers, "If-Match": etag}
    )
    assert wrong.status_code == 403
    ship = client.post(
        f"{order_url}/ship",
        json={"shipped": {"value": 19, "unit": "t"}},
        headers={**recycler.headers, "If-Match": etag},
    )
    assert ship.status_code == 200, ship.text
    assert ship.json()["shipped_kg"] == 19000
    assert _available(db, lot["id"])[0] == 81000
    # cannot cancel once shipped
    cancel = client.post(
        f"{order_url}/cancel", headers={**recycler.headers, "If-Match": ship.headers["etag"]}
    )
    assert cancel.status_code == 409
    assert cancel.json()["code"] == "invalid_transition"
    deliver = client.post(
        f"{order_url}/deliver",
        json={"delivered": {"value": 18.9, "unit": "t"}},
        headers={**manufacturer.headers, "If-Match": ship.headers["etag"]},
    )
    assert deliver.status_code == 200, deliver.text
    assert deliver.json()["delivered_kg"] == pytest.approx(18900)
    close = client.post(
        f"{order_url}/close", headers={**recycler.headers, "If-Match": deliver.headers["etag"]}
    )
    assert close.json()["status"] == "closed"


def test_reject_cancel_and_order_cancel_return_quantity_once(
    client, lot, recycler, manufacturer, db
):
    r1 = _reserve(client, manufacturer, lot["id"], 10).json()
    r2 = _reserve(client, manufacturer, lot["id"], 10).json()
    r3 = _reserve(client, manufacturer, lot["id"], 10).json()
    assert _available(db, lot["id"])[0] == 70000
    assert (
        _act(client, recycler, f"/v1/reservations/{r1['id']}/reject").json()["status"] == "rejected"
    )
    assert (
        _act(client, manufacturer, f"/v1/reservations/{r2['id']}/cancel").json()["status"]
        == "cancelled"
    )
    assert _available(db, lot["id"])[0] == 90000
    # second cancel / reject: 409, quantity unchanged
    again = _act(client, manufacturer, f"/v1/reservations/{r2['id']}/cancel")
    assert again.status_code == 409
    assert _act(client, recycler, f"/v1/reservations/{r1['id']}/accept").status_code == 409
    assert _available(db, lot["id"])[0] == 90000
    order_id = _act(client, recycler, f"/v1/reservations/{r3['id']}/accept").json()["order_ids"][0]
    assert (
        _act(client, manufacturer, f"/v1/orders/{order_id}/cancel").json()["status"] == "cancelled"
    )
    assert _available(db, lot["id"])[0] == 100000
    assert _act(client, manufacturer, f"/v1/orders/{order_id}/cancel").status_code == 409
    assert _available(db, lot["id"])[0] == 100000


def test_transitions_need_if_match_and_right_party(
    client, lot, recycler, manufacturer, manufacturer2
):
    res = _reserve(client, manufacturer, lot["id"], 5).json()
    url = f"/v1/reservations/{res['id']}"
    assert client.post(f"{url}/accept", headers=recycler.headers).status_code == 428
    stale = client.post(f"{url}/accept", headers={**recycler.headers, "If-Match": '"old"'})
    assert stale.status_code == 412
    etag = client.get(url, headers=manufacturer.headers).headers["etag"]
    assert (
        client.post(f"{url}/accept", headers={**manufacturer.headers, "If-Match": etag}).status_code
        == 403
    )
    # someone who is not a party gets 404, never the reservation
    assert client.get(url, headers=manufacturer2.headers).status_code == 404
    assert (
        client.post(
            f"{url}/cancel", headers={**manufacturer2.headers, "If-Match": etag}
        ).status_code
        == 404
    )
    assert client.get("/v1/reservations", headers=manufacturer2.headers).json()["data"] == []


def test_seller_cannot_reserve_own_lot_and_recycler_cannot_buy(client, lot, recycler, recycler2):
    assert _reserve(client, recycler, lot["id"], 1).status_code == 403
    assert _reserve(client, recycler2, lot["id"], 1).status_code == 403


def test_bad_reservation_input(client, lot, manufacturer, db):
    for body in (
        {},
        {"quantity": {"value": -1, "unit": "t"}},
        {"quantity": {"value": 1, "unit": "t"}, "deliveries": 2},
        {"deliveries": 2},  # spot lot
        {
            "quantity": {"value": 1, "unit": "t"},
            "offer_price": {"amount": "1.00", "currency": "USD"},
        },
    ):
        r = client.post(
            f"/v1/lots/{lot['id']}/reservations", json=body, headers=manufacturer.headers
        )
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert _available(db, lot["id"])[0] == 100000
    assert (
        client.post(
            "/v1/lots/lot_nope/reservations",
            json={"quantity": {"value": 1, "unit": "t"}},
            headers=manufacturer.headers,
        ).status_code
        == 404
    )


def test_idempotent_reservation_reserves_once(client, lot, manufacturer, db):
    h = {**manufacturer.headers, "Idempotency-Key": "res-1"}
    body = {"quantity": {"value": 30, "unit": "t"}}
    a = client.post(f"/v1/lots/{lot['id']}/reservations", json=body, headers=h)
    b = client.post(f"/v1/lots/{lot['id']}/reservations", json=body, headers=h)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] == b.json()["id"]
    assert b.headers["idempotent-replayed"] == "true"
    assert _available(db, lot["id"])[0] == 70000


def test_expiry_returns_quantity_exactly_once(client, lot, recycler, manufacturer, db):
    res = _reserve(client, manufacturer, lot["id"], 25).json()
    with db.transaction() as s:
        s.get(Reservation, res["id"]).expires_at = utcnow() - dt.timedelta(seconds=1)
    # accept after expiry is refused
    acc = _act(client, recycler, f"/v1/reservations/{res['id']}/accept")
    assert acc.status_code == 409
    assert acc.json()["code"] == "reservation_expired"
    assert expire_once(db) == 1
    assert expire_once(db) == 0
    assert _available(db, lot["id"])[0] == 100000
    assert (
        client.get(f"/v1/reservations/{res['id']}", headers=manufacturer.headers).json()["status"]
        == "expired"
    )


def test_recurring_next_n_deliveries(client, recycler, manufacturer, db):
    body = lot_body(
        quantity={"value": 240, "unit": "t"},
        supply={
            "type": "recurring",
            "frequency": "monthly",
            "quantity_per_delivery": {"value": 20, "unit": "t"},
            "start": (dt.date.today() + dt.timedelta(days=3)).isoformat(),
        },
    )
    lot = client.post("/v1/lots", json=body, headers=recycler.headers).json()
    res = client.post(
        f"/v1/lots/{lot['id']}/reservations", json={"deliveries": 3}, headers=manufacturer.headers
    )
    assert res.status_code == 201, res.text
    assert res.json()["quantity_kg"] == 60000
    acc = _act(client, recycler, f"/v1/reservations/{res.json()['id']}/accept").json()
    assert len(acc["order_ids"]) == 3
    orders = [
        client.get(f"/v1/orders/{o}", headers=manufacturer.headers).json() for o in acc["order_ids"]
    ]
    dues = [o["delivery_due"] for o in orders]
    assert dues == sorted(dues)
    assert len(set(dues)) == 3
    assert all(o["quantity_kg"] == 20000 for o in orders)
    assert _available(db, lot["id"])[0] == 180000


def test_audit_trail_is_readable_by_parties_and_append_only(
    client, lot, recycler, manufacturer, manufacturer2, db
):
    res = _reserve(client, manufacturer, lot["id"], 10).json()
    _act(client, recycler, f"/v1/reservations/{res['id']}/accept")
    events = client.get(f"/v1/audit-events?lot_id={lot['id']}", headers=recycler.headers).json()[
        "data"
    ]
    actions = [e["action"] for e in events]
    assert actions[:4] == [
        "lot.created",
        "reservation.created",
        "lot.quantity_reserved",
        "reservation.accepted",
    ]
    assert "order.confirmed" in actions
    buyer_view = client.get(
        f"/v1/audit-events?entity_id={res['id']}", headers=manufacturer.headers
    ).json()["data"]
    assert [e["action"] for e in buyer_view] == ["reservation.created", "reservation.accepted"]
    assert buyer_view[1]["before"]["status"] == "pending"
    assert buyer_view[1]["after"]["status"] == "accepted"
    assert (
        client.get(f"/v1/audit-events?lot_id={lot['id']}", headers=manufacturer2.headers).json()[
            "data"
        ]
        == []
    )
    # the database itself refuses edits
    for stmt in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError), db.transaction() as s:
            s.execute(text(stmt))
    with db.transaction() as s:
        assert s.query(AuditEvent).filter(AuditEvent.action == "x").count() == 0
