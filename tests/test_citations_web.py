"""Citations where readers meet them: the email (when its newsletter says so), the public
archive, the item page with "Copy citation", and an edition's items as RIS and BibTeX."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import bibtexparser
import pytest
import rispy
from sqlalchemy import select
from webapp import Site, accept_tagged, make_site

from digest.db import transaction
from digest.editions import compose
from digest.editions.render import render_cut
from digest.models import Edition, EditionState, Item, Newsletter, Role

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
JUTTE_CSL = {
    "type": "report",
    "title": "Online child sexual abuse images: doing more to tackle demand and supply",
    "author": [{"family": "Jütte", "given": "Sonja"}],
    "issued": {"date-parts": [[2016]]},
    "publisher": "NSPCC",
    "publisher-place": "London",
}
JUTTE_TEXT = (
    "Jütte, S. (2016) Online child sexual abuse images: doing more to tackle demand and "
    "supply. London: NSPCC."
)
JUTTE_HTML = (
    "Jütte, S. (2016) <i>Online child sexual abuse images: doing more to tackle demand and "
    "supply</i>. London: NSPCC."
)


@pytest.fixture
def site(factory) -> Site:
    site = make_site(factory, base_url="https://digest.example.org")
    ids = accept_tagged(
        factory, [("Online child sexual abuse images", "neglect"), ("A page", "neglect")]
    )
    with transaction(factory) as session:
        session.get(Item, ids[0]).csl = JUTTE_CSL
    return site


def approved(site: Site, **newsletter_settings) -> int:
    with transaction(site.factory) as session:
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        for name, value in newsletter_settings.items():
            setattr(newsletter, name, value)
        edition = compose.build_draft(session, newsletter, "editor", NOW)
        compose.approve(session, edition, "editor", now=NOW)
        return edition.id


def sent(site: Site, edition_id: int) -> None:
    with transaction(site.factory) as session:
        session.get(Edition, edition_id).state = EditionState.SENT


def test_the_email_carries_citations_only_when_its_newsletter_says_so(site: Site) -> None:
    edition_id = approved(site)
    with site.factory() as session:
        edition = session.get(Edition, edition_id)
        email = render_cut(edition, None, "https://digest.example.org/archive")
        assert JUTTE_HTML in email.html
        assert f"Cite as: {JUTTE_TEXT}" in email.text
        edition.newsletter.citations_in_email = False
        quiet = render_cut(edition, None, "https://digest.example.org/archive")
        assert "Jütte, S. (2016)" not in quiet.html and "Cite as" not in quiet.text


def test_the_archive_shows_citations_and_offers_the_items_for_a_reference_manager(
    site: Site,
) -> None:
    edition_id = approved(site)
    client = site.app.test_client()
    assert client.get(f"/archive/caspar/{edition_id}/items.ris").status_code == 404  # not sent
    sent(site, edition_id)
    page = client.get(f"/archive/caspar/{edition_id}").text
    assert JUTTE_HTML in page
    # "Copy citation" copies the plain text, offered by the script where it can copy.
    assert f'data-citation-text="{JUTTE_TEXT}"' in page
    assert "citations.js" in page
    assert f'href="/archive/caspar/{edition_id}/items.ris"' in page
    ris = client.get(f"/archive/caspar/{edition_id}/items.ris")
    assert ris.status_code == 200
    assert re.match(
        r'attachment; filename="caspar-\d{4}-\d\d-\d\d\.ris"', ris.headers["Content-Disposition"]
    )
    read = rispy.loads(ris.text)
    assert {r["title"] for r in read} == {JUTTE_CSL["title"], "A page"}
    jutte = next(r for r in read if r["title"] == JUTTE_CSL["title"])
    assert (jutte["type_of_reference"], jutte["authors"], jutte["place_published"]) == (
        "RPRT",
        ["Jütte, Sonja"],
        "London",
    )
    bib = client.get(f"/archive/caspar/{edition_id}/items.bib")
    assert bib.headers["Content-Disposition"].endswith('.bib"')
    entry = next(e for e in bibtexparser.loads(bib.text).entries if e["ENTRYTYPE"] == "techreport")
    assert (entry["author"], entry["institution"], entry["year"]) == (
        "Jütte, Sonja",
        "NSPCC",
        "2016",
    )
    assert client.get(f"/archive/caspar/{edition_id}/items.doc").status_code == 404


def test_editors_export_an_approved_edition_but_not_a_draft(site: Site) -> None:
    with transaction(site.factory) as session:
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        draft_id = compose.build_draft(session, newsletter, "editor", NOW).id
    editor = site.client(Role.EDITOR)
    assert editor.get(f"/editions/{draft_id}/items.ris").status_code == 409
    edition_id = approved_from_draft(site, draft_id)
    page = editor.get(f"/editions/{edition_id}").text
    assert f"/editions/{edition_id}/items.bib" in page
    response = editor.get(f"/editions/{edition_id}/items.ris")
    assert response.status_code == 200 and JUTTE_CSL["title"] in response.text
    assert site.client(Role.LIBRARIAN).get(f"/editions/{edition_id}/items.ris").status_code == 403


def approved_from_draft(site: Site, edition_id: int) -> int:
    with transaction(site.factory) as session:
        compose.approve(session, session.get(Edition, edition_id), "editor", now=NOW)
    return edition_id


def test_the_item_page_shows_the_citation_in_its_newsletters_style_with_a_copy_button(
    site: Site,
) -> None:
    with transaction(site.factory) as session:
        item_id = session.scalar(select(Item.id).where(Item.title.startswith("Online child")))
        session.scalar(select(Newsletter).where(Newsletter.slug == "caspar")).citation_style = "apa"
    page = site.client(Role.LIBRARIAN).get(f"/items/{item_id}").text
    assert (
        "Jütte, S. (2016). <i>Online child sexual abuse images: doing more to tackle demand "
        "and supply</i>. NSPCC." in page
    )
    assert 'data-citation-text="Jütte, S. (2016). Online child sexual abuse images' in page
    assert "Copy citation" in page and "citations.js" in page


def test_an_edition_frozen_before_citations_were_rendered_shows_its_citation_text(
    site: Site,
) -> None:
    edition_id = approved(site)
    with transaction(site.factory) as session:
        for entry in session.get(Edition, edition_id).entries:
            frozen = {k: v for k, v in entry.frozen.items() if not k.startswith("citation_")}
            entry.frozen = {
                **frozen,
                "citation": "Old & plain (2016) citation." if frozen["citation"] else None,
            }
    sent(site, edition_id)
    with site.factory() as session:
        email = render_cut(session.get(Edition, edition_id), None, "https://digest.example.org/a")
    assert "Old &amp; plain (2016) citation." in email.html
    assert "Cite as: Old & plain (2016) citation." in email.text
    page = site.app.test_client().get(f"/archive/caspar/{edition_id}").text
    assert "Old &amp; plain (2016) citation." in page
