"""The committed OpenAPI document is generated from the app and must not drift."""

from __future__ import annotations

import json
from pathlib import Path

from app.main import create_app
from app.openapi import render
from app.settings import Settings

SPEC = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app():
    current = render(create_app(Settings(database_url="sqlite://")))
    committed = SPEC.read_text(encoding="utf-8") if SPEC.exists() else ""
    assert current == committed, "openapi/openapi.json is stale: run `make openapi` and commit it"


def test_every_operation_documents_problem_errors():
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    for path, item in spec["paths"].items():
        for method, op in item.items():
            errors = {k: v for k, v in op["responses"].items() if k.startswith(("4", "5"))}
            assert errors, f"{method.upper()} {path} documents no error responses"
            for status, resp in errors.items():
                assert "application/problem+json" in resp.get("content", {}), (
                    f"{method.upper()} {path} {status} is not problem+json"
                )


def test_request_bodies_have_examples():
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            content = op.get("requestBody", {}).get("content", {})
            for media, body in content.items():
                if media != "application/json":
                    continue
                ref = body["schema"].get("$ref", "")
                schema = schemas[ref.rsplit("/", 1)[-1]] if ref else body["schema"]
                assert schema.get("examples") or body.get("examples"), (
                    f"{method.upper()} {path} request body has no example"
                )
