"""Identifiers as polling stores them, over HTTP, on SQLite and PostgreSQL: the labelled set of
publishers' feed shapes meets the issue's bar, the same PMID in two feeds is one item, a deleted
one stays deleted, a title alone still never merges, and an item added by hand keeps its page's
DOI."""

from __future__ import annotations

import sys
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from feedfactory import add_feed
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from webapp import Site, csrf_token, make_site

from digest.curation import decisions
from digest.curation.manual import fetch_description
from digest.db import transaction
from digest.ingest.fetch import FetchSettings
from digest.ingest.poll import poll_feeds
from digest.models import Item, PossibleDuplicate, Role, Section

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
from identify import DATA, FOUND_AT_LEAST, feed_files, read_stored, score, shared_items_merged

FAST = FetchSettings(connect_timeout=1, total_timeout=2)
TYPES = {".json": "application/feed+json", ".rdf": "application/rdf+xml"}


def test_the_labelled_feeds_meet_the_bar(httpserver: HTTPServer, factory) -> None:
    """≥ 98% of the DOIs the feeds carry are found, no DOI or PMID is false, and the same
    article in PubMed's and Wiley's feeds is one item with both ids."""
    for name in feed_files():
        httpserver.expect_request(f"/{name}").respond_with_data(
            (DATA / name).read_bytes(),
            content_type=TYPES.get(Path(name).suffix, "application/rss+xml"),
        )
        add_feed(factory, name, httpserver.url_for(f"/{name}"))
    poll_feeds(factory, settings=FAST)
    with factory() as session:
        stored = read_stored(session)

    tally = score(stored)["all"]
    assert tally.items >= 200 and tally.doi_in_feed >= 200
    assert tally.unmatched == []
    assert tally.found_share >= FOUND_AT_LEAST, tally.missed
    assert tally.false == [] and tally.false_pmids == []
    assert tally.pmids_found == tally.pmids
    merged, shared = shared_items_merged(stored)
    assert merged == shared > 0


def pubmed_feed(*entries: tuple[str, str, str]) -> bytes:
    """PubMed-shaped RSS of (pmid, title, link) entries, with no DOI."""
    items = "".join(
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
        f'<guid isPermaLink="false">pubmed:{pmid}</guid>'
        f"<description>&lt;p&gt;An abstract about {escape(title)}.&lt;/p&gt;</description>"
        f"<dc:identifier>pmid:{pmid}</dc:identifier></item>"
        for pmid, title, link in entries
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>PubMed</title><link>https://pubmed.ncbi.nlm.nih.gov/</link>{items}"
        "</channel></rss>"
    ).encode()


def publisher_feed(*entries: tuple[str, str]) -> bytes:
    """A publisher's RSS of (title, link) entries whose description ends "PMID: …"."""
    items = "".join(
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
        f"<description>&lt;p&gt;Abstract. PMID: {pmid}&lt;/p&gt;</description></item>"
        for title, link, pmid in entries
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Journal</title>'
        f"<link>https://journal.example/</link>{items}</channel></rss>"
    ).encode()


def serve(httpserver: HTTPServer, path: str, body: bytes) -> str:
    httpserver.expect_request(path).respond_with_data(body, content_type="application/rss+xml")
    return httpserver.url_for(path)


def items(factory) -> list[Item]:
    with factory() as session:
        return list(session.scalars(select(Item).order_by(Item.id)))


def test_the_same_pmid_in_two_feeds_is_one_item(httpserver: HTTPServer, factory) -> None:
    pubmed = pubmed_feed(
        (
            "41200001",
            "Kinship care in Ceredigion — a cohort",
            "https://pubmed.ncbi.nlm.nih.gov/41200001/",
        )
    )
    journal = publisher_feed(
        (
            "Kinship care in Ceredigion: outcomes for children",
            "https://journal.example/a/1",
            "41200001",
        )
    )
    add_feed(factory, "PubMed", serve(httpserver, "/pubmed.xml", pubmed))
    add_feed(factory, "Journal", serve(httpserver, "/journal.xml", journal))

    report = poll_feeds(factory, settings=FAST)

    assert report.total("new") == 1 and report.total("duplicate") == 1
    (item,) = items(factory)
    assert item.pmid == "41200001"
    with factory() as session:
        assert sorted(s.feed.name for s in session.get_one(Item, item.id).sources) == [
            "Journal",
            "PubMed",
        ]


def test_a_deleted_item_is_not_brought_back_by_its_pmid(httpserver: HTTPServer, factory) -> None:
    pubmed = pubmed_feed(
        ("41200002", "Adoption support", "https://pubmed.ncbi.nlm.nih.gov/41200002/")
    )
    add_feed(factory, "PubMed", serve(httpserver, "/pubmed.xml", pubmed))
    poll_feeds(factory, settings=FAST)
    (item,) = items(factory)
    with transaction(factory) as session:
        decisions.delete(session, item.id, "ana")

    journal = publisher_feed(
        ("Adoption support in Wales", "https://journal.example/a/2", "41200002")
    )
    add_feed(factory, "Journal", serve(httpserver, "/journal.xml", journal))
    report = poll_feeds(factory, settings=FAST)

    assert report.total("new") == 0
    assert items(factory) == []


def test_a_title_alone_never_merges_items_with_different_pmids(
    httpserver: HTTPServer, factory
) -> None:
    title = "Special guardianship: a national survey of carers’ experiences in England"
    pubmed = pubmed_feed(
        ("41200003", title, "https://pubmed.ncbi.nlm.nih.gov/41200003/"),
    )
    other = pubmed_feed(("41200999", title, "https://pubmed.ncbi.nlm.nih.gov/41200999/"))
    add_feed(factory, "PubMed", serve(httpserver, "/a.xml", pubmed))
    add_feed(factory, "PubMed again", serve(httpserver, "/b.xml", other))

    poll_feeds(factory, settings=FAST)

    assert [item.pmid for item in items(factory)] == ["41200003", "41200999"]
    with factory() as session:
        assert len(session.scalars(select(PossibleDuplicate)).all()) == 1  # for a person


ARTICLE_PAGE = """<!doctype html><html><head><title>Kinship care | Child &amp; Family Social Work</title>
<meta name="citation_title" content="Kinship care in Ceredigion: Siân’s study">
<meta name="citation_doi" content="10.1111/cfs.13042">
<meta name="citation_pmid" content="41200042">
<meta name="description" content="Outcomes for 200 children.">
</head><body>…</body></html>""".encode()


@pytest.fixture
def site(factory) -> Site:
    return make_site(factory)


def test_an_item_added_by_hand_keeps_its_pages_doi(httpserver: HTTPServer, site: Site) -> None:
    httpserver.expect_request("/article").respond_with_data(
        ARTICLE_PAGE, content_type="text/html; charset=utf-8"
    )
    page = fetch_description(httpserver.url_for("/article"), allow_private_network=True)
    assert (page.title, page.doi, page.pmid) == (
        "Kinship care in Ceredigion: Siân’s study",
        "10.1111/cfs.13042",
        "41200042",
    )
    client = site.client(Role.LIBRARIAN)
    with site.factory() as session:
        section = session.scalar(select(Section.id).where(Section.name == "Practice"))
    form = {
        "url": "https://onlinelibrary.wiley.com/doi/full/10.1111/cfs.13042",
        "title": page.title,
        "summary": page.summary,
        "doi": page.doi,
        "pmid": page.pmid,
        "isbn": "",
        "section": section,
        "action": "save",
        "csrf_token": csrf_token(client, "/"),
    }
    assert client.post("/items/new", data=form).status_code == 302
    (item,) = items(site.factory)
    assert (item.doi, item.pmid) == ("10.1111/cfs.13042", "41200042")

    # The same article at another address, by its DOI: refused, naming the item.
    again = client.post("/items/new", data={**form, "url": "https://example.org/elsewhere"})
    assert again.status_code == 400
    assert f"already in Digest as item {item.id}" in again.text
    wrong = client.post("/items/new", data={**form, "doi": "cfs.13042", "url": "https://x.org/"})
    assert "“cfs.13042” is not a DOI" in wrong.text
