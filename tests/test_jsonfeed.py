"""JSON Feed 1.0 and 1.1, polled over real HTTP: read like any other feed, or refused in words.

A JSON Feed is recognised by its Content-Type (`application/feed+json`, `application/json`) or,
whatever the server calls it, by a body that is a JSON object naming a jsonfeed.org version.
Its items become entries exactly as RSS and Atom entries do: the same cleaning, the same keys.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from feedfactory import Entry, add_feed, get_feed, json_feed
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from digest.curation.items import with_details
from digest.ingest.errors import ErrorKind
from digest.ingest.fetch import FetchSettings
from digest.ingest.poll import PollStatus, poll_feeds
from digest.models import Item

FAST = FetchSettings(connect_timeout=1, total_timeout=1)
WORLD = [
    Entry(
        title="Père, mère — l’enfant d’abord",
        link="https://example.org/fr/1",
        guid="fr-1",
        summary='<p>Un résumé <script>alert(1)</script><a href="/fr/plus">suite</a></p>',
        published=datetime(2026, 11, 16, 9, 30, tzinfo=UTC),
        author="Zoë Ŵyn-Jones",
    ),
    Entry(
        title="児童保護の新しい指針 📘",
        link="https://example.org/ja/2",
        guid="ja-2",
        summary="<p>オンラインの安全。</p>",
        published=datetime(2026, 11, 17, 8, 0, tzinfo=UTC),
    ),
]


def stored(factory) -> list[Item]:
    with factory() as session:
        return list(session.scalars(with_details(select(Item).order_by(Item.published))))


def only_outcome(report):
    assert len(report.outcomes) == 1
    return report.outcomes[0]


@pytest.mark.parametrize("version", ["1", "1.1"])
@pytest.mark.parametrize(
    "content_type",
    [
        "application/feed+json",
        "application/json; charset=utf-8",
        "text/plain",  # a server that does not know the type: recognised by the body
        "application/xml",  # a server that says the wrong thing
    ],
)
def test_json_feed_items_are_stored_like_any_feed_entry(
    httpserver: HTTPServer, factory, version: str, content_type: str
) -> None:
    body = json_feed(WORLD, version=version, title="Bulletin — Ŵales")
    httpserver.expect_request("/feed.json").respond_with_data(body, content_type=content_type)
    feed_id = add_feed(factory, "JSON feed", httpserver.url_for("/feed.json"), topics=["neglect"])

    outcome = only_outcome(poll_feeds(factory, settings=FAST))

    assert outcome.status is PollStatus.UPDATED, outcome.problem
    assert outcome.counts.new == 2
    feed = get_feed(factory, feed_id)
    assert (feed.title, feed.site_url, feed.last_error) == (
        "Bulletin — Ŵales",
        "https://example.org/",
        None,
    )
    first, second = stored(factory)
    assert (first.title, first.link, first.authors) == (
        "Père, mère — l’enfant d’abord",
        "https://example.org/fr/1",
        ["Zoë Ŵyn-Jones"],
    )
    assert first.published == datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
    assert not first.published_estimated
    # Cleaned like any feed's HTML: no script, and relative links made absolute.
    assert "script" not in first.summary_html and "alert" not in first.summary_text
    assert 'href="https://example.org/fr/plus"' in first.summary_html
    assert (second.title, second.summary_text) == ("児童保護の新しい指針 📘", "オンラインの安全。")
    assert [link.topic.slug for link in first.placements[0].topic_links] == ["neglect"]

    # The item ids are the entries' identity: the next poll finds nothing new.
    httpserver.clear()
    httpserver.expect_request("/feed.json").respond_with_data(
        body + b"\n", content_type=content_type
    )
    again = only_outcome(poll_feeds(factory, include_not_due=True, settings=FAST))
    assert (again.counts.new, len(stored(factory))) == (0, 2)


def test_every_json_feed_field_is_read(httpserver: HTTPServer, sqlite_factory) -> None:
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Research <in> practice",
        "home_page_url": "https://research.example.org/",
        "items": [
            {  # a summary is preferred to the content; `external_url` when there is no `url`
                "id": 2031,  # a number: read as text, as the spec asks
                "external_url": "https://elsewhere.example.org/report",
                "title": "Use <b> for bold & 5 < 6",
                "summary": "Short: 5 < 6 & more",
                "content_html": "<p>The whole report.</p>",
                "date_modified": "2026-11-18T10:15:00+01:00",
                "author": {"name": "Dr Siân O’Brien"},  # 1.0's single author, still seen in 1.1
                "tags": ["grooming", "online"],
            },
            {  # plain-text content only; two authors
                "id": "text-only",
                "url": "https://research.example.org/text",
                "title": "Plain text",
                "content_text": "Line one <not a tag>\n\nLine two",
                "date_published": "2026-11-17T08:00:00Z",
                "authors": [
                    {"name": "Ana"},
                    {"url": "https://example.org/no-name"},
                    {"name": "Bo"},
                ],
            },
            {  # no title: the start of its text stands in, as for RSS
                "id": "untitled",
                "url": "https://research.example.org/untitled",
                "content_html": "<p>A finding without a headline.</p>",
            },
        ],
    }
    httpserver.expect_request("/feed.json").respond_with_json(
        document, content_type="application/feed+json"
    )
    add_feed(sqlite_factory, "Research", httpserver.url_for("/feed.json"))
    outcome = only_outcome(poll_feeds(sqlite_factory, settings=FAST))
    assert outcome.counts.new == 3 and outcome.problem is None
    with sqlite_factory() as session:
        items = {i.link: i for i in session.scalars(select(Item))}
        untitled = session.scalar(select(Item.title).where(Item.link.contains("untitled")))
    report = items["https://elsewhere.example.org/report"]
    assert report.title == "Use <b> for bold & 5 < 6"
    assert report.summary_text == "Short: 5 < 6 & more"
    assert report.published == datetime(2026, 11, 18, 9, 15, tzinfo=UTC)
    assert report.authors == ["Dr Siân O’Brien"]
    text = items["https://research.example.org/text"]
    assert text.summary_text == "Line one <not a tag> Line two"
    assert "&lt;not a tag&gt;" in text.summary_html
    assert text.authors == ["Ana", "Bo"]
    assert untitled == "A finding without a headline."


BROKEN = [
    pytest.param(
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "Cut", "items": [{"id": "1",',
        "application/feed+json",
        ErrorKind.PARSE_ERROR,
        "The feed is not a valid JSON Feed: the JSON ends too soon (line 1, column 86).",
        id="truncated",
    ),
    pytest.param(
        b'{"version": "https://jsonfeed.org/version/1", "items": [{"id": "1" "title": "x"}]}',
        "application/json",
        ErrorKind.PARSE_ERROR,
        "The feed is not a valid JSON Feed: Expecting ',' delimiter (line 1, column 68).",
        id="syntax error",
    ),
    pytest.param(
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "x", "items": {"id": "1"}}',
        "application/feed+json",
        ErrorKind.PARSE_ERROR,
        'The feed is not a valid JSON Feed: its "items" is an object, not a list.',
        id="items not a list",
    ),
    pytest.param(
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "x"}',
        "application/feed+json",
        ErrorKind.PARSE_ERROR,
        'The feed is not a valid JSON Feed: it has no "items".',
        id="no items",
    ),
    pytest.param(
        b'[{"id": "1"}]',
        "application/json",
        ErrorKind.PARSE_ERROR,
        "The feed is not a valid JSON Feed: the document is a list, not an object.",
        id="a list",
    ),
    pytest.param(
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [1, "two"]}',
        "application/feed+json",
        ErrorKind.PARSE_ERROR,
        "The feed is not a valid JSON Feed: item 1 is a number, not an object; "
        "item 2 is text, not an object. No entry could be read.",
        id="no readable item",
    ),
    pytest.param(
        '{"version": "https://jsonfeed.org/version/1.1", "title": "Caf\xe9"}'.encode("latin-1"),
        "application/feed+json",
        ErrorKind.PARSE_ERROR,
        "The feed is not a valid JSON Feed: it is not UTF-8 text (byte 0xe9 at position 61).",
        id="not utf-8",
    ),
    pytest.param(
        b'{"results": [], "next": null}',
        "application/json",
        ErrorKind.NOT_A_FEED,
        "The feed is not a valid JSON Feed: it names no JSON Feed version "
        '(its "version" should be https://jsonfeed.org/version/1.1). '
        "The address may be a web API rather than a feed.",
        id="other JSON",
    ),
]


@pytest.mark.parametrize(("body", "content_type", "kind", "message"), BROKEN)
def test_a_broken_json_feed_is_a_classified_error_in_words(
    httpserver: HTTPServer,
    sqlite_factory,
    body: bytes,
    content_type: str,
    kind: ErrorKind,
    message: str,
) -> None:
    httpserver.expect_request("/feed.json").respond_with_data(body, content_type=content_type)
    feed_id = add_feed(sqlite_factory, "Broken", httpserver.url_for("/feed.json"))
    outcome = only_outcome(poll_feeds(sqlite_factory, settings=FAST))
    assert outcome.status is PollStatus.FAILED
    assert outcome.problem.kind is kind
    feed = get_feed(sqlite_factory, feed_id)
    assert (feed.last_error, feed.consecutive_failures) == (message, 1)


def test_bad_items_are_reported_and_the_good_ones_kept(
    httpserver: HTTPServer, sqlite_factory
) -> None:
    document = json.loads(json_feed(WORLD))
    document["items"][1:1] = [
        "not an item",
        {"id": "no-title", "title": ["a", "list"], "url": "https://example.org/listed"},
        {"id": "when", "title": "Sometime", "date_published": "last Tuesday"},
        {"id": "nothing"},
    ]
    httpserver.expect_request("/feed.json").respond_with_json(
        document, content_type="application/feed+json"
    )
    feed_id = add_feed(sqlite_factory, "Untidy", httpserver.url_for("/feed.json"))
    outcome = only_outcome(poll_feeds(sqlite_factory, settings=FAST))
    assert outcome.status is PollStatus.UPDATED
    assert outcome.counts.new == 4
    feed = get_feed(sqlite_factory, feed_id)
    assert feed.consecutive_failures == 0
    assert feed.last_error == (
        "The feed has errors (item 2 is text, not an object; "
        'item 3 (id "no-title"): its "title" is a list, not text; '
        'item 4 (id "when"): its "date_published" is not an RFC 3339 date: "last Tuesday"; '
        'item 5 (id "nothing") has no title, text or link); 4 entries could still be read.'
    )
    titles = {i.title: i for i in stored(sqlite_factory)}
    assert set(titles) == {
        "Père, mère — l’enfant d’abord",
        "児童保護の新しい指針 📘",
        "https://example.org/listed",
        "Sometime",
    }
    assert titles["Sometime"].published_estimated
