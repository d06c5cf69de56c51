"""Full-text search over items, one interface over SQLite FTS5 and PostgreSQL tsvector."""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, bindparam, text
from sqlalchemy.sql import literal_column

from digest.models import Item

_WORD = re.compile(r"\w+", re.UNICODE)


def fts5_query(words: str) -> str | None:
    """User text as an FTS5 query: every word must appear; the last may be a prefix."""
    tokens = _WORD.findall(words)
    if not tokens:
        return None
    quoted = [f'"{token}"' for token in tokens]
    quoted[-1] += "*"
    return " ".join(quoted)


def matches(dialect: str, words: str) -> ColumnElement[bool] | None:
    """A WHERE condition for items whose title, summary or authors contain `words`."""
    if not _WORD.search(words):
        return None
    if dialect == "postgresql":
        return text("items.search_vector @@ websearch_to_tsquery('english', :words)").bindparams(
            bindparam("words", words.strip())
        )
    rowids = text("SELECT rowid FROM items_fts WHERE items_fts MATCH :match").bindparams(
        bindparam("match", fts5_query(words))
    )
    return Item.id.in_(rowids.columns(literal_column("rowid")))
