"""The schema: migrations build exactly what the models describe, and upgrading is repeatable."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from digest.db import schema_revision, upgrade_schema
from digest.models import Base


def test_migrations_match_the_models(engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrading_twice_changes_nothing(engine) -> None:
    revision = schema_revision(engine)
    upgrade_schema(engine)
    assert schema_revision(engine) == revision is not None
