"""The section index of placements carries each row's newsletter and item on PostgreSQL, so
that a filtered triage list finds its page's rows from the index alone.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_placements_section_id_status_published"
KEY = ["section_id", "status", "published", "id"]


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no INCLUDE; its plan for the list reads the rows as it walks
    # A list filtered by section, status, newsletter and topic walks this index newest first,
    # checking each row's newsletter, item (not merged) and topic until a page is found: a
    # thousand rows for a rare topic. Without the newsletter and item here, each of those is a
    # read of the table, and PostgreSQL chose to read every row of the section and status and
    # sort them instead (40 ms at a million items, against 4 ms from the index alone).
    op.drop_index(NAME, table_name="placements")
    op.create_index(NAME, "placements", KEY, postgresql_include=["newsletter_id", "item_id"])


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(NAME, table_name="placements")
    op.create_index(NAME, "placements", KEY)
