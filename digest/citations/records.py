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

if TYPE_CHECKING:
    from digest.models import Item

_IN_CONTAINER = {"article-journal", "article", "chapter", "paper-conference", "entry-encyclopedia"}
_STANDALONE = {"book", "report", "thesis", "dataset", "document", "standard"}


def effective_record(
    csl: dict[str, Any] | None, corrections: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The record as readers see it: what the service or catalogue gave, with each corrected
    field replacing the one given (a correction to None removes a field the service got
    wrong). None when there is neither."""
    if not csl and not corrections:
        return None
    merged = dict(csl or {})
    for name, value in (corrections or {}).items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


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


def csl_date(year: int | None, when: datetime | None = None) -> dict[str, Any]:
    """A CSL date: the day when `when` is given, else the year."""
    parts = [when.year, when.month, when.day] if when else [year]
    return {"date-parts": [parts]}


def without_empty(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its empty fields."""
    return {k: v for k, v in record.items() if v not in (None, "", [])}


def item_record(item: Item, accessed: datetime | None = None) -> dict[str, Any] | None:
    """The record readers see for an item: its CSL record with corrections over it, else one
    built from its title, authors, date, publisher, place, ISBN, DOI and link. None when
    there is too little to cite (`citable`)."""
    record = effective_record(base_record(item, accessed), item.csl_corrections) or {}
    record = {**record, "id": record.get("id") or f"item-{item.id}"}
    return record if citable(record) else None


def base_record(item: Item, accessed: datetime | None = None) -> dict[str, Any]:
    """What a librarian's corrections are laid over: the record a service or catalogue gave,
    else the one the item's own fields make (so a detail added to a news page's citation
    adds to it, rather than replacing it)."""
    return item.csl or fields_record(item, accessed)


def fields_record(item: Item, accessed: datetime | None = None) -> dict[str, Any]:
    """A record from the item's own fields: a book when it has an ISBN, a report when a
    publisher issued it, else a web page with its link and the day it was read."""
    dated = item.published is not None and not item.published_estimated
    kind = "book" if item.isbn else "report" if item.publisher else "webpage"
    record: dict[str, Any] = {
        "type": kind,
        "title": item.title,
        "author": [person(a) for a in item.authors or [] if a.strip()],
        "issued": csl_date(None, item.published) if dated and kind == "webpage" else None,
        "publisher": item.publisher,
        "publisher-place": item.place,
        "ISBN": item.isbn,
        "DOI": item.doi,
    }
    if dated and kind != "webpage":
        record["issued"] = csl_date(item.published.year)
    if kind == "webpage" and item.link:
        record["URL"] = item.link
        # The site: the publisher configured for a feed that brought it.
        sites = [s.feed.publisher for s in item.sources if s.feed and s.feed.publisher]
        record["container-title"] = sites[0] if sites else None
        seen = accessed or item.first_seen_at
        record["accessed"] = csl_date(None, seen) if seen else None
    return without_empty(record)


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
