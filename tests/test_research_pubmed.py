"""PubMed's efetch XML becomes CSL-JSON records: many articles in one answer, MEDLINE's
shortened pages and seasonal dates written out, structured abstracts labelled, names in any
script, "et al." lists flagged, and hostile or wrong XML refused in plain words."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.research.pubmed import (
    PubMedResponseError,
    full_pages,
    parse_efetch,
)

DATA = Path(__file__).parent / "data" / "pubmed"


@pytest.fixture(scope="module")
def records() -> dict[str, dict]:
    return parse_efetch((DATA / "articles.xml").read_bytes())


def test_one_answer_gives_a_record_for_each_article_by_pmid(records):
    assert sorted(records) == ["27000001", "35000003", "9000002"]


def test_a_full_article_gives_every_field_a_citation_needs(records):
    csl = records["27000001"]
    assert csl["type"] == "article-journal"
    assert csl["container-title"] == "Nature immunology"
    assert csl["container-title-short"] == "Nat Immunol"
    assert (csl["volume"], csl["issue"], csl["page"]) == ("17", "4", "403-411")
    assert csl["issued"] == {"date-parts": [[2016, 4, 7]]}
    assert csl["DOI"] == "10.1038/ni.3410"
    assert csl["PMCID"] == "PMC4803589"
    assert csl["language"] == "en"
    assert csl["open-access-url"] == "https://pmc.ncbi.nlm.nih.gov/articles/PMC4803589/"


def test_inline_markup_in_a_title_is_made_plain_and_the_medline_full_stop_dropped(records):
    assert records["27000001"]["title"] == (
        "T cells in Mycobacterium tuberculosis infection: IL-1⁺ and CO₂ sensing"
    )
    assert records["35000003"]["title"] == "Does a question end a title?"


def test_names_in_any_script_are_kept_and_names_marked_invalid_left_out(records):
    assert records["27000001"]["author"] == [
        {"family": "Jütte", "given": "Anna-Lena"},
        {"family": "Ó Briain", "given": "Seán"},
        {"family": "王", "given": "小明"},
        {"literal": "TB Immune Consortium"},
    ]
    assert records["9000002"]["author"][1] == {"family": "Nguyễn", "given": "VT"}


def test_an_incomplete_author_list_is_flagged_as_et_al(records):
    assert records["9000002"]["authors-incomplete"] is True
    assert "authors-incomplete" not in records["27000001"]


def test_a_structured_abstract_keeps_its_labels(records):
    assert records["27000001"]["abstract"] == (
        "BACKGROUND: Tuberculosis kills >1 million people a year.\n\n"
        "RESULTS: We found ex vivo responses in Müller cells."
    )


def test_a_medline_date_range_becomes_a_date_range(records):
    assert records["9000002"]["issued"] == {"date-parts": [[1998, 3], [1998, 4]]}


def test_a_year_only_article_with_no_authors_leaves_out_what_pubmed_lacks(records):
    csl = records["35000003"]
    assert csl["issued"] == {"date-parts": [[2022]]}
    assert csl["DOI"] == "10.7554/elife.71234"  # from ELocationID when ArticleIdList lacks it
    assert csl["page"] == "e71234"
    for absent in ("author", "volume", "abstract", "open-access-url", "authors-incomplete"):
        assert absent not in csl


@pytest.mark.parametrize(
    ("given", "written_out"),
    [("1123-9", "1123-1129"), ("403-11", "403-411"), ("12-345", "12-345"), ("e12", "e12")],
)
def test_medline_shortened_page_ranges_are_written_out(given, written_out):
    assert full_pages(given) == written_out


def test_an_empty_set_means_pubmed_does_not_know_the_ids():
    assert parse_efetch((DATA / "empty.xml").read_bytes()) == {}


def test_an_eutilities_error_is_refused_with_its_message():
    with pytest.raises(PubMedResponseError, match="ID list is empty"):
        parse_efetch((DATA / "error.xml").read_bytes())


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html><body>Service unavailable", "not XML"),
        (b'{"esearchresult": {}}', "not XML"),
        (b"<eSearchResult><Count>0</Count></eSearchResult>", "not a PubmedArticleSet"),
    ],
)
def test_an_answer_that_is_not_article_xml_is_refused_in_plain_words(body, says):
    with pytest.raises(PubMedResponseError, match=says):
        parse_efetch(body)


def test_external_entities_are_not_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    body = f"""<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet [<!ENTITY leak SYSTEM "file://{secret}">]>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>
<ArticleTitle>&leak;</ArticleTitle></Article></MedlineCitation></PubmedArticle>
</PubmedArticleSet>""".encode()
    records = parse_efetch(body)
    assert "TOP SECRET" not in str(records)




def test_digits_that_are_not_ascii_leave_the_date_out_and_the_batch_whole():
    """str.isdigit() says yes to superscripts, which int() refuses: one such article must not
    lose every record of its answer."""
    article = (
        "<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article><Journal>"
        "<JournalIssue><PubDate><Year>{year}</Year><Month>³</Month><Day>¹</Day></PubDate>"
        "</JournalIssue><Title>Child Abuse Review</Title></Journal>"
        "<ArticleTitle>Kinship care</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
    )
    body = (
        "<PubmedArticleSet>"
        + article.format(pmid="41000001", year="²⁰²⁶")
        + article.format(pmid="41000002", year="2026")
        + "</PubmedArticleSet>"
    ).encode()

    records = parse_efetch(body)

    assert sorted(records) == ["41000001", "41000002"]
    assert "issued" not in records["41000001"] or "date-parts" not in records["41000001"]["issued"]
    assert records["41000002"]["issued"] == {"date-parts": [[2026]]}
