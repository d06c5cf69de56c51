"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, and a small config.

Migrating takes about half a second, and most tests need a migrated database: the schema is
migrated once per run, into a template (a SQLite file, a PostgreSQL database), and each test
gets a copy of it, a database of its own.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher, profiles
from chromium import launched
from playwright.sync_api import Browser
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from digest.accounts.passwords import PASSWORDS
from digest.config import load_config, sync_config
from digest.db import make_engine, session_factory, transaction, upgrade_schema
from digest.web import background

DATA = Path(__file__).parent / "data"
# Staff sign in hundreds of times in the suite, at a fifth of a second a hash with the real
# parameters; argon2's profile for tests hashes the same way in microseconds. Commands run as
# processes of their own still hash as in production (test_accounts checks the parameters).
PASSWORDS.use(PasswordHasher.from_parameters(profiles.CHEAPEST))
# The commands' tables are read as a pipe gets them (250 columns), whatever terminal the suite
# runs in: pytest-xdist's workers, for one, say they have 80.
os.environ.pop("COLUMNS", None)
POSTGRES_URL = os.environ.get(
    "DIGEST_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_reachable() -> str | None:
    """None when the test server answers, else the reason it does not."""
    try:
        with psycopg.connect(_admin_dsn(), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip()


def require_postgres() -> None:
    reason = _postgres_reachable()
    if reason is None:
        return
    message = f"PostgreSQL at {POSTGRES_URL} is not reachable: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (under CI=true this is a failure, not a skip)")
    pytest.skip(message)


def _admin_dsn() -> str:
    return POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")


def _database_url(name: str) -> str:
    """POSTGRES_URL with its database replaced by `name`."""
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def _configure(engine: Engine) -> None:
    """Load the test config (tests/data/config.yaml) into a migrated database."""
    with transaction(session_factory(engine)) as session:
        sync_config(session, load_config(DATA / "config.yaml"))


# A template for each state a test may start from: the schema alone (`engine`), or the schema
# with the test config loaded (`factory`).
SCHEMA, CONFIGURED = "schema", "configured"


class Templates:
    """The databases tests start from, each made on first use: SQLite files to copy, and
    PostgreSQL databases to create others from."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sqlite: dict[str, Path] = {}
        self.postgres: dict[str, str] = {}
        self.ready: dict[str | None, ReadyDatabases] = {}
        self.dropper = Dropper()

    def sqlite_file(self, state: str = SCHEMA) -> Path:
        if state not in self.sqlite:
            path = self.folder / f"{state}.sqlite"
            if state == SCHEMA:
                engine = make_engine(f"sqlite:///{path}")
                upgrade_schema(engine)
            else:
                shutil.copyfile(self.sqlite_file(SCHEMA), path)
                engine = make_engine(f"sqlite:///{path}")
                _configure(engine)
            engine.dispose()  # its last connection closed: the write-ahead log is folded in
            self.sqlite[state] = path
        return self.sqlite[state]

    def postgres_database(self, state: str = SCHEMA) -> str:
        if state not in self.postgres:
            name = f"digest_test_template_{state}_{uuid.uuid4().hex[:12]}"
            source = "" if state == SCHEMA else f' TEMPLATE "{self.postgres_database(SCHEMA)}"'
            with psycopg.connect(_admin_dsn(), autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{name}"{source}')
            engine = make_engine(_database_url(name))
            if state == SCHEMA:
                upgrade_schema(engine)
            else:
                _configure(engine)
            engine.dispose()  # a template must have no one connected
            self.postgres[state] = name
        return self.postgres[state]

    def postgres_copy(self, state: str | None) -> str:
        """A new database in `state` (empty for None), made ahead of need."""
        if state not in self.ready:
            template = None if state is None else self.postgres_database(state)
            self.ready[state] = ReadyDatabases(template)
        return self.ready[state].take()

    def drop(self) -> None:
        for ready in self.ready.values():
            ready.close()
        self.dropper.close()
        for name in reversed(self.postgres.values()):
            _drop_database(name)


class ReadyDatabases:
    """PostgreSQL databases copied from a template by a thread, a few ahead of the tests that
    take them. Making one takes some 0.4 s, nearly all of it waiting for the server's disk,
    which the tests' own work overlaps."""

    AHEAD = 2

    def __init__(self, template: str | None) -> None:
        self.source = "" if template is None else f' TEMPLATE "{template}"'
        self.made: queue.Queue[str | BaseException] = queue.Queue(maxsize=self.AHEAD)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._make, daemon=True)
        self.thread.start()

    def take(self) -> str:
        made = self.made.get()
        if isinstance(made, BaseException):
            raise made
        return made

    def _make(self) -> None:
        with psycopg.connect(_admin_dsn(), autocommit=True) as connection:
            while not self.stopping.is_set():
                name = f"digest_test_{uuid.uuid4().hex[:12]}"
                try:
                    connection.execute(f'CREATE DATABASE "{name}"{self.source}')
                except psycopg.Error as exc:
                    self.made.put(exc)
                    return
                self.made.put(name)

    def close(self) -> None:
        self.stopping.set()
        while self.thread.is_alive():  # it may be waiting to put one more
            self._drop_waiting()
            self.thread.join(0.1)
        self._drop_waiting()

    def _drop_waiting(self) -> None:
        while not self.made.empty():
            made = self.made.get()
            if isinstance(made, str):
                _drop_database(made)


class Dropper:
    """Drops the tests' PostgreSQL databases on threads, while the next tests run. Several at
    once: a drop waits on the server's disk, and drops waiting together share that wait."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="drop")
        self.drops: list[Future[None]] = []

    def drop(self, name: str) -> None:
        self.drops.append(self.pool.submit(_drop_database, name))

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for done in self.drops:
            done.result()  # a drop that failed says why


def _drop_database(name: str) -> None:
    # FORCE ends only connections to this database, which this run made.
    with psycopg.connect(_admin_dsn(), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    made = Templates(tmp_path_factory.mktemp("templates"))
    yield made
    made.drop()


def _starting_state(request: pytest.FixtureRequest) -> str | None:
    """What the test's database must hold from the start: the state `factory` or `engine`
    give (made once, as a template, and copied), or nothing (`database_url` alone)."""
    if "factory" in request.fixturenames:
        return CONFIGURED
    return SCHEMA if "engine" in request.fixturenames else None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, templates: Templates
) -> Iterator[str]:
    """A new database of the test's own: a SQLite file, or a PostgreSQL database. Empty, or
    already in the state `engine` or `factory` promise when the test uses them."""
    state = _starting_state(request)
    if request.param == "sqlite":
        path = tmp_path / "digest.sqlite"
        if state is not None:
            shutil.copyfile(templates.sqlite_file(state), path)
        yield f"sqlite:///{path}"
        background.stop_all()
        return
    require_postgres()
    name = templates.postgres_copy(state)
    try:
        yield _database_url(name)
    finally:
        background.stop_all()  # no web app's mail thread still writing to the database
        templates.dropper.drop(name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The database of `database_url`, migrated (a copy of the template)."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on a migrated database holding the test config (tests/data/config.yaml)."""
    return session_factory(engine)


@pytest.fixture
def sqlite_factory(tmp_path: Path, templates: Templates) -> sessionmaker[Session]:
    """Like `factory`, SQLite only: for behaviour that does not depend on the database."""
    path = tmp_path / "digest.sqlite"
    shutil.copyfile(templates.sqlite_file(CONFIGURED), path)
    return session_factory(make_engine(f"sqlite:///{path}"))


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium, for one test (missing: a skip, or under CI=true a failure)."""
    with launched() as instance:
        yield instance
