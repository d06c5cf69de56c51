"""Database access: engines, sessions, and creating or upgrading the schema with Alembic."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from digest.defaults import DEFAULT_DATABASE_URL  # noqa: F401  (re-exported)
from digest.locks import SCOPED_KEY_SQL

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# libpq's TCP keepalives: a connection that a firewall or a dead network silently dropped is
# known dead in about 25 seconds instead of hours, so a worker learns at once that the lock it
# held is gone (see `digest.locks`); and connecting gives up after 10 seconds. Options in the
# database URL win.
POSTGRES_CONNECT_ARGS = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 25_000,  # milliseconds: unacknowledged data counts as dead too
    "connect_timeout": 10,
}


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite stores whatever bytes it was given. Text that is not UTF-8 (old data, another
    # program's import) is read with its bad bytes kept as surrogates, so that it fails only
    # what uses it, with a reason, instead of every query that reads its row.
    dbapi_connection.text_factory = _text
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # 32 MB of pages (the default is 2 MB): a poll storing 50,000 items spent about a seventh
    # of its time reading back index pages it had just evicted. 64 MB did better still, but
    # took a cold poll's peak memory to within 15 MB of its 300 MB bound. Pages are held only
    # once read, so a small database never uses it all.
    cursor.execute("PRAGMA cache_size=-32768")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`; for SQLite the file's folder is created and WAL mode turned on.
    The pool hands out the connection used last: each one keeps its own page and statement
    caches, and taking them in turn made a long-running process warm (and hold) all of them."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_use_lifo=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_use_lifo=True,
        connect_args=postgres_connect_args(parsed),
    )


def postgres_connect_args(url: URL) -> dict[str, int]:
    """`POSTGRES_CONNECT_ARGS` less those the URL sets itself."""
    return {name: value for name, value in POSTGRES_CONNECT_ARGS.items() if name not in url.query}


def first_line(exc: BaseException) -> str:
    """What went wrong, in one line: a database error's own first line, without the SQL and
    parameters SQLAlchemy adds."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy's wrapper of the driver's error
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits when the block ends normally and rolls back otherwise."""
    with factory() as session, session.begin():
        yield session


WRITE_LOCK = "item-writers"  # the name of the PostgreSQL advisory lock that item writers take


def lock_for_writing(session: Session) -> None:
    """Wait until no other process is storing items, and hold that until the transaction ends.

    De-duplication reads and then writes; without this, two processes could both find an item
    missing and both insert it. PostgreSQL gets an advisory lock; SQLite its single write lock,
    taken by a write that changes nothing (a read first would make a later upgrade fail).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(f"SELECT pg_advisory_xact_lock({SCOPED_KEY_SQL.format(name=':name')})"),
            {"name": WRITE_LOCK},
        )
    else:
        begin_writing(session)


def begin_writing(session: Session) -> None:
    """Begin the transaction as a writer. On SQLite this takes the write lock now, with a write
    that changes nothing, and so makes savepoints nest inside the transaction: pysqlite begins
    one only before a write, and a SAVEPOINT outside one commits when it is released."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE alembic_version SET version_num = version_num WHERE 0"))


@contextmanager
def write_transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """`transaction`, holding the item writers' lock from its start."""
    with transaction(factory) as session:
        lock_for_writing(session)
        yield session


def refresh_statistics(session: Session, tables: Sequence[str]) -> None:
    """Have PostgreSQL look again at `tables`, rows this transaction wrote included.

    A long import writes into tables whose statistics say they are nearly empty; its prepared
    lookups then get plans that scan the whole table, so each batch costs more than the last.
    (SQLite plans from its indexes alone and needs nothing.)
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {', '.join(tables)}"))


def one_of(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN values`, written as one parameter: an array on PostgreSQL (`= ANY`), a JSON
    list on SQLite (`IN json_each`). Thousands of separate parameters cost more to render, send
    and plan than the lookup itself, and on SQLite each length of list was another statement in
    the connection's cache, which held megabytes of them in a long-running process."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    listed = func.json_each(json.dumps(list(values))).table_valued("value")
    return column.in_(select(listed.c.value))


def insert_for(db: Session | Connection, table: Any) -> Any:
    """An INSERT for `table` in the dialect of `db`'s database, which offers
    `on_conflict_do_nothing` and `on_conflict_do_update` on both PostgreSQL and SQLite."""
    bind = db.get_bind() if isinstance(db, Session) else db
    return (postgres_insert if bind.dialect.name == "postgresql" else sqlite_insert)(table)


def is_managed_by_hand(name: str | None) -> bool:
    """Schema objects the models do not describe: the full-text search index, which the
    migrations create by hand (FTS5 tables on SQLite, a tsvector column on PostgreSQL), and the
    scheduler's job store, which APScheduler creates itself."""
    return bool(name) and (
        name.startswith(("items_fts", "apscheduler"))
        or name in ("search_vector", "ix_items_search_vector")
    )


def index_new_items(session: Session, first_id: int, last_id: int) -> None:
    """Add items with ids in [first_id, last_id] to SQLite's full-text index.

    (PostgreSQL's index is a generated column and needs nothing.) Every insert of items must
    call this; it is one statement for the whole batch.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            text(
                "INSERT INTO items_fts(rowid, title, summary_text, full_text, authors) "
                "SELECT id, title, summary_text, full_text, authors FROM items "
                "WHERE id BETWEEN :low AND :high"
            ),
            {"low": first_id, "high": last_id},
        )


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade_schema(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration; safe to run any number of times."""
    from alembic import command

    command.upgrade(_alembic_config(engine), "head")


def schema_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database. Read from Alembic's
    table directly: importing Alembic to read one row cost every command a tenth of a second."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
