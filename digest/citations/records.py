"""CSL-JSON records of items: the one enrichment or a catalogue gave (with a librarian's
corrections over it), else one built from the item's own fields; and whether a record says
enough to be cited.

Enough to cite (`citable`): a title, and
- a journal article, chapter or paper: its journal or book too;
- a book, report or thesis: an author (person or body) or a publisher;
- a web page, post or news story: an author or a site/publisher, and a date.
So a news page with neither author nor publisher, or a web page with no date, gets no
citation: a reader could not find it again from what the citation would say.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from digest.research.record import effective_record

if TYPE_CHECKING:
    from digest.catalogue.records import CatalogueRecord
    from digest.models import Item

_IN_CONTAINER = {"article-journal", "article", "chapter", "paper-conference", "entry-encyclopedia"}
_STANDALONE = {"book", "report", "thesis", "dataset", "document", "standard"}


def person(name: str) -> dict[str, str]:
    """ "Family, Given" → a CSL name; a name without a comma is a body ("NSPCC")."""
    name = " ".join(name.split())
    if "," not in name:
        return {"literal": name}
    family, _, given = name.partition(",")
    return (
        {"family": family.strip(), "given": given.strip()}
        if given.strip()
        else {"literal": family.strip()}
    )


def _date(year: int | None, when: datetime | None = None) -> dict[str, Any]:
    """A CSL date: the day when `when` is given, else the year."""
    parts = [when.year, when.month, when.day] if when else [year]
    return {"date-parts": [parts]}


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its empty fields."""
    return {k: v for k, v in record.items() if v not in (None, "", [])}


def item_record(item: Item, accessed: datetime | None = None) -> dict[str, Any] | None:
    """The record readers see for an item: its CSL record with corrections over it, else one
    built from its title, authors, date, publisher, place, ISBN, DOI and link. None when
    there is too little to cite (`citable`)."""
    record = effective_record(item.csl, item.csl_corrections)
    if record is None:
        record = fields_record(item, accessed)
    record = {**record, "id": record.get("id") or f"item-{item.id}"}
    return record if citable(record) else None


def fields_record(item: Item, accessed: datetime | None = None) -> dict[str, Any]:
    """A record from the item's own fields: a book when it has an ISBN, a report when a
    publisher issued it, else a web page with its link and the day it was read."""
    dated = item.published is not None and not item.published_estimated
    kind = "book" if item.isbn else "report" if item.publisher else "webpage"
    record: dict[str, Any] = {
        "type": kind,
        "title": item.title,
        "author": [person(a) for a in item.authors or [] if a.strip()],
        "issued": _date(None, item.published) if dated and kind == "webpage" else None,
        "publisher": item.publisher,
        "publisher-place": item.place,
        "ISBN": item.isbn,
        "DOI": item.doi,
    }
    if dated and kind != "webpage":
        record["issued"] = _date(item.published.year)
    if kind == "webpage" and item.link:
        record["URL"] = item.link
        # The site: the publisher configured for a feed that brought it.
        sites = [s.feed.publisher for s in item.sources if s.feed and s.feed.publisher]
        record["container-title"] = sites[0] if sites else None
        seen = accessed or item.first_seen_at
        record["accessed"] = _date(None, seen) if seen else None
    return _clean(record)


def citable(record: dict[str, Any]) -> bool:
    """Whether the record says enough to be cited (the rule is the module's docstring)."""
    if not str(record.get("title") or "").strip():
        return False
    kind = record.get("type", "")
    who = bool(record.get("author") or record.get("editor"))
    if kind in _IN_CONTAINER:
        return bool(record.get("container-title"))
    if kind in _STANDALONE:
        return who or bool(record.get("publisher"))
    site = bool(record.get("container-title") or record.get("publisher"))
    return (who or site) and bool(record.get("issued"))


def catalogue_record(record: CatalogueRecord) -> dict[str, Any]:
    """The CSL record of a catalogue entry (its kind, else a book with an ISBN, else a
    report): what a citation of it needs, as the catalogue gave it."""
    kind = record.kind or ("book" if record.isbn else "report")
    return _clean(
        {
            "type": kind,
            "title": record.title,
            "author": [person(a) for a in record.authors],
            "editor": [person(e) for e in record.editors],
            "issued": _date(record.year) if record.year else None,
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
