"""Crossref's answers become CSL-JSON records a citation can be made from: every field a
citation needs, names in any script, titles with their markup made plain and safe, dates
with only a year, open access only where the licence says so, and a clear error for an
answer that is not Crossref's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digest.research.crossref import (
    CrossrefResponseError,
    parse_work,
    parse_work_list,
    work_to_csl,
)
from digest.research.harvests import issued

DATA = Path(__file__).parent / "data" / "crossref"


def record(name: str) -> dict:
    return parse_work((DATA / f"{name}.json").read_bytes())


def test_a_journal_article_gives_every_field_a_citation_needs():
    csl = record("journal_article")
    assert csl["type"] == "article-journal"
    assert csl["DOI"] == "10.1038/ncomms10999"  # DOIs compare case-blind; kept lower-case
    assert csl["container-title"] == "Nature Communications"
    assert csl["container-title-short"] == "Nat Commun"
    assert (csl["volume"], csl["issue"], csl["page"]) == ("7", "3", "10999-11012")
    assert csl["publisher"] == "Springer Science and Business Media LLC"
    assert csl["issued"] == {"date-parts": [[2016, 3, 15]]}
    assert csl["ISSN"] == "2041-1723"
    assert csl["license"] == "https://creativecommons.org/licenses/by/4.0"


def test_names_in_any_script_and_organisations_are_kept_as_written():
    assert record("journal_article")["author"] == [
        {"family": "Jütte", "given": "Anna-Lena"},
        {"family": "Ó Briain", "given": "Seán"},
        {"family": "王", "given": "小明"},
        {"literal": "The E. coli Fixation Consortium"},
    ]


def test_html_in_a_title_becomes_plain_text_with_formula_digits_kept():
    assert record("journal_article")["title"] == "Fixing CO₂ in Escherichia coli: a route to sugar"


def test_mathml_and_scripts_in_a_title_leave_only_their_words():
    title = record("preprint_undated")["title"]
    assert title == "The Kd of a receptor <unbound>: a second look"
    assert "alert" not in title


def test_a_jats_abstract_becomes_paragraphs_without_its_heading():
    assert record("journal_article")["abstract"] == (
        "Carbon fixation in Escherichia coli turns CO₂ into sugar & energy.\n\n"
        "We show a 10³-fold gain at 37 °C — in Zürich and 北京."
    )


def test_sixty_authors_and_an_et_al_keep_the_sixty_and_say_the_list_is_cut():
    csl = record("many_authors")
    assert len(csl["author"]) == 60
    assert csl["author"][7] == {"family": "田中", "given": "Hiroshi"}
    assert csl["authors-incomplete"] is True
    assert csl["number"] == "061102"  # an article number where there are no pages
    assert "page" not in csl


def test_a_sparse_chapter_leaves_out_what_crossref_does_not_give():
    csl = record("book_chapter_sparse")
    assert csl["type"] == "chapter"
    assert csl["issued"] == {"date-parts": [[1987]]}
    assert csl["title"] == "Les bibliothèques & la mémoire"
    assert csl["publisher"] == "Éditions de l’Université"
    assert csl["editor"] == [{"family": "Dupré", "given": "Marie"}]
    for absent in ("author", "container-title", "volume", "abstract", "open-access-url"):
        assert absent not in csl


def test_a_null_issued_date_falls_back_to_online_publication():
    assert record("preprint_undated")["issued"] == {"date-parts": [[2020, 1, 3]]}


def test_a_work_with_no_date_at_all_has_no_issued_date():
    assert "issued" not in work_to_csl({"DOI": "10.1/x", "issued": {"date-parts": [[None]]}})


def test_a_year_no_calendar_has_is_no_date_and_stops_nothing():
    """Crossref once sent 2**40 for a year; datetime() overflows on it, and a harvest that
    raised on it failed at every poll."""
    work = {"DOI": "10.1/x", "issued": {"date-parts": [[2**40, 13, 40]]}, "title": ["T"]}
    assert "issued" not in work_to_csl(work)
    assert issued({"issued": {"date-parts": [[2**40]]}}) == (None, False)


def test_control_characters_are_taken_out_of_every_field():
    """PostgreSQL refuses NUL in text: one such title once stopped every enrichment run."""
    work = {
        "DOI": "10.1/x",
        "title": ["Kinship\u0000 care"],
        "volume": "3\u0000",
        "publisher": "Wiley\u0007",
        "author": [{"family": "Jütte\u0000", "given": "Sonja"}],
    }
    record = work_to_csl(work)
    assert (record["title"], record["volume"], record["publisher"]) == (
        "Kinship care",
        "3",
        "Wiley",
    )
    assert record["author"][0]["family"] == "Jütte"


@pytest.mark.parametrize(
    ("crossref_type", "csl_type"),
    [
        ("journal-article", "article-journal"),
        ("book-chapter", "chapter"),
        ("proceedings-article", "paper-conference"),
        ("posted-content", "article"),
        ("report", "report"),
        ("dissertation", "thesis"),
        ("something-new", "document"),
    ],
)
def test_crossref_types_map_to_csl_types(crossref_type, csl_type):
    assert work_to_csl({"DOI": "10.1/x", "type": crossref_type})["type"] == csl_type


def test_open_access_needs_a_creative_commons_licence_on_the_version_of_record():
    # A vor CC licence: the HTML full-text link is preferred over a text-mining PDF.
    assert record("journal_article")["open-access-url"] == (
        "https://www.nature.com/articles/ncomms10999"
    )
    # CC licence, no links: the DOI link.
    assert record("many_authors")["open-access-url"] == (
        "https://doi.org/10.1103/physrevlett.116.061102"
    )
    # A publisher's own licence is not open access; nor is a CC licence after an embargo.
    assert "open-access-url" not in record("book_chapter_sparse")
    assert "open-access-url" not in record("preprint_undated")


def test_a_page_of_works_skips_works_without_a_doi_and_gives_the_next_cursor():
    page = parse_work_list((DATA / "work_list.json").read_bytes())
    assert [r["DOI"] for r in page.records] == [
        "10.1016/j.lib.2026.01.001",
        "10.1016/j.lib.2026.01.002",
    ]
    assert page.records[0]["author"] == [{"family": "Ōno", "given": "Kenji"}]
    assert page.next_cursor == "DnF1ZXJ5VGhlbkZldGNoBgAAAAAAkZ"
    assert page.total_results == 3


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"Resource not found.", "not JSON"),
        (b"<html>503 Service Unavailable</html>", "not JSON"),
        (b'{"status": "ok", "message-type": "work"}', "no 'message'"),
        (b'{"status": "failed", "message-type": "work", "message": {}}', "status 'failed'"),
        (json.dumps({"status": "ok", "message-type": "work-list", "message": {}}), "work-list"),
    ],
)
def test_an_answer_that_is_not_a_crossref_work_is_refused_in_plain_words(body, says):
    with pytest.raises(CrossrefResponseError, match=says):
        parse_work(body)


def test_a_link_readers_may_not_be_given_is_left_out():
    """Only http and https, as for a feed's link: the record's URL reaches pages and files."""
    assert "URL" not in work_to_csl({"DOI": "10.1/x", "URL": "javascript:alert(1)"})
    kept = work_to_csl({"DOI": "10.1/x", "URL": "https://doi.org/10.1/x"})
    assert kept["URL"] == "https://doi.org/10.1/x"
