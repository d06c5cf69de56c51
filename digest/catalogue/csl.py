"""A catalogue record as a CSL-JSON record, so that it is cited like any other item."""

from __future__ import annotations

from typing import Any

from digest.catalogue.records import CatalogueRecord
from digest.citations.records import csl_date, person, without_empty


def catalogue_record(record: CatalogueRecord) -> dict[str, Any]:
    """The CSL record of a catalogue entry (its kind, else a book with an ISBN, else a
    report): what a citation of it needs, as the catalogue gave it."""
    kind = record.kind or ("book" if record.isbn else "report")
    return without_empty(
        {
            "type": kind,
            "title": record.title,
            "author": [person(a) for a in record.authors],
            "editor": [person(e) for e in record.editors],
            "issued": csl_date(record.year) if record.year else None,
            "publisher": record.publisher,
            "publisher-place": record.place,
            "container-title": record.container_title,
            "edition": record.edition,
            "collection-title": record.series,
            "volume": record.volume,
            "issue": record.issue,
            "page": record.pages,
            "ISBN": record.isbn,
            "ISSN": record.issn,
            "DOI": record.doi,
            # A catalogue's link is to its own record page: cited only for a web page.
            "URL": record.url if kind == "webpage" else None,
        }
    )
