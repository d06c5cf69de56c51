"""Enrichment: items with a DOI get Crossref's record and items with a PMID PubMed's, asked
of a real local server shaped like the services; a DOI is asked about once however many items
carry it; pauses the service asks for are honoured; failures are recorded on the item in
plain words and retried later, and one failure never stops the others."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from research_server import Reply, crossref_fixture, crossref_work, local_services
from sqlalchemy import select
from webapp import add_items, entry, settings_for

from digest.db import transaction
from digest.ingest.fetch import FetchSettings
from digest.models import Item
from digest.models.research import Enrichment, EnrichmentState, ResearchLookup
from digest.research.enrich import MAX_ATTEMPTS, NOT_FOUND_RECHECK, enrich_pending
from digest.research.lookup import ResearchSettings
from digest.timeutil import utcnow

DOI = "10.1038/ncomms10999"
CONTACT = "library@example.org"
LINKS = itertools.count()


@pytest.fixture
def services():
    with local_services() as running:
        running.works[DOI] = crossref_work(
            DOI, crossref_fixture("journal_article")["message"]["title"][0]
        )
        yield running


def research(factory, services, timeout: float = 5.0, **given) -> ResearchSettings:
    chosen = {
        "crossref_url": services.url,
        "pubmed_url": f"{services.url}/entrez/eutils",
        "research_contact": CONTACT,
        "research_private_network": True,
        "crossref_rate": 200,
        "crossref_concurrency": 4,
        "pubmed_rate": 50,
    }
    settings = settings_for(factory, **{**chosen, **given})
    return ResearchSettings.from_settings(settings, FetchSettings(total_timeout=timeout))


def items(factory, *identifiers: dict) -> list[int]:
    """Items as a feed gives them, with the DOIs or PMIDs given, no authors."""
    entries = [
        replace(
            entry(f"Feed title {n} — Über", f"https://example.org/article/{next(LINKS)}"), **ids
        )
        for n, ids in enumerate(identifiers)
    ]
    return add_items(factory, entries)


def state(factory, item_id: int) -> tuple[Enrichment, Item]:
    with factory() as session:
        return session.get(Enrichment, item_id), session.get(Item, item_id)


def test_an_item_with_a_doi_gets_crossrefs_record_beside_it(factory, services):
    (item_id,) = items(factory, {"doi": DOI})
    report = enrich_pending(factory, research(factory, services))
    assert (report.queued, report.enriched, report.asked) == (1, 1, 1)
    row, item = state(factory, item_id)
    assert row.state == EnrichmentState.ENRICHED and row.enriched_at is not None
    assert row.last_error is None
    assert item.csl["container-title"] == "Nature Communications"
    assert item.csl["author"][2] == {"family": "王", "given": "小明"}
    assert item.title == "Feed title 0 — Über"  # the feed's (or a librarian's) title stays
    assert item.authors == [
        "Anna-Lena Jütte",
        "Seán Ó Briain",
        "小明 王",
        "The E. coli Fixation Consortium",
    ]
    assert item.publisher == "Springer Science and Business Media LLC"
    assert services.asked("/works/") == [f"/works/{DOI}?mailto={CONTACT}"]


def test_items_with_a_pmid_are_asked_of_pubmed_together(factory, services):
    ids = items(factory, {"pmid": "27000001"}, {"pmid": "9000002"}, {"pmid": "41000000"})
    report = enrich_pending(factory, research(factory, services))
    assert (report.enriched, report.not_found) == (2, 1)
    (request,) = services.asked("/entrez/eutils/efetch.fcgi")
    assert "id=27000001,41000000,9000002" in request
    assert f"email={CONTACT}" in request and "tool=digest" in request
    row, item = state(factory, ids[0])
    assert item.csl["title"].startswith("T cells in Mycobacterium tuberculosis")
    row, _ = state(factory, ids[2])
    assert row.state == EnrichmentState.NOT_FOUND
    assert row.last_error == "PubMed does not know this PMID."


def sharing(factory, doi: str, count: int) -> list[int]:
    """Items carrying one DOI, as a librarian's "these are different" leaves them (a feed's
    copies of one DOI are stored as one item)."""
    ids = items(factory, *({"doi": f"10.5555/copy-{next(LINKS)}"} for n in range(count)))
    with transaction(factory) as session:
        for item in session.scalars(select(Item).where(Item.id.in_(ids))):
            item.doi = doi
    return ids


def test_a_doi_is_asked_about_once_however_many_items_carry_it(factory, services):
    first, second = sharing(factory, DOI, 2)
    enrich_pending(factory, research(factory, services))
    (later,) = sharing(factory, DOI, 1)
    report = enrich_pending(factory, research(factory, services))
    assert report.from_cache == 1 and report.asked == 0
    assert len(services.asked("/works/")) == 1
    for item_id in (first, second, later):
        assert state(factory, item_id)[1].csl["DOI"] == DOI


def test_an_unknown_doi_is_not_found_and_not_asked_again_for_a_week(factory, services):
    (item_id,) = items(factory, {"doi": "10.9999/unknown"})
    enrich_pending(factory, research(factory, services))
    row, item = state(factory, item_id)
    assert row.state == EnrichmentState.NOT_FOUND
    assert row.last_error == "Crossref does not know this DOI."
    assert row.next_attempt_at - utcnow() > NOT_FOUND_RECHECK - timedelta(minutes=1)
    assert item.csl is None
    sharing(factory, "10.9999/unknown", 1)
    enrich_pending(factory, research(factory, services))
    assert len(services.asked("/works/")) == 1  # the cached "not known"
    with factory() as session:
        lookup = session.get(ResearchLookup, ("crossref", "10.9999/unknown"))
        assert lookup is not None and lookup.found is False


def test_a_short_pause_crossref_asks_for_is_waited_out_in_the_same_run(factory, services):
    items(factory, {"doi": DOI})
    services.scripted[DOI] = [
        Reply(429, b"slow down", {"Retry-After": "1", "X-Rate-Limit-Limit": "50"})
    ]
    started = time.monotonic()
    report = enrich_pending(factory, research(factory, services))
    assert time.monotonic() - started >= 1
    assert report.enriched == 1
    assert len(services.asked("/works/")) == 2


def test_a_long_pause_leaves_the_item_for_a_later_run_in_plain_words(factory, services):
    (item_id,) = items(factory, {"doi": DOI})
    services.scripted[DOI] = [Reply(503, b"<html>down</html>", {"Retry-After": "3600"})]
    report = enrich_pending(factory, research(factory, services))
    assert report.retrying == 1
    row, _ = state(factory, item_id)
    assert row.state == EnrichmentState.PENDING and row.attempts == 1
    assert row.last_error == "Crossref was unavailable for a while (503 Service Unavailable)."
    assert row.next_attempt_at - utcnow() > timedelta(minutes=59)
    assert enrich_pending(factory, research(factory, services)).asked == 0  # not due yet


def test_a_timeout_is_recorded_and_the_other_items_are_still_enriched(factory, services):
    services.works["10.5555/fine"] = crossref_work("10.5555/fine", "Fine")
    slow, fine = items(factory, {"doi": DOI}, {"doi": "10.5555/fine"})
    services.scripted[DOI] = [Reply(200, b"{}", delay=3)]
    report = enrich_pending(factory, research(factory, services, timeout=0.5))
    assert (report.enriched, report.retrying) == (1, 1)
    row, _ = state(factory, slow)
    assert row.last_error == "Crossref could not be reached (no answer within 0.5 seconds)."
    assert row.next_attempt_at - utcnow() > timedelta(minutes=4)
    assert state(factory, fine)[1].csl["title"] == "Fine"


def test_a_garbage_body_is_retried_later_with_the_reason(factory, services):
    (item_id,) = items(factory, {"doi": DOI})
    services.scripted[DOI] = [Reply(200, b"<html>Gateway says hello</html>")]
    enrich_pending(factory, research(factory, services))
    row, item = state(factory, item_id)
    assert row.state == EnrichmentState.PENDING
    assert row.last_error.startswith("Crossref's answer could not be read: ")
    assert "not JSON" in row.last_error
    assert item.csl is None


def test_repeated_failures_end_in_failed_with_the_last_reason(factory, services):
    (item_id,) = items(factory, {"doi": DOI})
    enrich_pending(factory, research(factory, services, crossref_url="http://127.0.0.1:9"))
    with transaction(factory) as session:
        row = session.get(Enrichment, item_id)
        assert row.state == EnrichmentState.PENDING
        row.attempts, row.next_attempt_at = MAX_ATTEMPTS - 1, utcnow()
    report = enrich_pending(factory, research(factory, services, crossref_url="http://127.0.0.1:9"))
    assert report.failed == 1
    row, _ = state(factory, item_id)
    assert row.state == EnrichmentState.FAILED and row.next_attempt_at is None
    assert row.last_error == "Crossref could not be reached (the connection failed)."


def test_a_service_on_a_private_network_is_refused_unless_the_setting_allows_it(factory, services):
    (item_id,) = items(factory, {"doi": DOI})
    enrich_pending(factory, research(factory, services, research_private_network=False))
    row, _ = state(factory, item_id)
    assert row.state == EnrichmentState.FAILED
    assert row.last_error == "Crossref could not be reached (its address is on a private network)."
    assert services.requests == []


def test_an_item_whose_source_gave_the_record_is_not_looked_up(factory, services):
    record = {"DOI": DOI, "title": "From the journal's own listing", "type": "article-journal"}
    (item_id,) = items(factory, {"doi": DOI, "csl": record})
    report = enrich_pending(factory, research(factory, services))
    assert report.queued == 1 and report.asked == 0
    row, item = state(factory, item_id)
    assert row.state == EnrichmentState.ENRICHED and item.csl == record
