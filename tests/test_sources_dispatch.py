"""Sources that are not feeds are harvested through one door: whatever a harvester raises that
nobody foresaw fails that source alone, in words, and the rest of the poll goes on."""

from __future__ import annotations

import pytest
from feedfactory import add_feed, get_feed, rss, sample_entries
from pytest_httpserver import HTTPServer

from digest.db import transaction
from digest.ingest import sources
from digest.ingest.check import check_feeds, feeds_to_check
from digest.ingest.fetch import Fetcher, FetchSettings
from digest.ingest.poll import PollStatus, poll_feeds
from digest.ingest.sources import Harvest, SourcePlan
from digest.models import Feed

FAST = FetchSettings(connect_timeout=2, total_timeout=5)


async def explode(fetcher: Fetcher, source: SourcePlan) -> Harvest:
    """A harvester meeting what its author never thought of."""
    raise OverflowError("Python int too large to convert to C int")


@pytest.fixture
def broken_source(monkeypatch, sqlite_factory, httpserver: HTTPServer) -> int:
    monkeypatch.setitem(sources.HARVESTERS, "broken", f"{__name__}:explode")
    monkeypatch.setitem(sources.SOURCE_NAMES, "broken", "the broken service")
    feed_id = add_feed(sqlite_factory, "Broken source", httpserver.url_for("/nothing"))
    with transaction(sqlite_factory) as session:
        session.get(Feed, feed_id).source_type = "broken"
    httpserver.expect_request("/feed.xml").respond_with_data(rss(sample_entries(count=2)))
    add_feed(sqlite_factory, "Policy feed", httpserver.url_for("/feed.xml"))
    return feed_id


def test_an_unforeseen_error_fails_the_source_not_the_poll(broken_source, sqlite_factory):
    report = poll_feeds(sqlite_factory, settings=FAST)

    outcomes = {o.name: o for o in report.outcomes}
    assert outcomes["Policy feed"].counts.new == 2
    assert outcomes["Broken source"].status is PollStatus.FAILED
    feed = get_feed(sqlite_factory, broken_source)
    assert feed.last_error == (
        "Harvesting from the broken service failed unexpectedly: "
        "OverflowError('Python int too large to convert to C int')"
    )
    assert feed.consecutive_failures == 1 and feed.next_poll_at is not None


def test_feeds_check_says_so_too(broken_source, sqlite_factory) -> None:
    with sqlite_factory() as session:
        checks = {c.name: c for c in check_feeds(feeds_to_check(session, settings=FAST), FAST)}
    assert checks["Broken source"].failed
    assert checks["Policy feed"].entries == 2
