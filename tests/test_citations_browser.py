"""The item page's "Copy citation" in a real browser (Chromium over real HTTP): the plain
text reaches the clipboard; without JavaScript the button is not offered and the citation is
there to select."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chromium import serious_violations, sign_in
from playwright.sync_api import expect
from sqlalchemy import select
from webapp import Site, accept_tagged, add_items, entry, make_site
from webserver import served_over_http

from digest.db import transaction
from digest.models import Item, Role

TEXT = (
    "Jütte, S. (2016) Online child sexual abuse images: doing more to tackle demand and "
    "supply. London: NSPCC."
)


@pytest.fixture
def served(sqlite_factory) -> Iterator[tuple[int, str]]:
    site: Site = make_site(sqlite_factory)
    add_items(sqlite_factory, [entry("Online child sexual abuse images", "https://example.org/1")])
    with transaction(sqlite_factory) as session:
        item = session.scalar(select(Item))
        item.csl = {
            "type": "report",
            "title": "Online child sexual abuse images: doing more to tackle demand and supply",
            "author": [{"family": "Jütte", "given": "Sonja"}],
            "issued": {"date-parts": [[2016]]},
            "publisher": "NSPCC",
            "publisher-place": "London",
        }
        item_id = item.id
    with served_over_http(site.app) as address:
        yield item_id, address


def test_copy_citation_puts_the_plain_text_on_the_clipboard(served, browser) -> None:
    item_id, base = served
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base, Role.LIBRARIAN)
    page.goto(f"{base}/items/{item_id}")
    citation = page.locator(".item-citation .citation")
    expect(citation).to_have_text(TEXT)
    # The title in italics, as the style sets it.
    assert citation.locator("i").inner_text().startswith("Online child sexual abuse images")
    page.get_by_role("button", name="Copy citation").click()
    expect(page.locator(".copy-citation-done")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == TEXT
    assert errors == [] and serious_violations(page) == []


def test_without_javascript_the_citation_is_text_to_select(served, browser) -> None:
    item_id, base = served
    page = browser.new_context(java_script_enabled=False).new_page()
    sign_in(page, base, Role.LIBRARIAN)
    page.goto(f"{base}/items/{item_id}")
    expect(page.locator(".item-citation .citation")).to_have_text(TEXT)
    expect(page.get_by_role("button", name="Copy citation")).to_be_hidden()


def test_a_reader_copies_a_citation_from_the_archive(sqlite_factory, browser) -> None:
    """The public archive of a sent edition offers the same copy, with no sign-in."""
    from test_citations_web import JUTTE_CSL, approved, sent

    site = make_site(sqlite_factory)
    ids = accept_tagged(sqlite_factory, [("Online child sexual abuse images", "neglect")])
    with transaction(sqlite_factory) as session:
        session.get(Item, ids[0]).csl = JUTTE_CSL
    edition_id = approved(site)
    sent(site, edition_id)
    with served_over_http(site.app) as base:
        context = browser.new_context()
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        page = context.new_page()
        page.goto(f"{base}/archive/caspar/{edition_id}")
        expect(page.locator(".item-citation .citation")).to_have_text(TEXT)
        page.get_by_role("button", name="Copy the citation of").click()
        expect(page.locator(".copy-citation-done")).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == TEXT
        assert serious_violations(page) == []
