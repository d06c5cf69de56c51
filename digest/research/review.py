"""A librarian's side of an item's record: what its look-up came to, in words for the item
page; "Look up again"; and corrections, field by field, audited, kept beside the service's
record so that a later look-up (which replaces the record) never undoes them."""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from digest import audit
from digest.citations.records import base_record, effective_record
from digest.errors import Invalid, NotFound, Refused
from digest.models import Item
from digest.models.research import Enrichment, EnrichmentState, ResearchLookup
from digest.research.crossref import CSL_TYPES
from digest.research.lookup import SERVICE_NAMES, service_for

# The fields a librarian may correct, in the form's order, with their labels.
FIELDS: dict[str, str] = {
    "title": "Title",
    "author": "Authors",
    "container-title": "Journal or book",
    "volume": "Volume",
    "issue": "Issue",
    "page": "Pages",
    "issued": "Year published",
    "publisher": "Publisher",
    "type": "Type",
    "DOI": "DOI",
    "URL": "Link",
}
TYPES = sorted({*CSL_TYPES.values(), "article-magazine", "article-newspaper", "webpage"})
MAX_FIELD = 2_000
MAX_DOI = Item.__table__.c.doi.type.length  # the item's column, and the look-up's
MAX_AUTHORS = 500
_YEAR = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")


class RecordCorrectionError(Invalid):
    """A corrected value that cannot be used; the message names the field."""


@dataclass(frozen=True)
class RecordStatus:
    """Where an item's look-up stands, for the item page to say in words."""

    state: str  # "none", or an EnrichmentState value
    service: str  # "Crossref", "PubMed", or "" when there is nothing to look up
    identifier: str
    reason: str | None  # the last failure or "not known", in plain words
    looked_up_at: datetime | None
    next_attempt_at: datetime | None
    can_look_up: bool


def record_status(session: Session, item: Item) -> RecordStatus:
    """What the item's look-up came to."""
    row = session.get(Enrichment, item.id)
    if row is None:
        service, identifier = service_for(item.doi, item.pmid)
        named = SERVICE_NAMES[service] if identifier else ""
        return RecordStatus("none", named, identifier or "", None, None, None, bool(identifier))
    return RecordStatus(
        state=str(row.state),
        service=SERVICE_NAMES.get(row.service, row.service),
        identifier=row.identifier,
        reason=row.last_error,
        looked_up_at=row.enriched_at,
        next_attempt_at=row.next_attempt_at,
        can_look_up=True,
    )


def get_item(session: Session, item_id: int) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound(f"no item with id {item_id}")
    return item


def look_up_again(session: Session, item_id: int, actor: str) -> Enrichment:
    """Queue the item's DOI (else PMID) to be asked again at the next run, forgetting the
    cached answer so that the service is asked, not the cache."""
    item = get_item(session, item_id)
    row = _queue(session, item)
    if row is None:
        raise Refused("this item has no DOI or PMID to look up")
    service, identifier = row.service, row.identifier
    session.execute(
        delete(ResearchLookup).where(
            ResearchLookup.service == service, ResearchLookup.identifier == identifier
        )
    )
    audit.record(
        session,
        actor=actor,
        action=audit.Action.ITEM_RECORD_LOOKUP,
        object_type=audit.ObjectType.ITEM,
        object_id=item.id,
        summary=f"{SERVICE_NAMES[service]}: {identifier}",
    )
    return row


def authors_text(names: Any) -> str:
    """CSL names as the form shows them: one a line, "Family, Given" or an organisation."""
    lines = []
    for name in names if isinstance(names, list) else []:
        if isinstance(name, dict):
            if name.get("family"):
                lines.append(", ".join(p for p in (name["family"], name.get("given")) if p))
            elif name.get("literal"):
                lines.append(str(name["literal"]))
    return "\n".join(lines)


def year_text(issued: Any) -> str:
    """A CSL date as the form shows it: "2016", "2016-3" or "2016-3-15"."""
    try:
        return "-".join(str(p) for p in issued["date-parts"][0])
    except (KeyError, IndexError, TypeError):
        return str(issued.get("literal", "")) if isinstance(issued, dict) else ""


def issued_words(issued: Any) -> str:
    """A CSL date in words: "2016", "March 2016", "15 March 2016", "March–April 1998"."""
    if not isinstance(issued, dict):
        return ""
    parts = issued.get("date-parts")
    if not (isinstance(parts, list) and parts and all(isinstance(p, list) and p for p in parts)):
        return str(issued.get("literal") or "")

    def one(part: list[Any]) -> str:
        words = [str(part[0])]
        if len(part) > 1 and isinstance(part[1], int) and 1 <= part[1] <= 12:
            words.insert(0, calendar.month_name[part[1]])
            if len(part) > 2:
                words.insert(0, str(part[2]))
        return " ".join(words)

    shown = [one(part) for part in parts[:2]]
    if len(shown) == 2 and parts[0][0] == parts[1][0] and shown[0] != shown[1]:
        return f"{shown[0].removesuffix(' ' + str(parts[0][0]))}–{shown[1]}"
    return "–".join(dict.fromkeys(shown))


def form_values(record: Mapping[str, Any] | None) -> dict[str, str]:
    """Each correctable field of a record as the form shows it."""
    record = record or {}
    shown = {name: str(record.get(name) or "") for name in FIELDS}
    shown["author"] = authors_text(record.get("author"))
    shown["issued"] = year_text(record.get("issued"))
    return shown


def _parse_authors(text: str) -> list[dict[str, str]]:
    names = []
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_AUTHORS:
        raise RecordCorrectionError(f"Authors: at most {MAX_AUTHORS} names, one a line")
    for line in lines:
        family, comma, given = (part.strip() for part in line.partition(","))
        if comma and family:
            names.append({"family": family, **({"given": given} if given else {})})
        else:
            names.append({"literal": line})
    return names


def parse_field(name: str, text: str) -> Any:
    """A typed value for a record field, or None for an empty one; RecordCorrectionError,
    naming the field, when it cannot be used."""
    label, text = FIELDS[name], text.strip()
    if len(text) > MAX_FIELD * (10 if name == "author" else 1):
        raise RecordCorrectionError(f"{label}: too long")
    if not text:
        return None
    if name == "author":
        return _parse_authors(text)
    text = " ".join(text.split())
    if name == "issued":
        match = _YEAR.match(text)
        if not match or not 1000 <= int(match[1]) <= 2999:
            raise RecordCorrectionError(f"{label}: a year such as 2016, or 2016-03, not {text!r}")
        return {"date-parts": [[int(p) for p in match.groups() if p]]}
    if name == "type" and text not in TYPES:
        raise RecordCorrectionError(f"{label}: one of the listed types, not {text!r}")
    if name == "DOI":
        text = text.removeprefix("https://doi.org/").removeprefix("doi:").lower()
        if len(text) > MAX_DOI:
            raise RecordCorrectionError(f"{label}: at most {MAX_DOI} characters")
        if not _DOI.match(text):
            raise RecordCorrectionError(f"{label}: a DOI such as 10.1038/nphys1170, not {text!r}")
    if name == "URL" and not text.startswith(("https://", "http://")):
        raise RecordCorrectionError(f"{label}: an address starting https:// or http://")
    return text


def _same(typed: str, shown: str) -> bool:
    """Whether a typed value is the one shown, but for spacing."""
    lines = [" ".join(line.split()) for line in typed.strip().splitlines()]
    return [line for line in lines if line] == [
        " ".join(line.split()) for line in shown.splitlines() if line.strip()
    ]


def correct_record(
    session: Session, item_id: int, submitted: Mapping[str, str], actor: str
) -> dict[str, tuple[Any, Any]]:
    """Lay a librarian's values over the service's record: a value that differs from the
    service's becomes a correction, one equal to it drops any correction, and an emptied
    field hides the service's. Audited with each changed field before and after; the changes
    made, by field."""
    item = get_item(session, item_id)
    given = base_record(item)
    corrections = dict(item.csl_corrections or {})
    before_record = effective_record(given, item.csl_corrections) or {}
    shown, services = form_values(before_record), form_values(given)
    for name in FIELDS:
        if name not in submitted or _same(submitted[name], shown[name]):
            continue  # as the page showed it: left alone
        if _same(submitted[name], services[name]):
            corrections.pop(name, None)  # back to the service's value
            continue
        value = parse_field(name, submitted[name])
        if value is None and name not in given:
            corrections.pop(name, None)
        else:
            corrections[name] = value
    after_record = effective_record(given, corrections) or {}
    changed = {
        name: (before_record.get(name), after_record.get(name))
        for name in FIELDS
        if before_record.get(name) != after_record.get(name)
    }
    if not changed:
        return {}
    if "DOI" in changed and after_record.get("DOI") != item.doi:
        _take_doi(session, item, after_record.get("DOI"))
    item.csl_corrections = corrections or None
    audit.record(
        session,
        actor=actor,
        action=audit.Action.ITEM_RECORD_CORRECT,
        object_type=audit.ObjectType.ITEM,
        object_id=item.id,
        summary=", ".join(FIELDS[name] for name in changed),
        before={name: old for name, (old, _) in changed.items()},
        after={name: new for name, (_, new) in changed.items()},
    )
    return changed


def _take_doi(session: Session, item: Item, doi: str | None) -> None:
    """A corrected DOI becomes the item's own: de-duplication knows it by it from now on,
    and Crossref is asked about it at the next run (the record of a wrong DOI is of another
    work). Refused when another item has it: two records of one work are merged instead.
    An emptied DOI (one wrongly found) is the item's no longer: entries carrying it are not
    merged into it, and its PMID, if any, is looked up instead."""
    if doi is not None:
        holder = session.scalar(
            select(Item.id).where(
                Item.doi == doi, Item.id != item.id, Item.merged_into_id.is_(None)
            )
        )
        if holder is not None:
            raise RecordCorrectionError(
                f"DOI: item {holder} already has {doi}; if they are one publication, merge them"
            )
    item.doi = doi
    _queue(session, item)


def _queue(session: Session, item: Item) -> Enrichment | None:
    """The item's look-up, waiting for the next run with no failures counted, by what it
    carries now; None, with any earlier look-up dropped, when it has nothing to look up."""
    service, identifier = service_for(item.doi, item.pmid)
    row = session.get(Enrichment, item.id)
    if identifier is None:
        if row is not None:
            session.delete(row)
        return None
    if row is None:
        row = Enrichment(item_id=item.id)
        session.add(row)
    row.service, row.identifier, row.state = service, identifier, EnrichmentState.PENDING
    row.attempts, row.last_error, row.next_attempt_at = 0, None, None
    return row


# A list of more than a dozen authors shows ten, the rest a click away.
FOLD_OVER, FOLD_AFTER = 12, 10
# CSL types in words, for the item page.
TYPE_WORDS = {
    "article-journal": "Journal article",
    "chapter": "Book chapter",
    "book": "Book",
    "paper-conference": "Conference paper",
    "report": "Report",
    "article": "Preprint or article",
    "dataset": "Dataset",
    "thesis": "Thesis",
    "standard": "Standard",
    "review": "Peer review",
    "entry": "Reference entry",
    "periodical": "Journal or issue",
    "document": "Document",
    "article-magazine": "Magazine article",
    "article-newspaper": "Newspaper article",
    "webpage": "Web page",
}


@dataclass(frozen=True)
class RecordView:
    """What the item page shows of the record and offers to correct."""

    record: dict[str, Any]  # as readers see it: the service's, corrections laid over
    corrected: frozenset[str]  # the fields a librarian corrected
    status: RecordStatus
    form: dict[str, str]  # each correctable field as the form shows it
    names: list[str]  # the authors, written out, those shown at first
    more_names: list[str]  # the rest of a long list, folded away
    issued_text: str
    abstract: list[str]  # paragraphs
    fields: dict[str, str]
    types: dict[str, str]


def record_view(session: Session, item: Item) -> RecordView:
    """The item page's view of the record, its look-up and its corrections."""
    record = effective_record(item.csl, item.csl_corrections) or {}
    # The form starts from what corrections are laid over: with no record from a service,
    # the item's own fields, so that saving one detail keeps the others.
    form_record = effective_record(base_record(item), item.csl_corrections) or {}
    types = {name: TYPE_WORDS.get(name, name) for name in TYPES}
    if (kind := form_record.get("type")) and kind not in types:
        types[kind] = TYPE_WORDS.get(kind, kind)  # a catalogue's type (a map, a score) is kept
    names = [
        name.get("literal") or " ".join(p for p in (name.get("given"), name.get("family")) if p)
        for name in record.get("author") or []
        if isinstance(name, dict)
    ]
    abstract = str(record.get("abstract") or "")
    shown = [n for n in names if n]
    return RecordView(
        record=record,
        corrected=frozenset(item.csl_corrections or {}),
        status=record_status(session, item),
        form=form_values(form_record),
        names=shown[:FOLD_AFTER] if len(shown) > FOLD_OVER else shown,
        more_names=shown[FOLD_AFTER:] if len(shown) > FOLD_OVER else [],
        issued_text=issued_words(record.get("issued")),
        abstract=[p.strip() for p in abstract.split("\n\n") if p.strip()],
        fields=FIELDS,
        types=types,
    )
