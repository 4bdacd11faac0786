"""Query parameters validated as one Pydantic model, in one call.

FastAPI resolves each declared query parameter on its own, re-inspecting its annotation on
every request: for a list endpoint with two dozen filters that was the largest single cost of
a request after the database (benchmarks/README.md). ``query_model`` validates the whole query
string with the model's compiled validator instead, reports errors exactly as FastAPI does
(``RequestValidationError`` with ``("query", name)`` locations, so the same problem+json), and
documents every field as a query parameter in the OpenAPI document::

    lot_query, LOT_QUERY_DOCS = query_model(LotQuery)

    @router.get("", openapi_extra=LOT_QUERY_DOCS)
    async def list_lots(q: Annotated[LotQuery, Depends(lot_query)]) -> ...

Unknown parameters are ignored, as FastAPI does. Fields must be scalars (no lists).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def _parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    if "$defs" in schema:
        raise TypeError(f"{model.__name__}: query models must not need schema definitions")
    required = set(schema.get("required", ()))
    params: list[dict[str, Any]] = []
    for name, prop in schema["properties"].items():
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


def query_model(
    model: type[M],
) -> tuple[Callable[[Request], Awaitable[M]], dict[str, Any]]:
    """(dependency, ``openapi_extra``) for a query-parameter model."""
    names = frozenset(model.model_fields)
    validate = model.model_validate

    async def dependency(request: Request) -> M:
        raw = request.query_params
        data = {k: raw[k] for k in names if k in raw} if raw else {}
        try:
            return validate(data)
        except ValidationError as exc:
            errors = [
                {**err, "loc": ("query", *err["loc"])}
                for err in exc.errors(include_url=False, include_context=False)
            ]
            raise RequestValidationError(errors) from None

    dependency.__name__ = f"{model.__name__}_query"
    return dependency, {"parameters": _parameters(model)}
