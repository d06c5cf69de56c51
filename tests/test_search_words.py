"""Search text becomes words to look for and nothing else: no text makes a query the index
refuses, on SQLite's FTS5 or PostgreSQL's tsquery."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.curation.search import FTS5_TOKENIZER, fts5_query, fts5_words, tsquery

MIGRATION = Path(__file__).parents[1] / "digest/migrations/versions/0002_accounts_audit_search.py"
TRICKY = [
    "foo_bar",
    "a\u19b0b",  # New Tai Lue: a letter to Python, a word break to SQLite's tokenizer
    'un "balanced',
    "NEAR(a b, 2)",
    "a AND b OR NOT c",
    "^start *",
    "title:report",
    "(a) - [b]",
    "'",
    "e\u0301cole",
    "ŵ—’é 東京 😀",
    "\x00",
]


@pytest.fixture(scope="module")
def index() -> sqlite3.Connection:
    """An FTS5 index made as the migration makes items_fts, holding one document."""
    db = sqlite3.connect(":memory:")
    db.execute(
        f"CREATE VIRTUAL TABLE items_fts USING fts5(title, summary_text, authors, "
        f"tokenize='{FTS5_TOKENIZER}', detail='column')"
    )
    db.execute(
        "INSERT INTO items_fts VALUES (?, ?, ?)",
        ("Child_protection in école: a NEAR miss", "Jütte’s report, 東京 edition", "Jütte, S."),
    )
    return db


def test_the_index_and_the_query_use_the_same_tokenizer() -> None:
    assert f"tokenize='{FTS5_TOKENIZER}', detail='column'" in MIGRATION.read_text()


@pytest.mark.parametrize("words", TRICKY)
def test_tricky_text_is_a_query_fts5_accepts(index: sqlite3.Connection, words: str) -> None:
    query = fts5_query(words)
    if query is not None:
        index.execute("SELECT rowid FROM items_fts WHERE items_fts MATCH ?", (query,)).fetchall()


@pytest.mark.parametrize(
    "words",
    ["child_protection", "CHILD_PROT", "near miss", "東京", "ecole", "jutte"],
    ids=[
        "underscored word",
        "underscored, capitals, last word unfinished",
        "an operator's name",
        "CJK",
        "without its accent",
        "without its umlaut",
    ],
)
def test_a_word_finds_the_document_that_holds_it(index: sqlite3.Connection, words: str) -> None:
    """An underscore splits a word into its parts as the index does; capitals, accents, an
    unfinished last word and an operator's name are only words to find."""
    query = fts5_query(words)
    assert index.execute(
        "SELECT count(*) FROM items_fts WHERE items_fts MATCH ?", (query,)
    ).fetchone() == (1,)


@pytest.mark.parametrize(
    ("make_query", "words", "query"),
    [
        (fts5_query, 'NEAR(a "b") OR c*', '"NEAR" "a" "b" "OR" "c"*'),
        (tsquery, "a & b | !c <-> d:*", "a & b & c & d:*"),
        (fts5_query, "_ - * ^", None),
        (tsquery, "_ - * ^", None),
    ],
    ids=[
        "FTS5 operators",
        "tsquery operators",
        "FTS5 punctuation alone",
        "tsquery punctuation alone",
    ],
)
def test_operators_are_words_or_nothing(make_query, words: str, query: str | None) -> None:
    assert make_query(words) == query


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=30))
def test_no_text_makes_a_query_fts5_refuses(words: str) -> None:
    db = sqlite3.connect(":memory:")
    db.execute(
        f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize='{FTS5_TOKENIZER}', detail='column')"
    )
    # With detail='column', a quoted word that the index would cut in two is refused as a
    # phrase: so this shows each word is one word to the index.
    query = fts5_query(words)
    if query is not None:
        db.execute("SELECT rowid FROM t WHERE t MATCH ?", (query,)).fetchall()
    assert all(fts5_words(word) == [word] for word in fts5_words(words))
