"""One publication is one item; different publications stay different.

Items merge by themselves only on a strong identity: the same canonical address, the same DOI,
or the same entry in a feed's own history. A title alone never merges; a title with much the
same words makes a possible duplicate that a librarian merges (undoably) or keeps apart. An item
reaches every newsletter whose feeds or imports found it, and each decides on it separately.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from feedfactory import Entry, add_feed, rss
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select, text
from webapp import csrf_token, make_site

from digest.catalogue.importer import import_catalogue
from digest.config import load_config, sync_config
from digest.curation import decisions, duplicates
from digest.curation.items import ItemFilter, item_query, with_details
from digest.db import _alembic_config, make_engine, session_factory, transaction
from digest.editions import compose
from digest.ingest.fetch import FetchSettings
from digest.ingest.poll import poll_feeds
from digest.models import (
    AuditEntry,
    DuplicateState,
    Feed,
    Item,
    ItemSource,
    ItemStatus,
    Newsletter,
    Placement,
    PossibleDuplicate,
    Role,
)

FAST = FetchSettings(connect_timeout=1, total_timeout=2)
WHEN = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday: both newsletters go out in the week


def serve(httpserver: HTTPServer, path: str, body: bytes, kind: str = "application/rss+xml"):
    httpserver.expect_request(path).respond_with_data(body, content_type=kind)
    return httpserver.url_for(path)


def poll_two_feeds(httpserver: HTTPServer, factory, first: list[Entry], second: list[Entry]):
    add_feed(factory, "Publisher A", serve(httpserver, "/a.xml", rss(first)))
    add_feed(factory, "Publisher B", serve(httpserver, "/b.xml", rss(second)))
    return poll_feeds(factory, settings=FAST)


def stored(factory) -> list[Item]:
    with factory() as session:
        return list(session.scalars(with_details(item_query()).order_by(None).order_by(Item.id)))


def pairs(factory) -> list[PossibleDuplicate]:
    with factory() as session:
        return list(session.scalars(select(PossibleDuplicate).order_by(PossibleDuplicate.id)))


# Two publishers' different documents that happen to share a title: never one item, and not
# even a possible duplicate, since their words differ.
SAME_TITLE_DIFFERENT_WORK = [
    (
        "Annual report 2025",
        "<p>The charity's trustees report on income, grants and staff numbers this year.</p>",
        "<p>Our police force's performance against the plan: arrests, response times, budgets.</p>",
    ),
    (
        "Consultation response",
        "<p>We welcome the proposals on relationships education in primary schools.</p>",
        "<p>Our submission on youth justice sentencing reform and custody thresholds.</p>",
    ),
    ("Newsletter", "", ""),
    ("Board minutes", "<p>Minutes of the March board.</p>", "<p>Minutes, 4 April.</p>"),
    (
        "Rapport annuel — Écoles",
        "<p>Résumé des activités des écoles primaires cette année.</p>",
        "<p>Données financières du département, budgets et dépenses.</p>",
    ),
    ("年度报告", "<p>儿童保护年度工作报告</p>", "<p>警察年度统计</p>"),
]


@pytest.mark.parametrize(("title", "first_text", "second_text"), SAME_TITLE_DIFFERENT_WORK)
def test_the_same_title_from_two_publishers_is_two_items(
    httpserver: HTTPServer, factory, title: str, first_text: str, second_text: str
) -> None:
    report = poll_two_feeds(
        httpserver,
        factory,
        [Entry(title, "https://charity.example.org/annual", "a-1", first_text, WHEN)],
        [Entry(title, "https://police.example.net/annual", "b-1", second_text, WHEN)],
    )
    assert report.total("new") == 2 and report.total("duplicate") == 0
    items = stored(factory)
    assert sorted(i.link for i in items) == [
        "https://charity.example.org/annual",
        "https://police.example.net/annual",
    ]
    assert all(len(i.sources) == 1 and len(i.placements) == 1 for i in items)
    assert pairs(factory) == []


# One publication under two addresses or identities: merged by itself.
DOI_RDF = b"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
  xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">
<channel rdf:about="https://onlinelibrary.wiley.com/journal/10990852"><title>Child Abuse Review</title>
<link>https://onlinelibrary.wiley.com/journal/10990852</link><description>TOC</description></channel>
<item rdf:about="https://onlinelibrary.wiley.com/doi/abs/10.1002/car.70061?af=R">
<title>'He said I was special': young people's accounts of online grooming</title>
<link>https://onlinelibrary.wiley.com/doi/abs/10.1002/car.70061?af=R</link>
<dc:identifier>doi:10.1002/car.70061</dc:identifier><prism:doi>10.1002/car.70061</prism:doi>
<dc:date>2026-11-16T09:00:00Z</dc:date></item>
</rdf:RDF>"""
SAME_PUBLICATION = {
    "tracking parameters removed": (
        Entry("Neglect review", "https://ex.org/neglect", "x-1", "", WHEN),
        Entry("Neglect: a review", "https://ex.org/neglect?utm_source=rss&fbclid=1", "y-9"),
    ),
    "a DOI in the link and a resolver address": (
        Entry("Young people's accounts of grooming", "https://doi.org/10.1002/CAR.70061"),
        None,  # the other side is the journal's RDF table of contents, with prism:doi
    ),
    "a DOI as the guid": (
        Entry("Sextortion survey", "https://journal.example.org/a/123", "doi:10.1002/car.70058"),
        Entry("Sextortion: a survey", "https://www.tandfonline.com/doi/full/10.1002/car.70058"),
    ),
}


@pytest.mark.parametrize("case", list(SAME_PUBLICATION))
def test_one_publication_under_two_identities_is_one_item(
    httpserver: HTTPServer, factory, case: str
) -> None:
    first, second = SAME_PUBLICATION[case]
    add_feed(factory, "Publisher A", serve(httpserver, "/a.xml", rss([first])))
    if second is None:
        url = serve(httpserver, "/toc.rdf", DOI_RDF, "application/rdf+xml")
    else:
        url = serve(httpserver, "/b.xml", rss([second]))
    add_feed(factory, "Publisher B", url)
    report = poll_feeds(factory, settings=FAST)
    assert (report.total("new"), report.total("duplicate")) == (1, 1)
    (item,) = stored(factory)
    assert sorted(s.feed.name for s in item.sources) == ["Publisher A", "Publisher B"]


def test_a_feed_that_changes_an_entrys_address_or_guid_keeps_one_item(
    httpserver: HTTPServer, factory
) -> None:
    url = serve(httpserver, "/a.xml", rss([Entry("Report", "https://ex.org/r", "guid-1")]))
    feed_id = add_feed(factory, "Publisher A", url)
    poll_feeds(factory, settings=FAST)
    httpserver.clear()
    serve(
        httpserver,
        "/a.xml",
        rss(
            [
                Entry("Report", "https://ex.org/report-moved", "guid-1"),  # same guid, new link
                Entry("Report (updated)", "https://ex.org/r", "guid-2"),  # same link, new guid
            ]
        ),
    )
    with transaction(factory) as session:
        session.get_one(Feed, feed_id).body_hash = None  # re-read it in full
    report = poll_feeds(factory, include_not_due=True, settings=FAST)
    assert report.total("new") == 0
    assert len(stored(factory)) == 1


CATALOGUE = """\
TY  - RPRT
AU  - Jütte, Sonja
TI  - Online child sexual abuse images: doing more to tackle demand and supply
PY  - 2016
PB  - NSPCC
CY  - London
UR  - https://learning.nspcc.org.uk/research-resources/2016/online-child-sexual-abuse-images
ER  - 
"""


def test_a_report_in_a_caspar_feed_and_the_catalogue_reaches_both_newsletters(
    httpserver: HTTPServer, factory, tmp_path: Path
) -> None:
    add_feed(
        factory,
        "NSPCC Learning",
        serve(
            httpserver,
            "/nspcc.xml",
            rss(
                [
                    Entry(
                        "Online child sexual abuse images: doing more to tackle demand and supply",
                        "https://learning.nspcc.org.uk/research-resources/2016/"
                        "online-child-sexual-abuse-images?utm_source=rss",
                        "nspcc-1",
                        "<p>This report outlines research.</p>",
                    )
                ]
            ),
        ),
        section="Research",
    )
    poll_feeds(factory, settings=FAST)
    ris = tmp_path / "additions.ris"
    ris.write_text(CATALOGUE, encoding="utf-8")
    with transaction(factory) as session:
        report = import_catalogue(session, ris, "new-in-the-library")
    assert (report.counts.new, report.counts.duplicate) == (0, 1)
    (item,) = stored(factory)
    assert sorted(p.newsletter.slug for p in item.placements) == ["caspar", "new-in-the-library"]
    # The feed brought it first, without a citation: the catalogue's record adds its
    # newsletter, not its citation.
    assert item.citation is None

    # Each newsletter's triage shows it, and decides on it without touching the other's.
    site = make_site(factory)
    client = site.client(Role.LIBRARIAN)
    token = csrf_token(client, "/")
    with factory() as session:
        ids = {n.slug: n.id for n in session.scalars(select(Newsletter))}
        placement = {p.newsletter.slug: p.id for p in session.get_one(Item, item.id).placements}
    for slug in ("caspar", "new-in-the-library"):
        page = client.get(f"/items?newsletter={ids[slug]}").text
        assert "1 item." in page and "Online child sexual abuse images" in page
    client.post(
        f"/placements/{placement['caspar']}/status",
        data={"status": "accepted", "csrf_token": token},
    )
    assert "0 items" in client.get(f"/items?newsletter={ids['caspar']}").text
    assert "1 item." in client.get(f"/items?newsletter={ids['new-in-the-library']}").text
    client.post(
        f"/placements/{placement['new-in-the-library']}/status",
        data={"status": "accepted", "csrf_token": token},
    )

    # And it is in both weeks' editions, in each newsletter's own section.
    with transaction(factory) as session:
        for slug, section in (("caspar", "Research"), ("new-in-the-library", "Books and reports")):
            newsletter = session.get_one(Newsletter, ids[slug])
            edition = compose.build_draft(session, newsletter, "editor", NOW)
            assert [e.item_id for e in edition.entries] == [item.id]
            compose.approve(session, edition, "editor", now=NOW)
            assert edition.entries[0].frozen["section"] == section


def test_the_demo_catalogue_reaches_new_in_the_library(sqlite_factory) -> None:
    """Every catalogue addition is in New in the Library, also those CASPAR's feeds found."""

    root = Path(__file__).parent.parent
    with transaction(sqlite_factory) as session:
        sync_config(session, load_config(root / "examples" / "demo.yaml"))
    poll_feeds(sqlite_factory)
    with transaction(sqlite_factory) as session:
        report = import_catalogue(
            session,
            root / "examples" / "catalogue" / "new-in-the-library.ris",
            "new-in-the-library",
        )
    assert report.counts.duplicate > 0  # some were found in CASPAR's feeds too
    with sqlite_factory() as session:
        library = session.scalar(select(Newsletter).where(Newsletter.slug == "new-in-the-library"))
        catalogue_items = set(
            session.scalars(
                select(ItemSource.item_id)
                .join(ItemSource.feed)
                .where(ItemSource.feed.has(name="New in the Library catalogue"))
            )
        )
        offered = set(
            session.scalars(select(Placement.item_id).where(Placement.newsletter_id == library.id))
        )
    assert len(catalogue_items) == 9 and catalogue_items <= offered


LOOK_ALIKE = "Keeping children safe online: guidance for parents and carers"
TEXT = (
    "<p>Practical guidance for parents and carers on keeping children safe online, covering "
    "grooming, sharing images, gaming platforms and where to get help.</p>"
)


@pytest.fixture
def look_alikes(httpserver: HTTPServer, factory) -> tuple[int, int, int]:
    """Two items, one publication's title and words at two addresses; returns their ids and
    the possible duplicate's."""
    poll_two_feeds(
        httpserver,
        factory,
        [Entry(LOOK_ALIKE, "https://gov.example.org/safe-online", "g-1", TEXT, WHEN)],
        [
            Entry(
                LOOK_ALIKE.upper(),
                "https://news.example.com/2026/11/safe-online",
                "n-1",
                TEXT.replace("Practical", "New"),
                WHEN + timedelta(days=2),
            )
        ],
    )
    (pair,) = pairs(factory)
    return pair.item_id, pair.other_id, pair.id


def test_a_likely_duplicate_is_shown_side_by_side_and_never_merged_alone(
    factory, look_alikes: tuple[int, int, int]
) -> None:
    _, _, pair_id = look_alikes
    assert len(stored(factory)) == 2
    site = make_site(factory)
    client = site.client(Role.LIBRARIAN)
    inbox = client.get("/items").text
    assert inbox.count("compare them") == 2
    compare = client.get(f"/duplicates/{pair_id}").text
    assert "gov.example.org/safe-online" in compare and "news.example.com" in compare
    assert compare.count("Merge, keeping this one") == 2


def test_merging_keeps_every_source_and_a_split_undoes_it_exactly(
    factory, look_alikes: tuple[int, int, int]
) -> None:
    first, second, pair_id = look_alikes
    with factory() as session:
        caspar = {p.item_id: p.id for p in session.scalars(select(Placement))}
    with transaction(factory) as session:  # the second was already decided on
        decisions.set_status(session, [caspar[second]], ItemStatus.ACCEPTED, "librarian")
    site = make_site(factory)
    client = site.client(Role.LIBRARIAN)
    token = csrf_token(client, "/")
    merged = client.post(
        f"/duplicates/{pair_id}/merge",
        data={"keep": first, "csrf_token": token},
        follow_redirects=True,
    )
    assert "Merged: one item now, with every source" in merged.text
    (item,) = stored(factory)
    assert item.id == first
    assert sorted(s.feed.name for s in item.sources) == ["Publisher A", "Publisher B"]
    assert [p.status for p in item.placements] == [ItemStatus.ACCEPTED]  # nothing lost
    inbox = client.get("/items?status=all").text
    assert inbox.count('class="item-row') == 1 and "compare them" not in inbox
    with factory() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-1] == "item.merge"

    split = client.post(f"/duplicates/{pair_id}/split", data={"csrf_token": token})
    assert split.status_code == 302
    items = stored(factory)
    assert [i.id for i in items] == [first, second]
    by_id = {i.id: i for i in items}
    # Each gets back the source it came with (the feeds are polled in either order).
    assert [(s.feed.name, s.link) for s in by_id[first].sources] == [
        (by_id[first].sources[0].feed.name, by_id[first].link)
    ]
    assert [(s.feed.name, s.link) for s in by_id[second].sources] == [
        (by_id[second].sources[0].feed.name, by_id[second].link)
    ]
    assert {by_id[first].sources[0].feed.name, by_id[second].sources[0].feed.name} == {
        "Publisher A",
        "Publisher B",
    }
    assert [p.status for p in by_id[first].placements] == [ItemStatus.NEW]
    assert [p.status for p in by_id[second].placements] == [ItemStatus.ACCEPTED]
    with factory() as session:
        assert session.get_one(PossibleDuplicate, pair_id).state is DuplicateState.DIFFERENT
        last = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id.desc())).first()
        assert last == "item.split"


def test_a_merged_item_stays_merged_when_its_feeds_are_polled_again(
    httpserver: HTTPServer, factory, look_alikes: tuple[int, int, int]
) -> None:
    first, _, pair_id = look_alikes
    with transaction(factory) as session:
        duplicates.merge(session, pair_id, first, "librarian")
    add_feed(
        factory,
        "Mirror",
        serve(
            httpserver,
            "/mirror.xml",
            rss(
                [Entry("Safe online", "https://news.example.com/2026/11/safe-online?utm_medium=x")]
            ),
        ),
    )
    report = poll_feeds(factory, include_not_due=True, settings=FAST)
    assert report.total("new") == 0
    (item,) = stored(factory)
    assert sorted(s.feed.name for s in item.sources) == ["Mirror", "Publisher A", "Publisher B"]


def test_marked_different_they_are_not_proposed_again(
    factory, look_alikes: tuple[int, int, int]
) -> None:
    _, _, pair_id = look_alikes
    site = make_site(factory)
    client = site.client(Role.LIBRARIAN)
    client.post(f"/duplicates/{pair_id}/different", data={"csrf_token": csrf_token(client, "/")})
    assert "compare them" not in client.get("/items").text
    assert "Nothing waiting." in client.get("/duplicates").text
    assert len(stored(factory)) == 2


def test_an_item_in_an_edition_cannot_be_merged_away(
    factory, look_alikes: tuple[int, int, int]
) -> None:
    first, second, pair_id = look_alikes
    with transaction(factory) as session:
        placement = session.scalar(select(Placement).where(Placement.item_id == second))
        decisions.set_status(session, [placement.id], ItemStatus.ACCEPTED, "librarian")
        compose.build_draft(session, placement.newsletter, "editor", NOW)
    with transaction(factory) as session, pytest.raises(decisions.DecisionError, match="draft"):
        duplicates.merge(session, pair_id, first, "librarian")
    with transaction(factory) as session:
        duplicates.merge(session, pair_id, second, "librarian")  # the other way round is fine
    assert [i.id for i in stored(factory)] == [second]


def test_librarians_merge_any_two_items_by_number(factory, look_alikes: tuple[int, int, int]):
    first, second, _ = look_alikes
    site = make_site(factory)
    client = site.client(Role.LIBRARIAN)
    token = csrf_token(client, "/")
    response = client.post(
        f"/items/{second}/merge", data={"other": first, "csrf_token": token}, follow_redirects=True
    )
    assert f"Item {first} merged into this one" in response.text
    assert "Undo: split them again" in response.text
    assert [i.id for i in stored(factory)] == [second]
    itself = client.post(
        f"/items/{second}/merge", data={"other": second, "csrf_token": token}, follow_redirects=True
    )
    assert "cannot be merged into itself" in itself.text


def test_existing_decisions_move_to_placements_on_upgrade(database_url: str) -> None:
    """An install made before items could reach several newsletters keeps every decision."""

    engine = make_engine(database_url)
    command.upgrade(_alembic_config(engine), "0005")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO newsletters (id, slug, title, description, send_weekday, send_time, "
                "timezone, from_address, skip_when_empty, note_when_nothing_matches, "
                "second_approver, draft_weekday, draft_time) VALUES (1, 'caspar', 'CASPAR', '', "
                "1, '09:00:00', 'Europe/London', 'c@x.org', true, true, false, 0, '07:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO sections (id, newsletter_id, name, position) VALUES (1, 1, 'News', 0)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO topics (id, slug, label, description, keywords, "
                "retired) VALUES (1, 'neglect', 'Neglect', '', '[]', false)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO items (id, title, title_key, authors, published, "
                "published_estimated, summary_html, summary_text, content_hash, first_seen_at, "
                "status, newsletter_id, section_id) VALUES (7, 'Neglect — a review', "
                "'neglect a review', '[]', :when, false, '', '', 'h', :when, 'accepted', 1, 1)"
            ),
            {"when": WHEN},
        )
        connection.execute(
            text(
                "INSERT INTO item_topics (item_id, topic_id, source, added_by, added_at) "
                "VALUES (7, 1, 'manual', 'librarian', :when)"
            ),
            {"when": WHEN},
        )
        if engine.dialect.name == "sqlite":  # as the code that stored it did
            connection.execute(
                text(
                    "INSERT INTO items_fts(rowid, title, summary_text, authors) "
                    "SELECT id, title, summary_text, authors FROM items"
                )
            )
    command.upgrade(_alembic_config(engine), "head")

    with session_factory(engine)() as session:
        (placement,) = session.scalars(select(Placement)).all()
        assert (placement.item_id, placement.status, placement.section.name) == (
            7,
            ItemStatus.ACCEPTED,
            "News",
        )
        assert [(t.topic.slug, t.added_by) for t in placement.topic_links] == [
            ("neglect", "librarian")
        ]
        assert session.scalar(select(func.count()).select_from(Item)) == 1
    # Full-text search still finds it, and follows an edit (SQLite's triggers were copied).
    with transaction(session_factory(engine)) as session:
        decisions.edit_text(session, 7, "Neglect — a fresh look", "", "librarian")
    with session_factory(engine)() as session:
        dialect = engine.dialect.name
        assert session.scalars(item_query(ItemFilter(text="fresh look"), dialect)).all()
        assert not session.scalars(item_query(ItemFilter(text="review"), dialect)).all()
    engine.dispose()
