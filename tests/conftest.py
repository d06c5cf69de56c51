"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, and a small config."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
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
        dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, connect_timeout=3):
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


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'digest.sqlite'}"
        background.stop_all()
        return
    require_postgres()
    schema = f"digest_test_{uuid.uuid4().hex[:12]}"
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        background.stop_all()  # no web app's mail thread still writing to the schema
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade_schema(engine)
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
def sqlite_factory(tmp_path: Path) -> sessionmaker[Session]:
    """Like `factory`, SQLite only: for behaviour that does not depend on the database."""
    engine = make_engine(f"sqlite:///{tmp_path / 'digest.sqlite'}")
    upgrade_schema(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        sync_config(session, load_config(DATA / "config.yaml"))
    return factory
