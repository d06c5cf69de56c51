"""Inserting many rows at the driver's speed.

SQLAlchemy's executemany builds each row's parameters through general machinery that, for the
tens of thousands of rows a poll stores, cost more than the database's own work. Here each
column's value goes through its type's own bind processor (so stored values are exactly what
SQLAlchemy would store) and the rows go to the driver in one call: `executemany` on SQLite,
`COPY` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

Converter = Callable[[Any], Any]


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys) into `table` in this session's transaction.
    Columns left out get their Python-side default, as a Core insert would give them."""
    if not rows:
        return
    session.flush()  # rows these may refer to, added through the ORM
    connection = session.connection()
    dialect = connection.dialect
    given = list(rows[0])
    defaults = {
        column.name: _default_value(column)
        for column in table.columns
        if column.name not in given and column.default is not None
    }
    names = [*given, *defaults]
    converters = [
        (position, convert)
        for position, name in enumerate(names)
        if (convert := _converter(table.c[name], dialect)) is not None
    ]
    pick = itemgetter(*given)
    extra = tuple(defaults.values())
    values = []
    for row in rows:
        picked = pick(row)
        value = [*(picked if len(given) > 1 else (picked,)), *extra]
        for position, convert in converters:
            value[position] = convert(value[position])
        values.append(value)
    quote = dialect.identifier_preparer
    columns = ", ".join(quote.quote(name) for name in names)
    target = f"{quote.format_table(table)} ({columns})"
    cursor = connection.connection.cursor()
    try:
        if dialect.name == "postgresql":
            statement = f"COPY {target} FROM STDIN"
            with cursor.copy(statement) as copy:
                for row in values:
                    copy.write_row(row)
        else:
            statement = f"INSERT INTO {target} VALUES ({', '.join('?' for _ in names)})"
            cursor.executemany(statement, values)
    except dialect.loaded_dbapi.Error as exc:
        # As SQLAlchemy would raise it (IntegrityError, DataError, …): callers tell a row the
        # database refuses from a lost connection by these classes.
        raise DBAPIError.instance(
            statement, None, exc, dialect.loaded_dbapi.Error, dialect=dialect
        ) from exc
    finally:
        cursor.close()


def _default_value(column: Column[Any]) -> Any:
    default = column.default
    assert default is not None
    if default.is_callable:
        return default.arg(None)  # type: ignore[attr-defined]  (SQLAlchemy wraps it: context)
    if default.is_scalar:
        return default.arg  # type: ignore[attr-defined]
    raise ValueError(f"{column}: a default computed by the database cannot be bulk inserted")


def _converter(column: Column[Any], dialect: Dialect) -> Converter | None:
    """The column type's bind processor, remembering what it gave for values already seen:
    a batch's timestamps are mostly the same moment."""
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    if processor is None:
        return None
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            seen[value] = converted = processor(value)
            return converted
        except TypeError:  # unhashable, a JSON list say
            return processor(value)

    return convert
