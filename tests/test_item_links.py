"""Links readers are given are http(s) only, by every way an item's link gets stored (RSS,
Atom, RDF, JSON Feed, catalogue import, items added by hand, stored data from before), and the
email, the archive and its Atom feeds give an href to nothing else.

Browsers read a scheme after stripping C0 controls and spaces at the ends and removing tabs
and line breaks inside it, in any letter case: each of those spellings is tried.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from alembic import command
from feedfactory import Entry, add_feed, rss
from pytest_httpserver import HTTPServer
from sqlalchemy import select, text
from webapp import Site, accept_tagged, csrf_token, make_site

from digest.catalogue.importer import import_catalogue
from digest.curation.manual import ManualItemError, add_item, describe_page
from digest.db import _alembic_config, make_engine, transaction
from digest.editions import compose
from digest.editions.message import MailSettings, archive_url
from digest.editions.render import render_cut
from digest.ingest.fetch import FetchSettings
from digest.ingest.poll import poll_feeds
from digest.ingest.urls import check_reader_link, reader_link
from digest.models import (
    Edition,
    EditionItem,
    EditionState,
    Feed,
    Item,
    Newsletter,
    Role,
    Section,
)

FAST = FetchSettings(connect_timeout=2, total_timeout=5)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
# Each a spelling a browser reads as a script or an inline document.
HOSTILE = {
    "javascript": "javascript:alert(document.cookie)",
    "leading spaces": "   javascript:alert(1)",
    "mixed case": "JaVaScRiPt:alert(1)",
    "tab inside": "java\tscript:alert(1)",
    "line break inside": "java\nscr\r\nipt:alert(1)",
    "data": "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "data, spaced and upper case": " \tDATA:text/html,<script>alert(1)</script>",
    "vbscript": "VBScript:msgbox(1)",
}
# Only JSON (not XML 1.0) can carry these.
HOSTILE_JSON = {
    **HOSTILE,
    "C0 controls before": "\x01\x02\x1fjavascript:alert(1)",
    "NUL before": "\x00javascript:alert(1)",
}


@pytest.mark.parametrize("link", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
def test_no_spelling_of_a_script_link_is_a_reader_link(link: str) -> None:
    checked = check_reader_link(link, base="https://example.org/feed.xml")
    assert checked.link is None
    assert "was dropped: only http and https links" in checked.note


@pytest.mark.parametrize(
    ("given", "base", "kept"),
    [
        ("https://example.org/report", None, "https://example.org/report"),
        ("  HTTPS://Example.org/report\n", None, "HTTPS://Example.org/report"),
        ("ht\ttp://example.org/a", None, "http://example.org/a"),
        ("https://example.org/a b", None, "https://example.org/a%20b"),
        ("/reports/1", "https://example.org/feed.xml", "https://example.org/reports/1"),
        ("//cdn.example.org/x", "https://example.org/", "https://cdn.example.org/x"),
    ],
)
def test_web_links_are_kept_as_a_browser_reads_them(given, base, kept) -> None:
    assert reader_link(given, base) == kept


@pytest.mark.parametrize(
    ("given", "base", "why"),
    [
        ("/reports/1", None, "not a full web address"),
        ("/reports/1", "javascript:alert(1)//", "not a full web address"),
        ("http:evil.example", None, "names no host"),
        ("https://" + "a" * 9000, None, "over 8192 characters"),
        ("mailto:someone@example.org", None, "a mailto: link"),
    ],
)
def test_links_that_are_no_web_address_are_dropped_saying_why(given, base, why) -> None:
    checked = check_reader_link(given, base)
    assert checked.link is None and why in checked.note


def _stored(factory) -> dict[str, tuple[str | None, str | None, list[str | None]]]:
    """Each item's (link, note, its sources' links), by title."""
    with factory() as session:
        return {
            item.title: (item.link, item.link_note, [s.link for s in item.sources])
            for item in session.scalars(select(Item))
        }


def _assert_dropped(stored, titles) -> None:
    for title in titles:
        link, note, source_links = stored[title]
        assert link is None, title
        assert "was dropped" in note, title
        assert source_links == [None], title


def test_rss_items_keep_only_web_links(httpserver: HTTPServer, factory) -> None:
    entries = [Entry(title=f"Item {name}", link=link) for name, link in HOSTILE.items()]
    entries.append(Entry(title="Good item", link="https://example.org/good"))
    entries.append(Entry(title="Relative item", link="/relative"))
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss(entries, link="javascript:alert('site')"), content_type="application/rss+xml"
    )
    feed_id = add_feed(factory, "Hostile RSS", httpserver.url_for("/feed.xml"))
    poll_feeds(factory, settings=FAST)
    stored = _stored(factory)
    assert len(stored) == len(HOSTILE) + 2  # nothing lost: each item kept, without its link
    _assert_dropped(stored, [f"Item {name}" for name in HOSTILE])
    assert stored["Good item"][:2] == ("https://example.org/good", None)
    assert stored["Relative item"][0] == httpserver.url_for("/relative")
    with factory() as session:
        assert session.get_one(Feed, feed_id).site_url is None


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom</title><id>urn:x</id>
<link rel="alternate" href=" JAVASCRIPT:alert('site')"/><updated>2026-11-16T09:00:00Z</updated>
{entries}</feed>"""
RDF = """<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
<channel rdf:about="urn:x"><title>RDF</title><link>https://example.org/</link></channel>
{entries}</rdf:RDF>"""


def _xml_attr(value: str) -> str:
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace('"', "&quot;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )


@pytest.mark.parametrize("kind", ["atom", "rdf"])
def test_atom_and_rdf_items_keep_only_web_links(httpserver: HTTPServer, factory, kind) -> None:
    links = {**HOSTILE, "good": "https://example.org/good"}
    if kind == "atom":
        body = ATOM.format(
            entries="".join(
                f'<entry><title>Item {name}</title><id>urn:{n}</id><link rel="alternate" '
                f'href="{_xml_attr(link)}"/><updated>2026-11-16T09:00:00Z</updated></entry>'
                for n, (name, link) in enumerate(links.items())
            )
        )
    else:
        body = RDF.format(
            entries="".join(
                f'<item rdf:about="urn:{n}"><title>Item {name}</title>'
                f"<link>{_xml_attr(link)}</link></item>"
                for n, (name, link) in enumerate(links.items())
            )
        )
    httpserver.expect_request("/feed").respond_with_data(body, content_type="application/xml")
    add_feed(factory, f"Hostile {kind}", httpserver.url_for("/feed"))
    poll_feeds(factory, settings=FAST)
    stored = _stored(factory)
    assert len(stored) == len(links)
    _assert_dropped(stored, [f"Item {name}" for name in HOSTILE])
    assert stored["Item good"][0] == "https://example.org/good"


def test_json_feed_items_keep_only_web_links(httpserver: HTTPServer, factory) -> None:
    items = [
        {"id": f"i{n}", "title": f"Item {name}", "url": link}
        for n, (name, link) in enumerate(HOSTILE_JSON.items())
    ]
    items.append(
        {
            "id": "ext",
            "title": "Item with a good external_url",
            "url": "javascript:alert(1)",
            "external_url": "https://example.org/external",
        }
    )
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "JSON",
        "home_page_url": "data:text/html,x",
        "items": items,
    }
    httpserver.expect_request("/feed.json").respond_with_data(
        json.dumps(document), content_type="application/feed+json"
    )
    feed_id = add_feed(factory, "Hostile JSON", httpserver.url_for("/feed.json"))
    poll_feeds(factory, settings=FAST)
    stored = _stored(factory)
    assert len(stored) == len(HOSTILE_JSON) + 1
    _assert_dropped(stored, [f"Item {name}" for name in HOSTILE_JSON])
    assert stored["Item with a good external_url"][:2] == ("https://example.org/external", None)
    with factory() as session:
        assert session.get_one(Feed, feed_id).site_url is None


@pytest.mark.parametrize("link", HOSTILE.values(), ids=HOSTILE.keys())
def test_catalogue_records_with_a_script_link_are_refused_by_number(
    tmp_path: Path, factory, link: str
) -> None:
    path = tmp_path / "records.ris"
    path.write_text(
        "TY  - BOOK\nTI  - A good record\nUR  - HTTPS://Example.org/good\nER  - \n\n"
        f"TY  - BOOK\nTI  - A hostile record\nUR  - {link.replace(chr(10), ' ')}\nER  - \n",
        encoding="utf-8",
    )
    with transaction(factory) as session:
        report = import_catalogue(session, path, "caspar")
    assert report.counts.new == 1
    (error,) = report.errors
    assert "is not an http(s) address" in str(error)
    assert list(_stored(factory)) == ["A good record"]


def test_a_catalogue_csv_url_is_checked_the_same_way(tmp_path: Path, factory) -> None:
    path = tmp_path / "records.csv"
    path.write_text(
        "title,authors,year,publisher,place,url,isbn,abstract\n"
        'Hostile,,2025,,,"java\tscript:alert(1)",,\n'
        "Good,,2025,,,  https://example.org/x  ,,\n",
        encoding="utf-8",
    )
    with transaction(factory) as session:
        report = import_catalogue(session, path, "caspar")
    assert [str(e) for e in report.errors] and "not an http(s) address" in str(report.errors[0])
    assert _stored(factory)["Good"][0] == "https://example.org/x"


@pytest.mark.parametrize("link", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
def test_an_item_added_by_hand_with_a_script_link_is_refused(factory, link: str) -> None:
    with transaction(factory) as session:
        section = session.scalar(select(Section.id).where(Section.name == "News"))
    with (
        pytest.raises(ManualItemError, match="must start with http:// or https://"),
        transaction(factory) as session,
    ):
        add_item(session, "By hand", link, "Summary", section, "librarian")
    assert _stored(factory) == {}


def test_the_add_item_form_refuses_a_script_link_and_stores_nothing(factory) -> None:
    site = make_site(factory)
    client = site.client(Role.LIBRARIAN)
    with factory() as session:
        section = session.scalar(select(Section.id).where(Section.name == "News"))
    form = {
        "url": " JaVa\tScRiPt:alert(1)",
        "title": "A report",
        "summary": "",
        "authors": "",
        "section": section,
        "action": "save",
        "csrf_token": csrf_token(client, "/"),
    }
    response = client.post("/items/new", data=form)
    assert response.status_code == 400
    assert "must start with http:// or https://" in response.text
    assert _stored(factory) == {}


def test_a_page_naming_a_script_as_its_canonical_address_keeps_its_own() -> None:
    page = describe_page(
        b'<title>T</title><link rel="canonical" href=" javascript:alert(1)">',
        "https://example.org/page",
    )
    assert page.url == "https://example.org/page"


@pytest.fixture
def sent_with_old_script_links(factory) -> tuple[Site, int]:
    """A sent edition whose item and frozen copy hold a `javascript:` link, as data stored
    before links were checked would."""
    site = make_site(factory, base_url="https://digest.example.org")
    (item_id,) = accept_tagged(factory, [("Neglect in adolescence", "neglect")])
    with transaction(factory) as session:
        session.get_one(Item, item_id).link = "javascript:alert(1)"
        session.execute(
            text("UPDATE item_sources SET link = :link WHERE item_id = :id"),
            {"link": " JAVASCRIPT:alert(2)", "id": item_id},
        )
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        edition = compose.build_draft(session, newsletter, "editor", NOW)
        compose.approve(session, edition, "editor", now=NOW)
        edition.state = EditionState.SENT
        for row in session.scalars(select(EditionItem)):
            row.frozen = {**row.frozen, "link": "java\tscript:alert(3)"}
        return site, edition.id


def test_email_archive_and_atom_feeds_give_no_href_to_a_stored_script_link(
    sent_with_old_script_links,
) -> None:
    site, edition_id = sent_with_old_script_links
    with site.factory() as session:
        edition = session.get_one(Edition, edition_id)
        rendered = render_cut(
            edition, None, archive_url(edition, MailSettings("https://digest.example.org"))
        )
    assert "Neglect in adolescence" in rendered.html
    for body in (rendered.html, rendered.text):
        assert "script:" not in body.lower()
    client = site.app.test_client()
    archived = client.get(f"/archive/caspar/{edition_id}").text
    assert "Neglect in adolescence" in archived and "script:" not in archived.lower()
    topic = client.get("/topics/neglect/feed.atom").data
    assert b"script:" not in topic.lower()
    (entry,) = feedparser.parse(topic).entries
    assert entry.link == "https://digest.example.org/archive"


def test_staff_pages_give_no_href_to_a_stored_script_link(sent_with_old_script_links) -> None:
    site, _ = sent_with_old_script_links
    with site.factory() as session:
        item_id = session.scalar(select(Item.id))
    response = site.client(Role.LIBRARIAN).get(f"/items/{item_id}")
    assert response.status_code == 200 and "Neglect in adolescence" in response.text
    assert 'href="javascript' not in response.text.lower()
    assert 'href=" javascript' not in response.text.lower()


def test_upgrading_drops_stored_script_links_with_a_note(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    config = _alembic_config(engine)
    command.upgrade(config, "0010")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO items (id, guid, link, title, title_key, authors, published, "
                "published_estimated, summary_html, summary_text, content_hash, first_seen_at) "
                "VALUES (1, NULL, :bad, 'Old', 'old', '[]', '2026-01-01', 0, '', '', 'h', "
                "'2026-01-01'), (2, NULL, 'https://example.org/ok', 'Ok', 'ok', '[]', "
                "'2026-01-01', 0, '', '', 'h2', '2026-01-01')"
            ),
            {"bad": " JavaScript:alert(1)"},
        )
    command.upgrade(config, "head")
    with engine.connect() as connection:
        rows = dict(
            (row[0], row[1:])
            for row in connection.execute(text("SELECT id, link, link_note FROM items"))
        )
    assert rows[1][0] is None and "was dropped" in rows[1][1]
    assert rows[2] == ("https://example.org/ok", None)
    engine.dispose()
