"""Alembic environment: runs migrations on the engine handed over by `digest.db`."""

from alembic import context
from sqlalchemy import Connection

from digest.db import is_managed_by_hand
from digest.models import Base

config = context.config
engine = config.attributes["engine"]


def run(connection: Connection) -> None:
    with connection.begin():
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,  # SQLite can only ALTER through table copies
            compare_type=True,
            include_name=lambda name, type_, parent_names: not is_managed_by_hand(name),
        )
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"the migration left rows without their parents: {broken[:5]}")


with engine.connect() as connection:
    if connection.dialect.name != "sqlite":
        run(connection)
    else:
        # SQLite alters a table by copying it and dropping the original; with foreign keys on,
        # that drop would first delete every row that refers to the table (ON DELETE CASCADE).
        # The pragma only takes effect outside a transaction, so it is set before one begins.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
        try:
            run(connection)
        finally:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
