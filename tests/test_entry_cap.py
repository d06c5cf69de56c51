"""A feed with more entries than a poll reads: the newest are kept (by date, whatever the
document's order), the rest are not parsed at all, the feed's health says so, and a poll of a
feed of 100,000 entries stays within seconds and a bounded amount of memory."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feedfactory import Entry, add_feed, get_feed, json_feed, rss
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from digest.ingest.fetch import FetchSettings
from digest.ingest.parse import parse_feed
from digest.ingest.poll import poll_feeds
from digest.ingest.trim import keep_newest
from digest.models import Item
from digest.settings import read_settings

BASE = datetime(2026, 1, 1, tzinfo=UTC)
HERE = Path(__file__).parent


def shuffled_entries(count: int, compact: bool = False) -> list[Entry]:
    """Entries n = 0 … count-1, published n minutes after BASE, in a shuffled order (compact:
    no guid, short title and link, to fit 100,000 under the body cap)."""
    order = list(range(count))
    random.Random(1).shuffle(order)
    return [
        Entry(
            title=f"E {n}" if compact else f"Entry {n}",
            link=f"https://e.org/{n}" if compact else f"https://example.org/{n}",
            guid=None if compact else f"g{n}",
            published=BASE + timedelta(minutes=n),
        )
        for n in order
    ]


def numbers(entries) -> list[int]:
    return sorted(int(e.title.split()[-1]) for e in entries)


def atom(entries: list[Entry]) -> bytes:
    body = "".join(
        f"<entry><title>{e.title}</title><id>{e.guid}</id>"
        f'<link href="{e.link}"/><updated>{e.published.isoformat()}</updated></entry>'
        for e in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>A</title><id>urn:a</id><updated>2026-01-01T00:00:00Z</updated>{body}</feed>"
    ).encode()


def rdf(entries: list[Entry]) -> bytes:
    body = "".join(
        f'<item rdf:about="{e.link}"><title>{e.title}</title><link>{e.link}</link>'
        f"<dc:date>{e.published.isoformat()}</dc:date></item>"
        for e in entries
    )
    return (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<channel rdf:about="urn:r"><title>R</title><link>https://example.org/</link>'
        f"<items><rdf:Seq/></items></channel>{body}</rdf:RDF>"
    ).encode()


FORMATS = {
    "rss": (rss, "application/rss+xml"),
    "atom": (atom, "application/atom+xml"),
    "rdf": (rdf, "application/rdf+xml"),
    "json": (json_feed, "application/feed+json"),
    "rss in utf-16": (lambda e: rss(e, encoding="utf-16"), "application/rss+xml"),
}


@pytest.mark.parametrize(("make", "media"), FORMATS.values(), ids=FORMATS.keys())
def test_the_newest_entries_are_kept_whatever_the_order(make, media) -> None:
    parsed = parse_feed(make(shuffled_entries(50)), {"content-type": media}, "https://x.org/", 7)
    assert numbers(parsed.entries) == list(range(43, 50))
    # A JSON Feed calls its entries items.
    things = "items" if media == "application/feed+json" else "entries"
    assert f"it has 50 {things}" in parsed.problem.message
    assert "reads the newest 7 in a poll" in parsed.problem.message


def test_undated_entries_come_after_the_dated_in_document_order() -> None:
    entries = [
        Entry(title=f"Undated {n}", link=f"https://e.org/u{n}", published=None) for n in range(5)
    ]
    entries[2:2] = [Entry(title="Entry 1", link="https://e.org/1", published=BASE)]
    parsed = parse_feed(rss(entries), {}, "https://x.org/", 3)
    assert [e.title for e in parsed.entries] == ["Undated 0", "Undated 1", "Entry 1"]


def test_a_feed_within_the_cap_is_passed_on_unchanged() -> None:
    body = rss(shuffled_entries(5))
    trimmed = keep_newest(body, 5)
    assert trimmed.body is body and trimmed.total == trimmed.kept == 5


def test_a_malformed_feed_over_the_cap_keeps_its_first_entries() -> None:
    body = rss(shuffled_entries(20)).replace(b"</channel>", b"<oops></channel>")
    parsed = parse_feed(body, {}, "https://x.org/", 4)
    assert len(parsed.entries) == 4
    assert "reads the first 4 in a poll" in parsed.problem.message


@pytest.mark.parametrize(
    ("environment", "cap"),
    [({"DIGEST_MAX_ENTRIES_PER_FEED": "40"}, 40), ({}, 500)],
    ids=["set", "unset: 500"],
)
def test_the_cap_is_set_by_the_environment(environment: dict[str, str], cap: int) -> None:
    assert read_settings(environment).max_entries_per_feed == cap


def test_a_cap_that_is_no_whole_number_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="DIGEST_MAX_ENTRIES_PER_FEED must be a whole number"):
        read_settings({"DIGEST_MAX_ENTRIES_PER_FEED": "lots"})


def test_fetching_without_settings_keeps_the_same_default_cap() -> None:
    assert FetchSettings().max_entries == 500


def test_a_poll_stores_the_newest_and_says_so_in_the_feed_health(
    httpserver: HTTPServer, factory
) -> None:
    capped = read_settings({"DIGEST_MAX_ENTRIES_PER_FEED": "10"}).max_entries_per_feed
    httpserver.expect_request("/feed").respond_with_data(
        rss(shuffled_entries(300)), content_type="application/rss+xml"
    )
    feed_id = add_feed(factory, "Long", httpserver.url_for("/feed"))
    (outcome,) = poll_feeds(factory, settings=FetchSettings(max_entries=capped)).outcomes
    assert outcome.counts.new == 10
    with factory() as session:
        assert numbers(session.scalars(select(Item))) == list(range(290, 300))
    health = get_feed(factory, feed_id).last_error
    assert health == (
        "The feed was cut short: it has 300 entries, and Digest reads the newest 10 in a poll."
    )


POLL_IN_A_PROCESS = textwrap.dedent(
    """
    import json, sys, time
    from digest.db import make_engine, session_factory
    from digest.ingest.poll import poll_feeds
    def status_kib(field):
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field))
    before = status_kib("VmRSS:")
    started = time.perf_counter()
    report = poll_feeds(session_factory(make_engine(sys.argv[1])))
    (outcome,) = report.outcomes
    print(json.dumps({
        "seconds": time.perf_counter() - started,
        # This process's own peak (VmHWM): ru_maxrss would count the parent's peak too, as
        # the child is started by vfork and exec keeps the larger figure.
        "grew_mib": (status_kib("VmHWM:") - before) / 1024,
        "new": outcome.counts.new,
        "problem": outcome.problem.message if outcome.problem else None,
    }))
    """
)


def _poll_in_a_process(database: str) -> dict:
    """The poll's time and memory growth, in a process of its own so that its peak memory is
    the poll's alone (the server and the document built here are not counted)."""
    finished = subprocess.run(
        [sys.executable, "-c", POLL_IN_A_PROCESS, database],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=HERE.parent,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


def test_a_feed_of_100000_entries_costs_seconds_and_little_memory(
    httpserver: HTTPServer, sqlite_factory
) -> None:
    body = rss(shuffled_entries(100_000, compact=True))
    assert len(body) < 15 * 2**20  # under the body cap: only the entry cap stops it
    httpserver.expect_request("/feed").respond_with_data(body, content_type="application/rss+xml")
    add_feed(sqlite_factory, "Huge", httpserver.url_for("/feed"))
    database = sqlite_factory.kw["bind"].url.render_as_string(hide_password=False)
    measured = _poll_in_a_process(database)
    assert measured["new"] == 500
    assert "it has 100,000 entries, and Digest reads the newest 500" in measured["problem"]
    with sqlite_factory() as session:
        assert numbers(session.scalars(select(Item))) == list(range(99_500, 100_000))
    # 39 s before, parsing them all; 2 to 4 s now, on a machine other tests may be sharing.
    assert measured["seconds"] < 30, measured
    assert measured["grew_mib"] < 200, measured  # 991 MB before; about 110 now
