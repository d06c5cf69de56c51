"""The schema: migrations build exactly what the models describe, and upgrading is repeatable."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from digest.db import is_managed_by_hand, schema_revision, upgrade_schema
from digest.models import Base


def test_migrations_match_the_models(engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_name": lambda name, type_, parents: not is_managed_by_hand(name)},
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrading_twice_changes_nothing(engine) -> None:
    revision = schema_revision(engine)
    upgrade_schema(engine)
    assert schema_revision(engine) == revision is not None
