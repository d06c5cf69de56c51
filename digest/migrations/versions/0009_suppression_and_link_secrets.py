"""People who left stay left: suppressions per newsletter or for all, and a secret in every
subscription's links.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # Existing entries (erasures) keep newsletter_id NULL: they hold for every newsletter.
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("newsletter_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint("uq_suppressions_email_hash", type_="unique")
        batch_op.create_unique_constraint(
            "uq_suppressions_per_newsletter", ["email_hash", "newsletter_id"]
        )
        batch_op.create_index(
            "uq_suppressions_everywhere",
            ["email_hash"],
            unique=True,
            sqlite_where=sa.text("newsletter_id IS NULL"),
            postgresql_where=sa.text("newsletter_id IS NULL"),
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_suppressions_newsletter_id_newsletters"),
            "newsletters",
            ["newsletter_id"],
            ["id"],
            ondelete="CASCADE",
        )

    # Existing subscriptions keep link_secret NULL, so the links already in people's inboxes
    # go on working; every new subscription gets one (see subscriptions/tokens.py).
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_secret", sa.String(length=32), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("link_secret")

    # Entries for one newsletter have no place in the old table: they go.
    op.execute(sa.text("DELETE FROM suppressions WHERE newsletter_id IS NOT NULL"))
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_suppressions_newsletter_id_newsletters"), type_="foreignkey"
        )
        batch_op.drop_index("uq_suppressions_everywhere")
        batch_op.drop_constraint("uq_suppressions_per_newsletter", type_="unique")
        batch_op.create_unique_constraint("uq_suppressions_email_hash", ["email_hash"])
        batch_op.drop_column("newsletter_id")
