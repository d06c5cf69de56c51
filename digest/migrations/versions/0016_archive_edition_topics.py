"""The topics of an approved edition's items kept beside the edition, so that the archive's
search by topic reads one value an edition instead of each of its items.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from digest.editions.archive_index import edition_topics

# revision identifiers, used by Alembic.
revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fill() -> None:
    """What `compose.approve` now writes, for editions approved before it did: those whose
    items have their topics kept (migration 0014)."""
    connection = op.get_bind()
    held: dict[int, list[str]] = {}
    for edition_id, topics in connection.execute(
        sa.text("SELECT edition_id, topics FROM edition_items WHERE topics IS NOT NULL")
    ):
        held.setdefault(edition_id, []).append(topics)
    if held:
        connection.execute(
            sa.text("UPDATE editions SET search_topics = :topics WHERE id = :id"),
            [{"id": edition_id, "topics": edition_topics(t)} for edition_id, t in held.items()],
        )


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("editions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_topics", sa.Text(), nullable=True))
    _fill()


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("editions", schema=None) as batch_op:
        batch_op.drop_column("search_topics")
