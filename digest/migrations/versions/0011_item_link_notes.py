"""Item links readers may follow: a note on each item whose link was dropped, and links already
stored that are not http(s) (a `javascript:` or `data:` link from a feed) dropped the same way.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from digest.ingest.urls import check_reader_link

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _clean(table: str, column: str, note_column: str | None = None) -> None:
    """Every stored link through the same check as new ones; only rows that change are written."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")
    ).all()
    changes = []
    for row_id, link in rows:
        checked = check_reader_link(link)
        if checked.link != link:
            changes.append({"id": row_id, "link": checked.link, "note": checked.note})
    if not changes:
        return
    notes = f", {note_column} = :note" if note_column else ""
    connection.execute(
        sa.text(f"UPDATE {table} SET {column} = :link{notes} WHERE id = :id"), changes
    )


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("items", sa.Column("link_note", sa.Text(), nullable=True))
    _clean("items", "link", "link_note")
    _clean("item_sources", "link")
    _clean("feeds", "site_url")


def downgrade() -> None:
    """Downgrade schema (links dropped stay dropped)."""
    with op.batch_alter_table("items") as batch:
        batch.drop_column("link_note")
