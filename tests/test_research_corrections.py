"""A librarian corrects an item's record field by field: the corrections are audited with
the values before and after, survive the record being looked up again, and a value that
cannot be used is refused naming its field. "Look up again" asks the service afresh."""

from __future__ import annotations

import pytest
from research_server import crossref_fixture, crossref_work, local_services
from sqlalchemy import select
from test_research_enrich import DOI, items, research

from digest.citations import item_citation
from digest.citations.records import effective_record
from digest.db import transaction
from digest.errors import Refused
from digest.models import AuditEntry, Item
from digest.models.research import Enrichment, EnrichmentState
from digest.research.enrich import enrich_pending
from digest.research.review import (
    RecordCorrectionError,
    correct_record,
    form_values,
    issued_words,
    look_up_again,
    record_status,
    record_view,
)

LIBRARIAN = "lib@example.org"


@pytest.fixture
def services():
    with local_services() as running:
        running.works[DOI] = crossref_work(
            DOI, crossref_fixture("journal_article")["message"]["title"][0]
        )
        yield running


@pytest.fixture
def enriched(factory, services) -> int:
    (item_id,) = items(factory, {"doi": DOI})
    enrich_pending(factory, research(factory, services))
    return item_id


def record_of(factory, item_id: int) -> dict:
    with factory() as session:
        item = session.get(Item, item_id)
        return effective_record(item.csl, item.csl_corrections)


def correct(factory, item_id: int, **typed: str) -> dict:
    with transaction(factory) as session:
        shown = form_values(record_of(factory, item_id))
        return correct_record(session, item_id, {**shown, **typed}, LIBRARIAN)


def test_a_correction_is_laid_over_the_record_and_audited_with_before_and_after(factory, enriched):
    changed = correct(
        factory,
        enriched,
        title="Fixing CO₂ in E. coli",
        author="Jütte, Anna-Lena\nÓ Briain, Seán",
        issued="2017",
    )
    assert set(changed) == {"title", "author", "issued"}
    record = record_of(factory, enriched)
    assert record["title"] == "Fixing CO₂ in E. coli"
    assert record["author"] == [
        {"family": "Jütte", "given": "Anna-Lena"},
        {"family": "Ó Briain", "given": "Seán"},
    ]
    assert record["issued"] == {"date-parts": [[2017]]}
    assert record["container-title"] == "Nature Communications"  # untouched fields stay
    with factory() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "item.record_correct")
        ).one()
    assert entry.actor == LIBRARIAN and entry.object_id == str(enriched)
    assert entry.before["title"] == "Fixing CO₂ in Escherichia coli: a route to sugar"
    assert entry.after["title"] == "Fixing CO₂ in E. coli"
    assert entry.after["issued"] == {"date-parts": [[2017]]}


def test_the_form_sent_back_unchanged_corrects_nothing(factory, enriched):
    assert correct(factory, enriched) == {}
    with factory() as session:
        assert session.get(Item, enriched).csl_corrections is None


def test_corrections_survive_the_record_being_looked_up_again(factory, enriched, services):
    correct(factory, enriched, volume="8", publisher="")
    with transaction(factory) as session:
        look_up_again(session, enriched, LIBRARIAN)
    report = enrich_pending(factory, research(factory, services))
    assert report.enriched == 1 and report.asked == 1  # asked afresh, not from the cache
    record = record_of(factory, enriched)
    assert record["volume"] == "8"
    assert "publisher" not in record  # emptied by the librarian: the service's is hidden
    assert len(services.asked("/works/")) == 2


def test_typing_the_services_value_again_drops_the_correction(factory, enriched):
    correct(factory, enriched, volume="8")
    correct(factory, enriched, volume="7")
    with factory() as session:
        assert session.get(Item, enriched).csl_corrections is None


@pytest.mark.parametrize(
    ("field", "typed", "says"),
    [
        ("issued", "last spring", "Year published: a year such as 2016"),
        ("DOI", "not-a-doi", "DOI: a DOI such as"),
        ("URL", "javascript:alert(1)", "Link: an address starting https://"),
        ("type", "novel", "Type: one of the listed types"),
    ],
)
def test_a_value_that_cannot_be_used_is_refused_naming_its_field(
    factory, enriched, field, typed, says
):
    with pytest.raises(RecordCorrectionError, match=says):
        correct(factory, enriched, **{field: typed})
    with factory() as session:
        assert session.get(Item, enriched).csl_corrections is None


def test_the_status_says_where_the_look_up_stands(factory, enriched):
    with factory() as session:
        status = record_status(session, session.get(Item, enriched))
    assert (status.state, status.service, status.identifier) == ("enriched", "Crossref", DOI)
    assert status.looked_up_at is not None and status.can_look_up


def test_look_up_again_is_audited_and_refused_for_an_item_without_an_identifier(factory, enriched):
    (plain,) = items(factory, {})
    with transaction(factory) as session:
        row = look_up_again(session, enriched, LIBRARIAN)
        assert row.state == EnrichmentState.PENDING and row.attempts == 0
    with factory() as session:
        assert session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "item.record_lookup")
        ).all() == ["item.record_lookup"]
    with pytest.raises(Refused, match="no DOI or PMID"), transaction(factory) as session:
        look_up_again(session, plain, LIBRARIAN)
    with factory() as session:
        assert session.get(Enrichment, plain) is None


@pytest.mark.parametrize(
    ("issued", "words"),
    [
        ({"date-parts": [[2016]]}, "2016"),
        ({"date-parts": [[2016, 3]]}, "March 2016"),
        ({"date-parts": [[2016, 3, 15]]}, "15 March 2016"),
        ({"date-parts": [[1998, 3], [1998, 4]]}, "March–April 1998"),
        ({"date-parts": [[1998, 12], [1999, 1]]}, "December 1998–January 1999"),
        ({"literal": "Spring 2000"}, "Spring 2000"),
        (None, ""),
    ],
)
def test_a_records_date_is_shown_in_words(issued, words):
    assert issued_words(issued) == words


def test_a_corrected_doi_becomes_the_items_own_and_is_looked_up(factory, enriched, services):
    """The feed's DOI was wrong: the item is known by the right one from now on, and the
    next run asks Crossref about it (the record of the wrong one is of another work)."""
    right = "10.1002/car.2901"
    services.works[right] = crossref_work(right, "Kinship care and contact")

    changed = correct(factory, enriched, DOI=right)

    assert set(changed) == {"DOI"}
    with factory() as session:
        item = session.get(Item, enriched)
        assert item.doi == right
        row = session.get(Enrichment, enriched)
        assert (row.identifier, row.state) == (right, EnrichmentState.PENDING)
    enrich_pending(factory, research(factory, services))
    assert record_of(factory, enriched)["title"] == "Kinship care and contact"


def test_a_doi_another_item_has_is_refused_and_nothing_changes(factory, enriched) -> None:
    items(factory, {"doi": "10.1002/car.2902"})
    with pytest.raises(RecordCorrectionError, match=r"already has 10\.1002/car\.2902"):
        correct(factory, enriched, DOI="10.1002/car.2902")
    with factory() as session:
        assert session.get(Item, enriched).doi == DOI
        assert session.get(Item, enriched).csl_corrections is None


def test_a_detail_added_to_an_item_with_no_record_adds_to_its_citation(factory) -> None:
    """A news item is cited from its own fields; a librarian adds its publisher, and the
    citation gains it rather than losing its title, authors and date."""
    (item_id,) = items(factory, {"authors": ["Smith, Alex"]})
    with factory() as session:
        before = item_citation(session.get(Item, item_id), None).text
    assert before.startswith("Smith, A. (")

    with transaction(factory) as session:
        item = session.get(Item, item_id)
        shown = record_view(session, item).form
        correct_record(session, item_id, {**shown, "publisher": "NSPCC"}, LIBRARIAN)

    with factory() as session:
        item = session.get(Item, item_id)
        assert item.csl is None and item.csl_corrections == {"publisher": "NSPCC"}
        after = item_citation(item, None).text
    assert after.startswith("Smith, A. (") and "Feed title 0 — Über" in after


def test_a_catalogue_type_the_list_lacks_is_kept_when_another_field_is_corrected(factory):
    (item_id,) = items(factory, {})
    with transaction(factory) as session:
        session.get(Item, item_id).csl = {"type": "map", "title": "Safeguarding hubs, 2026"}
    with transaction(factory) as session:
        view = record_view(session, session.get(Item, item_id))
        assert view.form["type"] == "map" and "map" in view.types
        correct_record(session, item_id, {**view.form, "title": "Safeguarding hubs"}, LIBRARIAN)
    assert record_of(factory, item_id)["type"] == "map"


def test_emptying_a_wrongly_found_doi_frees_the_item_from_it(factory, enriched) -> None:
    """Entries carrying the wrong DOI are no longer merged into this item, and with no PMID
    there is nothing left to look up."""
    correct(factory, enriched, DOI="")
    with factory() as session:
        assert session.get(Item, enriched).doi is None
        assert session.get(Enrichment, enriched) is None
    assert "DOI" not in record_of(factory, enriched)


def test_a_doi_longer_than_the_database_keeps_is_refused_in_words(factory, enriched) -> None:
    with pytest.raises(RecordCorrectionError, match="at most 200 characters"):
        correct(factory, enriched, DOI="10.1234/" + "x" * 300)
