"""Importing catalogue records as items of a newsletter, de-duplicated like feed entries."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.catalogue.citation import harvard_citation
from digest.catalogue.records import CatalogueRecord, RecordError, read_catalogue
from digest.db import lock_for_writing
from digest.ingest import dedup
from digest.ingest.parse import ParsedEntry
from digest.ingest.store import EntryCounts, feed_entries, store_entries
from digest.ingest.urls import canonicalize_url
from digest.models import Feed, FeedKind, Newsletter, Section
from digest.timeutil import utcnow


@dataclass
class ImportReport:
    feed_name: str
    counts: EntryCounts
    errors: list[RecordError] = field(default_factory=list)


def record_entry(record: CatalogueRecord) -> ParsedEntry:
    canonical = canonicalize_url(record.url) if record.url else None
    summary_html = f"<p>{html.escape(record.abstract)}</p>" if record.abstract else ""
    content = dedup.content_hash(record.title, " ".join([*record.authors, str(record.year)]))
    return ParsedEntry(
        entry_key=dedup.entry_key(
            f"isbn:{record.isbn}" if record.isbn else None, canonical, content
        ),
        guid=f"urn:isbn:{record.isbn}" if record.isbn else None,
        link=record.url,
        canonical_url=canonical,
        url_key=dedup.url_key(canonical),
        title=record.title,
        title_key=dedup.title_key(record.title),
        authors=record.authors,
        # Catalogues give a year; the item is dated 1 January of it and marked as estimated.
        published=datetime(record.year, 1, 1, tzinfo=UTC) if record.year else None,
        published_estimated=True,
        summary_html=summary_html,
        summary_text=record.abstract,
        content_hash=content,
        citation=harvard_citation(
            record.authors, record.year, record.title, record.place, record.publisher
        ),
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
    session: Session, path: Path, newsletter_slug: str, section_name: str | None = None
) -> ImportReport:
    """Import a RIS or CSV file; bad records are reported and the others imported."""
    lock_for_writing(session)  # de-duplicates against items that polls may be storing now
    newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == newsletter_slug))
    if newsletter is None:
        raise LookupError(f"no newsletter {newsletter_slug!r}; run `digest config sync` first")
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
    records, errors = read_catalogue(path)
    feed = catalogue_feed(session, newsletter, section)
    entries = feed_entries(feed, [record_entry(r) for _, r in records])
    if section_name is not None:
        entries.section_id = section.id
    now = utcnow()
    counts = store_entries(session, [entries], now)[feed.id]
    feed.last_fetched_at = feed.last_success_at = now
    return ImportReport(feed.name, counts, errors)
