"""Which DOI, PMID and ISBN an entry or a page names as its own: found where publishers put
them, and never taken from a text that cites other works."""

from __future__ import annotations

import pytest

from digest.curation.manual import ManualItemError, describe_page, typed_identifiers
from digest.ingest.identifiers import (
    Identifiers,
    doi_in_text,
    doi_in_url,
    identify,
    normalise_isbn,
    pmid_in_text,
)


@pytest.mark.parametrize(
    ("url", "doi"),
    [
        ("https://doi.org/10.1111/CFS.13001", "10.1111/cfs.13001"),
        ("http://dx.doi.org/10.1177/1077559523117", "10.1177/1077559523117"),
        ("https://onlinelibrary.wiley.com/doi/10.1111/cfs.13001?af=R", "10.1111/cfs.13001"),
        ("https://onlinelibrary.wiley.com/doi/abs/10.1111/cfs.13001", "10.1111/cfs.13001"),
        ("https://onlinelibrary.wiley.com/doi/epdf/10.1111/cfs.13001", "10.1111/cfs.13001"),
        (  # Wiley's old article pages: the page's name follows the DOI
            "https://onlinelibrary.wiley.com/doi/10.1111/j.1365-2206.2009.00655.x/abstract",
            "10.1111/j.1365-2206.2009.00655.x",
        ),
        (
            "https://www.tandfonline.com/doi/full/10.1080/13575279.2023.2190001?af=R",
            "10.1080/13575279.2023.2190001",
        ),
        ("https://journals.sagepub.com/doi/reader/10.1177/107755952311", "10.1177/107755952311"),
        (
            "https://link.springer.com/article/10.1007/s10826-023-0255-1",
            "10.1007/s10826-023-0255-1",
        ),
        ("http://link.springer.com/10.1007/s10826-023-0255-1", "10.1007/s10826-023-0255-1"),
        (
            "https://www.frontiersin.org/articles/10.3389/fpsyg.2026.12345/full",
            "10.3389/fpsyg.2026.12345",
        ),
        (  # Oxford's advance articles: its own article number follows the DOI
            "https://academic.oup.com/bjsw/advance-article/doi/10.1093/bjsw/bcad123/7123456?rss=1",
            "10.1093/bjsw/bcad123",
        ),
        ("https://onlinelibrary.wiley.com/doi/10.1111%2Fcfs.13001", "10.1111/cfs.13001"),
        # Addresses that carry no DOI: none is made up from them.
        ("https://www.sciencedirect.com/science/article/pii/S0145213423001234", None),
        ("https://academic.oup.com/bjsw/article/53/4/2100/6759123?rss=1", None),
        ("https://adc.bmj.com/content/108/5/345?rss=1", None),
        ("https://www.gov.uk/government/publications/10.1234-report", None),
        (  # an old SICI DOI, whose "<…>" the pattern stops at: no DOI, not a cut one
            "https://onlinelibrary.wiley.com/doi/10.1002/(SICI)1097-4571(199806)49:8%3C693::"
            "AID-ASI4%3E3.0.CO;2-O",
            None,
        ),
        ("https://onlinelibrary.wiley.com/doi/10.1111/cfs.13001/suppinfo", "10.1111/cfs.13001"),
    ],
)
def test_a_doi_is_read_from_publishers_article_addresses(url: str, doi: str | None) -> None:
    assert doi_in_url(url) == doi


@pytest.mark.parametrize(
    ("identifiers", "urls", "found"),
    [
        (["10.1111/cfs.1"], [], Identifiers(doi="10.1111/cfs.1")),  # prism:doi
        (["doi:10.1080/0958.2"], [], Identifiers(doi="10.1080/0958.2")),  # dc:identifier
        (["info:doi/10.1136/adc-2026-1"], [], Identifiers(doi="10.1136/adc-2026-1")),  # BMJ
        (["https://doi.org/10.1002/car.9"], [], Identifiers(doi="10.1002/car.9")),  # an Atom id
        (
            ["pubmed:41200037", "doi:10.3390/children13"],
            ["https://pubmed.ncbi.nlm.nih.gov/41200037/?utm_source=Feedly"],
            Identifiers(doi="10.3390/children13", pmid="41200037"),
        ),
        ([], ["https://www.ncbi.nlm.nih.gov/pubmed/1234567"], Identifiers(pmid="1234567")),
        ([], ["https://europepmc.org/article/MED/41200037"], Identifiers(pmid="41200037")),
        ([], ["https://europepmc.org/article/PMC/PMC3498956"], Identifiers()),
        (["PMID: 041200037"], [], Identifiers(pmid="41200037")),
        (["urn:isbn:0-306-40615-2"], [], Identifiers(isbn="9780306406157")),
        (["ISBN 978-1-4721-5467-2"], [], Identifiers()),  # a wrong check digit: no ISBN
        (["S0145213423001234"], [], Identifiers()),  # ScienceDirect's guid is a PII
        (["https://pmc.ncbi.nlm.nih.gov/articles/PMC3498956/"], [], Identifiers()),
    ],
)
def test_identifiers_the_feed_gives_are_read(identifiers, urls, found) -> None:
    assert identify(identifiers, urls) == found


def test_the_entrys_own_identifiers_come_before_its_link() -> None:
    found = identify(["10.1111/cfs.1"], ["https://onlinelibrary.wiley.com/doi/10.1111/other"])
    assert found.doi == "10.1111/cfs.1"


@pytest.mark.parametrize(
    ("text", "doi"),
    [
        # Wiley's older feeds: the abstract, then the citation and the DOI.
        (
            "Findings for Siân’s team. Child Abuse Review, 35, e1. doi:10.1002/CAR.2001",
            "10.1002/car.2001",
        ),
        # Elsevier's block.
        (
            "Publication date: Available online 3 November 2026 Source: Child Abuse & Neglect, "
            "Volume 172 Author(s): Zoë Ó Súilleabháin DOI: 10.1016/j.chiabu.2026.107001",
            "10.1016/j.chiabu.2026.107001",
        ),
        # PubMed's description ends with both ids.
        ("An abstract. PMID:41200037 | DOI:10.3390/children13110001", "10.3390/children13110001"),
        # A citation line first, then the abstract.
        (
            "Volume 32, Issue 3, Page 201-215, https://doi.org/10.1080/13575279.2026.21. "
            "We studied carers.",
            "10.1080/13575279.2026.21",
        ),
        ("DOI: 10.1177/10775595 — Child Maltreatment, Ahead of Print.", "10.1177/10775595"),
        # Not safe: none.
        ("Two studies (doi:10.1016/j.a.2025.1; doi:10.1093/bjsw/b1) disagree.", None),
        ("Read the study: https://doi.org/10.1016/j.childyouth.2025.100001", None),
        (
            "The paper by Evans (DOI: 10.1093/bjsw/bcab001) followed 200 families. We discuss it.",
            None,
        ),
        ("Our team used 10.1111/cfs.13001 in the middle of a sentence about it.", None),
        ("A trial was reported mid-text, doi:10.1111/cfs.1, and then discussed at length.", None),
        ("Commentary on: Smith J. Kinship care. Child Abuse Rev. 2026. doi:10.1002/car.1", None),
        ("No DOI here, only 10.5 per cent of families.", None),
        (
            "Kinship carers gained. Journal reference: Evans, R. et al. (2026) Child Abuse "
            "Review. https://doi.org/10.1002/car.2999",
            None,
        ),
        ("A new study of kinship care. Source: https://doi.org/10.1002/car.2999", None),
        ("Our notes on it. References: doi:10.1002/car.2999", None),
    ],
)
def test_a_doi_in_the_text_is_taken_only_when_it_is_the_items_own(text, doi) -> None:
    assert doi_in_text(text) == doi


def test_a_doi_linked_from_the_text_counts_as_another_named() -> None:
    """The text shows one DOI, but its HTML links a second: a text citing works names none."""
    text = "Findings. doi:10.1111/cfs.13001"
    html = '<p>Findings, <a href="https://doi.org/10.1177%2F0886260518">after Ray</a>.</p>'
    assert doi_in_text(text, html) is None
    assert doi_in_text(text, "<p>Findings.</p>") == "10.1111/cfs.13001"


def test_a_pmid_in_the_text_is_taken_when_it_is_the_only_one() -> None:
    assert pmid_in_text("An abstract. PMID: 41200037 | DOI: 10.1/x") == "41200037"
    assert pmid_in_text("An abstract. PMID:41200037 | DOI:10.1/x. ") == "41200037"
    assert pmid_in_text("Compare PMID 123 and PMID 456.") is None
    assert pmid_in_text("As Evans found (PMID: 123), carers gain. We say more.") is None
    assert pmid_in_text("No id at all.") is None


@pytest.mark.parametrize(
    ("typed", "isbn"),
    [
        ("0-306-40615-2", "9780306406157"),
        ("0 8044 2957 X", "9780804429573"),  # an X check digit
        ("978-0-306-40615-7", "9780306406157"),
        ("979-10-90636-07-1", "9791090636071"),
        ("0-306-40615-3", None),  # a wrong check digit
        ("978-0-306-40615-8", None),
        ("123-4-567-89012-3", None),  # neither 978 nor 979
        ("0306", None),
    ],
)
def test_an_isbn_is_checked_and_given_as_isbn_13(typed: str, isbn: str | None) -> None:
    assert normalise_isbn(typed) == isbn


def test_a_pages_citation_tags_give_its_doi_pmid_and_isbn() -> None:
    page = """<html><head><title>Kinship care – Ceredigion</title>
    <meta name="citation_title" content="Kinship care in Ceredigion">
    <meta name="dc.identifier" content="https://doi.org/10.1111/CFS.13001">
    <meta name="citation_pmid" content="41200000">
    <meta name="citation_isbn" content="0-306-40615-2">
    </head></html>""".encode()
    found = describe_page(page, "https://example.org/article")
    assert (found.doi, found.pmid, found.isbn) == ("10.1111/cfs.13001", "41200000", "9780306406157")


def test_a_pages_address_gives_its_doi_when_no_tag_does() -> None:
    page = b"<html><head><title>Sage article</title></head></html>"
    found = describe_page(page, "https://journals.sagepub.com/doi/full/10.1177/1077559523")
    assert found.doi == "10.1177/1077559523"


def test_identifiers_typed_by_hand_are_checked() -> None:
    assert typed_identifiers(" 10.1111/cfs.1 ", "41200000", "") == Identifiers(
        doi="10.1111/cfs.1", pmid="41200000"
    )
    with pytest.raises(ManualItemError, match="“0-306-40615-3” is not an ISBN"):
        typed_identifiers(isbn="0-306-40615-3")
    with pytest.raises(ManualItemError, match=r"“cfs\.13001” is not a DOI"):
        typed_identifiers(doi="cfs.13001")
