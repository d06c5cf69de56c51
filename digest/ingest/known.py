"""What the database already knows about a batch of entries: the items their identities
name (canonical URL, DOI, PMID, the feed's own entry keys, merges followed), each item's places in
newsletters, look-alike titles and tombstones. Kept current as the batch is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.db import one_of
from digest.ingest import dedup
from digest.ingest.parse import ParsedEntry
from digest.models import Item, ItemSource, Placement, Tombstone

TITLE_WINDOW = timedelta(days=14)  # how far apart two possible duplicates may be published
LOOKUP_CHUNK = 2000


@dataclass
class FeedEntries:
    """Entries found in one feed, with what storing them needs to know about the feed."""

    feed_id: int
    newsletter_id: int | None
    section_id: int | None
    topic_ids: Sequence[int]
    entries: Sequence[ParsedEntry]


@dataclass(eq=False)  # compared and hashed by identity
class Pending:
    """A row decided on in this batch, before it has a database id."""

    row: dict[str, Any]
    id: int | None = None


@dataclass(eq=False)
class PendingPlacement(Pending):
    item: int | Pending | None = None
    topic_ids: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Seen:
    """An item under a title: when it was published and its words, to judge a likeness."""

    published: datetime
    item: int | Pending
    text: str


def chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start : start + LOOKUP_CHUNK]


def row_id(row: int | Pending) -> int:
    if isinstance(row, Pending):
        assert row.id is not None
        return row.id
    return row


def surviving_items(session: Session, item_ids: Iterable[int]) -> dict[int, int]:
    """Each id, mapped to the item it was merged into (itself when it was never merged)."""
    resolved = {item_id: item_id for item_id in item_ids}
    pending = dict(resolved)
    while pending:  # merges may chain: B into A, then A into C
        found = {
            item_id: into
            for chunk in chunks(list(set(pending.values())))
            for item_id, into in session.execute(
                select(Item.id, Item.merged_into_id).where(
                    one_of(session, Item.id, chunk), Item.merged_into_id.is_not(None)
                )
            )
        }
        pending = {start: found[now] for start, now in pending.items() if now in found}
        resolved.update(pending)
    return resolved


class KnownItems:
    """What the database already holds for a batch's keys, kept current as the batch is stored."""

    def __init__(self, session: Session, batch: Sequence[FeedEntries]) -> None:
        entries = [(fe.feed_id, e) for fe in batch for e in fe.entries]
        feed_ids = {feed_id for feed_id, _ in entries}
        entry_keys = list({e.entry_key for _, e in entries})
        url_keys = list({e.url_key for _, e in entries if e.url_key})
        dois = list({e.doi for _, e in entries if e.doi})
        pmids = list({e.pmid for _, e in entries if e.pmid})
        title_keys = list({e.title_key for _, e in entries if e.title_key})
        tombstone_keys = [
            *(dedup.source_tombstone(f, e.entry_key) for f, e in entries),
            *(dedup.url_tombstone(k) for k in url_keys),
            *(dedup.doi_tombstone(doi) for doi in dois),
            *(dedup.pmid_tombstone(pmid) for pmid in pmids),
        ]
        self.sources: set[tuple[int, str]] = set()
        self.by_url: dict[str, int | Pending] = {}
        self.by_doi: dict[str, int | Pending] = {}
        self.by_pmid: dict[str, int | Pending] = {}
        self.by_title: dict[str, list[Seen]] = {}
        self.item_sources: set[tuple[int | Pending, int]] = set()
        self.placements: dict[tuple[int | Pending, int], int | PendingPlacement] = {}
        self.published: dict[int, datetime] = {}  # of the items matched
        self.tombstones: set[str] = set()
        # By entry key alone, which leads the unique index: a (feed, key) row-value IN would
        # make SQLite scan the whole index.
        for chunk in chunks(entry_keys):
            self.sources.update(
                (feed_id, key)
                for feed_id, key in session.execute(
                    select(ItemSource.feed_id, ItemSource.entry_key).where(
                        one_of(session, ItemSource.entry_key, chunk)
                    )
                )
                if feed_id in feed_ids
            )
        found_by_url = self._lookup(session, Item.url_key, url_keys)
        found_by_doi = self._lookup(session, Item.doi, dois)
        found_by_pmid = self._lookup(session, Item.pmid, pmids)
        survivors = surviving_items(
            session,
            {*found_by_url.values(), *found_by_doi.values(), *found_by_pmid.values()},
        )
        self.by_url = {key: survivors[item_id] for key, item_id in found_by_url.items()}
        self.by_doi = {doi: survivors[item_id] for doi, item_id in found_by_doi.items()}
        self.by_pmid = {pmid: survivors[item_id] for pmid, item_id in found_by_pmid.items()}
        for chunk in chunks(title_keys):
            for item_id, key, published, words in session.execute(
                select(
                    Item.id,
                    Item.title_key,
                    Item.published,
                    func.coalesce(Item.full_text, Item.summary_text),
                ).where(one_of(session, Item.title_key, chunk), Item.merged_into_id.is_(None))
            ):
                self.by_title.setdefault(key, []).append(Seen(published, item_id, words))
        matched = list(set(survivors.values()))
        for chunk in chunks(matched):
            self.item_sources.update(
                session.execute(
                    select(ItemSource.item_id, ItemSource.feed_id).where(
                        one_of(session, ItemSource.item_id, chunk)
                    )
                ).all()
            )
            for placement_id, item_id, newsletter_id in session.execute(
                select(Placement.id, Placement.item_id, Placement.newsletter_id).where(
                    one_of(session, Placement.item_id, chunk)
                )
            ):
                self.placements[(item_id, newsletter_id)] = placement_id
            self.published.update(
                session.execute(
                    select(Item.id, Item.published).where(one_of(session, Item.id, chunk))
                ).all()
            )
        for chunk in chunks(list(set(tombstone_keys))):
            self.tombstones.update(
                session.scalars(select(Tombstone.key).where(one_of(session, Tombstone.key, chunk)))
            )

    @staticmethod
    def _lookup(session: Session, column: Any, keys: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in chunks(keys):
            for item_id, key in session.execute(
                select(Item.id, column).where(one_of(session, column, chunk)).order_by(Item.id)
            ):
                found.setdefault(key, item_id)
        return found

    def same_item(self, entry: ParsedEntry) -> int | Pending | None:
        """The item this entry is by strong identity: canonical URL, then DOI, then PMID."""
        if entry.url_key and entry.url_key in self.by_url:
            return self.by_url[entry.url_key]
        if entry.doi and entry.doi in self.by_doi:
            return self.by_doi[entry.doi]
        if entry.pmid and entry.pmid in self.by_pmid:
            return self.by_pmid[entry.pmid]
        return None

    def look_alikes(self, entry: ParsedEntry, published: datetime) -> list[int | Pending]:
        """Items with this entry's title and like words, published near it: possible
        duplicates, never merged without a person."""
        return [
            seen.item
            for seen in self.by_title.get(entry.title_key, [])
            if abs(seen.published - published) <= TITLE_WINDOW
            and dedup.likely_same(entry.title_key, _words_of(entry), seen.text)
        ]

    def is_tombstoned(self, feed_id: int, entry: ParsedEntry) -> bool:
        return (
            dedup.source_tombstone(feed_id, entry.entry_key) in self.tombstones
            or (entry.url_key is not None and dedup.url_tombstone(entry.url_key) in self.tombstones)
            or (entry.doi is not None and dedup.doi_tombstone(entry.doi) in self.tombstones)
            or (entry.pmid is not None and dedup.pmid_tombstone(entry.pmid) in self.tombstones)
        )

    def remember(self, entry: ParsedEntry, published: datetime, item: int | Pending) -> None:
        if entry.url_key:
            self.by_url.setdefault(entry.url_key, item)
        if entry.doi:
            self.by_doi.setdefault(entry.doi, item)
        if entry.pmid:
            self.by_pmid.setdefault(entry.pmid, item)
        if entry.title_key and isinstance(item, Pending):
            self.by_title.setdefault(entry.title_key, []).append(
                Seen(published, item, _words_of(entry))
            )


def _words_of(entry: ParsedEntry) -> str:
    """The text two items are compared by: the whole text, not the summary cut from it (two
    articles may open alike and differ after)."""
    return entry.full_text or entry.summary_text
