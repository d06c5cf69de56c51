"""A library's archive: indexes for triage lists over a million items, the full-text index's
words listed on SQLite, and the words and topics of approved editions kept for the public
archive's search.

Revision ID: 0014
Revises: 0013
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from digest.editions.archive_index import edition_words, item_topics

# revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Approved editions hold frozen items; only they are searched (the archive shows sent ones).
FROZEN_STATES = ("approved", "sending", "sent")


def _json(value: Any) -> Any:
    """A JSON column as read by plain SQL: text on SQLite, already parsed on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


def _fill_archive_index() -> None:
    """What `compose.approve` now writes, for editions approved before it did."""
    connection = op.get_bind()
    editions = connection.execute(
        sa.text("SELECT id, subject, intro FROM editions WHERE state IN :states").bindparams(
            sa.bindparam("states", FROZEN_STATES, expanding=True)
        )
    ).all()
    for edition_id, subject, intro in editions:
        entries = [
            (entry_id, _json(frozen))
            for entry_id, frozen in connection.execute(
                sa.text(
                    "SELECT id, frozen FROM edition_items WHERE edition_id = :id "
                    "AND frozen IS NOT NULL ORDER BY position"
                ),
                {"id": edition_id},
            )
        ]
        if entries:
            connection.execute(
                sa.text("UPDATE edition_items SET topics = :topics WHERE id = :id"),
                [{"id": entry_id, "topics": item_topics(item)} for entry_id, item in entries],
            )
        connection.execute(
            sa.text("UPDATE editions SET search_words = :words WHERE id = :id"),
            {"id": edition_id, "words": edition_words(subject, intro, [i for _, i in entries])},
        )


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name == "sqlite":
        # The words of the full-text index, so that a search can list a prefix's completions
        # (`curation.search.fts5_listed_query`); a view of the index, it stores nothing.
        op.execute("CREATE VIRTUAL TABLE items_fts_terms USING fts5vocab(items_fts, 'row')")
    with op.batch_alter_table("editions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_words", sa.Text(), nullable=True))
    with op.batch_alter_table("edition_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("topics", sa.Text(), nullable=True))
    _fill_archive_index()
    with op.batch_alter_table("edition_items", schema=None) as batch_op:
        # An edition's items and their topics without reading the frozen text (a kilobyte or
        # more each, before `topics` in the row): the archive's search by topic, and a draft
        # looking for the items no edition holds yet.
        batch_op.create_index(
            "ix_edition_items_edition_id_topics", ["edition_id", "topics", "item_id"]
        )
    with op.batch_alter_table("placements", schema=None) as batch_op:
        # The items a newsletter accepted, from the index alone: a draft looks for those no
        # edition holds yet.
        batch_op.create_index(
            "ix_placements_newsletter_id_status_item_id",
            ["newsletter_id", "status", "item_id"],
            unique=False,
        )
        # Every status, newest first: the list with status "all", and a search walking the
        # newest items for matches of a common word.
        batch_op.create_index("ix_placements_published", ["published", "id"], unique=False)
        # A section's items by status, newest first: a section belongs to one newsletter, so
        # this serves the newsletter-and-section filter too.
        batch_op.create_index(
            "ix_placements_section_id_status_published",
            ["section_id", "status", "published", "id"],
            unique=False,
        )


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE items_fts_terms")
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.drop_index("ix_placements_newsletter_id_status_item_id")
        batch_op.drop_index("ix_placements_section_id_status_published")
        batch_op.drop_index("ix_placements_published")
    with op.batch_alter_table("edition_items", schema=None) as batch_op:
        batch_op.drop_index("ix_edition_items_edition_id_topics")
        batch_op.drop_column("topics")
    with op.batch_alter_table("editions", schema=None) as batch_op:
        batch_op.drop_column("search_words")
