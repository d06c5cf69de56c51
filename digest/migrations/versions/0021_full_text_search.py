"""An item's whole text as plain words (`items.full_text`), searched with its title, summary
and authors: since summaries were cut to their first sentences, words further into a feed's
text were found by no search.

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from digest.ingest.sanitize import sanitized_html_to_text

# revision identifiers, used by Alembic.
revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILL_BATCH = 1000  # items read and written at a time: a large archive never sits in memory

# SQLite: the FTS5 index of 0002, with the whole text as a column of its own. The summary stays
# indexed: a librarian's edited summary may hold words the feed's text never had.
_SQLITE_COLUMNS = ("title", "summary_text", "full_text", "authors")
_SQLITE_BEFORE = ("title", "summary_text", "authors")
# PostgreSQL: to_tsvector refuses a text whose vector passes 1 MB; a feed's text is far shorter,
# but one huge entry must not make its item impossible to store.
_POSTGRES_BEFORE = (
    "coalesce(title, '') || ' ' || coalesce(summary_text, '') || ' ' || coalesce(authors::text, '')"
)
_POSTGRES_AFTER = (
    "coalesce(title, '') || ' ' || coalesce(summary_text, '') || ' ' || "
    "left(coalesce(full_text, ''), 200000) || ' ' || coalesce(authors::text, '')"
)


def _sqlite_search(columns: Sequence[str]) -> list[str]:
    """The FTS5 index over `columns` of items, its triggers and its table of words."""
    names = ", ".join(columns)
    old = ", ".join(f"old.{c}" for c in columns)
    new = ", ".join(f"new.{c}" for c in columns)
    return [
        f"CREATE VIRTUAL TABLE items_fts USING fts5({names}, content='items', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 2', detail='column')",
        "CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN "
        f"INSERT INTO items_fts(items_fts, rowid, {names}) VALUES ('delete', old.id, {old}); END",
        f"CREATE TRIGGER items_fts_update AFTER UPDATE OF {names} ON items BEGIN "
        f"INSERT INTO items_fts(items_fts, rowid, {names}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO items_fts(rowid, {names}) VALUES (new.id, {new}); END",
        "INSERT INTO items_fts(items_fts) VALUES ('rebuild')",
        "CREATE VIRTUAL TABLE items_fts_terms USING fts5vocab(items_fts, 'row')",
    ]


def _drop_search(sqlite: bool) -> None:
    if not sqlite:
        op.execute("DROP INDEX ix_items_search_vector")
        op.execute("ALTER TABLE items DROP COLUMN search_vector")
        return
    # "If exists": a batch change that copies `items` (0020's downgrade, say) leaves the copy
    # without the index's triggers; they are made again here whatever came before.
    op.execute("DROP TABLE IF EXISTS items_fts_terms")
    for trigger in ("delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS items_fts_{trigger}")
    op.execute("DROP TABLE IF EXISTS items_fts")


def _create_search(sqlite: bool, after: bool) -> None:
    if sqlite:
        for statement in _sqlite_search(_SQLITE_COLUMNS if after else _SQLITE_BEFORE):
            op.execute(statement)
        return
    words = _POSTGRES_AFTER if after else _POSTGRES_BEFORE
    op.execute(
        "ALTER TABLE items ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
        f"(to_tsvector('english'::regconfig, {words})) STORED"
    )
    op.execute("CREATE INDEX ix_items_search_vector ON items USING gin (search_vector)")


def _fill_full_text() -> None:
    """Each stored item's whole text, as words, from the cleaned HTML kept for it."""
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.text(
                "SELECT id, full_text_html FROM items WHERE id > :last "
                "AND full_text_html IS NOT NULL ORDER BY id LIMIT :limit"
            ),
            {"last": last, "limit": FILL_BATCH},
        ).all()
        if not rows:
            return
        connection.execute(
            sa.text("UPDATE items SET full_text = :text WHERE id = :id"),
            [{"id": row.id, "text": sanitized_html_to_text(row.full_text_html)} for row in rows],
        )
        last = rows[-1].id


def upgrade() -> None:
    """Upgrade schema."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    _drop_search(sqlite)
    op.add_column("items", sa.Column("full_text", sa.Text(), nullable=True))
    _fill_full_text()  # before the index is made, which then reads every row once
    _create_search(sqlite, after=True)


def downgrade() -> None:
    """Downgrade schema."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    _drop_search(sqlite)
    with op.batch_alter_table("items") as batch:
        batch.drop_column("full_text")
    _create_search(sqlite, after=False)
