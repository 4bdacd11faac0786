"""The transactional route: one database session per request, committed before the response.

FastAPI runs the exit code of ``yield`` dependencies after the response has been sent, so a
commit there could fail after the client already saw a 201. Instead this route class wraps the
endpoint: it opens the session, runs the endpoint (which builds the response), stores the
idempotent response if any, and commits; only then is the response returned to be sent.
A failed commit becomes a problem response.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.params import Form
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.kit.idempotency import finish_idempotent_request
from app.kit.middleware import contains_nul
from app.kit.problems import ProblemError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Session:
    """Dependency: the request's session (opened lazily by the route class)."""
    session: Session | None = getattr(request.state, "session", None)
    if session is None:
        session = request.app.state.db.session(write=request.method not in SAFE_METHODS)
        request.state.session = session
    return session


def _finish(session: Session, request: Request, response: Response) -> None:
    finish_idempotent_request(session, request, response)
    session.commit()


class TransactionalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        expects_json = self.body_field is not None and not isinstance(
            self.body_field.field_info, Form
        )

        async def handler(request: Request) -> Response:
            if expects_json and request.method not in SAFE_METHODS:
                ctype = request.headers.get("content-type", "")
                media = ctype.split(";", 1)[0].strip().lower()
                body = await request.body()
                if body and media != "application/json" and not media.endswith("+json"):
                    raise ProblemError(
                        415,
                        "unsupported_media_type",
                        "Send the request body as application/json.",
                        headers={"Accept-Post": "application/json"},
                    )
                if contains_nul(body):
                    raise ProblemError(400, "nul_byte", "NUL bytes are not allowed in the body.")
            try:
                response = await original(request)
            except BaseException:
                await _close(request, rollback=True)
                raise
            session: Session | None = getattr(request.state, "session", None)
            if session is None:
                return response
            try:
                if response.status_code < 400:
                    await run_in_threadpool(_finish, session, request, response)
                else:
                    await run_in_threadpool(session.rollback)
            except IntegrityError as exc:
                await _close(request, rollback=True)
                raise ProblemError(
                    409, "conflict", "The change conflicts with the current state; retry."
                ) from exc
            except BaseException:
                await _close(request, rollback=True)
                raise
            await _close(request, rollback=False)
            return response

        return handler


async def _close(request: Request, *, rollback: bool) -> None:
    session: Session | None = getattr(request.state, "session", None)
    if session is None:
        return
    request.state.session = None

    def _do() -> None:
        try:
            if rollback:
                session.rollback()
        finally:
            session.close()

    await run_in_threadpool(_do)
