"""The per-worker listening socket's mechanics; the real multi-worker server is checked in
tests/concurrency/test_serving.py."""

from __future__ import annotations

import pickle
import socket
from multiprocessing.reduction import ForkingPickler

import pytest

from app.kit import serving

pytestmark = pytest.mark.skipif(
    not serving.reuse_port_supported(), reason="SO_REUSEPORT balancing: Linux"
)


def test_placeholder_becomes_a_fresh_socket_on_the_same_address_when_pickled():
    placeholder = serving.per_worker_listener("127.0.0.1", 0)
    try:
        # uvicorn hands sockets to its spawned workers through multiprocessing's pickler
        clone = pickle.loads(ForkingPickler.dumps(placeholder))  # noqa: S301 (our own bytes)
        try:
            assert type(clone) is socket.socket
            assert clone.fileno() != placeholder.fileno()
            assert clone.getsockname() == placeholder.getsockname()
            assert clone.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        finally:
            clone.close()
    finally:
        placeholder.close()


def test_serve_falls_back_to_uvicorn_run_with_one_worker(monkeypatch):
    import uvicorn

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    assert (
        serving.serve("app.main:create_app", host="127.0.0.1", port=1, workers=1, reuse_port=True)
        == 0
    )
    assert seen["workers"] == 1
    assert seen["app"] == "app.main:create_app"
    seen.clear()
    serving.serve("x:y", host="127.0.0.1", port=1, workers=2, reuse_port=False)
    assert seen["workers"] == 2  # uvicorn's shared socket when switched off


def test_serve_reports_a_taken_address():
    with socket.socket() as taken:  # bound without SO_REUSEPORT: nobody may join it
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        status = serving.serve("x:y", host="127.0.0.1", port=port, workers=2, reuse_port=True)
    assert status != 0
