"""Whole polls: many feeds at once (parsed in worker processes), and the bundled demo data."""

from __future__ import annotations

from pathlib import Path

from feedfactory import Entry, add_feed, rss, sample_entries
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from digest.config import load_config, sync_config
from digest.curation.items import item_query, with_details
from digest.db import transaction
from digest.ingest.fetch import FetchSettings
from digest.ingest.poll import PARALLEL_PARSE_MIN_FEEDS, poll_feeds
from digest.models import Item, ItemSource

ROOT = Path(__file__).parent.parent
SHARED = Entry(
    title="Child Safeguarding Practice Review Panel annual report 2026",
    link="https://www.gov.uk/government/publications/panel-annual-report-2026",
    summary="<p>The panel's annual report.</p>",
)


def test_many_feeds_in_parallel_store_each_item_once(httpserver: HTTPServer, factory) -> None:
    feed_count = PARALLEL_PARSE_MIN_FEEDS + 4
    for n in range(feed_count):
        copy = Entry(
            title=SHARED.title,
            link=f"{SHARED.link}?utm_source=feed{n}",
            guid=f"feed{n}-shared",
            summary=SHARED.summary,
        )
        httpserver.expect_request(f"/feed{n}.xml").respond_with_data(
            rss([*sample_entries(prefix=f"f{n}", count=5), copy]),
            content_type="application/rss+xml",
        )
        add_feed(
            factory,
            f"Feed {n:02d}",
            httpserver.url_for(f"/feed{n}.xml"),
            topics=["neglect"] if n % 2 else ["online-abuse"],
        )
    progress: list[tuple[int, int]] = []

    report = poll_feeds(
        factory,
        settings=FetchSettings(total_timeout=10),
        progress=lambda done, total: progress.append((done, total)),
    )

    assert report.failed == []
    assert (report.total("new"), report.total("duplicate")) == (feed_count * 5 + 1, feed_count - 1)
    assert progress[-1] == (feed_count, feed_count)
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Item)) == feed_count * 5 + 1
        shared = session.scalar(select(Item).where(Item.title == SHARED.title))
        assert len(shared.sources) == feed_count
        (placement,) = shared.placements
        assert sorted(link.topic.slug for link in placement.topic_links) == [
            "neglect",
            "online-abuse",
        ]
        assert session.scalar(select(func.count()).select_from(ItemSource)) == feed_count * 6


def test_demo_feeds(sqlite_factory) -> None:
    """The example data a newcomer sees: every format read, hostile markup gone, one report
    found in two feeds stored once."""
    config = load_config(ROOT / "examples" / "demo.yaml")
    with transaction(sqlite_factory) as session:
        sync_config(session, config)
    report = poll_feeds(sqlite_factory)
    assert report.failed == []
    assert len(report.outcomes) == len(config.feeds)
    assert all(o.counts.new > 0 for o in report.outcomes)
    with sqlite_factory() as session:
        items = list(session.scalars(with_details(item_query())))
    assert all(i.link and i.link.startswith("https://") for i in items)
    for item in items:
        for forbidden in ("<script", "onclick", "javascript:", "<iframe", "pixel.example.com"):
            assert forbidden not in item.summary_html
    jutte = [i for i in items if i.title.startswith("Online child sexual abuse images")]
    assert len(jutte) == 1 and len(jutte[0].sources) == 2
    assert jutte[0].canonical_url == (
        "https://learning.nspcc.org.uk/research-resources/2016/online-child-sexual-abuse-images"
    )
    assert any(i.title == "What is online child sexual abuse and exploitation?" for i in items)
    assert any(i.published_estimated for i in items)
    welsh = next(i for i in items if i.title.startswith("Wales Safeguarding Procedures"))
    assert welsh.title == "Wales Safeguarding Procedures: what’s changed for practitioners"
    assert welsh.authors == ["Siân Llŵyd"]  # a JSON Feed, read like the others
