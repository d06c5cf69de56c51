"""Finding a publication's DOI, PubMed id and ISBN in what a feed or a page says about it.

A DOI is the strongest identity a journal article has: the same DOI in two feeds is one item,
whatever the two addresses (and so is the same PMID). It is looked for first where publishers
put it about the entry itself (`prism:doi`, `dc:identifier`, the guid), then in the link
(`doi.org/…` or a publisher's `/doi/…` path), and last in the entry's text, where it is taken
only when it is safe: labelled ("doi:", "DOI", a resolver's address), where journals' tables
of contents put the item's own (the text's start or end, or beside "Volume … Issue …"), and
the only DOI in the text. A text naming two DOIs (a review citing works) gives none: a false
DOI would merge two publications, where a missing one only leaves a possible duplicate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# Crossref's advice for matching modern DOIs: "10.", a registrant code of 4-9 digits, "/", then
# a suffix of letters, digits and -._;()/:. Trailing punctuation is not part of it.
_DOI = re.compile(r"\b(10\.\d{4,9}/[-._;()/:a-z0-9]+)", re.IGNORECASE)
_DOI_PREFIX = re.compile(r"^\s*(?:doi:\s*|info:doi/|urn:doi:)", re.IGNORECASE)
# Where a DOI sits in a URL: a resolver's path; Springer's feeds' own short form
# (link.springer.com/10.1007/…); a publisher's /doi/ path, with or without one word after it
# (Wiley /doi/abs/, T&F /doi/full/, SAGE /doi/reader/ …); Springer's /article/ and /chapter/
# and Frontiers' /articles/ paths.
_DOI_IN_URL = re.compile(
    r"^https?://(?:dx\.|www\.)?doi\.org/(?P<resolver>.+)$"
    r"|^https?://link\.springer\.com/(?P<springer>10\.\d{4,9}/.+)$"
    r"|/(?:doi(?:/[a-z]+)?|articles?|chapter)/(?P<path>10\.\d{4,9}/.+)$",
    re.IGNORECASE,
)
# Pages under an article's address that are not part of its DOI: old Wiley's
# /doi/10.1111/x/abstract, Frontiers' /full, Springer's /fulltext.html.
_PAGE_AFTER_DOI = re.compile(
    r"/(?:abstract|full|fulltext(?:\.html)?|pdf|epdf|pdfdirect|meta|summary|references|"
    r"figures|tables|suppinfo|citedby)/?$",
    re.IGNORECASE,
)
# Oxford Academic puts its own article number after the DOI: /doi/10.1093/bjsw/bcad123/7123456.
_OUP_ARTICLE_NUMBER = re.compile(r"/\d+/?$")

# A DOI labelled as such in running text: "DOI: 10.…", "doi:10.…", "https://doi.org/10.…".
_LABELLED_DOI = re.compile(
    r"(?:\bdoi\b\s*:?\s*|(?:https?://)?(?:dx\.|www\.)?doi\.org/)(10\.\d{4,9}/\S+)",
    re.IGNORECASE,
)
# Words of a table of contents' citation line, near which a labelled DOI is the item's own.
_CITATION_LINE = re.compile(
    r"\b(?:volume|vol\.|issue|page|pages|pp\.|publication date|source:|ahead of print|"
    r"early ?view|accepted manuscript|in press)",
    re.IGNORECASE,
)
CITATION_LINE_REACH = 200  # characters before the DOI in which the citation line's words count
# Words by which a text points at another work ("read the study: doi:…"): never the item's own.
_POINTS_ELSEWHERE = re.compile(
    r"\b(?:study|paper|research|read|see|via|cited|citing|reference|original|according|"
    r"published in|preprint|dataset|data set)\b[^.]{0,60}$",
    re.IGNORECASE,
)
# A reference to another work, however its sentence runs ("Evans, R. et al. (2026) …"), or a
# DOI given as a post's source: the DOI is the work's, not the item's.
_REFERENCE = re.compile(
    r"\bet al\b|\bjournal reference\b|\breferences?\s*:|\bcitation\s*:|\bsource\s*:\s*$",
    re.IGNORECASE,
)
# What may follow the item's own id at the end of a text: punctuation, and its other ids
# (PubMed's "PMID:41200037 | DOI:10.…").
_ONLY_IDS_AFTER = re.compile(
    r"(?:[\s|.,;]*(?:doi|pmid|pmcid)\s*:?\s*\S+)*[\s|.,;:)\]]*$", re.IGNORECASE
)
# A text about another publication (a comment on it, a correction to it) names that one's DOI.
_ABOUT_ANOTHER = re.compile(
    r"\b(?:comment(?:ary)? on|in response to|reply to|correction to|erratum (?:to|for)|"
    r"retraction (?:of|notice)|expression of concern|corrigendum)\b",
    re.IGNORECASE,
)

# PubMed's ids: digits (eight today); `pubmed:` guids, `pmid:` identifiers, PubMed's pages.
_PMID_IDENTIFIER = re.compile(r"^\s*(?:pubmed|pmid|info:pmid/)\s*:?\s*(\d{1,9})\s*$", re.I)
_PMID_IN_URL = re.compile(
    r"^https?://(?:pubmed\.ncbi\.nlm\.nih\.gov|(?:www\.)?ncbi\.nlm\.nih\.gov/pubmed"
    r"|(?:www\.)?europepmc\.org/(?:article|abstract)/MED)/(\d{1,9})/?$",  # Europe PMC's MED: PubMed
    re.IGNORECASE,
)
_LABELLED_PMID = re.compile(r"\bPMID\s*:?\s*(\d{1,9})\b")

_ISBN_IDENTIFIER = re.compile(
    r"^\s*(?:urn:isbn:|isbn(?:-1[03])?\s*:?\s*)([0-9][-0-9 ]{8,16}[0-9x])\s*$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Identifiers:
    """The identifiers found for one publication; None where it has none that is certain."""

    doi: str | None = None  # lower-case, "10.…/…"
    pmid: str | None = None  # digits
    isbn: str | None = None  # ISBN-13, digits


def identify(
    identifiers: Iterable[str | None], urls: Iterable[str | None], text: str = "", html: str = ""
) -> Identifiers:
    """DOI, PMID and ISBN from an entry's identifiers (guid, `prism:doi`, `dc:identifier`),
    its addresses, and its text (plain, and the cleaned HTML it came from, whose links count
    as DOIs it names)."""
    given = [value for value in identifiers if value]
    addresses = [url for url in urls if url]
    doi = find_doi(given, addresses) or doi_in_text(text, html)
    pmid = next(
        (found for value in [*given, *addresses] if (found := _pmid(value))), None
    ) or pmid_in_text(text)
    isbn = next((found for value in given if (found := _isbn_identifier(value))), None)
    return Identifiers(doi, pmid, isbn)


def normalise_doi(value: str) -> str | None:
    """`value` as a bare, lower-case DOI (DOIs are case-insensitive), or None if it is not one."""
    match = _DOI.search(_DOI_PREFIX.sub("", unquote(value)))
    if match is None:
        return None
    doi = match[1].rstrip(".,;:/")
    while doi.endswith(")") and doi.count(")") > doi.count("("):  # "(doi:10.…/…)"
        doi = doi[:-1]
    return doi.lower() if "/" in doi and not doi.endswith("/") else None


def doi_in_url(url: str) -> str | None:
    """The DOI a URL carries in its path (a resolver's, or a publisher's article address)."""
    bare = unquote(url.split("?")[0].split("#")[0])
    match = _DOI_IN_URL.search(bare)
    if match is None:
        return None
    found = match["resolver"] or match["springer"] or match["path"]
    if not match["resolver"]:
        found = _PAGE_AFTER_DOI.sub("", found)
        if (urlsplit(bare).hostname or "").endswith("oup.com"):
            found = _OUP_ARTICLE_NUMBER.sub("", found)
    # A DOI with characters outside Crossref's pattern (an old SICI's "<…>"): none, rather
    # than the part before them, which would be another publication's DOI or nobody's.
    if not _DOI.fullmatch(found.rstrip("/")):
        return None
    return normalise_doi(found)


def find_doi(identifiers: Iterable[str | None], urls: Iterable[str | None]) -> str | None:
    """The first DOI among identifiers that name one (`doi:…`, a bare `10.…/…`, a resolver
    URL) or among URLs that carry one in their path."""
    for value in identifiers:
        if value and (found := _identifier_doi(value)):
            return found
    for url in urls:
        if url and (found := doi_in_url(url)):
            return found
    return None


def _identifier_doi(value: str) -> str | None:
    stripped = _DOI_PREFIX.sub("", value).strip()
    if stripped.lower().startswith(("http://", "https://")):
        return doi_in_url(stripped)
    return normalise_doi(stripped) if stripped.startswith("10.") else None


def doi_in_text(text: str, html: str = "") -> str | None:
    """The item's own DOI from its text: labelled, placed where tables of contents place it,
    and the only DOI the text (or its HTML's links) names."""
    if "10." not in text:
        return None
    named = {doi for doi in map(normalise_doi, _DOI.findall(text + " " + unquote(html))) if doi}
    if len(named) != 1 or _ABOUT_ANOTHER.search(text):
        return None
    flat = " ".join(text.split())
    for match in _LABELLED_DOI.finditer(flat):
        doi = normalise_doi(match[1])
        if doi in named and _placed_as_own(flat, match.start(), match.end()):
            return doi
    return None


def _placed_as_own(text: str, start: int, end: int) -> bool:
    """Whether a DOI at text[start:end] stands where a table of contents names the item's
    own: alone at the start or the end, or in a citation line, and not pointed at."""
    before = text[:start]
    if _POINTS_ELSEWHERE.search(before[-80:]) or _REFERENCE.search(before[-CITATION_LINE_REACH:]):
        return False
    at_start = not before.strip(" .|;:-–—")
    at_end = _ONLY_IDS_AFTER.match(text, end) is not None
    return at_start or at_end or bool(_CITATION_LINE.search(before[-CITATION_LINE_REACH:]))


def _pmid(value: str) -> str | None:
    match = _PMID_IDENTIFIER.match(value) or _PMID_IN_URL.match(value.split("?")[0])
    return _valid_pmid(match[1]) if match else None


def _valid_pmid(digits: str) -> str | None:
    return str(int(digits)) if int(digits) > 0 else None


def pmid_in_text(text: str) -> str | None:
    """A PMID labelled "PMID: …" in the text, when the text names only one and it stands
    where the item's own ids stand (as a DOI in the text must)."""
    if "PMID" not in text:
        return None
    flat = " ".join(text.split())
    found = list(_LABELLED_PMID.finditer(flat))
    if len({_valid_pmid(match[1]) for match in found}) != 1 or _ABOUT_ANOTHER.search(flat):
        return None
    own = [m for m in found if _placed_as_own(flat, m.start(), m.end())]
    return _valid_pmid(own[0][1]) if own else None


def _isbn_identifier(value: str) -> str | None:
    match = _ISBN_IDENTIFIER.match(value)
    return normalise_isbn(match[1]) if match else None


def normalise_isbn(value: str) -> str | None:
    """`value` as an ISBN-13 (an ISBN-10 converted), or None when its check digit is wrong."""
    digits = value.replace("-", "").replace(" ", "").upper()
    if len(digits) == 10 and digits[:9].isdigit() and (digits[9].isdigit() or digits[9] == "X"):
        total = sum((10 - i) * int(d) for i, d in enumerate(digits[:9]))
        total += 10 if digits[9] == "X" else int(digits[9])
        if total % 11:
            return None
        stem = "978" + digits[:9]
        return stem + _isbn13_check(stem)
    if len(digits) == 13 and digits.isdigit() and digits.startswith(("978", "979")):
        return digits if _isbn13_check(digits[:12]) == digits[12] else None
    return None


def _isbn13_check(stem: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(stem))
    return str((10 - total % 10) % 10)
