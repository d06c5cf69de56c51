"""Full-text search over items, one interface over SQLite FTS5 and PostgreSQL tsvector."""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, bindparam, text
from sqlalchemy.sql import literal_column

from digest.models import Item

_WORD = re.compile(r"\w+", re.UNICODE)


def fts5_query(words: str) -> str:
    """User text as an FTS5 query: every word must appear; the last may be a prefix."""
    quoted = [f'"{token}"' for token in _WORD.findall(words)]
    quoted[-1] += "*"
    return " ".join(quoted)


def tsquery(words: str) -> str:
    """The same for PostgreSQL's `to_tsquery`: words joined by AND, the last a prefix."""
    tokens = _WORD.findall(words)
    tokens[-1] += ":*"
    return " & ".join(tokens)


def matches(dialect: str, words: str) -> ColumnElement[bool] | None:
    """A WHERE condition for items whose title, summary or authors contain `words`."""
    if not _WORD.search(words):
        return None
    if dialect == "postgresql":
        return text("items.search_vector @@ to_tsquery('english', :query)").bindparams(
            bindparam("query", tsquery(words))
        )
    rowids = text("SELECT rowid FROM items_fts WHERE items_fts MATCH :match").bindparams(
        bindparam("match", fts5_query(words))
    )
    return Item.id.in_(rowids.columns(literal_column("rowid")))
