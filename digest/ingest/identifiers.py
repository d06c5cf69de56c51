"""Finding a publication's DOI in what a feed says about an entry.

A DOI is the strongest identity a journal article has: the same DOI in two feeds is one item,
whatever the two addresses. It is looked for where publishers put it about the entry itself
(`prism:doi`, `dc:identifier`, the guid, the link: `doi.org/…` or a publisher's `/doi/…` path),
never in the summary, whose text may cite other works.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

# Crossref's advice for matching modern DOIs: "10.", a registrant code of 4-9 digits, "/", then
# a suffix of letters, digits and -._;()/:. Trailing punctuation is not part of it.
_DOI = re.compile(r"\b(10\.\d{4,9}/[-._;()/:a-z0-9]+)", re.IGNORECASE)
_DOI_PREFIX = re.compile(r"^\s*(?:doi:\s*|info:doi/|urn:doi:)", re.IGNORECASE)
# Where a DOI sits in a URL: a resolver's path, or a publisher's /doi/ (optionally /abs/,
# /full/, /pdf/, /epdf/, /epub/) or Springer's /article/ and /chapter/ paths.
_DOI_IN_URL = re.compile(
    r"^https?://(?:dx\.)?doi\.org/(?P<resolver>.+)$"
    r"|/(?:doi(?:/(?:abs|full|pdf|epdf|epub|reader))?|article|chapter)/(?P<path>10\.\d{4,9}/.+)$",
    re.IGNORECASE,
)


def normalise_doi(value: str) -> str | None:
    """`value` as a bare, lower-case DOI (DOIs are case-insensitive), or None if it is not one."""
    match = _DOI.search(_DOI_PREFIX.sub("", unquote(value)))
    if match is None:
        return None
    doi = match[1].rstrip(".,;:")
    while doi.endswith(")") and doi.count(")") > doi.count("("):  # "(doi:10.…/…)"
        doi = doi[:-1]
    return doi.lower()


def doi_in_url(url: str) -> str | None:
    match = _DOI_IN_URL.search(url.split("?")[0].split("#")[0])
    if match is None:
        return None
    return normalise_doi(match["resolver"] or match["path"])


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
    if value.lower().startswith(("http://", "https://")):
        return doi_in_url(value)
    stripped = _DOI_PREFIX.sub("", value)
    return normalise_doi(stripped) if stripped.startswith("10.") else None
