"""Alembic environment: runs migrations on the engine handed over by `digest.db`."""

from alembic import context

from digest.db import is_managed_by_hand
from digest.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        compare_type=True,
        include_name=lambda name, type_, parent_names: not is_managed_by_hand(name),
    )
    context.run_migrations()
