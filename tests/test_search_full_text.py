"""An item's whole text, not only the first sentences its summary keeps, is what search finds
and what two look-alike items are compared by; on SQLite and PostgreSQL, fed over HTTP."""

from __future__ import annotations

from alembic import command
from feedfactory import Entry, add_feed, rss
from pytest_httpserver import HTTPServer
from sqlalchemy import select, text

from digest.curation import decisions
from digest.curation.items import ItemFilter, page_of_items
from digest.db import _alembic_config, schema_revision, transaction
from digest.ingest.fetch import FetchSettings
from digest.ingest.poll import poll_feeds
from digest.models import Item, PossibleDuplicate

FAST = FetchSettings(connect_timeout=1, total_timeout=2)
OPENING = (
    "The inspectorate reviewed forty local authorities. Caseloads rose in most of them. "
    "Managers named recruitment as the main pressure. "
)
# Five sentences: the summary keeps the first three, and "kinship" is only in the fifth.
FIVE_SENTENCES = OPENING + (
    "Agency staff filled one post in five. "
    "Kinship carers in Ceredigion and Gwynedd waited longest — up to nine months."
)


def serve(httpserver: HTTPServer, path: str, entries: list[Entry]) -> str:
    httpserver.expect_request(path).respond_with_data(
        rss(entries), content_type="application/rss+xml"
    )
    return httpserver.url_for(path)


def found_titles(factory, words: str) -> list[str]:
    with factory() as session:
        page = page_of_items(session, ItemFilter(text=words), 1, 20)
        return [placement.item.title for placement in page.placements]


def test_a_word_in_the_fifth_sentence_is_found_by_triage_search(
    httpserver: HTTPServer, factory
) -> None:
    entry = Entry(
        title="Children’s social care workforce: a review",
        link="https://example.org/review",
        guid="review-1",
        summary=f"<p>{FIVE_SENTENCES}</p>",
    )
    add_feed(factory, "Inspectorate", serve(httpserver, "/feed.xml", [entry]))
    poll_feeds(factory, settings=FAST)
    with factory() as session:
        item = session.scalars(select(Item)).one()
        assert "Kinship" not in item.summary_text  # the summary stops before it
        assert "Kinship carers in Ceredigion" in item.full_text

    assert found_titles(factory, "kinship") == [entry.title]
    assert found_titles(factory, "Ceredigion carers") == [entry.title]
    assert found_titles(factory, "kinsh") == [entry.title]  # a word still being typed
    assert found_titles(factory, "Anglesey") == []


def test_a_librarians_edited_summary_is_still_found(httpserver: HTTPServer, factory) -> None:
    entry = Entry(
        title="Adoption support fund: evaluation",
        link="https://example.org/asf",
        guid="asf-1",
        summary=f"<p>{FIVE_SENTENCES}</p>",
    )
    add_feed(factory, "Inspectorate", serve(httpserver, "/feed.xml", [entry]))
    poll_feeds(factory, settings=FAST)
    with transaction(factory) as session:
        item_id = session.scalars(select(Item.id)).one()
        decisions.edit_wording(
            session, item_id, entry.title, "Therapeutic parenting, évaluée en 2026.", "ana"
        )

    assert found_titles(factory, "therapeutic évaluée") == [entry.title]
    assert found_titles(factory, "kinship") == [entry.title]  # the feed's words stay found


def look_alike_pairs(httpserver: HTTPServer, factory, second_tail: str) -> int:
    """Two entries, under one title at two addresses, whose texts open alike (so their
    summaries are the same) and go on with `FIVE_SENTENCES`'s end and `second_tail`."""
    title = "Social work caseloads in Wales: a national picture"
    first = Entry(
        title=title,
        link="https://gov.example/caseloads",
        guid="gov-1",
        summary=f"<p>{FIVE_SENTENCES}</p>",
    )
    second = Entry(
        title=title,
        link="https://news.example/caseloads-wales",
        guid="news-1",
        summary=f"<p>{OPENING}{second_tail}</p>",
    )
    add_feed(factory, "Government", serve(httpserver, "/a.xml", [first]))
    add_feed(factory, "News", serve(httpserver, "/b.xml", [second]))
    poll_feeds(factory, settings=FAST)
    with factory() as session:
        summaries = set(session.scalars(select(Item.summary_text)))
        assert len(summaries) == 1  # the two summaries are the same
        return len(session.scalars(select(PossibleDuplicate)).all())


def test_alike_summaries_over_different_texts_are_not_a_possible_duplicate(
    httpserver: HTTPServer, factory
) -> None:
    different = (
        "Elsewhere, a separate survey of foster placements across northern England found "
        "shortages of specialist therapists, longer court delays, rising transport budgets "
        "and uneven training for residential staff. Councillors debated pay scales, "
        "retention bonuses, apprenticeships, university bursaries and mentoring schemes, "
        "while unions warned about sickness absence, burnout and overtime."
    )
    assert look_alike_pairs(httpserver, factory, different) == 0


def test_alike_summaries_over_the_same_text_are_a_possible_duplicate(
    httpserver: HTTPServer, factory
) -> None:
    same = FIVE_SENTENCES[len(OPENING) :]
    assert look_alike_pairs(httpserver, factory, same) == 1


def test_migration_0021_fills_the_whole_text_and_indexes_it(engine) -> None:
    """Items stored before it get their whole text as words from the kept HTML, and search
    finds them by it; down again, the column goes and search reads what it read before."""
    config = _alembic_config(engine)
    head = schema_revision(engine)
    command.downgrade(config, "0020")
    row = {
        "title": "Caseloads rise — ŵ",
        "title_key": "caseloads rise",
        "authors": '["Siân Owen"]',
        "published": "2026-11-20 09:00:00",
        "estimated": False,
        "summary": "<p>The first sentence.</p>",
        "text": "The first sentence.",
        "full": "<p>The first sentence.</p><p>Then &amp; kinship carers — 里親.</p>",
        "hash": "h" * 64,
    }
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO items (title, title_key, authors, published, published_estimated, "
                "summary_html, summary_text, full_text_html, content_hash, first_seen_at) "
                "VALUES (:title, :title_key, :authors, :published, :estimated, :summary, :text, "
                ":full, :hash, :published)"
            ),
            [row, {**row, "full": None}],
        )
    command.upgrade(config, "head")
    with engine.connect() as connection:
        texts = connection.execute(text("SELECT full_text FROM items ORDER BY id")).scalars().all()
        assert texts == ["The first sentence. Then & kinship carers — 里親.", None]
        if connection.dialect.name == "sqlite":
            found = "SELECT rowid FROM items_fts WHERE items_fts MATCH :words"
            words = {"words": '"kinship"'}
            assert connection.scalar(
                text("SELECT count(*) FROM items_fts_terms WHERE term = 'kinship'")
            )
        else:
            found = "SELECT id FROM items WHERE search_vector @@ to_tsquery('english', :words)"
            words = {"words": "kinship"}
        assert connection.execute(text(found), words).scalars().all() == [1]
    command.downgrade(config, "0020")
    with engine.connect() as connection:
        assert connection.execute(text(found), words).scalars().all() == []
    command.upgrade(config, "head")
    assert schema_revision(engine) == head
