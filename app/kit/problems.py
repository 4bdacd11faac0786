"""RFC 9457 problem details: one exception type, one renderer, and the exception handlers.

Every 4xx/5xx the service sends is ``application/problem+json`` with ``type``, ``title``,
``status``, ``detail``, ``instance``, a stable machine ``code``, the ``request_id`` and, for
validation, an ``errors`` list of ``{pointer, code, detail}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.kit.context import get_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"

log = structlog.get_logger("app.problems")

# The catalogue of problem types: code -> (status, title). Served at /problems/{code}.
PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "malformed_request": (400, "Malformed request"),
    "malformed_json": (400, "Malformed JSON body"),
    "invalid_cursor": (400, "Invalid pagination cursor"),
    "nul_byte": (400, "NUL byte in request"),
    "invalid_idempotency_key": (400, "Invalid Idempotency-Key header"),
    "unauthenticated": (401, "Authentication required"),
    "invalid_credentials": (401, "Invalid credentials"),
    "invalid_client": (401, "Invalid OAuth client"),
    "insufficient_scope": (403, "Insufficient scope"),
    "forbidden": (403, "Forbidden"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "not_acceptable": (406, "Not acceptable"),
    "conflict": (409, "Conflict"),
    "idempotency_in_flight": (409, "A request with this Idempotency-Key is in flight"),
    "precondition_failed": (412, "Precondition failed"),
    "payload_too_large": (413, "Payload too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "validation_failed": (422, "Validation failed"),
    "idempotency_key_reused": (422, "Idempotency-Key reused with a different request"),
    "precondition_required": (428, "Precondition required"),
    "rate_limited": (429, "Too many requests"),
    "internal_error": (500, "Internal server error"),
    "database_unavailable": (503, "Database unavailable"),
    "database_busy": (503, "Concurrent update; retry"),
}


class ErrorItem(BaseModel):
    pointer: str | None = Field(
        default=None,
        description="JSON Pointer (RFC 6901) into the request body",
        examples=["/quantity"],
    )
    parameter: str | None = Field(default=None, description="Query, path or header parameter")
    code: str = Field(examples=["greater_than_equal"])
    detail: str = Field(examples=["Input should be greater than or equal to 0"])


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/validation_failed",
                    "title": "Validation failed",
                    "status": 422,
                    "detail": "1 field is invalid",
                    "instance": "/v1/lots",
                    "code": "validation_failed",
                    "request_id": "req_01jd0000000000000000000000",
                    "errors": [
                        {
                            "pointer": "/quantity/value",
                            "code": "greater_than",
                            "detail": "Input should be greater than 0",
                        }
                    ],
                }
            ]
        },
    )

    type: str = Field(examples=["/problems/not_found"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str
    request_id: str | None = None
    errors: list[ErrorItem] | None = None


class ProblemError(Exception):
    """Raise anywhere (services included) to answer with a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str | None = None,
        *,
        title: str | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or code)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or PROBLEM_TYPES.get(code, (status, _reason(status)))[1]
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def not_found(what: str = "Resource") -> ProblemError:
    return ProblemError(404, "not_found", f"{what} not found")


def problem_response(
    request: Request | None,
    status: int,
    code: str,
    detail: str | None = None,
    *,
    title: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title or PROBLEM_TYPES.get(code, (status, _reason(status)))[1],
        "status": status,
        "detail": detail,
        "instance": request.url.path if request is not None else None,
        "code": code,
        "request_id": get_request_id(),
    }
    if errors:
        body["errors"] = list(errors)
    if extra:
        body.update(extra)
    return Response(
        content=orjson.dumps(body),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def _pointer(loc: Sequence[str | int]) -> tuple[str | None, str | None]:
    """Map a pydantic/FastAPI error location to (json pointer, parameter name)."""
    if not loc:
        return None, None
    where, rest = loc[0], list(loc[1:])
    if where == "body":
        parts = [str(p).replace("~", "~0").replace("/", "~1") for p in rest]
        return "/" + "/".join(parts), None
    return None, ".".join(str(p) for p in rest) or str(where)


def validation_errors(raw: Sequence[Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for err in raw:
        pointer, parameter = _pointer(tuple(err.get("loc", ())))
        item: dict[str, Any] = {
            "pointer": pointer,
            "code": str(err.get("type", "invalid")),
            "detail": str(err.get("msg", "invalid value")),
        }
        if parameter is not None:
            item["parameter"] = parameter
        items.append(item)
    return items


async def _problem_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        request,
        exc.status,
        exc.code,
        exc.detail,
        title=exc.title,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    bad_json = [e for e in raw if e.get("type") == "json_invalid"]
    if bad_json:
        ctx = bad_json[0].get("ctx") or {}
        loc = bad_json[0].get("loc", ())
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        return problem_response(
            request,
            400,
            "malformed_json",
            f"The request body is not valid JSON{where}: {ctx.get('error', 'decode error')}.",
            errors=[{"pointer": "", "code": "json_invalid", "detail": "JSON decode error"}],
        )
    errors = validation_errors(raw)
    n = len(errors)
    return problem_response(
        request,
        422,
        "validation_failed",
        f"{n} field{'s are' if n != 1 else ' is'} invalid",
        errors=errors,
    )


_STATUS_CODES = {
    400: "malformed_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    428: "precondition_required",
    429: "rate_limited",
}


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code < 400:
        return Response(status_code=exc.status_code, headers=exc.headers)
    fallback = "internal_error" if exc.status_code >= 500 else "error"
    code = _STATUS_CODES.get(exc.status_code, fallback)
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem_response(request, exc.status_code, code, detail, headers=headers)


_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _allowed_methods(request: Request) -> list[str]:
    """The documented methods for this path (Starlette would name only the first route's)."""
    table = getattr(request.app.state, "allow_table", None)
    if table is None:
        table = []
        for template, item in request.app.openapi().get("paths", {}).items():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            methods = {m.upper() for m in item if m in _HTTP_METHODS}
            table.append((re.compile(f"^{pattern}$"), template.count("{"), methods))
        request.app.state.allow_table = table
    matches = [
        (params, methods) for regex, params, methods in table if regex.match(request.url.path)
    ]
    if not matches:
        return []
    # A literal segment wins over a parameter (/v1/lots/bulk is not /v1/lots/{lot_id}).
    fewest = min(params for params, _ in matches)
    allowed: set[str] = set()
    for params, methods in matches:
        if params == fewest:
            allowed |= methods
    return sorted(allowed)


def _is_connectivity_error(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower()
        return (
            any(
                s in text
                for s in (
                    "connect",
                    "database is locked",
                    "server closed",
                    "terminating",
                    "timeout",
                )
            )
            or "unable to open database" in text
        )
    return False


_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock timeout


async def _db_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    if getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        log.warning("database_conflict", error=str(exc.orig)[:300])
        return problem_response(
            request,
            503,
            "database_busy",
            "The request collided with a concurrent one and was rolled back; retry it.",
            headers={"Retry-After": "1"},
        )
    if _is_connectivity_error(exc):
        log.warning("database_unavailable", error=str(exc.orig)[:500])
        return problem_response(
            request,
            503,
            "database_unavailable",
            "The database is unavailable or busy; retry shortly.",
            headers={"Retry-After": "5"},
        )
    log.error("database_error", error=str(exc.orig)[:500], exc_info=exc)
    return problem_response(request, 500, "internal_error", "Unexpected database error.")


async def _stale_handler(request: Request, exc: Exception) -> Response:
    return problem_response(
        request, 412, "precondition_failed", "The resource was changed by another request."
    )


async def _unhandled_handler(request: Request, exc: Exception) -> Response:
    log.error("unhandled_exception", exc_info=exc)
    return problem_response(request, 500, "internal_error", "An unexpected error occurred.")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(DBAPIError, _db_error_handler)
    app.add_exception_handler(StaleDataError, _stale_handler)
    app.add_exception_handler(Exception, _unhandled_handler)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem+json for the given statuses."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {
            "description": _reason(status),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out
