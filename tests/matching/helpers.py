"""Request bodies and calls shared by the requirement and matching tests."""

from __future__ import annotations

import copy
from typing import Any

from tests.factories import lot_body

MFR_230 = {"temperature_c": 230, "load_kg": 2.16}


def spec(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "family": "plastic_recyclate",
        "polymers": {"values": ["PP"]},
        "min_dql": {"min": 1},
        "properties": [
            {
                "property": "Viscosity",
                "unit": "g/10min",
                "min": 8,
                "max": 20,
                "target": 12,
                "conditions": dict(MFR_230),
            }
        ],
        "quantity": {"min": {"value": 10, "unit": "t"}},
        "delivery_location": {"country": "DE", "postcode": "47059", "max_distance_km": 300},
    }
    for key, value in overrides.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def lot(level: int = 2, **overrides: Any) -> dict[str, Any]:
    """A PP regrind lot (MFR 12 g/10min at 230 degC/2.16 kg, density 0.905 +- 0.003)."""
    attrs = overrides.pop("attrs", None)
    body = lot_body(level=level, **overrides)
    if attrs:
        a = copy.deepcopy(body["grade"]["attributes"])
        for k, v in attrs.items():
            if v is None:
                a.pop(k, None)
            else:
                a[k] = v
        body["grade"]["attributes"] = a
    return body


def post_lot(client: Any, org: Any, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/v1/lots", json=body, headers=org.headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def post_requirement(
    client: Any, org: Any, body_spec: dict[str, Any], *, saved: bool = False, name: str = "PP"
) -> Any:
    return client.post(
        "/v1/requirements",
        json={"name": name, "saved_search": saved, "spec": body_spec},
        headers=org.headers,
    )


def search(client: Any, org: Any, body_spec: dict[str, Any], **params: Any) -> dict[str, Any]:
    r = client.post("/v1/matches/search", json=body_spec, headers=org.headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def by_lot(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["lot_id"]: m for m in result["data"]}


def criterion(match: dict[str, Any], prefix: str) -> dict[str, Any]:
    return next(c for c in match["explanation"] if c["criterion"].startswith(prefix))
