"""The triage page's cost does not grow with what its rows hold: each row's newsletter,
section, feeds and topics come from those the filters loaded, not from queries of their own,
and the page still shows every one of them (a retired topic and a hand-added item's too)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select, text
from webapp import Site, add_items, entry, make_site, placements

from digest.curation import decisions, manual
from digest.curation.items import ItemFilter, page_of_items
from digest.db import transaction
from digest.models import Newsletter, Role, Section, Topic


@contextmanager
def statements(site: Site) -> Iterator[list[str]]:
    """The SQL statements the app sends while the block runs."""
    engine = site.app.extensions["digest.sessions"].kw["bind"]
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _spread(site: Site, first: int, count: int) -> None:
    """Items `first` to `first + count - 1`, each from a feed of its own, in CASPAR's sections
    in turn and offered to New in the Library too, each tagged with a topic of its own."""
    ids = [
        add_items(
            site.factory,
            [entry(f"Report ŵ {n}", f"https://example.org/spread/{n}")],
            feed_name=f"Publisher {n} — é 儿童",
        )[0]
        for n in range(first, first + count)
    ]
    chosen = placements(site.factory, ids)
    with transaction(site.factory) as session:
        sections = session.scalars(
            select(Section).join(Newsletter).where(Newsletter.slug == "caspar")
        ).all()
        other = session.scalar(select(Section).join(Newsletter).where(Newsletter.slug != "caspar"))
        topics = session.scalars(select(Topic.id).order_by(Topic.id)).all()
        for n, (item_id, placement_id) in enumerate(zip(ids, chosen, strict=True), first):
            decisions.place(session, placement_id, sections[n % len(sections)].id, "librarian")
            decisions.set_topics(session, [placement_id], [topics[n % len(topics)]], "librarian")
            decisions.offer(session, item_id, other.id, "librarian")


@pytest.fixture
def site(factory) -> Site:
    return make_site(factory)


def test_a_page_of_many_feeds_sections_and_topics_asks_no_more_than_a_page_of_one(
    site: Site,
) -> None:
    _spread(site, 0, 1)
    client = site.client(Role.LIBRARIAN)
    client.get("/items?status=all")  # the statements the app prepares once are made
    with statements(site) as one:
        client.get("/items?status=all")
    _spread(site, 1, 6)
    with statements(site) as many:
        page = client.get("/items?status=all").text
    assert all(f"Publisher {n} — é 儿童" in page for n in range(7))
    assert len(many) == len(one), "\n".join(many)
    for table in ("newsletters", "sections", "feeds", "topics"):  # those the filters offer
        asked = [sql for sql in many if re.search(rf"\bFROM {table}\b", sql)]
        assert len(asked) == 1, "\n".join(asked)


def test_a_row_shows_a_retired_topic_and_a_hand_added_item_s_feed(site: Site) -> None:
    _spread(site, 0, 2)
    with transaction(site.factory) as session:
        topic = session.scalar(select(Topic).order_by(Topic.id))
        topic.retired = True
        label = topic.label
        section = session.scalar(select(Section).where(Section.name == "Research"))
        manual.add_item(
            session,
            "A report added by hand — ’é’",
            "https://example.org/by-hand",
            "Typed in.",
            section.id,
            "librarian",
        )
    page = site.client(Role.LIBRARIAN).get("/items?status=all").text
    assert f">{label}</span>" in page
    assert manual.MANUAL_FEED in page and "A report added by hand — ’é’" in page
    for name in ("Research", "Policy", "Books and reports"):
        assert f"/ {name}</span>" in page


def test_a_list_by_section_leaves_the_planner_s_settings_as_they_were(site: Site) -> None:
    """On PostgreSQL a list by section is walked without parallel workers; the rest of the
    transaction plans as before."""

    _spread(site, 0, 3)
    with site.factory() as session:
        section = session.scalar(select(Section).where(Section.name == "Research"))
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("a PostgreSQL planner setting")
        before = session.scalar(text("SHOW max_parallel_workers_per_gather"))
        page = page_of_items(session, ItemFilter(section_id=section.id), size=2)
        assert [p.section_id for p in page.placements] == [section.id]
        assert session.scalar(text("SHOW max_parallel_workers_per_gather")) == before
