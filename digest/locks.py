"""Locks held for a process's lifetime, which the operating system or database frees when the
process dies however it dies: they tell the living from the dead (workers) and elect one
process among many (the scheduler).

PostgreSQL: a session advisory lock on a connection kept open for the purpose, so processes on
any machine see each other. SQLite: an flock on a file beside the database, which is enough
because SQLite's processes all share one machine.

A PostgreSQL lock can be lost while its process lives: an idle-session timeout, a connection
pooler, a firewall or a DBA closes the connection, the server frees the lock, and another
process takes what it guarded. `intact()` notices that at the cost of one system call, so a
worker can ask before every message it hands over.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import select
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from digest.errors import Unavailable

# PostgreSQL's advisory locks are shared by the whole database, while a Digest lives in one
# schema of it: the key is drawn from the lock's name *and* the schema, so two installs (or
# two test runs) in one database never take each other's locks.
SCOPED_KEY_SQL = "hashtextextended(current_schema() || '/digest.lock:' || {name}, 0)"
# What a DBA sees in pg_stat_activity for the connection holding a lock (at most 63 bytes).
APPLICATION_NAME_BYTES = 63
# On a silent network failure the holder must notice before the server frees the lock, or
# another process would take over while this one still works: the server is told to give up
# on the connection only after about two minutes, well after the client's keepalives (set
# by `digest.db.make_engine`, about 25 seconds) have told this process.
SERVER_KEEPALIVES = {
    "tcp_keepalives_idle": 60,
    "tcp_keepalives_interval": 10,
    "tcp_keepalives_count": 6,
}


class LockError(Unavailable, RuntimeError):
    """A lock could not even be tried (an unwritable lock directory); the message says why."""


class LifetimeLock:
    """A named lock: `acquire` without waiting, `release`, or just let the process end.

    A lock meant to be held has a `label`: on PostgreSQL it names the holder in
    pg_stat_activity (as its application_name), and sets the server's keepalives."""

    def __init__(self, engine: Engine, name: str, label: str | None = None) -> None:
        self.engine, self.name, self.label = engine, name, label
        self._held: Any = None
        self._watch: select.poll | None = None
        # The lock's connection is checked from the sending thread and the main thread.
        self._guard = threading.RLock()

    @property
    def held(self) -> bool:
        return self._held is not None

    def acquire(self) -> bool:
        with self._guard:
            if self._held is None:
                if self.engine.dialect.name == "postgresql":
                    self._held = self._acquire_postgres()
                else:
                    self._held = self._acquire_file()
            return self._held is not None

    def _acquire_postgres(self) -> Any:
        connection = self.engine.connect()
        try:
            got = connection.execute(
                text(f"SELECT pg_try_advisory_lock({SCOPED_KEY_SQL.format(name=':name')})"),
                {"name": self.name},
            ).scalar()
            if got and self.label:  # in one round trip: name the holder, set keepalives
                settings = {**SERVER_KEEPALIVES, "application_name": self.label}
                calls = ", ".join(f"set_config('{s}', :{s}, false)" for s in settings)
                values = {s: _setting_text(s, v) for s, v in settings.items()}
                connection.execute(text(f"SELECT {calls}"), values)
            connection.commit()
        except BaseException:
            connection.close()
            raise
        if not got:
            connection.close()
            return None
        self._watch = select.poll()
        self._watch.register(connection.connection.dbapi_connection.fileno(), select.POLLIN)
        return connection

    def _acquire_file(self) -> int | None:
        path = _lock_file(self.engine, self.name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except (FileExistsError, NotADirectoryError) as exc:
            raise LockError(
                f"{path.parent} must be a directory for Digest's lock files, but is a file"
            ) from exc
        except OSError as exc:
            raise LockError(f"cannot create a lock file in {path.parent}: {exc.strerror}") from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            return None
        return handle

    def intact(self) -> bool:
        """Whether the lock is still held, cheaply: a PostgreSQL connection that the server
        closed (or whose keepalives failed) has something to read, and only then is the server
        asked."""
        with self._guard:
            if self._held is None:
                return False
            if self._watch is None or not self._watch.poll(0):
                return True
            return self.still_held()

    def still_held(self) -> bool:
        """False when the database connection that held a PostgreSQL lock was lost (one round
        trip to the server, which also keeps the connection from looking idle)."""
        with self._guard:
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
        with self._guard:
            held, self._held, self._watch = self._held, None, None
            if held is None:
                return
            if self.engine.dialect.name == "postgresql":
                try:
                    held.execute(text("SELECT pg_advisory_unlock_all()"))
                    held.commit()
                    if self.label:  # its session settings are not for the pool's next user
                        held.invalidate()
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


def _setting_text(setting: str, value: str | int) -> str:
    return _application_name(str(value)) if setting == "application_name" else str(value)


def _application_name(label: str) -> str:
    """`digest LABEL` within PostgreSQL's limit, keeping the end (the most specific part)."""
    name = f"digest {label}"
    while len(name.encode()) > APPLICATION_NAME_BYTES:
        label = label[1:]
        name = f"digest …{label}"
    return name


def _lock_file(engine: Engine, name: str) -> Path:
    """Where the lock file of `name` is: in a folder beside the database."""
    database = engine.url.database or ""
    in_memory = database in ("", ":memory:")
    folder = Path("var") / "locks" if in_memory else Path(database + ".locks")
    return folder.absolute() / (hashlib.sha256(name.encode()).hexdigest()[:24] + ".lock")
