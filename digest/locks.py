"""Locks held for a process's lifetime, which the operating system or database frees when the
process dies however it dies: they tell the living from the dead (workers) and elect one
process among many (the scheduler).

PostgreSQL: a session advisory lock on a connection kept open for the purpose, so processes on
any machine see each other. SQLite: an flock on a file beside the database, which is enough
because SQLite's processes all share one machine.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

# PostgreSQL's advisory locks are shared by the whole database, while a Digest lives in one
# schema of it: the key is drawn from the lock's name *and* the schema, so two installs (or
# two test runs) in one database never take each other's locks.
SCOPED_KEY_SQL = "hashtextextended(current_schema() || '/digest.lock:' || {name}, 0)"


class LifetimeLock:
    """A named lock: `acquire` without waiting, `release`, or just let the process end."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine, self.name = engine, name
        self._held: Any = None

    @property
    def held(self) -> bool:
        return self._held is not None

    def acquire(self) -> bool:
        if self._held is not None:
            return True
        if self.engine.dialect.name == "postgresql":
            connection = self.engine.connect()
            got = connection.execute(
                text(f"SELECT pg_try_advisory_lock({SCOPED_KEY_SQL.format(name=':name')})"),
                {"name": self.name},
            ).scalar()
            connection.commit()
            if got:
                self._held = connection
            else:
                connection.close()
        else:
            path = _lock_file(self.engine, self.name)
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)
            else:
                self._held = handle
        return self._held is not None

    def still_held(self) -> bool:
        """False when the database connection that held a PostgreSQL lock was lost."""
        if self._held is None:
            return False
        if self.engine.dialect.name != "postgresql":
            return True
        try:
            self._held.execute(text("SELECT 1")).scalar()
            self._held.commit()
        except Exception:
            self.release()
            return False
        return True

    def release(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        if self.engine.dialect.name == "postgresql":
            try:
                held.execute(text("SELECT pg_advisory_unlock_all()"))
                held.commit()
            except Exception:
                held.invalidate()
            finally:
                held.close()
        else:
            os.close(held)  # closing the descriptor frees the flock


def is_free(engine: Engine, name: str) -> bool:
    """Whether no living process holds `name` (taking and at once dropping it)."""
    probe = LifetimeLock(engine, name)
    if probe.acquire():
        probe.release()
        return True
    return False


def _lock_file(engine: Engine, name: str) -> Path:
    database = engine.url.database or ""
    in_memory = database in ("", ":memory:")
    folder = Path("var") / "locks" if in_memory else Path(database + ".locks")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / (hashlib.sha256(name.encode()).hexdigest()[:24] + ".lock")
