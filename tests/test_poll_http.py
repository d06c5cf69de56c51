"""Polling feeds over real HTTP from a local server: every way a feed server behaves."""

from __future__ import annotations

import gzip
import ssl
import threading
import time
from datetime import timedelta

import pytest
import trustme
from feedfactory import Entry, add_feed, get_feed, rss, sample_entries
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from werkzeug import Request, Response

import digest.ingest.poll as poll_module
from digest.ingest.errors import ErrorKind
from digest.ingest.fetch import FetchSettings
from digest.ingest.poll import PollStatus, poll_feeds
from digest.models import Item
from digest.timeutil import utcnow

FAST = FetchSettings(connect_timeout=1, total_timeout=1)


def item_count(factory) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Item))


def only_outcome(report):
    assert len(report.outcomes) == 1
    return report.outcomes[0]


@pytest.fixture
def parse_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each time the poller parses a feed body."""
    calls: list[str] = []
    real = poll_module.parse_feed

    def counting(body, headers, url, *limits):
        calls.append(url)
        return real(body, headers, url, *limits)

    monkeypatch.setattr(poll_module, "parse_feed", counting)
    return calls


def test_new_items_are_stored_with_feed_topics(httpserver: HTTPServer, factory) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss(sample_entries(count=3)), content_type="application/rss+xml"
    )
    add_feed(factory, "Policy feed", httpserver.url_for("/feed.xml"), topics=["neglect"])

    outcome = only_outcome(poll_feeds(factory, settings=FAST))

    assert outcome.status is PollStatus.UPDATED
    assert outcome.counts.new == 3
    with factory() as session:
        items = session.scalars(select(Item).order_by(Item.id)).all()
        assert [i.title for i in items] == [
            f"Report item {n}: safeguarding children online" for n in (1, 2, 3)
        ]
        for item in items:
            (placement,) = item.placements
            assert [link.topic.slug for link in placement.topic_links] == ["neglect"]
            assert (placement.newsletter.slug, placement.section.name) == ("caspar", "News")


def test_conditional_get_round_trip_costs_no_parsing(
    httpserver: HTTPServer, sqlite_factory, parse_calls
) -> None:
    body = rss(sample_entries())

    def handler(request: Request) -> Response:
        if (
            request.headers.get("If-None-Match") == '"v1"'
            and request.headers.get("If-Modified-Since") == "Mon, 16 Nov 2026 09:00:00 GMT"
        ):
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(
            body,
            content_type="application/rss+xml",
            headers={"ETag": '"v1"', "Last-Modified": "Mon, 16 Nov 2026 09:00:00 GMT"},
        )

    httpserver.expect_request("/feed.xml").respond_with_handler(handler)
    feed_id = add_feed(sqlite_factory, "Conditional", httpserver.url_for("/feed.xml"))

    first = only_outcome(poll_feeds(sqlite_factory, include_not_due=True, settings=FAST))
    feed = get_feed(sqlite_factory, feed_id)
    assert (first.status, feed.etag, feed.last_modified) == (
        PollStatus.UPDATED,
        '"v1"',
        "Mon, 16 Nov 2026 09:00:00 GMT",
    )

    second = only_outcome(poll_feeds(sqlite_factory, include_not_due=True, settings=FAST))
    assert second.status is PollStatus.NOT_MODIFIED
    assert len(parse_calls) == 1
    assert item_count(sqlite_factory) == 3
    assert get_feed(sqlite_factory, feed_id).last_success_at > feed.last_success_at


def test_same_body_without_conditional_get_costs_no_parsing(
    httpserver: HTTPServer, sqlite_factory, parse_calls
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(rss(sample_entries()))
    add_feed(sqlite_factory, "Ignores validators", httpserver.url_for("/feed.xml"))
    poll_feeds(sqlite_factory, settings=FAST)
    outcome = only_outcome(poll_feeds(sqlite_factory, include_not_due=True, settings=FAST))
    assert outcome.status is PollStatus.SAME_CONTENT
    assert len(parse_calls) == 1


def test_gzip_encoded_feed(httpserver: HTTPServer, sqlite_factory) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        gzip.compress(rss(sample_entries(count=2))),
        headers={"Content-Encoding": "gzip"},
        content_type="application/rss+xml",
    )
    add_feed(sqlite_factory, "Gzipped", httpserver.url_for("/feed.xml"))
    assert only_outcome(poll_feeds(sqlite_factory, settings=FAST)).counts.new == 2


def test_permanent_redirect_updates_the_stored_url(httpserver: HTTPServer, sqlite_factory) -> None:
    httpserver.expect_request("/old.xml").respond_with_data(
        "", status=301, headers={"Location": httpserver.url_for("/new.xml")}
    )
    httpserver.expect_request("/new.xml").respond_with_data(rss(sample_entries()))
    feed_id = add_feed(sqlite_factory, "Moved", httpserver.url_for("/old.xml"))
    assert only_outcome(poll_feeds(sqlite_factory, settings=FAST)).counts.new == 3
    assert get_feed(sqlite_factory, feed_id).url == httpserver.url_for("/new.xml")


def test_temporary_redirect_keeps_the_stored_url(httpserver: HTTPServer, sqlite_factory) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/today.xml")}
    )
    httpserver.expect_request("/today.xml").respond_with_data(rss(sample_entries()))
    feed_id = add_feed(sqlite_factory, "Temporary", httpserver.url_for("/feed.xml"))
    poll_feeds(sqlite_factory, settings=FAST)
    assert get_feed(sqlite_factory, feed_id).url == httpserver.url_for("/feed.xml")


def test_redirect_loop_is_capped(httpserver: HTTPServer, sqlite_factory) -> None:
    httpserver.expect_request("/a").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/b")}
    )
    httpserver.expect_request("/b").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/a")}
    )
    feed_id = add_feed(sqlite_factory, "Loop", httpserver.url_for("/a"))
    outcome = only_outcome(poll_feeds(sqlite_factory, settings=FAST))
    assert outcome.problem.kind is ErrorKind.TOO_MANY_REDIRECTS
    assert len(httpserver.log) == 6  # the first request and at most 5 redirects
    assert "redirects too many times" in get_feed(sqlite_factory, feed_id).last_error


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (404, "The feed was not found (404 Not Found)"),
        (500, "The server had an internal problem (500 INTERNAL SERVER ERROR)"),
        (403, "refused access"),
    ],
)
def test_http_errors_are_stored_in_words(
    httpserver: HTTPServer, sqlite_factory, status: int, words: str
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data("nope", status=status)
    feed_id = add_feed(sqlite_factory, "Broken", httpserver.url_for("/feed.xml"))
    outcome = only_outcome(poll_feeds(sqlite_factory, settings=FAST))
    feed = get_feed(sqlite_factory, feed_id)
    assert outcome.status is PollStatus.FAILED
    assert (feed.consecutive_failures, feed.last_error_kind) == (1, "http_status")
    assert words in feed.last_error
    assert not feed.paused


def test_gone_pauses_the_feed_with_the_reason(httpserver: HTTPServer, sqlite_factory) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data("", status=410)
    feed_id = add_feed(sqlite_factory, "Gone", httpserver.url_for("/feed.xml"))
    outcome = only_outcome(poll_feeds(sqlite_factory, settings=FAST))
    feed = get_feed(sqlite_factory, feed_id)
    assert outcome.paused and feed.paused
    assert "removed this feed for good (410 Gone)" in feed.paused_reason
    # A paused feed is not polled again, even when forced.
    assert poll_feeds(sqlite_factory, include_not_due=True, settings=FAST).outcomes == []


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(httpserver: HTTPServer, sqlite_factory, status: int) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        "slow down", status=status, headers={"Retry-After": "7200"}
    )
    feed_id = add_feed(sqlite_factory, "Busy", httpserver.url_for("/feed.xml"))
    before = utcnow()
    poll_feeds(sqlite_factory, settings=FAST)
    feed = get_feed(sqlite_factory, feed_id)
    assert timedelta(seconds=7190) < feed.next_poll_at - before < timedelta(seconds=7300)
    assert "try again after" in feed.last_error
    # Even "poll everything now" waits for the server's Retry-After.
    report = poll_feeds(sqlite_factory, include_not_due=True, settings=FAST)
    assert report.outcomes == [] and report.not_due == 1
    assert len(httpserver.log) == 1


@pytest.mark.alone
def test_slow_server_times_out(httpserver: HTTPServer, sqlite_factory) -> None:
    def slow(request: Request) -> Response:
        time.sleep(2)
        return Response(rss(sample_entries()))

    httpserver.expect_request("/feed.xml").respond_with_handler(slow)
    feed_id = add_feed(sqlite_factory, "Slow", httpserver.url_for("/feed.xml"))
    started = time.monotonic()
    outcome = only_outcome(poll_feeds(sqlite_factory, settings=FAST))
    assert time.monotonic() - started < 1.9
    assert outcome.problem.kind is ErrorKind.TIMEOUT
    assert "did not send the feed within 1 seconds" in get_feed(sqlite_factory, feed_id).last_error


def test_oversized_body_is_refused(httpserver: HTTPServer, sqlite_factory) -> None:
    entries = [
        Entry(title=f"Item {n}", link=f"https://example.org/{n}", summary="x" * 2000)
        for n in range(100)
    ]
    httpserver.expect_request("/feed.xml").respond_with_data(rss(entries))
    add_feed(sqlite_factory, "Huge", httpserver.url_for("/feed.xml"))
    small_cap = FetchSettings(connect_timeout=1, total_timeout=2, max_body_bytes=100_000)
    outcome = only_outcome(poll_feeds(sqlite_factory, settings=small_cap))
    assert outcome.problem.kind is ErrorKind.TOO_LARGE
    assert item_count(sqlite_factory) == 0


def test_gzip_bomb_is_refused_after_decompression(httpserver: HTTPServer, sqlite_factory) -> None:
    bomb = gzip.compress(b"<rss>" + b" " * (40 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100_000
    httpserver.expect_request("/feed.xml").respond_with_data(
        bomb, headers={"Content-Encoding": "gzip"}, content_type="application/rss+xml"
    )
    feed_id = add_feed(sqlite_factory, "Bomb", httpserver.url_for("/feed.xml"))
    outcome = only_outcome(poll_feeds(sqlite_factory, settings=FetchSettings(total_timeout=10)))
    assert outcome.problem.kind is ErrorKind.TOO_LARGE
    assert "larger than 15 MiB once decompressed" in get_feed(sqlite_factory, feed_id).last_error


def test_html_page_instead_of_a_feed(httpserver: HTTPServer, sqlite_factory) -> None:
    page = (
        '<!DOCTYPE html><html><head><title>News</title><link rel="alternate" '
        'type="application/atom+xml" href="/news.atom"></head><body>Hi</body></html>'
    )
    httpserver.expect_request("/news").respond_with_data(page, content_type="text/html")
    feed_id = add_feed(sqlite_factory, "Web page", httpserver.url_for("/news"))
    outcome = only_outcome(poll_feeds(sqlite_factory, settings=FAST))
    assert outcome.problem.kind is ErrorKind.NOT_A_FEED
    assert get_feed(sqlite_factory, feed_id).last_error == (
        "The address returned a web page, not a feed. The page links to a feed at "
        f"{httpserver.url_for('/news.atom')}: use that address instead."
    )


def test_truncated_xml_keeps_the_complete_entries(httpserver: HTTPServer, sqlite_factory) -> None:
    body = rss(sample_entries(count=3))
    cut = body[: body.index(b"<item>", body.index(b"Report item 2")) + 30]
    httpserver.expect_request("/feed.xml").respond_with_data(cut, content_type="application/xml")
    feed_id = add_feed(sqlite_factory, "Truncated", httpserver.url_for("/feed.xml"))
    outcome = only_outcome(poll_feeds(sqlite_factory, settings=FAST))
    assert outcome.status is PollStatus.UPDATED
    assert outcome.counts.new == 2
    feed = get_feed(sqlite_factory, feed_id)
    assert feed.consecutive_failures == 0
    assert feed.last_error.startswith("The feed has errors")


def test_xml_with_no_readable_entry_is_a_parse_error(
    httpserver: HTTPServer, sqlite_factory
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        b"<?xml version='1.0'?><rss version='2.0'><channel><item><title>Bro",
        content_type="application/rss+xml",
    )
    feed_id = add_feed(sqlite_factory, "Garbled", httpserver.url_for("/feed.xml"))
    outcome = only_outcome(poll_feeds(sqlite_factory, settings=FAST))
    assert outcome.problem.kind is ErrorKind.PARSE_ERROR
    assert "not well-formed XML" in get_feed(sqlite_factory, feed_id).last_error


def test_wrong_encoding_declaration_is_read_correctly(
    httpserver: HTTPServer, sqlite_factory
) -> None:
    body = rss(
        [Entry(title="Père, mère et enfant: la protection", link="https://ex.org/1")],
        encoding="windows-1252",
    ).replace(b'encoding="windows-1252"', b'encoding="utf-8"')
    httpserver.expect_request("/feed.xml").respond_with_data(
        body, content_type="application/rss+xml"
    )
    add_feed(sqlite_factory, "Mislabelled", httpserver.url_for("/feed.xml"))
    assert only_outcome(poll_feeds(sqlite_factory, settings=FAST)).counts.new == 1
    with sqlite_factory() as session:
        assert session.scalar(select(Item.title)) == "Père, mère et enfant: la protection"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_private_addresses_are_refused(httpserver: HTTPServer, sqlite_factory, host: str) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(rss(sample_entries()))
    url = httpserver.url_for("/feed.xml").replace("localhost", host)
    feed_id = add_feed(sqlite_factory, "Internal", url, allow_private_network=False)
    outcome = only_outcome(poll_feeds(sqlite_factory, settings=FAST))
    assert outcome.problem.kind is ErrorKind.BLOCKED_ADDRESS
    assert len(httpserver.log) == 0
    assert "a private or local network address" in get_feed(sqlite_factory, feed_id).last_error


def test_untrusted_certificate_is_a_tls_error(sqlite_factory) -> None:
    authority = trustme.CA()  # a certificate authority Digest has never heard of
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("localhost").configure_cert(context)
    server = HTTPServer(host="localhost", port=0, ssl_context=context)
    server.expect_request("/feed.xml").respond_with_data(rss(sample_entries()))
    server.start()
    try:
        feed_id = add_feed(sqlite_factory, "Self-signed", server.url_for("/feed.xml"))
        outcome = only_outcome(poll_feeds(sqlite_factory, settings=FAST))
    finally:
        server.stop()
    assert server.url_for("/feed.xml").startswith("https://")
    assert outcome.problem.kind is ErrorKind.TLS
    assert (
        "certificate may be expired or not trusted" in get_feed(sqlite_factory, feed_id).last_error
    )


def test_one_failing_feed_does_not_stop_the_others(httpserver: HTTPServer, factory) -> None:
    httpserver.expect_request("/good.xml").respond_with_data(rss(sample_entries()))
    httpserver.expect_request("/bad.xml").respond_with_data("", status=500)
    add_feed(factory, "Good", httpserver.url_for("/good.xml"))
    add_feed(factory, "Bad", httpserver.url_for("/bad.xml"))
    add_feed(factory, "Unresolvable", "https://no-such-host.invalid/feed.xml")
    add_feed(factory, "Mistyped", "https://exa mple.org:99999/feed.xml")
    report = poll_feeds(factory, settings=FAST)
    by_name = {o.name: o for o in report.outcomes}
    assert by_name["Mistyped"].status is PollStatus.FAILED
    assert by_name["Good"].counts.new == 3
    assert by_name["Bad"].status is PollStatus.FAILED
    assert by_name["Unresolvable"].problem.kind is ErrorKind.DNS
    assert "could not be found (DNS lookup failed)" in by_name["Unresolvable"].problem.message


def test_five_failures_pause_and_a_success_resets(httpserver: HTTPServer, sqlite_factory) -> None:
    state = {"fail": True}

    def flaky(request: Request) -> Response:
        return Response("", status=502) if state["fail"] else Response(rss(sample_entries()))

    httpserver.expect_request("/feed.xml").respond_with_handler(flaky)
    feed_id = add_feed(sqlite_factory, "Flaky", httpserver.url_for("/feed.xml"))
    for _ in range(4):
        poll_feeds(sqlite_factory, include_not_due=True, settings=FAST)
    feed = get_feed(sqlite_factory, feed_id)
    assert (feed.consecutive_failures, feed.paused) == (4, False)

    state["fail"] = False
    poll_feeds(sqlite_factory, include_not_due=True, settings=FAST)
    assert get_feed(sqlite_factory, feed_id).consecutive_failures == 0

    state["fail"] = True
    for _ in range(5):
        poll_feeds(sqlite_factory, include_not_due=True, settings=FAST)
    feed = get_feed(sqlite_factory, feed_id)
    assert feed.paused
    assert feed.paused_reason.startswith("Paused after 5 failed polls in a row. Last error:")


def test_cache_control_max_age_delays_the_next_poll(httpserver: HTTPServer, sqlite_factory) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss(sample_entries()), headers={"Cache-Control": "public, max-age=7200"}
    )
    feed_id = add_feed(sqlite_factory, "Cached", httpserver.url_for("/feed.xml"))
    before = utcnow()
    poll_feeds(sqlite_factory, settings=FAST)
    feed = get_feed(sqlite_factory, feed_id)
    assert feed.poll_interval_minutes == 60
    assert timedelta(seconds=7190) < feed.next_poll_at - before < timedelta(seconds=7300)
    assert poll_feeds(sqlite_factory, settings=FAST).not_due == 1


REFUSE_ITEMS = {
    "sqlite": [
        "CREATE TRIGGER refuse_items BEFORE INSERT ON items "
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_items() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'could not extend file: No space left on device'; END $$ "
        "LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_items BEFORE INSERT ON items "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_items()",
    ],
}


def test_a_database_that_refuses_the_writes_fails_the_poll_instead_of_hanging(
    httpserver: HTTPServer, factory
) -> None:
    """More feeds than may wait to be stored at once: when storing fails, the fetches that
    wait for a place must stop too, and the poll must say why."""
    httpserver.expect_request("/feed.xml").respond_with_data(rss(sample_entries(count=2)))
    feeds = 130  # above the bound on feeds in flight with 4 connections (4 + 2 x 50)
    for n in range(feeds):
        add_feed(factory, f"Feed {n}", httpserver.url_for("/feed.xml") + f"?n={n}")
    with factory.begin() as session:
        for statement in REFUSE_ITEMS[session.get_bind().dialect.name]:
            session.execute(text(statement))

    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            poll_feeds(factory, settings=FetchSettings(max_concurrency=4))
            outcome.append(None)
        except Exception as exc:  # the test inspects it
            outcome.append(exc)

    polling = threading.Thread(target=run, daemon=True)
    polling.start()
    polling.join(timeout=120)
    assert not polling.is_alive(), "the poll hung after the database refused its writes"
    (error,) = outcome
    assert isinstance(error, DBAPIError)
    assert "full" in str(error) or "No space left" in str(error)
    assert item_count(factory) == 0
