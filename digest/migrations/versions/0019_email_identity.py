"""The email and public pages speak as the library: each newsletter's organisation, postal
address, colour and logo, each feed's publisher, an edition's preview line, and an item's
whole feed text kept beside its short summary. Stored item links lose their tracking
parameters (`utm_*`, `fbclid`, …), as new ones do.

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from digest.ingest.urls import check_reader_link

# revision identifiers, used by Alembic.
revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _clean_links() -> None:
    """Only links with a query can carry tracking parameters; only rows that change are written."""
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, link FROM items WHERE link LIKE '%?%'")).all()
    changes = [
        {"id": row_id, "link": clean}
        for row_id, link in rows
        if (clean := check_reader_link(link).link) is not None and clean != link
    ]
    if changes:
        connection.execute(sa.text("UPDATE items SET link = :link WHERE id = :id"), changes)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("newsletters") as batch:
        batch.add_column(sa.Column("organisation", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("postal_address", sa.Text(), nullable=True))
        batch.add_column(sa.Column("colour", sa.String(length=7), nullable=True))
        batch.add_column(sa.Column("logo", sa.Text(), nullable=True))
    op.add_column("feeds", sa.Column("publisher", sa.String(length=200), nullable=True))
    op.add_column("editions", sa.Column("preheader", sa.Text(), nullable=True))
    op.add_column("items", sa.Column("full_text_html", sa.Text(), nullable=True))
    # What was stored as the summary was the feed's whole text.
    op.execute("UPDATE items SET full_text_html = summary_html")
    _clean_links()


def downgrade() -> None:
    """Downgrade schema (links cleaned stay clean)."""
    with op.batch_alter_table("items") as batch:
        batch.drop_column("full_text_html")
    with op.batch_alter_table("editions") as batch:
        batch.drop_column("preheader")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("publisher")
    with op.batch_alter_table("newsletters") as batch:
        batch.drop_column("logo")
        batch.drop_column("colour")
        batch.drop_column("postal_address")
        batch.drop_column("organisation")
