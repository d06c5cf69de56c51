"""What a poll's topic suggestions read comes from partial indexes, so that a poll into a
large archive reads only the new placements and the topics librarians chose.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index(
        "ix_placements_unsuggested",
        "placements",
        ["status", "id"],
        unique=False,
        sqlite_where=sa.text("suggested_at IS NULL"),
        postgresql_where=sa.text("suggested_at IS NULL"),
    )
    op.create_index(
        "ix_placement_topics_manual",
        "placement_topics",
        ["placement_id", "topic_id"],
        unique=False,
        sqlite_where=sa.text("source = 'manual'"),
        postgresql_where=sa.text("source = 'manual'"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(
        "ix_placement_topics_manual",
        table_name="placement_topics",
        sqlite_where=sa.text("source = 'manual'"),
        postgresql_where=sa.text("source = 'manual'"),
    )
    op.drop_index(
        "ix_placements_unsuggested",
        table_name="placements",
        sqlite_where=sa.text("suggested_at IS NULL"),
        postgresql_where=sa.text("suggested_at IS NULL"),
    )
