"""De-duplication and tombstones, on SQLite and PostgreSQL: each publication is stored once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feedfactory import Entry, add_feed, rss
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select, update

from digest.curation import decisions
from digest.curation.items import item_query, with_details
from digest.db import transaction
from digest.ingest.fetch import FetchSettings
from digest.ingest.poll import poll_feeds
from digest.models import Feed, Item, ItemStatus, PossibleDuplicate, Tombstone

FAST = FetchSettings(connect_timeout=1, total_timeout=2)
REPORT = Entry(
    title="Online child sexual abuse images: doing more to tackle demand and supply",
    link="https://learning.nspcc.org.uk/research-resources/2016/online-child-sexual-abuse-images",
    guid="nspcc-1",
    summary="<p>This report outlines research.</p>",
)


def serve(httpserver: HTTPServer, path: str, entries: list[Entry]) -> str:
    httpserver.expect_request(path).respond_with_data(
        rss(entries), content_type="application/rss+xml"
    )
    return httpserver.url_for(path)


def all_items(factory) -> list[Item]:
    with factory() as session:
        return list(session.scalars(with_details(item_query())))


def test_same_item_through_two_feeds_is_stored_once(httpserver: HTTPServer, factory) -> None:
    tracked = Entry(
        title=REPORT.title,
        link=REPORT.link + "?utm_source=rss&utm_medium=feed",
        guid="library-77",
        summary=REPORT.summary,
    )
    add_feed(
        factory, "NSPCC Learning", serve(httpserver, "/a.xml", [REPORT]), topics=["online-abuse"]
    )
    add_feed(
        factory,
        "Library additions",
        serve(httpserver, "/b.xml", [tracked]),
        topics=["legislation-and-policy"],
    )

    report = poll_feeds(factory, settings=FAST)

    assert report.total("new") == 1 and report.total("duplicate") == 1
    (item,) = all_items(factory)
    assert sorted(s.feed.name for s in item.sources) == ["Library additions", "NSPCC Learning"]
    assert item.canonical_url == REPORT.link
    (placement,) = item.placements
    assert sorted(t.topic.slug for t in placement.topic_links) == [
        "legislation-and-policy",
        "online-abuse",
    ]


def test_a_title_alone_never_merges_it_makes_a_possible_duplicate(
    httpserver: HTTPServer, factory
) -> None:
    published = datetime(2026, 11, 10, tzinfo=UTC)
    first = Entry(
        title="Working Together to Safeguard Children 2026",
        link="https://www.gov.uk/wt",
        published=published,
    )
    second = Entry(
        title="Working together to safeguard children (2026)",
        link="https://news.example.org/working-together",
        published=published + timedelta(days=13),
    )
    much_later = Entry(
        title=first.title,
        link="https://archive.example.org/wt",
        published=published + timedelta(days=60),
    )
    add_feed(factory, "GOV.UK", serve(httpserver, "/gov.xml", [first]))
    add_feed(factory, "Sector news", serve(httpserver, "/news.xml", [second]))
    add_feed(factory, "Archive", serve(httpserver, "/archive.xml", [much_later]))
    poll_feeds(factory, settings=FAST)
    items = all_items(factory)
    assert sorted(i.link for i in items) == sorted(e.link for e in (first, second, much_later))
    with factory() as session:
        pairs = session.scalars(select(PossibleDuplicate)).all()
        by_link = {i.id: i.link for i in items}
        assert [{by_link[p.item_id], by_link[p.other_id]} for p in pairs] == [
            {first.link, second.link}
        ]


def test_repolling_adds_nothing(httpserver: HTTPServer, factory) -> None:
    url = serve(httpserver, "/a.xml", [REPORT, Entry(title="Second", link="https://ex.org/2")])
    add_feed(factory, "Feed", url)
    poll_feeds(factory, settings=FAST)
    with transaction(factory) as session:  # forget the body hash: force a full re-read
        session.execute(update(Feed).values(body_hash=None))
    report = poll_feeds(factory, include_not_due=True, settings=FAST)
    assert (report.total("new"), report.total("unchanged")) == (0, 2)
    assert len(all_items(factory)) == 2


def test_entries_without_guid_or_link_are_keyed_by_content(httpserver: HTTPServer, factory) -> None:
    entries = [
        Entry(title="Notice one", summary="<p>Text A</p>"),
        Entry(title="Notice two", summary="<p>Text B</p>"),
        Entry(title="Notice one", summary="<p>Text A</p>"),
    ]
    add_feed(factory, "Bare feed", serve(httpserver, "/bare.xml", entries))
    poll_feeds(factory, settings=FAST)
    assert sorted(i.title for i in all_items(factory)) == ["Notice one", "Notice two"]


def test_missing_date_falls_back_to_first_seen(httpserver: HTTPServer, factory) -> None:
    add_feed(
        factory,
        "Undated",
        serve(
            httpserver,
            "/u.xml",
            [Entry(title="Undated report", link="https://ex.org/u", published=None)],
        ),
    )
    before = datetime.now(UTC)
    poll_feeds(factory, settings=FAST)
    (item,) = all_items(factory)
    assert item.published_estimated
    assert item.published >= before - timedelta(seconds=1)
    assert item.published == item.first_seen_at


def test_rejected_item_stays_rejected(httpserver: HTTPServer, factory) -> None:
    add_feed(factory, "Feed", serve(httpserver, "/a.xml", [REPORT]))
    poll_feeds(factory, settings=FAST)
    (item,) = all_items(factory)
    with transaction(factory) as session:
        decisions.set_status(session, [item.placements[0].id], ItemStatus.REJECTED, "test")
    add_feed(factory, "Mirror", serve(httpserver, "/b.xml", [REPORT]))
    poll_feeds(factory, include_not_due=True, settings=FAST)
    (item,) = all_items(factory)
    assert [p.status for p in item.placements] == [ItemStatus.REJECTED]


def test_deleted_item_is_not_resurrected(httpserver: HTTPServer, factory) -> None:
    add_feed(factory, "Feed", serve(httpserver, "/a.xml", [REPORT]))
    poll_feeds(factory, settings=FAST)
    (item,) = all_items(factory)
    with transaction(factory) as session:
        decisions.delete(session, item.id, "test")

    # The same feed again (its body changed, so it is re-read), and another feed with the link.
    httpserver.clear()
    serve(httpserver, "/a.xml", [REPORT, Entry(title="Other", link="https://ex.org/o")])
    add_feed(
        factory,
        "Mirror",
        serve(
            httpserver,
            "/b.xml",
            [Entry(title="Renamed copy", link=REPORT.link + "#top", guid="mirror-1")],
        ),
    )
    report = poll_feeds(factory, include_not_due=True, settings=FAST)

    assert [i.title for i in all_items(factory)] == ["Other"]
    assert report.total("unchanged") == 2
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Tombstone)) == 2
