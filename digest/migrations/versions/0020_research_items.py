"""Research-grade items: an item's PMID and structured record (CSL-JSON) with a librarian's
corrections, the enrichment queue and the cache of Crossref's and PubMed's answers, each
newsletter's citation style, and the sources polled that are not feeds (PubMed searches,
journals at Crossref, OAI-PMH catalogues).

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from digest.timeutil import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = ("pending", "enriched", "not_found", "failed")
# Dropping a column makes SQLite copy `items`, and the copy has none of the original's
# triggers: the full-text index's are made again as 0006 made them.
_SQLITE_SEARCH_TRIGGERS = [
    "CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN "
    "INSERT INTO items_fts(items_fts, rowid, title, summary_text, authors) "
    "VALUES ('delete', old.id, old.title, old.summary_text, old.authors); END",
    "CREATE TRIGGER items_fts_update AFTER UPDATE OF title, summary_text, authors ON items BEGIN "
    "INSERT INTO items_fts(items_fts, rowid, title, summary_text, authors) "
    "VALUES ('delete', old.id, old.title, old.summary_text, old.authors); "
    "INSERT INTO items_fts(rowid, title, summary_text, authors) "
    "VALUES (new.id, new.title, new.summary_text, new.authors); END",
]


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("pmid", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("csl", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("csl_corrections", sa.JSON(), nullable=True))
        batch.create_index("ix_items_pmid", ["pmid"])
    with op.batch_alter_table("newsletters") as batch:
        batch.add_column(sa.Column("citation_style", sa.String(length=100), nullable=True))
        batch.add_column(
            sa.Column("citations_in_email", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("source_type", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("source_query", sa.Text(), nullable=True))
        batch.add_column(sa.Column("source_options", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("harvested_until", sa.String(length=100), nullable=True))
    op.create_table(
        "enrichments",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=20), nullable=False),
        sa.Column("identifier", sa.String(length=200), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                *_STATES,
                name="enrichment_state",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("enriched_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_enrichments_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_enrichments")),
    )
    op.create_index(
        "ix_enrichments_state_next_attempt_at", "enrichments", ["state", "next_attempt_at"]
    )
    op.create_table(
        "research_lookups",
        sa.Column("service", sa.String(length=20), nullable=False),
        sa.Column("identifier", sa.String(length=200), nullable=False),
        sa.Column("found", sa.Boolean(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=True),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("service", "identifier", name=op.f("pk_research_lookups")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("research_lookups")
    op.drop_index("ix_enrichments_state_next_attempt_at", table_name="enrichments")
    op.drop_table("enrichments")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("harvested_until")
        batch.drop_column("source_options")
        batch.drop_column("source_query")
        batch.drop_column("source_type")
    with op.batch_alter_table("newsletters") as batch:
        batch.drop_column("citations_in_email")
        batch.drop_column("citation_style")
    with op.batch_alter_table("items") as batch:
        batch.drop_index("ix_items_pmid")
        batch.drop_column("csl_corrections")
        batch.drop_column("csl")
        batch.drop_column("pmid")
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS items_fts_{trigger}")
        for statement in _SQLITE_SEARCH_TRIGGERS:
            op.execute(statement)
