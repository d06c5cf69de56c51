"""Simple Dublin Core (OAI-PMH's oai_dc) records as catalogue records.

Library systems fill it from MARC (Koha with the Library of Congress's MARC21slim2OAIDC
stylesheet): the creator "Jütte, Sonja.", the publisher "London : NSPCC,", identifiers such
as "URN:ISBN:9781…" or a web address, the type "text".
"""

from __future__ import annotations

import re

from lxml import etree

from digest import csvfiles
from digest.catalogue.marcfields import heading_name
from digest.catalogue.records import TEXT_FIELDS, CatalogueRecord, build_record

DC_NS = "http://purl.org/dc/elements/1.1/"
_ISBN = re.compile(r"^(?:urn:)?isbn[:\s]*([\d\-xX ]{10,17})", re.IGNORECASE)
_YEAR = re.compile(r"(1[4-9]\d\d|20\d\d)")
# dc:type words, as CSL names what they describe; anything else is taken for a book.
_KINDS = {
    "article": "article-journal",
    "journal article": "article-journal",
    "book chapter": "chapter",
    "bookpart": "chapter",
    "chapter": "chapter",
    "report": "report",
    "thesis": "thesis",
    "dissertation": "thesis",
    "moving image": "motion_picture",
    "sound": "song",
    "cartographic": "map",
    "dataset": "dataset",
    "software": "software",
}


def _all(metadata: etree._Element, name: str) -> list[str]:
    found = (" ".join("".join(e.itertext()).split()) for e in metadata.iter(f"{{{DC_NS}}}{name}"))
    return [value for value in found if value]


def _trim(value: str | None) -> str | None:
    """Without the ISBD punctuation a MARC field left at its end."""
    value = re.sub(r"[\s/:;,=]+$", "", value or "").strip()
    return value or None


def _kind(types: list[str]) -> str:
    for value in types:
        for word, kind in _KINDS.items():
            if word in value.casefold():
                return kind
    return "book"


def dc_record(metadata: etree._Element) -> CatalogueRecord:
    """A catalogue record from an oai_dc metadata element; ValueError naming what is wrong."""
    identifiers = _all(metadata, "identifier")
    isbn = next((m[1] for i in identifiers if (m := _ISBN.match(i))), None)
    url = next((i for i in identifiers if i.lower().startswith(("http://", "https://"))), None)
    place, publisher = None, _trim(next(iter(_all(metadata, "publisher")), None))
    if publisher and " : " in publisher:  # "London : NSPCC", from a MARC imprint
        place, _, publisher = (_trim(part) for part in publisher.partition(" : "))
    dates = [m[0] for d in _all(metadata, "date") if (m := _YEAR.search(d))]
    authors = [n for n in (heading_name(c) for c in _all(metadata, "creator")) if n]
    title = _trim(next(iter(_all(metadata, "title")), None))
    abstract = "\n\n".join(_all(metadata, "description"))
    texts = {
        "title": title,
        "authors": "; ".join(authors),
        "publisher": publisher,
        "place": place,
        "url": url,
        "abstract": abstract,
    }
    if problem := csvfiles.control_problem(texts, TEXT_FIELDS):
        raise ValueError(problem)
    doi = next((i for i in identifiers if "10." in i and "doi" in i.lower()), None)
    record = build_record(
        title, authors, dates[0] if dates else None, publisher, place, url, isbn, abstract, doi
    )
    record.kind = _kind(_all(metadata, "type"))
    return record
