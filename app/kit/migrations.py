"""Alembic helpers used by the CLI, the app (readiness) and the tests."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@lru_cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def upgrade(url: str, revision: str = "head") -> None:
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


# --- data migrations: filling a new column for existing rows ----------------------------------


def keyset_batches(
    conn: sa.Connection, stmt: sa.Select[Any], id_column: sa.ColumnClause[Any], batch: int = 2000
) -> Iterator[Sequence[sa.Row[Any]]]:
    """The rows of ``stmt`` in batches ordered by ``id_column`` (keyset pagination: each
    batch starts after the last id of the one before, so a batch never rescans the table)."""
    last = ""
    while True:
        rows = conn.execute(stmt.where(id_column > last).order_by(id_column).limit(batch)).all()
        if not rows:
            return
        yield rows
        last = rows[-1]._mapping[id_column.key]


def json_value(value: Any) -> Any:
    """A JSON column as read in a migration: text on SQLite, parsed on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else (value or {})
