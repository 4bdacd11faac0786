"""The `recyclate` console script against a real, freshly migrated database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import create_test_database

pytestmark = pytest.mark.db


@pytest.fixture
def cli_env():
    url, cleanup = create_test_database()
    env = {**os.environ, "RECYCLATE_DATABASE_URL": url, "RECYCLATE_LOG_LEVEL": "WARNING"}
    yield env
    cleanup()  # type: ignore[operator]


def run(env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_org_and_key_lifecycle(cli_env):
    assert run(cli_env, "db", "upgrade").returncode == 0
    created = run(cli_env, "org", "create", "--name", "Acme GmbH", "--role", "recycler", "--json")
    assert created.returncode == 0, created.stderr
    out = json.loads(created.stdout)
    assert out["organization_id"].startswith("org_")
    assert out["api_key"].startswith("rcy_sk_")
    key = run(
        cli_env, "key", "create", "--org", out["organization_id"], "--scopes", "lots:read", "--json"
    )
    assert key.returncode == 0, key.stderr
    key_out = json.loads(key.stdout)
    assert key_out["scopes"] == ["lots:read"]
    revoked = run(cli_env, "key", "revoke", "--org", out["organization_id"], key_out["api_key_id"])
    assert revoked.returncode == 0, revoked.stderr
    missing = run(cli_env, "key", "revoke", "--org", out["organization_id"], "key_nope")
    assert missing.returncode == 2
    assert "not found" in missing.stderr
    bad_role = run(cli_env, "org", "create", "--name", "X", "--role", "king")
    assert bad_role.returncode == 2


def test_demo_load_is_idempotent_and_prints_keys(cli_env):
    assert run(cli_env, "db", "upgrade").returncode == 0
    first = run(cli_env, "demo", "load", "--json")
    assert first.returncode == 0, first.stderr
    second = run(cli_env, "demo", "load", "--json")
    assert json.loads(first.stdout) == json.loads(second.stdout)
    keys = [v["api_key"] for v in json.loads(first.stdout).values()]
    assert all(k.startswith("rcy_sk_demo_") for k in keys)


def test_forecast_import_history_and_platform_training(cli_env, tmp_path):
    assert run(cli_env, "db", "upgrade").returncode == 0
    events = tmp_path / "history.csv"
    lines = ["week,kg,family,region"]
    for i in range(70):
        day = f"2025-{1 + i // 28:02d}-{1 + i % 28:02d}"
        lines.append(f"{day},{(i % 4) * 5000},plastic_recyclate,DEA")
        lines.append(f"{day},{(i % 3) * 2000},paper,DE2")
    events.write_text("\n".join(lines) + "\n")
    imported = run(
        cli_env,
        "forecast",
        "import-history",
        "--events",
        str(events),
        "--time-col",
        "week",
        "--qty-col",
        "kg",
        "--keys",
        "family,region",
    )
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["imported"] == 140
    bad = run(
        cli_env,
        "forecast",
        "import-history",
        "--events",
        str(events),
        "--time-col",
        "week",
        "--qty-col",
        "kg",
        "--keys",
        "colour",
    )
    assert bad.returncode == 2
    assert "colour" in bad.stderr
    env = {**cli_env, "RECYCLATE_MODEL_DIR": str(tmp_path / "models")}
    trained = run(
        env, "forecast", "train", "--horizon", "4", "--keys", "family,region", "--freq", "W"
    )
    assert trained.returncode == 0, trained.stderr
    out = json.loads(trained.stdout)
    assert out["series_count"] == 2
    assert "done" in trained.stderr  # the progress bar


def test_serve_gives_workers_time_to_build_the_matching_snapshot(monkeypatch):
    """uvicorn's supervisor kills a worker that misses its health check (5 s by default);
    building the matching snapshot at 1M lots takes a worker 10-30 s."""
    from app import cli
    from app.kit import serving
    from app.settings import get_settings

    seen: dict[str, object] = {}
    monkeypatch.setattr(serving, "serve", lambda *args, **kwargs: seen.update(kwargs) or 0)
    get_settings.cache_clear()
    try:
        assert cli.main(["serve", "--workers", "2"]) == 0
        assert seen["workers"] == 2
        assert seen["reuse_port"] is True  # one listening socket per worker (see serving.py)
        assert seen["timeout_worker_healthcheck"] == 30
        monkeypatch.setenv("RECYCLATE_WORKER_HEALTHCHECK_TIMEOUT_S", "45")
        get_settings.cache_clear()
        assert cli.main(["serve", "--workers", "2"]) == 0
        assert seen["timeout_worker_healthcheck"] == 45
    finally:
        get_settings.cache_clear()
