"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, and a small config.

Migrating takes about half a second, and most tests need a migrated database: the schema is
migrated once per run, into a template (a SQLite file, a PostgreSQL database), and each test
gets a copy of it, a database of its own.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from digest.config import load_config, sync_config
from digest.db import make_engine, session_factory, transaction, upgrade_schema
from digest.web import background

DATA = Path(__file__).parent / "data"
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


class Templates:
    """The migrated schema, made on first use: a SQLite file to copy, and a PostgreSQL
    database to create others from."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sqlite: Path | None = None
        self.postgres: str | None = None

    def sqlite_file(self) -> Path:
        if self.sqlite is None:
            path = self.folder / "template.sqlite"
            engine = make_engine(f"sqlite:///{path}")
            upgrade_schema(engine)
            engine.dispose()  # its last connection closed: the write-ahead log is folded in
            self.sqlite = path
        return self.sqlite

    def postgres_database(self) -> str:
        if self.postgres is None:
            name = f"digest_test_template_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(_admin_dsn(), autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{name}"')
            engine = make_engine(_database_url(name))
            upgrade_schema(engine)
            engine.dispose()  # a template must have no one connected
            self.postgres = name
        return self.postgres

    def drop(self) -> None:
        if self.postgres is not None:
            _drop_database(self.postgres)


def _drop_database(name: str) -> None:
    # FORCE ends only connections to this database, which this run made.
    with psycopg.connect(_admin_dsn(), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    made = Templates(tmp_path_factory.mktemp("templates"))
    yield made
    made.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'digest.sqlite'}"
        background.stop_all()
        return
    require_postgres()
    name = f"digest_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_dsn(), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _database_url(name)
    finally:
        background.stop_all()  # no web app's mail thread still writing to the database
        _drop_database(name)


@pytest.fixture
def engine(database_url: str, templates: Templates) -> Iterator[Engine]:
    """The database of `database_url`, migrated: a copy of the template."""
    url = make_url(database_url)
    assert url.database is not None
    if url.get_backend_name() == "sqlite":
        shutil.copyfile(templates.sqlite_file(), url.database)
    else:
        template = templates.postgres_database()
        _drop_database(url.database)
        with psycopg.connect(_admin_dsn(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{url.database}" TEMPLATE "{template}"')
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on a migrated database holding the test config (tests/data/config.yaml)."""
    factory = session_factory(engine)
    with transaction(factory) as session:
        sync_config(session, load_config(DATA / "config.yaml"))
    return factory


@pytest.fixture
def sqlite_factory(tmp_path: Path, templates: Templates) -> sessionmaker[Session]:
    """Like `factory`, SQLite only: for behaviour that does not depend on the database."""
    path = tmp_path / "digest.sqlite"
    shutil.copyfile(templates.sqlite_file(), path)
    factory = session_factory(make_engine(f"sqlite:///{path}"))
    with transaction(factory) as session:
        sync_config(session, load_config(DATA / "config.yaml"))
    return factory
