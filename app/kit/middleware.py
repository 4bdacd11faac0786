"""Pure ASGI middleware: request ids, access logs, metrics, body-size limits, NUL bytes.

Pure ASGI (not BaseHTTPMiddleware) keeps the per-request overhead small.
"""

from __future__ import annotations

import re
import time
from urllib.parse import unquote_to_bytes

import structlog
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit.context import set_request_id
from app.kit.ids import new_id
from app.kit.problems import problem_response

log = structlog.get_logger("app.access")

REQUESTS = Counter("recyclate_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "recyclate_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _BodyTooLarge(StarletteHTTPException):
    """An HTTPException so FastAPI's body parser re-raises it unchanged as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body exceeds {limit} bytes.")


class RequestContextMiddleware:
    """Request id, structured access log and Prometheus metrics."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _SAFE_REQUEST_ID.match(candidate):
                    incoming = candidate
                break
        request_id = incoming or new_id("req")
        set_request_id(request_id)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        start = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                limit = scope.get("state", {}).get("rate_limit")
                if limit is not None:  # app/kit/ratelimit.py, set by authentication
                    headers.extend(limit.headers())
                app_state = getattr(scope.get("app"), "state", None)
                balancer = getattr(app_state, "connection_balancer", None)
                if balancer is not None and balancer.should_close():  # app/kit/balance.py
                    headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            status = status_holder["status"]
            REQUESTS.labels(method, route_path, str(status)).inc()
            LATENCY.labels(method, route_path).observe(elapsed)
            if self.access_log:
                log.info(
                    "request",
                    method=method,
                    path=scope["path"],
                    route=route_path,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )


class BodyLimitMiddleware:
    """Reject bodies over the limit (413) before they are buffered, and NUL bytes (400).

    Uploads (multipart) get their own, larger limit.
    """

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_query = scope.get("query_string", b"")
        if (
            b"\x00" in scope.get("raw_path", b"")
            or "\x00" in scope["path"]
            or (raw_query and b"\x00" in unquote_to_bytes(raw_query))
        ):
            await problem_response(
                Request(scope), 400, "nul_byte", "NUL bytes are not allowed in URLs."
            )(scope, receive, send)
            return
        content_type = b""
        content_length: int | None = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                try:
                    content_length = int(value)
                except ValueError:
                    content_length = -1
        limit = self.max_upload if content_type.startswith(b"multipart/") else self.max_body
        if content_length is not None and (content_length < 0 or content_length > limit):
            status, code = (
                (413, "payload_too_large")
                if content_length > limit
                else (
                    400,
                    "malformed_request",
                )
            )
            await problem_response(
                Request(scope),
                status,
                code,
                f"Request body exceeds {limit} bytes."
                if status == 413
                else "Invalid Content-Length header.",
            )(scope, receive, send)
            return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, send_wrapper)
        except _BodyTooLarge:
            if response_started:
                raise
            await problem_response(
                Request(scope), 413, "payload_too_large", f"Request body exceeds {limit} bytes."
            )(scope, receive, send)


_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


def contains_nul(body: bytes) -> bool:
    """True if a JSON body carries a NUL byte, raw or escaped as \\u0000."""
    return b"\x00" in body or (b"\\u0000" in body.lower() and bool(_ESCAPED_NUL.search(body)))
