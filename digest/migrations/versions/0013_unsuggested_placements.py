"""Placements still waiting for topic suggestions are found from a partial index, so that a
poll into a large archive reads only the new ones.

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


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(
        "ix_placements_unsuggested",
        table_name="placements",
        sqlite_where=sa.text("suggested_at IS NULL"),
        postgresql_where=sa.text("suggested_at IS NULL"),
    )
