"""Full-text search over items, one interface over SQLite FTS5 and PostgreSQL tsvector.

Whatever a person types is only ever words to look for: every word is quoted, so that FTS5's
operators (AND, OR, NOT, NEAR, `*`, `^`, `:`, parentheses, quotes) and tsquery's (`&`, `|`,
`!`, `<->`) in the text are read as nothing but separators between words.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from typing import Any

from sqlalchemy import ColumnElement, bindparam, text
from sqlalchemy.orm import Session
from sqlalchemy.sql import literal_column

from digest.models import Item

# The tokenizer of the items_fts index (migration 0002). A query must cut words exactly where
# the index does: a quoted word that the index would cut in two is a phrase, and an index
# with detail='column' refuses phrases ("fts5: phrase queries are not supported").
FTS5_TOKENIZER = "unicode61 remove_diacritics 2"
_WORD = re.compile(r"[^\W_]+")  # letters and digits, as PostgreSQL's parser reads words
_ASCII_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
# Whether FTS5 keeps a character inside a word, for characters outside ASCII seen so far. Its
# Unicode tables are older than Python's (U+19B0, a letter to Python, is a separator to it), so
# it is asked, once per character; the bound keeps a stream of odd characters from growing it.
_FTS5_WORD_CHARS: dict[str, bool] = {}
_FTS5_CACHE_LIMIT = 50_000
_lock = threading.Lock()


def _fts5_word_chars(chars: set[str]) -> dict[str, bool]:
    with _lock:
        known = {c: _FTS5_WORD_CHARS[c] for c in chars if c in _FTS5_WORD_CHARS}
    unknown = sorted(chars - known.keys())
    if unknown:
        learned = _ask_fts5(unknown)
        known.update(learned)
        with _lock:
            if len(_FTS5_WORD_CHARS) + len(learned) > _FTS5_CACHE_LIMIT:
                _FTS5_WORD_CHARS.clear()
            _FTS5_WORD_CHARS.update(learned)
    return known


def _ask_fts5(chars: list[str]) -> dict[str, bool]:
    """Index "a?b" for each character in a scratch table: one word means it joins words."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize='{FTS5_TOKENIZER}')")
        probe.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        probe.executemany(
            "INSERT INTO t(rowid, x) VALUES (?, ?)", [(n, f"a{c}b") for n, c in enumerate(chars)]
        )
        single = {
            doc for (doc,) in probe.execute("SELECT doc FROM v GROUP BY doc HAVING count(*) = 1")
        }
    finally:
        probe.close()
    return {c: n in single for n, c in enumerate(chars)}


def fts5_words(words: str) -> list[str]:
    """The words of `words` exactly as the FTS5 index cuts them."""
    wanted = {c for c in words if not c.isascii() and not "\ud800" <= c <= "\udfff"}
    inside = _fts5_word_chars(wanted) if wanted else {}
    found, current = [], []
    for c in words:
        if c in _ASCII_WORD_CHARS or inside.get(c, False):
            current.append(c)
        elif current:
            found.append("".join(current))
            current = []
    if current:
        found.append("".join(current))
    return found


def fts5_query(words: str) -> str | None:
    """User text as an FTS5 query: every word must appear; the last may be a prefix. None
    when there is no word to look for."""
    quoted = [f'"{word}"' for word in fts5_words(words)]
    if not quoted:
        return None
    quoted[-1] += "*"
    return " ".join(quoted)


def tsquery(words: str) -> str | None:
    """The same for PostgreSQL's `to_tsquery`: words joined by AND, the last a prefix."""
    tokens = _WORD.findall(words)
    if not tokens:
        return None
    tokens[-1] += ":*"
    return " & ".join(tokens)


# FTS5 (as of SQLite 3.40) answers a prefix query by first merging the lists of every item
# holding a word that starts so, whatever LIMIT or rowid range the query has: for a word in
# most of a million items, 200-400 ms. A list of words is answered a range of rows at a time.
# So the last word's completions are looked up (`items_fts_terms`, migration 0014) and searched
# as words, when there are not more than this; a whole word typed has few.
COMPLETIONS_LIMIT = 300


def _completions(session: Session, prefix: str) -> list[str] | None:
    """Words in the index that start with `prefix` and are longer; None when there are more
    than COMPLETIONS_LIMIT, or `prefix` is not ASCII (the index folds case and accents by its
    own tables, which Python cannot match for every script)."""
    if not prefix.isascii():
        return None
    low = prefix.lower()
    # The index's words never hold a control character, so "\x01" starts just past `low`
    # itself, whose own list (perhaps of most items) the lookup then does not read.
    terms = session.scalars(
        text("SELECT term FROM items_fts_terms WHERE term >= :low AND term < :high LIMIT :limit"),
        {
            "low": low + "\x01",
            "high": low[:-1] + chr(ord(low[-1]) + 1),
            "limit": COMPLETIONS_LIMIT + 1,
        },
    ).all()
    return None if len(terms) > COMPLETIONS_LIMIT else list(terms)


def fts5_listed_query(session: Session, words: str) -> str | None:
    """`fts5_query`, with the last word's completions listed instead of a prefix when there
    are few: the same matches, found without merging the lists of every completion."""
    found = fts5_words(words)
    if not found:
        return None
    completions = _completions(session, found[-1])
    if completions is None:
        return fts5_query(words)
    quoted = [f'"{word}"' for word in found[:-1]]
    quoted.append("(" + " OR ".join(f'"{word}"' for word in [found[-1], *completions]) + ")")
    return " AND ".join(quoted)


def fts5_matches_between(session: Session, match: str, low: int, high: int) -> set[int]:
    """Ids of items from `low` to `high` that `match` (an FTS5 query) finds."""
    return set(
        session.scalars(
            text(
                "SELECT rowid FROM items_fts WHERE items_fts MATCH :match "
                "AND rowid BETWEEN :low AND :high"
            ),
            {"match": match, "low": low, "high": high},
        )
    )


def matches(
    dialect: str, words: str, fts5_match: str | None = None, item_id: Any = Item.id
) -> ColumnElement[bool] | None:
    """A WHERE condition for items whose title, summary, whole text or authors contain `words`;
    None when `words` holds no word to look for. `fts5_match` is the FTS5 query when already made;
    `item_id`, the column holding the item's id (on SQLite; PostgreSQL reads `items`)."""
    if dialect == "postgresql":
        query = tsquery(words)
        if query is None:
            return None
        return text("items.search_vector @@ to_tsquery('english', :query)").bindparams(
            bindparam("query", query)
        )
    match = fts5_match or fts5_query(words)
    if match is None:
        return None
    rowids = text("SELECT rowid FROM items_fts WHERE items_fts MATCH :match").bindparams(
        bindparam("match", match)
    )
    return item_id.in_(rowids.columns(literal_column("rowid")))
