"""Importing catalogue records as items of a newsletter, de-duplicated like feed entries.

The file is read a record at a time, a thread ahead of the writing, and stored BATCH records
at a time, each batch a handful of statements: time grows with the catalogue and memory does
not. Records are checked before they are written (records.py); should the database refuse a
batch even so, it is stored again a record at a time, each in a savepoint, and only the
record it refuses is left out.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from digest import csvfiles
from digest.catalogue.csl import catalogue_record
from digest.catalogue.files import read_catalogue
from digest.catalogue.records import CatalogueRecord, RecordError
from digest.db import first_line, lock_for_writing, refresh_statistics
from digest.ingest.parse import ParsedEntry
from digest.ingest.store import EntryCounts, feed_entries, store_entries
from digest.ingest.urls import canonicalize_url
from digest.models import Feed, FeedKind, Newsletter, Section
from digest.models.lookup import newsletter_by_slug
from digest.timeutil import utcnow

BATCH = 2000  # records stored together (the lookups of a batch take this many keys a query)
MAX_LISTED = 1000  # bad records listed by number and reason; any more are counted
_WRITTEN = ("items", "item_sources", "placements", "placement_topics", "possible_duplicates")
# What a database says of a row it will not take; a lost connection or a lock fails the whole
# import instead, as retrying each row could not help.
_REFUSED = (IntegrityError, DataError)


@dataclass
class ImportReport:
    feed_name: str
    counts: EntryCounts
    errors: list[RecordError] = field(default_factory=list)  # the first MAX_LISTED, in order
    skipped: int = 0  # bad records, listed or not
    unit: str = "record"  # what the file calls a record: a CSV "row", a RIS "record"

    def add_errors(self, errors: list[RecordError]) -> None:
        self.skipped += len(errors)
        room = max(MAX_LISTED - len(self.errors), 0)
        self.errors += sorted(errors, key=lambda e: e.number)[:room]

    def add(self, counts: EntryCounts) -> None:
        self.counts.new += counts.new
        self.counts.duplicate += counts.duplicate
        self.counts.unchanged += counts.unchanged


def record_entry(record: CatalogueRecord) -> ParsedEntry:
    summary_html = f"<p>{html.escape(record.abstract)}</p>" if record.abstract else ""
    return ParsedEntry.keyed(
        title=record.title,
        guid=f"urn:isbn:{record.isbn}" if record.isbn else None,
        identity=f"isbn:{record.isbn}" if record.isbn else None,
        link=record.url,
        canonical_url=canonicalize_url(record.url) if record.url else None,
        hashed_text=" ".join([*record.authors, str(record.year)]),
        authors=record.authors,
        # Catalogues give a year; the item is dated 1 January of it and marked as estimated.
        published=datetime(record.year, 1, 1, tzinfo=UTC) if record.year else None,
        published_estimated=True,
        summary_html=summary_html,
        summary_text=record.abstract,
        # Its citation is rendered from this record, in each newsletter's style, when shown.
        csl=catalogue_record(record),
        publisher=record.publisher,
        place=record.place,
        isbn=record.isbn,
        doi=record.doi,
    )


def catalogue_feed(session: Session, newsletter: Newsletter, section: Section) -> Feed:
    """The pseudo-feed that records which items came from this newsletter's catalogue."""
    name = f"{newsletter.title} catalogue"
    feed = session.scalar(select(Feed).where(Feed.name == name))
    if feed is None:
        feed = Feed(
            name=name,
            kind=FeedKind.CATALOGUE,
            url=f"catalogue:{newsletter.slug}",
            newsletter=newsletter,
            section=section,
            enabled=False,
        )
        session.add(feed)
        session.flush()
    return feed


def import_catalogue(
    session: Session,
    path: Path,
    newsletter_slug: str,
    section_name: str | None = None,
    encoding: str | None = None,
) -> ImportReport:
    """Import a RIS or CSV file; bad records are reported and the others imported.
    CatalogueFormatError when the file cannot be read at all, LookupError for a newsletter or
    section that does not exist."""
    lock_for_writing(session)  # de-duplicates against items that polls may be storing now
    newsletter = newsletter_by_slug(session, newsletter_slug)
    section = next(
        (
            s
            for s in newsletter.sections
            if section_name is None or s.name.casefold() == section_name.casefold()
        ),
        None,
    )
    if section is None:
        raise LookupError(f"newsletter {newsletter_slug!r} has no section {section_name!r}")
    feed = catalogue_feed(session, newsletter, section)
    report = ImportReport(
        feed.name, EntryCounts(), unit="row" if path.suffix.lower() == ".csv" else "record"
    )
    now = utcnow()
    found = (
        found if isinstance(found, RecordError) else (found[0], record_entry(found[1]))
        for found in read_catalogue(path, encoding)
    )
    for number, batch in enumerate(csvfiles.read_ahead(found, BATCH), start=1):
        if number & (number - 1) == 0 and number > 1:  # the 2nd, 4th, 8th... batch
            refresh_statistics(session, _WRITTEN)
        entries = [e for e in batch if not isinstance(e, RecordError)]
        errors = [e for e in batch if isinstance(e, RecordError)]
        section_id = section.id if section_name is not None else None
        report.add_errors(errors + _store(session, feed, section_id, entries, now, report))
    feed.last_fetched_at = feed.last_success_at = now
    return report


def _store(
    session: Session,
    feed: Feed,
    section_id: int | None,
    entries: list[tuple[int, ParsedEntry]],
    now: datetime,
    report: ImportReport,
) -> list[RecordError]:
    """Store a batch of records; returns the errors of those the database refused."""

    def store(batch: list[tuple[int, ParsedEntry]]) -> None:
        found = feed_entries(feed, [entry for _, entry in batch])
        if section_id is not None:
            found.section_id = section_id
        with session.begin_nested():
            counts = store_entries(session, [found], now)[feed.id]
        report.add(counts)

    if not entries:
        return []
    try:
        store(entries)
        return []
    except _REFUSED:
        pass
    errors = []
    for number, entry in entries:
        try:
            store([(number, entry)])
        except _REFUSED as exc:
            errors.append(RecordError(number, f"not stored: {first_line(exc)}", report.unit))
    return errors
