"""The record on the item page: what Crossref said, in plain words where its look-up stands,
"Look up again", and a librarian's corrections through a CSRF-protected, audited form."""

from __future__ import annotations

import html
import json
from datetime import timedelta

import pytest
from chromium import ARTIFACTS
from research_server import crossref_fixture, crossref_work, local_services
from sqlalchemy import select
from test_research_enrich import DOI, items, research
from webapp import PASSWORD, STAFF, Site, csrf_token, make_site
from webserver import served_over_http

from digest.db import transaction
from digest.models import AuditEntry, Item, Role
from digest.models.research import Enrichment, EnrichmentState
from digest.research.enrich import enrich_pending
from digest.timeutil import utcnow

ODD_TITLE = 'The K<sub>d</sub> of a <script>alert("x")</script>receptor'


@pytest.fixture
def site(factory) -> Site:
    return make_site(factory)


@pytest.fixture
def enriched(factory, site) -> int:
    with local_services() as services:
        services.works[DOI] = crossref_work(DOI, ODD_TITLE)
        (item_id,) = items(factory, {"doi": DOI})
        enrich_pending(factory, research(factory, services))
    return item_id


def page(site: Site, item_id: int, client=None) -> str:
    """The item page's text, as `client` (else a librarian just signed in) sees it."""
    response = (client or site.client(Role.LIBRARIAN)).get(f"/items/{item_id}")
    assert response.status_code == 200
    return html.unescape(" ".join(response.text.split()))


def test_the_item_page_shows_the_record_and_when_it_was_looked_up(site, enriched):
    text = page(site, enriched)
    assert f"Looked up at Crossref ({DOI}) on " in text
    assert "Anna-Lena Jütte; Seán Ó Briain; 小明 王; The E. coli Fixation Consortium" in text
    assert "Nature Communications" in text and "15 March 2016" in text
    assert "Volume 7, issue 3, pages 10999-11012" in text
    assert "Springer Science and Business Media LLC" in text and "Journal article" in text
    assert "https://creativecommons.org/licenses/by/4.0" in text
    assert 'href="https://www.nature.com/articles/ncomms10999"' in text  # free to read
    assert "turns CO₂ into sugar" in text  # the abstract


def test_markup_from_the_service_is_never_markup_on_the_page(site, enriched):
    raw = site.client(Role.LIBRARIAN).get(f"/items/{enriched}").text
    assert "<script>alert" not in raw
    assert "The Kd of a receptor" in html.unescape(raw)


def test_a_failure_is_said_in_plain_words_with_when_it_is_tried_again(site, factory):
    (item_id,) = items(factory, {"doi": "10.5555/slow"})
    with transaction(factory) as session:
        session.add(
            Enrichment(
                item_id=item_id,
                service="crossref",
                identifier="10.5555/slow",
                state=EnrichmentState.PENDING,
                attempts=1,
                last_error="Crossref could not be reached (no answer within 20 seconds).",
                next_attempt_at=utcnow() + timedelta(minutes=5),
            )
        )
    text = page(site, item_id)
    assert "Crossref could not be reached (no answer within 20 seconds). Trying again " in text


def test_an_item_without_an_identifier_says_so(site, factory):
    (item_id,) = items(factory, {})
    shown = page(site, item_id)
    assert "This item has no DOI or PMID to look up." in shown
    # Most such items are news and pages: the form waits, folded, for the few that need it.
    assert '<details class="record-correct">' in shown and "Add citation details" in shown


def test_a_librarian_corrects_the_record_and_the_page_marks_it(site, factory, enriched):
    client = site.client(Role.LIBRARIAN)
    form = {
        "csrf_token": csrf_token(client, f"/items/{enriched}"),
        "record-title": "The Kd of one receptor",
        "record-author": "Jütte, Anna-Lena\n王, 小明",
        "record-issued": "2016",
        "record-volume": "7",
    }
    response = client.post(f"/items/{enriched}/record", data=form)
    assert response.status_code == 302
    text = page(site, enriched, client)
    assert "Saved: Title, Authors, Year published." in text
    assert 'Anna-Lena Jütte; 小明 王 <span class="corrected">(corrected)</span>' in text
    with factory() as session:
        assert session.get(Item, enriched).csl_corrections["issued"] == {"date-parts": [[2016]]}
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "item.record_correct")
        ).one()
        assert entry.summary == "Title, Authors, Year published"


def test_a_bad_value_is_refused_on_the_page_and_nothing_is_saved(site, factory, enriched):
    client = site.client(Role.LIBRARIAN)
    token = csrf_token(client, f"/items/{enriched}")
    client.post(f"/items/{enriched}/record", data={"csrf_token": token, "record-issued": "soon"})
    text = page(site, enriched, client)
    assert "Not changed: Year published: a year such as 2016, or 2016-03, not 'soon'." in text
    with factory() as session:
        assert session.get(Item, enriched).csl_corrections is None


def test_a_correction_without_the_form_token_is_refused(site, factory, enriched):
    client = site.client(Role.LIBRARIAN)
    response = client.post(f"/items/{enriched}/record", data={"record-title": "Forged"})
    assert response.status_code == 400
    with factory() as session:
        assert session.get(Item, enriched).csl_corrections is None


def test_look_up_again_queues_the_item_and_says_so(site, factory, enriched):
    client = site.client(Role.LIBRARIAN)
    token = csrf_token(client, f"/items/{enriched}")
    client.post(f"/items/{enriched}/record/look-up", data={"csrf_token": token})
    text = page(site, enriched, client)
    assert "It will be looked up again within a few minutes." in text
    assert f"Waiting to be looked up at Crossref ({DOI})." in text


def test_a_long_record_fits_a_phone_and_is_corrected_from_it(sqlite_factory, browser):
    """Sixty authors, long links and a long DOI on a 390 px screen, and the form used there."""
    factory = sqlite_factory
    site = make_site(factory)
    with local_services() as services:
        long_doi = "10.1103/physrevlett.116.061102-with-a-very-long-suffix-that-never-breaks"
        many = crossref_fixture("many_authors")
        many["message"]["DOI"] = long_doi
        services.works[long_doi] = json.dumps(many).encode()
        (item_id,) = items(factory, {"doi": long_doi})
        enrich_pending(factory, research(factory, services))
    with served_over_http(site.app) as base:
        page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        page.goto(f"{base}/login")
        page.fill("input[name=email]", STAFF[Role.LIBRARIAN])
        page.fill("input[name=password]", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(f"{base}/")
        page.goto(f"{base}/items/{item_id}")
        assert "and 50 more authors" in page.inner_text("#record")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator("#record").screenshot(path=str(ARTIFACTS / "item-record-390.png"))
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.fill("#record input[name=record-volume]", "117")
        page.click("#record form.record-form button[type=submit]")
        assert "Saved: Volume." in page.inner_text("main")
        assert "Volume 117, issue 6" in page.inner_text("#record")
