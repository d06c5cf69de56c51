"""One item, several newsletters: each newsletter's decision on an item (status, section,
topics) moves from the item to a placement; DOIs and merges on items; possible duplicates.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS = sa.Enum(
    "new",
    "accepted",
    "rejected",
    name="item_status",
    native_enum=False,
    create_constraint=True,
    length=20,
)
TOPIC_SOURCE = sa.Enum(
    "manual",
    "suggested",
    "feed",
    name="topic_source",
    native_enum=False,
    create_constraint=True,
    length=20,
)
# SQLite copies `items` to change it, and the copy has none of the original's triggers: the
# full-text index's are made again (as in 0002).
SQLITE_SEARCH_TRIGGERS = [
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
    op.create_table(
        "placements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("newsletter_id", sa.Integer(), nullable=False),
        sa.Column("section_id", sa.Integer(), nullable=True),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published", sa.DateTime(timezone=True), nullable=False),
        sa.Column("suggested_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_placements_item_id_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["newsletter_id"],
            ["newsletters.id"],
            name=op.f("fk_placements_newsletter_id_newsletters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["section_id"],
            ["sections.id"],
            name=op.f("fk_placements_section_id_sections"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placements")),
        sa.UniqueConstraint("item_id", "newsletter_id", name=op.f("uq_placements_item_id")),
    )
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_placements_newsletter_id_status_published",
            ["newsletter_id", "status", "published"],
            unique=False,
        )
        batch_op.create_index(
            "ix_placements_status_published", ["status", "published"], unique=False
        )

    op.create_table(
        "placement_topics",
        sa.Column("placement_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("source", TOPIC_SOURCE, nullable=False),
        sa.Column("added_by", sa.String(length=320), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["placements.id"],
            name=op.f("fk_placement_topics_placement_id_placements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topics.id"],
            name=op.f("fk_placement_topics_topic_id_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("placement_id", "topic_id", name=op.f("pk_placement_topics")),
    )
    with op.batch_alter_table("placement_topics", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_placement_topics_topic_id"), ["topic_id"], unique=False
        )

    op.create_table(
        "possible_duplicates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("other_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "open",
                "merged",
                "different",
                name="duplicate_state",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merged", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_possible_duplicates_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["other_id"],
            ["items.id"],
            name=op.f("fk_possible_duplicates_other_id_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_possible_duplicates")),
        sa.UniqueConstraint("item_id", "other_id", name=op.f("uq_possible_duplicates_item_id")),
    )
    with op.batch_alter_table("possible_duplicates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_possible_duplicates_other_id"), ["other_id"], unique=False
        )

    # Each item's decision becomes its newsletter's placement; its topics go with it.
    op.execute(
        "INSERT INTO placements (item_id, newsletter_id, section_id, status, first_seen_at, "
        "published, suggested_at) SELECT id, newsletter_id, section_id, status, first_seen_at, "
        "published, suggested_at FROM items WHERE newsletter_id IS NOT NULL"
    )
    op.execute(
        "INSERT INTO placement_topics (placement_id, topic_id, source, added_by, added_at, "
        "reason, score) SELECT p.id, t.topic_id, t.source, t.added_by, t.added_at, t.reason, "
        "t.score FROM item_topics t JOIN placements p ON p.item_id = t.item_id"
    )
    with op.batch_alter_table("item_topics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_topics_topic_id"))
    op.drop_table("item_topics")

    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_status_published")
        batch_op.drop_constraint(
            batch_op.f("fk_items_newsletter_id_newsletters"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_items_section_id_sections"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("ck_items_item_status"), type_="check")
        for column in ("status", "newsletter_id", "section_id", "suggested_at"):
            batch_op.drop_column(column)
        batch_op.add_column(sa.Column("doi", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_items_merged_into_id_items"),
            "items",
            ["merged_into_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(batch_op.f("ix_items_doi"), ["doi"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_items_merged_into_id"), ["merged_into_id"], unique=False
        )
        batch_op.create_index("ix_items_published", ["published"], unique=False)
    if sqlite:
        for statement in SQLITE_SEARCH_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    """Downgrade schema: each item keeps the decision of its first newsletter."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for trigger in ("delete", "update"):
            op.execute(f"DROP TRIGGER items_fts_{trigger}")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_published")
        batch_op.drop_index(batch_op.f("ix_items_merged_into_id"))
        batch_op.drop_index(batch_op.f("ix_items_doi"))
        batch_op.drop_constraint(batch_op.f("fk_items_merged_into_id_items"), type_="foreignkey")
        batch_op.drop_column("merged_into_id")
        batch_op.drop_column("doi")
        batch_op.add_column(sa.Column("suggested_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("section_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("newsletter_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("status", STATUS, nullable=False, server_default="new"))
        batch_op.create_foreign_key(
            "fk_items_section_id_sections", "sections", ["section_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_foreign_key(
            "fk_items_newsletter_id_newsletters",
            "newsletters",
            ["newsletter_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index("ix_items_status_published", ["status", "published"], unique=False)
    if sqlite:
        for statement in SQLITE_SEARCH_TRIGGERS:
            op.execute(statement)
    first = "SELECT min(id) FROM placements p2 WHERE p2.item_id = placements.item_id"
    op.execute(
        "UPDATE items SET (newsletter_id, section_id, status, suggested_at) = (SELECT "
        "newsletter_id, section_id, status, suggested_at FROM placements WHERE placements.item_id "
        f"= items.id AND placements.id = ({first}))"
    )
    op.create_table(
        "item_topics",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("source", TOPIC_SOURCE, nullable=False),
        sa.Column("added_by", sa.String(length=320), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_item_topics_item_id_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topics.id"],
            name=op.f("fk_item_topics_topic_id_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", "topic_id", name=op.f("pk_item_topics")),
    )
    with op.batch_alter_table("item_topics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_topics_topic_id"), ["topic_id"], unique=False)
    op.execute(
        "INSERT INTO item_topics (item_id, topic_id, source, added_by, added_at, reason, score) "
        "SELECT p.item_id, t.topic_id, t.source, t.added_by, t.added_at, t.reason, t.score "
        "FROM placement_topics t JOIN placements p ON p.id = t.placement_id "
        f"WHERE p.id = ({first.replace('placements.item_id', 'p.item_id')})"
    )
    op.drop_table("possible_duplicates")
    op.drop_table("placement_topics")
    op.drop_table("placements")
