"""Send budgets: a transport's rate limits kept in the database, shared by every worker and
across restarts.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "send_budgets",
        sa.Column("transport", sa.String(length=64), nullable=False),
        sa.Column("next_slot_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("transport", name=op.f("pk_send_budgets")),
    )
    op.create_table(
        "send_counts",
        sa.Column("transport", sa.String(length=64), nullable=False),
        sa.Column("minute", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["transport"],
            ["send_budgets.transport"],
            name=op.f("fk_send_counts_transport_send_budgets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transport", "minute", name=op.f("pk_send_counts")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("send_counts")
    op.drop_table("send_budgets")
