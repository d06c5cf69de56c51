"""Items added by hand: read from a page's metadata (through the guarded fetcher) or typed."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from webapp import Site, csrf_token, make_site

from digest.curation.manual import ManualItemError, describe_page, fetch_description
from digest.models import Item, Role, Section

PAGE = b"""<!doctype html><html><head><title>Fallback title | GOV.UK</title>
<meta property="og:title" content="Keeping children safe in education 2026">
<meta name="description" content="Statutory guidance for schools &amp; colleges.">
<meta name="author" content="Department for Education">
<meta property="article:published_time" content="2026-09-01T09:00:00+01:00">
<link rel="canonical" href="/government/publications/kcsie?utm_source=x">
</head><body>...</body></html>"""


def test_page_metadata_is_read() -> None:
    page = describe_page(PAGE, "https://www.gov.uk/x")
    assert page.title == "Keeping children safe in education 2026"
    assert page.summary == "Statutory guidance for schools & colleges."
    assert page.authors == ["Department for Education"]
    assert page.url == "https://www.gov.uk/government/publications/kcsie"  # tracking dropped
    assert page.published.isoformat() == "2026-09-01T09:00:00+01:00"
    assert describe_page(b"<title> Only a title </title>", "https://a.org/").title == "Only a title"


def test_fetching_goes_through_the_guarded_fetcher(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/page").respond_with_data(PAGE, content_type="text/html")
    with pytest.raises(ManualItemError, match="private or local network address"):
        fetch_description(httpserver.url_for("/page"))
    page = fetch_description(httpserver.url_for("/page"), allow_private_network=True)
    assert page.title == "Keeping children safe in education 2026"


@pytest.fixture
def site(factory) -> Site:
    return make_site(factory)


def test_librarian_adds_an_item_by_hand_once(site: Site) -> None:
    client = site.client(Role.LIBRARIAN)
    token = csrf_token(client, "/")
    with site.factory() as session:
        section = session.scalar(select(Section.id).where(Section.name == "Practice"))
    form = {
        "url": "https://www.gov.uk/guidance/report?utm_campaign=x",
        "title": "A report",
        "summary": "What it says & why.",
        "authors": "Smith, J; NSPCC",
        "section": section,
        "action": "save",
        "csrf_token": token,
    }
    response = client.post("/items/new", data=form)
    assert response.status_code == 302
    with site.factory() as session:
        item = session.scalar(select(Item))
        assert (item.title, item.canonical_url, item.placements[0].section.name, item.authors) == (
            "A report",
            "https://www.gov.uk/guidance/report",
            "Practice",
            ["Smith, J", "NSPCC"],
        )
        assert item.summary_html == "<p>What it says &amp; why.</p>"
        assert [s.feed.name for s in item.sources] == ["Added by hand"]
    again = client.post("/items/new", data=form)
    assert again.status_code == 400
    assert f"already in Digest as item {item.id}" in again.text
    fetch_internal = client.post(
        "/items/new",
        data={"url": "http://127.0.0.1:9/secret", "action": "fetch", "csrf_token": token},
    )
    assert "private or local network address" in fetch_internal.text
