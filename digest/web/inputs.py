"""What a request carries, read in one place: numbers the database can hold, choices from a
fixed list, and text without NUL characters.

A value that cannot be read is refused with a 400 whose message names the field and says what
it must be; a number in the address that no row can have is a 404. Either way before anything
reaches the database, so bad input never costs more than the check or leaves a trace.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from flask import Flask, abort, request
from sqlalchemy import String, event, inspect
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.datastructures import MultiDict
from werkzeug.routing import IntegerConverter, Map

from digest.errors import Invalid
from digest.web.security import LOOKING

# Every id is an INTEGER column, and PostgreSQL's integer stops here (SQLite's is wider).
DATABASE_INT_MAX = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")  # ASCII only: int() would also take "١٢" or "１２"
_SHOWN = 40  # characters of a refused value repeated in its message


class DatabaseId(IntegerConverter):
    """`<int:…>` in a route: ASCII digits, 0 to DATABASE_INT_MAX. Anything else matches no
    route and answers 404, instead of an overflow in the database driver."""

    regex = r"[0-9]{1,10}"

    def __init__(self, url_map: Map, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("max", DATABASE_INT_MAX)
        super().__init__(url_map, *args, **kwargs)  # type: ignore[arg-type]


def install(app: Flask) -> None:
    """Bound the ids in addresses: call before any route is added."""
    app.url_map.converters["int"] = DatabaseId


def _fields() -> MultiDict[str, str]:
    """Where a view's fields are: the query string of a GET or HEAD (never a body sent with
    it), the form and query string of a POST."""
    return request.args if request.method in LOOKING else request.values


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")


def _refuse(message: str) -> None:
    abort(400, description=message)


def _parsed(name: str, value: str, low: int) -> int:
    value = value.strip()
    if not _DIGITS.fullmatch(value) or not low <= int(value) <= DATABASE_INT_MAX:
        _refuse(
            f"“{name}” must be a whole number from {low} to {DATABASE_INT_MAX}; "
            f"it was {_shown(value)}."
        )
    return int(value)


def optional_int(name: str, low: int = 1) -> int | None:
    """The whole number in field `name` (query string or form); None when absent or empty."""
    value = _fields().get(name, "")
    return _parsed(name, value, low) if value.strip() else None


def required_int(name: str, low: int = 1) -> int:
    value = _fields().get(name, "")
    if not value.strip():
        _refuse(f"“{name}” is missing: it must be a whole number.")
    return _parsed(name, value, low)


def int_list(name: str) -> list[int]:
    """Every value of a repeated field (checkboxes), each a valid id; empty ones skipped."""
    return [_parsed(name, v, 1) for v in _fields().getlist(name) if v.strip()]


def choice(name: str, allowed: Iterable[str], default: str | None = None) -> str:
    """The value of field `name`, which must be one of `allowed` (`default` when absent)."""
    options = list(allowed)
    value = _fields().get(name)
    if not value and default is not None:
        return default
    if value not in options:
        _refuse(f"“{name}” must be one of {', '.join(options)}; it was {_shown(value or '')}.")
    return value


def optional_date(name: str) -> datetime | None:
    """The date (or date and time, UTC) in field `name`; None when absent or empty."""
    value = _fields().get(name, "").strip()
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        _refuse(f"“{name}” must be a date such as 2026-11-24; it was {_shown(value)}.")
        raise  # not reached: _refuse raises


def _first_nul(fields: Mapping[str, Iterable[str]]) -> str | None:
    for key, values in fields.items():
        if "\x00" in key or any("\x00" in v for v in values):
            return key
    return None


def refuse_nul() -> None:
    """Run before every view: no NUL character that a person typed reaches the database.
    PostgreSQL cannot store one in text, and no person types one. Checked in the address, the
    query string and the form fields; the browser's name is a header no person types, so it is
    cleaned where it is kept instead, and a scanner's odd name never stops an unsubscribe."""
    places = {
        "the address": {k: [str(v)] for k, v in (request.view_args or {}).items()},
        "the query string": request.args.to_dict(flat=False),
        "the form": request.form.to_dict(flat=False),
    }
    for where, fields in places.items():
        if (field := _first_nul(fields)) is not None:
            _refuse(
                f"“{field.replace(chr(0), '')}” in {where} contains a NUL character "
                "(\\x00), which Digest does not accept."
            )


class TooLong(Invalid):
    """Text longer than its column holds: PostgreSQL would refuse it, SQLite keep it whole."""


def refuse_overlong(sessions: sessionmaker[Session]) -> None:
    """Check, before the web app's sessions write, that each text changed fits its column,
    on both databases alike; the view answers 400 with the sentence, and nothing is written."""

    def check(session: Session, *_: object) -> None:
        for obj in (*session.new, *session.dirty):
            if (problem := _overlong(obj, obj in session.new)) is not None:
                raise TooLong(problem)

    event.listen(sessions, "before_flush", check)


def _overlong(obj: object, new: bool) -> str | None:
    state = inspect(obj)
    for column in state.mapper.columns:
        limit = column.type.length if isinstance(column.type, String) else None
        if not limit:
            continue
        key = state.mapper.get_property_by_column(column).key
        value = state.attrs[key].loaded_value
        if (
            isinstance(value, str)
            and len(value) > limit
            and (new or state.attrs[key].history.has_changes())
        ):
            name = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", state.mapper.class_.__name__).lower()
            return (
                f"the {name}’s {key.replace('_', ' ')} may be at most {limit} characters; "
                f"this one has {len(value)}"
            )
    return None
