"""The schema: migrations build exactly what the models describe, and upgrading is repeatable."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from digest.db import _alembic_config, is_managed_by_hand, schema_revision, upgrade_schema
from digest.models import Base


def test_migrations_match_the_models(engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_name": lambda name, type_, parents: not is_managed_by_hand(name)},
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrading_twice_changes_nothing(engine) -> None:
    revision = schema_revision(engine)
    upgrade_schema(engine)
    assert schema_revision(engine) == revision is not None


def test_the_section_index_carries_newsletter_and_item_on_postgresql(engine) -> None:
    """A list filtered by section checks each row's newsletter and item from the index alone
    (migration 0017); SQLite, which has no INCLUDE, keeps the index as it was."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            definition = connection.scalar(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                    "AND indexname = 'ix_placements_section_id_status_published'"
                )
            )
            assert definition.endswith(
                "(section_id, status, published, id) INCLUDE (newsletter_id, item_id)"
            )
        else:
            columns = connection.execute(
                text("PRAGMA index_info('ix_placements_section_id_status_published')")
            ).all()
            assert [row.name for row in columns] == ["section_id", "status", "published", "id"]


def test_downgrading_the_section_index_gives_back_the_index_of_before(engine) -> None:
    config = _alembic_config(engine)
    head = schema_revision(engine)
    command.downgrade(config, "0016")
    with engine.connect() as connection:
        names = {i["name"]: i for i in inspect(connection).get_indexes("placements")}
    found = names["ix_placements_section_id_status_published"]
    assert found["column_names"] == ["section_id", "status", "published", "id"]
    assert not found.get("include_columns")
    command.upgrade(config, "head")
    assert schema_revision(engine) == head


def test_migration_0019_keeps_the_full_text_and_cleans_stored_links(engine) -> None:
    """Items stored before it: their summary was the feed's whole text, so that is kept as the
    full text; their links lose tracking parameters. Down again, the columns go."""
    config = _alembic_config(engine)
    head = schema_revision(engine)
    command.downgrade(config, "0018")
    row = {
        "title": "Caseloads rise — ŵ",
        "title_key": "caseloads rise",
        "authors": "[]",
        "published": "2026-11-20 09:00:00",
        "estimated": False,
        "summary": "<p>The whole paragraph.</p>",
        "text": "The whole paragraph.",
        "hash": "h" * 64,
    }
    insert = text(
        "INSERT INTO items (link, title, title_key, authors, published, published_estimated, "
        "summary_html, summary_text, content_hash, first_seen_at) VALUES (:link, :title, "
        ":title_key, :authors, :published, :estimated, :summary, :text, :hash, :published)"
    )
    with engine.begin() as connection:
        for link in (
            "https://example.org/a?utm_source=rss&id=1",
            "https://example.org/b?fbclid=x",
            "https://example.org/c?page=2",
            None,
        ):
            connection.execute(insert, {**row, "link": link})
    command.upgrade(config, "head")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT link, full_text_html FROM items ORDER BY id")).all()
    assert [r.link for r in rows] == [
        "https://example.org/a?id=1",
        "https://example.org/b",
        "https://example.org/c?page=2",
        None,
    ]
    assert {r.full_text_html for r in rows} == {"<p>The whole paragraph.</p>"}
    command.downgrade(config, "0018")
    with engine.connect() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("items")}
        assert "full_text_html" not in columns
        assert "colour" not in {c["name"] for c in inspect(connection).get_columns("newsletters")}
    command.upgrade(config, "head")
    assert schema_revision(engine) == head


def test_migration_0020_down_again_keeps_the_search_index_up_to_date(engine) -> None:
    """Going back to 0019 removes the research columns and tables; on SQLite, where dropping a
    column copies the table, an item edited afterwards is still found by its new words."""
    config = _alembic_config(engine)
    head = schema_revision(engine)
    command.downgrade(config, "0019")
    with engine.connect() as connection:
        found = inspect(connection)
        assert "pmid" not in {c["name"] for c in found.get_columns("items")}
        assert not {"enrichments", "research_lookups"} & set(found.get_table_names())
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO items (title, title_key, authors, published, "
                    "published_estimated, summary_html, summary_text, content_hash, "
                    "first_seen_at) VALUES ('Caseloads', 'caseloads', '[]', "
                    "'2026-11-20 09:00:00', 0, '', '', :hash, '2026-11-20 09:00:00')"
                ),
                {"hash": "h" * 64},
            )
            connection.execute(text("INSERT INTO items_fts(items_fts) VALUES ('rebuild')"))
            connection.execute(text("UPDATE items SET title = 'Kinship carers'"))
            matches = connection.execute(
                text("SELECT rowid FROM items_fts WHERE items_fts MATCH 'kinship'")
            ).all()
        assert len(matches) == 1
    command.upgrade(config, "head")
    assert schema_revision(engine) == head
