"""The transactional route: one database session per request, committed before the response.

FastAPI runs the exit code of ``yield`` dependencies after the response has been sent, so a
commit there could fail after the client already saw a 201. Instead this route class wraps the
endpoint: it opens the session, runs the endpoint (which builds the response), stores the
idempotent response if any, and commits; only then is the response returned to be sent.
A failed commit becomes a problem response.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.params import Form
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.kit.db import InlinePoolUnavailableError, RawConnection
from app.kit.idempotency import finish_idempotent_request
from app.kit.middleware import contains_nul
from app.kit.problems import ProblemError

T = TypeVar("T")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request) -> Session:
    """Dependency: the request's session. Creating it does no I/O (the connection is taken at
    the first statement), so this runs on the event loop: no thread hop."""
    session: Session | None = getattr(request.state, "session", None)
    if session is None:
        session = request.app.state.db.session(write=request.method not in SAFE_METHODS)
        request.state.session = session
    return session


def _finish(session: Session, request: Request, response: Response) -> None:
    """Commit (storing an idempotent response first) and release the connection: one thread
    hop for the whole end of a request."""
    try:
        finish_idempotent_request(session, request, response)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _discard(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


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
            request.state.session = None
            if session.get_transaction() is None:
                session.close()  # never used (e.g. credentials came from the cache): no I/O
                return response
            try:
                if response.status_code < 400:
                    await run_in_threadpool(_finish, session, request, response)
                else:
                    await run_in_threadpool(_discard, session)
            except IntegrityError as exc:
                raise ProblemError(
                    409, "conflict", "The change conflicts with the current state; retry."
                ) from exc
            return response

        return handler


async def run_read(request: Request, work: Callable[[Session], T]) -> T:
    """Run a read-only unit of work with its own session in one thread hop: the session is
    released in the same hop (a GET then costs a single hop, not one per step)."""
    db = request.app.state.db

    def _run() -> T:
        session: Session = db.session(write=False)
        try:
            return work(session)
        finally:
            session.close()

    return await in_executor(_run)


async def run_raw_read(request: Request, work: Callable[[RawConnection], T]) -> T:
    """Like ``run_read`` for single-statement hot reads on a raw connection
    (``Database.raw_read``, app/kit/rawquery.py).

    The statement first runs on the event loop under a small time budget: on SQLite
    ``RECYCLATE_INLINE_READ_BUDGET_MS`` (1 ms by default; an indexed page of 50 lots takes
    about 0.1 ms), enforced by SQLite's progress handler; on PostgreSQL a 5 ms statement
    timeout on a separate pool without pre-ping (``Database.inline_engine``). Skipping the
    thread hop roughly doubles list throughput (benchmarks/README.md). A statement that runs
    out of budget (or a dead pooled connection, or no connection from the inline pool) makes
    the whole read re-run on a worker thread, so a slow filter never blocks the loop for
    longer than the budget."""
    db = request.app.state.db
    budget_ms = request.app.state.settings.inline_read_budget_ms
    if budget_ms > 0:
        used: list[RawConnection] = []
        try:
            with db.raw_read(budget_s=budget_ms / 1000) as conn:
                used.append(conn)
                return work(conn)
        except InlinePoolUnavailableError:
            pass  # no connection from the inline pool: no statement ran
        except DBAPIError:
            if not (used and used[0].interrupted):
                raise

    def _run() -> T:
        with db.raw_read() as conn:
            return work(conn)

    return await in_executor(_run)


async def in_executor(fn: Callable[[], T]) -> T:
    """Run blocking ``fn`` on the loop's default executor, keeping the context (request id).
    About half the cost of anyio's ``to_thread`` per call, which was most of what a hot read
    cost (benchmarks/README.md)."""
    ctx = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_READS, ctx.run, fn)


# As many threads as anyio allows for sync endpoints by default (40): the loop's own default
# executor has only cpu + 4, too few for slow PostgreSQL reads waiting on the network.
_READS = ThreadPoolExecutor(max_workers=40, thread_name_prefix="read")


async def _close(request: Request, *, rollback: bool) -> None:
    session: Session | None = getattr(request.state, "session", None)
    if session is None:
        return
    request.state.session = None
    await run_in_threadpool(_discard, session)
