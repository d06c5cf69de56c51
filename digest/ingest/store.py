"""Storing parsed entries: each publication once, with every feed it came from.

Identity, in order: the entry was already seen in this feed (its entry key); a tombstone says it
was deleted; another item has the same canonical URL; another item has the same normalised title
within 14 days. Lookups are done per batch, so thousands of entries cost a handful of queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, tuple_
from sqlalchemy.orm import Session

from digest.ingest import dedup
from digest.ingest.parse import ParsedEntry
from digest.models import (
    Feed,
    Item,
    ItemSource,
    ItemStatus,
    ItemTopic,
    Tombstone,
    TopicSource,
)

TITLE_WINDOW = timedelta(days=14)
LOOKUP_CHUNK = 500


@dataclass
class FeedEntries:
    """Entries found in one feed, with what storing them needs to know about the feed."""

    feed_id: int
    newsletter_id: int | None
    section_id: int | None
    topic_ids: Sequence[int]
    entries: Sequence[ParsedEntry]


@dataclass
class EntryCounts:
    new: int = 0
    duplicate: int = 0  # already stored from another feed: provenance added
    unchanged: int = 0  # already stored from this feed, or deleted on purpose


@dataclass(eq=False)  # compared and hashed by identity
class _Pending:
    """An item decided on in this batch, before it has a database id."""

    row: dict[str, Any]
    topic_ids: set[int]
    item_id: int | None = None


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start : start + LOOKUP_CHUNK]


class _Index:
    """What the database already holds for a batch's keys, kept current as the batch is stored."""

    def __init__(self, session: Session, batch: Sequence[FeedEntries]) -> None:
        entries = [(fe.feed_id, e) for fe in batch for e in fe.entries]
        pairs = list({(feed_id, e.entry_key) for feed_id, e in entries})
        url_keys = list({e.url_key for _, e in entries if e.url_key})
        title_keys = list({e.title_key for _, e in entries if e.title_key})
        tombstone_keys = [dedup.source_tombstone(f, e.entry_key) for f, e in entries] + [
            dedup.url_tombstone(k) for k in url_keys
        ]
        self.sources: set[tuple[int, str]] = set()
        self.by_url: dict[str, int | _Pending] = {}
        self.by_title: dict[str, list[tuple[datetime, int | _Pending]]] = {}
        self.item_sources: set[tuple[int | _Pending, int]] = set()
        self.tombstones: set[str] = set()
        for chunk in _chunks(pairs):
            self.sources.update(
                session.execute(
                    select(ItemSource.feed_id, ItemSource.entry_key).where(
                        tuple_(ItemSource.feed_id, ItemSource.entry_key).in_(chunk)
                    )
                ).all()
            )
        for chunk in _chunks(url_keys):
            for item_id, key in session.execute(
                select(Item.id, Item.url_key).where(Item.url_key.in_(chunk))
            ):
                self.by_url.setdefault(key, item_id)
        for chunk in _chunks(title_keys):
            for item_id, key, published in session.execute(
                select(Item.id, Item.title_key, Item.published).where(Item.title_key.in_(chunk))
            ):
                self.by_title.setdefault(key, []).append((published, item_id))
        matched = list(
            set(self.by_url.values()) | {i for v in self.by_title.values() for _, i in v}
        )
        for chunk in _chunks(matched):
            self.item_sources.update(
                session.execute(
                    select(ItemSource.item_id, ItemSource.feed_id).where(
                        ItemSource.item_id.in_(chunk)
                    )
                ).all()
            )
        for chunk in _chunks(list(set(tombstone_keys))):
            self.tombstones.update(
                session.scalars(select(Tombstone.key).where(Tombstone.key.in_(chunk)))
            )

    def same_item(self, entry: ParsedEntry, published: datetime) -> int | _Pending | None:
        if entry.url_key and entry.url_key in self.by_url:
            return self.by_url[entry.url_key]
        for other_published, item in self.by_title.get(entry.title_key, []):
            if entry.title_key and abs(other_published - published) <= TITLE_WINDOW:
                return item
        return None

    def is_tombstoned(self, feed_id: int, entry: ParsedEntry) -> bool:
        return dedup.source_tombstone(feed_id, entry.entry_key) in self.tombstones or (
            entry.url_key is not None and dedup.url_tombstone(entry.url_key) in self.tombstones
        )

    def remember(self, entry: ParsedEntry, published: datetime, item: int | _Pending) -> None:
        if entry.url_key:
            self.by_url.setdefault(entry.url_key, item)
        if entry.title_key:
            self.by_title.setdefault(entry.title_key, []).append((published, item))


def store_entries(
    session: Session,
    batch: Sequence[FeedEntries],
    now: datetime,
) -> dict[int, EntryCounts]:
    """Store a batch of feeds' entries; returns the counts per feed id."""
    index = _Index(session, batch)
    counts = {fe.feed_id: EntryCounts() for fe in batch}
    pending: list[_Pending] = []
    sources: list[tuple[int | _Pending, int, ParsedEntry]] = []
    extra_topics: list[tuple[int, int]] = []
    for fe in batch:
        tally = counts[fe.feed_id]
        for entry in fe.entries:
            if (fe.feed_id, entry.entry_key) in index.sources or index.is_tombstoned(
                fe.feed_id, entry
            ):
                tally.unchanged += 1
                continue
            index.sources.add((fe.feed_id, entry.entry_key))
            published = entry.published or now
            item = index.same_item(entry, published)
            if item is None:
                item = _Pending(_item_row(entry, fe, now), set(fe.topic_ids))
                pending.append(item)
                tally.new += 1
            else:
                tally.duplicate += 1
                if isinstance(item, _Pending):
                    item.topic_ids.update(fe.topic_ids)
                else:
                    extra_topics.extend((item, t) for t in fe.topic_ids)
                if (item, fe.feed_id) in index.item_sources:
                    # A second entry of this feed for an item it already gave (a changed guid).
                    continue
            index.remember(entry, published, item)
            index.item_sources.add((item, fe.feed_id))
            sources.append((item, fe.feed_id, entry))

    if pending:
        _insert_items(session, pending)
    if sources:
        session.execute(
            insert(ItemSource),
            [
                {
                    "item_id": _id(item),
                    "feed_id": feed_id,
                    "entry_key": entry.entry_key,
                    "guid": entry.guid,
                    "link": entry.link,
                    "first_seen_at": now,
                }
                for item, feed_id, entry in sources
            ],
        )
    topic_rows = {(p.item_id, t) for p in pending for t in p.topic_ids} | set(extra_topics)
    if extra_topics:
        existing = set(
            session.execute(
                select(ItemTopic.item_id, ItemTopic.topic_id).where(
                    tuple_(ItemTopic.item_id, ItemTopic.topic_id).in_(extra_topics)
                )
            ).all()
        )
        topic_rows -= existing
    if topic_rows:
        session.execute(
            insert(ItemTopic),
            [
                {
                    "item_id": item_id,
                    "topic_id": topic_id,
                    "source": TopicSource.FEED,
                    "added_at": now,
                }
                for item_id, topic_id in sorted(topic_rows)
            ],
        )
    return counts


def _insert_items(session: Session, pending: list[_Pending]) -> None:
    """Insert new items in batches and learn their ids.

    RETURNING may give rows in any order, and asking SQLAlchemy to sort them makes SQLite insert
    row by row. So rows are matched back by their keys, which de-duplication has already made
    unique within a batch; should two coincide anyway, the sorted insert is used instead.
    """
    keys = [(p.row["url_key"], p.row["title_key"], p.row["content_hash"]) for p in pending]
    if len(set(keys)) < len(keys):
        ids = session.scalars(
            insert(Item).returning(Item.id, sort_by_parameter_order=True), [p.row for p in pending]
        ).all()
        for item, item_id in zip(pending, ids, strict=True):
            item.item_id = item_id
        return
    returned = session.execute(
        insert(Item).returning(Item.id, Item.url_key, Item.title_key, Item.content_hash),
        [p.row for p in pending],
    )
    by_key = {
        (url_key, title_key, digest): item_id for item_id, url_key, title_key, digest in returned
    }
    for item, key in zip(pending, keys, strict=True):
        item.item_id = by_key[key]


def _id(item: int | _Pending) -> int:
    if isinstance(item, _Pending):
        assert item.item_id is not None
        return item.item_id
    return item


def _item_row(entry: ParsedEntry, fe: FeedEntries, now: datetime) -> dict[str, Any]:
    return {
        "guid": entry.guid,
        "link": entry.link,
        "canonical_url": entry.canonical_url,
        "url_key": entry.url_key,
        "title": entry.title,
        "title_key": entry.title_key,
        "authors": entry.authors,
        "published": entry.published or now,
        "published_estimated": entry.published is None or entry.published_estimated,
        "summary_html": entry.summary_html,
        "summary_text": entry.summary_text,
        "original_title": entry.title,
        "original_summary_html": entry.summary_html,
        "content_hash": entry.content_hash,
        "first_seen_at": now,
        "status": ItemStatus.NEW,
        "newsletter_id": fe.newsletter_id,
        "section_id": fe.section_id,
        "citation": entry.citation,
        "publisher": entry.publisher,
        "place": entry.place,
        "isbn": entry.isbn,
    }


def delete_item(session: Session, item: Item) -> None:
    """Delete an item and leave tombstones, so no later poll or import brings it back."""
    keys = {dedup.source_tombstone(s.feed_id, s.entry_key) for s in item.sources}
    if item.url_key:
        keys.add(dedup.url_tombstone(item.url_key))
    known = set(session.scalars(select(Tombstone.key).where(Tombstone.key.in_(keys))))
    session.add_all(Tombstone(key=key, title=item.title) for key in sorted(keys - known))
    session.delete(item)


def feed_entries(feed: Feed, entries: Sequence[ParsedEntry]) -> FeedEntries:
    return FeedEntries(
        feed_id=feed.id,
        newsletter_id=feed.newsletter_id,
        section_id=feed.section_id,
        topic_ids=[t.id for t in feed.topics],
        entries=entries,
    )
