"""Who built, edited and approved each edition, for the second-approver rule; filled for
existing editions from their created_by, last_edited_by and approved_by.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The actors that drafted editions without a person: nobody's second pair of eyes.
NOT_PEOPLE = ("scheduler", "demo")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "edition_contributors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "built",
                "edited",
                "approved",
                name="contribution",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("person", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["editions.id"],
            name=op.f("fk_edition_contributors_edition_id_editions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edition_contributors")),
        sa.UniqueConstraint(
            "edition_id", "actor", "kind", name=op.f("uq_edition_contributors_edition_id")
        ),
    )
    editions = sa.table(
        "editions",
        sa.column("id", sa.Integer()),
        sa.column("state", sa.String()),
        sa.column("created_by", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("last_edited_by", sa.String()),
        sa.column("last_edited_at", sa.DateTime(timezone=True)),
        sa.column("approved_by", sa.String()),
        sa.column("approved_at", sa.DateTime(timezone=True)),
    )
    contributors = sa.table(
        "edition_contributors",
        sa.column("edition_id", sa.Integer()),
        sa.column("actor", sa.String()),
        sa.column("kind", sa.String()),
        sa.column("person", sa.Boolean()),
        sa.column("at", sa.DateTime(timezone=True)),
    )
    for kind, actor, at in (
        ("built", editions.c.created_by, editions.c.created_at),
        ("edited", editions.c.last_edited_by, editions.c.last_edited_at),
        ("approved", editions.c.approved_by, editions.c.approved_at),
    ):
        op.execute(
            contributors.insert().from_select(
                ["edition_id", "actor", "kind", "person", "at"],
                sa.select(
                    editions.c.id,
                    actor,
                    sa.literal(kind),
                    actor.not_in(NOT_PEOPLE),
                    sa.func.coalesce(at, editions.c.created_at),
                ).where(actor.is_not(None)),
            )
        )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("edition_contributors")
