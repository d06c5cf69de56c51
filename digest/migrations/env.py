"""Alembic environment: runs migrations on the engine handed over by `digest.db`."""

from alembic import context

from digest.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        compare_type=True,
    )
    context.run_migrations()
