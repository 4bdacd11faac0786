"""Migrations are the only way the schema is made, and they match the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from app.kit.migrations import downgrade, head_revision, upgrade
from app.models import Base
from tests.conftest import create_test_database


def test_models_match_migrations(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations differ; add an Alembic migration: {diff}"


@pytest.mark.db
def test_downgrade_to_base_and_upgrade_again():
    url, cleanup = create_test_database()
    try:
        upgrade(url)
        downgrade(url, "base")
        upgrade(url)
        eng = create_engine(url)
        with eng.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        eng.dispose()
    finally:
        cleanup()  # type: ignore[operator]
