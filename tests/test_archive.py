"""The public archive: sent editions in full, a search, and Atom feeds a reader can follow."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from sqlalchemy import select
from webapp import Site, accept_tagged, add_items, entry, make_site, placements

from digest.curation import decisions
from digest.db import transaction
from digest.editions import archive, compose
from digest.models import Edition, EditionState, ItemStatus, Newsletter, Topic

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def site(factory) -> Site:
    site = make_site(factory, base_url="https://digest.example.org")
    accept_tagged(
        factory,
        [
            ("Neglect in adolescence", "neglect"),
            ("Grooming on gaming platforms", "online-grooming"),
        ],
    )
    with transaction(factory) as session:
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        edition = compose.build_draft(session, newsletter, "editor", NOW)
        compose.approve(session, edition, "editor", now=NOW)
    return site


def send(site: Site) -> int:
    with transaction(site.factory) as session:
        edition = session.scalar(select(Edition))
        edition.state = EditionState.SENT
        return edition.id


def test_only_sent_editions_are_public(site: Site) -> None:
    client = site.app.test_client()
    with site.factory() as session:
        edition_id = session.scalar(select(Edition.id))
    assert client.get(f"/archive/caspar/{edition_id}").status_code == 404
    assert "has been sent yet" in client.get("/archive/caspar").text
    send(site)
    page = client.get(f"/archive/caspar/{edition_id}").text
    # The whole edition, not anyone's cut.
    assert "Neglect in adolescence" in page and "Grooming on gaming platforms" in page
    index = client.get("/archive/caspar").text
    assert "CASPAR: week commencing 23 November 2026" in index


def test_archive_search(site: Site) -> None:
    send(site)
    client = site.app.test_client()
    assert "CASPAR: week commencing" in client.get("/archive/caspar?q=gaming platforms").text
    assert "No edition matches" in client.get("/archive/caspar?q=budget").text


def test_atom_feeds_of_editions_and_of_a_topic(site: Site) -> None:
    edition_id = send(site)
    client = site.app.test_client()
    response = client.get("/archive/caspar/feed.atom")
    assert response.mimetype == "application/atom+xml"
    editions = feedparser.parse(response.data)
    assert not editions.bozo
    assert [e.title for e in editions.entries] == ["CASPAR: week commencing 23 November 2026"]
    assert editions.entries[0].link == f"https://digest.example.org/archive/caspar/{edition_id}"
    topic = feedparser.parse(client.get("/topics/neglect/feed.atom").data)
    assert [e.title for e in topic.entries] == ["Neglect in adolescence"]
    assert client.get("/topics/no-such-topic/feed.atom").status_code == 404


@pytest.mark.parametrize(
    ("words", "found"),
    [
        ("gaming platforms", True),
        ("GAMING", True),  # any case
        ("platf adolesc", True),  # parts of words, across the edition's items
        ("budget", False),
        ("gaming budget", False),  # every word must be there
    ],
)
def test_archive_search_finds_every_word_as_part_of_a_word(
    site: Site, words: str, found: bool
) -> None:
    send(site)
    page = site.app.test_client().get("/archive/caspar", query_string={"q": words}).text
    assert ("CASPAR: week commencing" in page) is found, words


def test_archive_search_reads_words_in_any_script(factory) -> None:
    site = make_site(factory, base_url="https://digest.example.org")
    accept_tagged(factory, [("Écoles et l’enfance — ŵyr a’r 儿童保护 😀", "neglect")])
    with transaction(factory) as session:
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        compose.approve(
            session, compose.build_draft(session, newsletter, "editor", NOW), "editor", now=NOW
        )
    send(site)
    client = site.app.test_client()
    for words in ("ÉCOLES", "l’enfance", "ŵyr", "儿童", "😀", "—"):
        assert "CASPAR: week commencing" in client.get(f"/archive/caspar?q={words}").text, words
    assert "No edition matches" in client.get("/archive/caspar?q=ecoles").text


def test_archive_search_by_topic_lists_the_items_about_it(site: Site) -> None:
    send(site)
    page = site.app.test_client().get("/archive/caspar?topic=online-grooming").text
    assert "Grooming on gaming platforms" in page and "Neglect in adolescence" not in page
    assert "(2 items)" in page  # the edition's size, all its items
    assert (
        "No edition matches"
        in site.app.test_client().get("/archive/caspar?topic=legislation-and-policy").text
    )


def test_what_the_search_reads_is_kept_at_approval_and_dropped_with_it(site: Site) -> None:
    with transaction(site.factory) as session:
        edition = session.scalar(select(Edition))
        assert " gaming " in edition.search_words and " caspar: " in edition.search_words
        assert sorted(e.topics for e in edition.entries) == [" neglect ", " online-grooming "]
        assert edition.search_topics == " neglect online-grooming "
        compose.unapprove(session, edition, "editor")
        assert edition.search_words is None and {e.topics for e in edition.entries} == {None}
        assert edition.search_topics is None


EDITION_LINK = re.compile(r'<a href="/archive/caspar/(\d+)">')
OLDER = re.compile(r'<a href="([^"]+)" rel="next">')
NEWER = re.compile(r'<a href="([^"]+)" rel="prev">')


def test_archive_search_pages_through_the_editions_and_back(factory, monkeypatch) -> None:
    """Five weeks of editions, two to a page: the pages hold each matching edition once,
    newest first, with the items about the topic; their links keep the words and topic."""

    monkeypatch.setattr(archive, "ARCHIVE_PAGE", 2)
    site = make_site(factory)
    for week in range(5):
        chosen = placements(
            factory,
            add_items(
                factory,
                [
                    entry(f"Grooming report {week}", f"https://example.org/grooming/{week}"),
                    entry(f"Neglect report {week}", f"https://example.org/neglect/{week}"),
                ],
            ),
        )
        with transaction(factory) as session:
            topics = {t.slug: t.id for t in session.scalars(select(Topic))}
            decisions.set_topics(session, chosen[:1], [topics["online-grooming"]], "librarian")
            decisions.set_topics(session, chosen[1:], [topics["neglect"]], "librarian")
            decisions.set_status(session, chosen, ItemStatus.ACCEPTED, "librarian")
            newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
            when = NOW + timedelta(weeks=week)
            edition = compose.build_draft(session, newsletter, "editor", when)
            compose.approve(session, edition, "editor", now=when)
            edition.state = EditionState.SENT
    with factory() as session:
        newest_first = list(
            session.scalars(select(Edition.id).order_by(Edition.period_start.desc()))
        )
    client = site.app.test_client()
    url = "/archive/caspar?q=report&topic=online-grooming"
    pages = []
    while True:
        page = client.get(url).text
        pages.append(page)
        older = OLDER.search(page)
        if older is None:
            break
        url = html.unescape(older[1])
        assert "q=report" in url and "topic=online-grooming" in url, url
    assert [[int(e) for e in EDITION_LINK.findall(p)] for p in pages] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:5],
    ]
    assert "5 editions match, page 1 of 3." in pages[0]
    assert "Grooming report 2" in pages[1] and "Neglect report 2" not in pages[1]
    assert "Grooming report 3" not in pages[1]  # on the page before
    assert "page 3 of 3." in pages[2]
    back = client.get(html.unescape(NEWER.search(pages[2])[1])).text
    assert EDITION_LINK.findall(back) == EDITION_LINK.findall(pages[1])
    first = html.unescape(NEWER.search(back)[1])
    again = client.get(first).text
    assert "page=" not in first and EDITION_LINK.findall(again) == EDITION_LINK.findall(pages[0])
    past = client.get("/archive/caspar?topic=online-grooming&page=9").text
    assert (
        "past the last page" in past
        and 'href="/archive/caspar?topic=online-grooming&amp;page=3"' in past
    )
