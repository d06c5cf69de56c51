"""PubMed's E-utilities answers made into CSL-JSON records: `efetch` article XML (many
PMIDs in one answer) and `esearch` id lists. Pure functions, no network.

The XML is parsed without a DTD, external entities or network access, so a hostile answer
cannot read files or expand itself. Records use the same names as `crossref.work_to_csl`,
including `authors-incomplete` (PubMed's AuthorList CompleteYN="N") and `open-access-url`
(the article's free copy at PubMed Central, when it has one).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from lxml import etree

from digest.errors import Invalid
from digest.research.text import inline_text, without_controls

PMC_ARTICLE_URL = "https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/"
PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_SEASONS = {"spring": 1, "summer": 2, "autumn": 3, "fall": 3, "winter": 4}
_MEDLINE_DATE = re.compile(r"(\d{4})(?:\s+([A-Za-z]+))?")
# MEDLINE's ISO 639-2 codes for the languages most articles are in -> CSL's BCP 47 tags.
_LANGUAGES = {
    "eng": "en",
    "fre": "fr",
    "ger": "de",
    "spa": "es",
    "ita": "it",
    "por": "pt",
    "rus": "ru",
    "chi": "zh",
    "jpn": "ja",
    "dut": "nl",
    "pol": "pl",
    "kor": "ko",
}
_PAGE_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")
PMID = re.compile(r"^\d{1,10}$")


class PubMedResponseError(Invalid):
    """A response that is not what the E-utilities send; the message says what was wrong."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _root(body: bytes) -> etree._Element:
    try:
        root = etree.fromstring(body, parser=_parser())
    except etree.XMLSyntaxError as error:
        raise PubMedResponseError(f"PubMed's answer is not XML ({error}).") from None
    if root is None:
        raise PubMedResponseError("PubMed's answer is empty.")
    return root


def _text(element: etree._Element | None) -> str:
    """An element's text with inline markup (<i>, <sup>, …) made plain."""
    if element is None:
        return ""
    if len(element) == 0:
        return inline_text(element.text or "")
    inner = etree.tostring(element, encoding="unicode", with_tail=False)
    return inline_text(inner[inner.index(">") + 1 : inner.rindex("<")])


def _plain(element: etree._Element | None, path: str) -> str:
    found = element.find(path) if element is not None else None
    return " ".join("".join(found.itertext()).split()) if found is not None else ""


def parse_efetch(body: bytes) -> dict[str, dict[str, Any]]:
    """CSL-JSON records by PMID from an efetch answer; a PMID it leaves out is not known.

    Raises PubMedResponseError when the answer is an E-utilities error or not article XML.
    """
    root = _root(body)
    if root.tag == "eFetchResult" or root.tag == "ERROR":
        message = _plain(root, "ERROR") or (root.text or "").strip() or "an error"
        raise PubMedResponseError(f"PubMed answered with an error: {message}")
    if root.tag != "PubmedArticleSet":
        raise PubMedResponseError(f"PubMed's answer is a <{root.tag}>, not a PubmedArticleSet.")
    records: dict[str, dict[str, Any]] = {}
    for article in root.iterfind("PubmedArticle"):
        record = article_to_csl(article)
        if record.get("PMID"):
            records[record["PMID"]] = record
    return records


def _digits(text: str) -> bool:
    """Whether `text` is a number as int() reads it: str.isdigit() also says yes to "²⁰²⁶"."""
    return text.isascii() and text.isdigit()


def _month(word: str) -> int | None:
    word = word.strip().lower()
    if _digits(word) and 1 <= int(word) <= 12:
        return int(word)
    return _MONTHS.get(word[:3])


def pub_date(element: etree._Element | None) -> dict[str, Any] | None:
    """A CSL date from a <PubDate>: Year/Month/Day, or a MedlineDate like "2016 Mar-Apr"."""
    if element is None:
        return None
    year = _plain(element, "Year")
    if _digits(year):
        parts = [int(year)]
        month = _month(_plain(element, "Month"))
        if month:
            parts.append(month)
            day = _plain(element, "Day")
            if _digits(day) and 1 <= int(day) <= 31:
                parts.append(int(day))
        season = _SEASONS.get(_plain(element, "Season").lower())
        return {"date-parts": [parts], **({"season": season} if season else {})}
    medline = _plain(element, "MedlineDate")
    found = [
        [int(y)] + ([m] if (m := _month(word or "")) else [])
        for y, word in _MEDLINE_DATE.findall(medline)
    ]
    if not found:
        return {"literal": medline} if medline else None
    # "2016 Mar-Apr": the second month belongs to the first year.
    months = re.findall(r"\b([A-Za-z]{3,})\b", medline)
    if len(found) == 1 and len(months) >= 2 and (second := _month(months[-1])):
        found.append([found[0][0], second])
    return {"date-parts": found[:2]}


def full_pages(pages: str) -> str:
    """MEDLINE's shortened range written out ("123-9" -> "123-129"); others as given."""
    match = _PAGE_RANGE.match(pages.strip())
    if not match:
        return pages.strip()
    start, end = match.groups()
    if len(end) < len(start):
        end = start[: len(start) - len(end)] + end
    return f"{start}-{end}"


def _authors(author_list: etree._Element | None) -> tuple[list[dict[str, str]], bool]:
    if author_list is None:
        return [], False
    names: list[dict[str, str]] = []
    for author in author_list.iterfind("Author"):
        if author.get("ValidYN") == "N":  # a name PubMed has marked as wrong
            continue
        family = _plain(author, "LastName")
        given = _plain(author, "ForeName") or _plain(author, "Initials")
        collective = _text(author.find("CollectiveName"))
        if family:
            name = {"family": unicodedata.normalize("NFC", family)}
            if given:
                name["given"] = unicodedata.normalize("NFC", given)
            if _plain(author, "Suffix"):
                name["suffix"] = _plain(author, "Suffix")
            names.append(name)
        elif collective:
            names.append({"literal": collective})
    return names, author_list.get("CompleteYN") == "N"


def _abstract(article: etree._Element) -> str:
    paragraphs = []
    for part in article.iterfind("Abstract/AbstractText"):
        text = _text(part)
        label = part.get("Label")
        if text:
            paragraphs.append(f"{label.strip().upper()}: {text}" if label else text)
    return "\n\n".join(paragraphs)


def _title(article: etree._Element) -> str:
    title = _text(article.find("ArticleTitle")) or _text(article.find("VernacularTitle"))
    # MEDLINE ends every title with a full stop; a citation style adds its own.
    return title[:-1] if title.endswith(".") and not title.endswith("..") else title


def article_to_csl(article: etree._Element) -> dict[str, Any]:
    """A CSL-JSON record from one <PubmedArticle>; fields PubMed lacks are left out."""
    citation = article.find("MedlineCitation")
    art = citation.find("Article") if citation is not None else None
    pmid = _plain(citation, "PMID")
    ids = {
        (node.get("IdType") or ""): (node.text or "").strip()
        for node in article.iterfind("PubmedData/ArticleIdList/ArticleId")
    }
    doi = ids.get("doi", "")
    if not doi and art is not None:
        for location in art.iterfind("ELocationID"):
            if location.get("EIdType") == "doi" and location.get("ValidYN", "Y") == "Y":
                doi = (location.text or "").strip()
    pmcid = ids.get("pmc", "")
    names, incomplete = _authors(art.find("AuthorList") if art is not None else None)
    journal = art.find("Journal") if art is not None else None
    pages = _plain(art, "Pagination/MedlinePgn")
    elocation = next(
        (
            (loc.text or "").strip()
            for loc in (art.iterfind("ELocationID") if art is not None else [])
            if loc.get("EIdType") == "pii"
        ),
        "",
    )
    record: dict[str, Any] = {
        "id": f"pmid:{pmid}",
        "type": "article-journal",
        "title": _title(art) if art is not None else "",
        "author": names,
        "container-title": _text(journal.find("Title")) if journal is not None else "",
        "container-title-short": _plain(journal, "ISOAbbreviation"),
        "volume": _plain(journal, "JournalIssue/Volume"),
        "issue": _plain(journal, "JournalIssue/Issue"),
        "page": full_pages(pages) if pages else elocation,
        "ISSN": _plain(journal, "ISSN"),
        "issued": pub_date(journal.find("JournalIssue/PubDate") if journal is not None else None),
        "abstract": _abstract(art) if art is not None else "",
        "language": _LANGUAGES.get(_plain(art, "Language"), ""),
        "DOI": doi.lower(),
        "PMID": pmid,
        "PMCID": pmcid,
        "URL": PUBMED_URL.format(pmid=pmid) if pmid else "",
        "open-access-url": PMC_ARTICLE_URL.format(pmcid=pmcid) if pmcid else "",
    }
    if incomplete:
        record["authors-incomplete"] = True
    return without_controls(
        {key: value for key, value in record.items() if value not in ("", [], None)}
    )
